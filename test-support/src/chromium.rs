//! Headless Chromium (Debian's `chromium`) loading a page: the DOM it ended with
//! ([`dump_dom`], and the page's output in it, [`output`]), or a picture of it
//! ([`screenshot`]).

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::skip;

/// The browser's command.
pub const BROWSER: &str = "chromium";

/// How every test starts it: headless, as root, and without the background traffic a closed
/// network would refuse.
pub const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Loads `url` with the extra `args` for at most `wait` (the DOM is read at the page's
/// `load`, or then) and returns the DOM; `None` (after [`skip`]) when Chromium cannot be run.
pub async fn dump_dom(url: &str, wait: Duration, args: &[&str]) -> Option<String> {
    let out = run(url, wait, args, "--dump-dom".to_owned()).await?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Loads `url` as [`dump_dom`] does and saves a PNG of the window at `path`.
pub async fn screenshot(url: &str, wait: Duration, args: &[&str], path: &str) -> Option<()> {
    run(url, wait, args, format!("--screenshot={path}")).await?;
    Some(())
}

/// Runs the browser on `url`, in a profile of its own, doing `what`; its stdout.
async fn run(url: &str, wait: Duration, args: &[&str], what: String) -> Option<Vec<u8>> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "lambda-stream-browser-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    let out = tokio::process::Command::new(BROWSER)
        .args(HEADLESS)
        .arg(what)
        .args(args)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--timeout={}", wait.as_millis()))
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let _ = std::fs::remove_dir_all(&profile);
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            skip(&format!("cannot run {BROWSER}: {e}"));
            return None;
        }
    };
    assert!(out.status.success(), "{BROWSER} failed: {:?}", out.status);
    Some(out.stdout)
}

/// The text of `<pre id="out">` in `dom`, unescaped: where the tests' pages write what they
/// saw.
pub fn output(dom: &str) -> String {
    dom.split("<pre id=\"out\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the page's output: {dom}"))
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_output_unescaped() {
        let dom = r#"<body><pre id="out">{&quot;a&quot;:&quot;&lt;b&gt; &amp;&quot;}</pre></body>"#;
        assert_eq!(output(dom), r#"{"a":"<b> &"}"#);
    }
}
