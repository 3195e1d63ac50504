//! Test support: headless Chromium (Debian's `chromium`) loading a page and handing back the
//! DOM it ended with, for the suites that drive the local server from a real browser.

use std::process::Stdio;
use std::time::Duration;

pub const BROWSER: &str = "chromium";

/// How every suite starts it: headless, as root, and without the background traffic this
/// machine's closed network would refuse.
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

/// Panics when `LAMBDA_STREAM_REQUIRE_CLIENTS` is set (CI), else says why the test skips.
pub fn skip(why: &str) {
    if std::env::var_os("LAMBDA_STREAM_REQUIRE_CLIENTS").is_some() {
        panic!("{why}, and LAMBDA_STREAM_REQUIRE_CLIENTS is set");
    }
    eprintln!("{why}: skipping");
}

/// Loads `url` in headless Chromium with the extra `args` for at most `wait` (the DOM is
/// read at the page's `load`, or then) and returns the DOM; `None` (after [`skip`]) when
/// Chromium cannot be run.
pub async fn dump_dom(url: &str, wait: Duration, args: &[&str]) -> Option<String> {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "lambda-stream-browser-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let out = tokio::process::Command::new(BROWSER)
        .args(HEADLESS)
        .arg("--dump-dom")
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
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text of `<pre id="out">` in `dom`, unescaped.
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
