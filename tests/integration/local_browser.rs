//! The local server in a real browser: headless Chromium (Debian's `chromium`) opens an
//! `EventSource` page on the axum_router example's SSE route, and the inspector.
//!
//! Skipped when `chromium` is not installed, unless `LAMBDA_STREAM_REQUIRE_CLIENTS` is set
//! (CI sets it and installs Chromium).

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;

use crate::example::axum_router;
use crate::support::local;
use lambda_stream_test_support::chromium;

/// The page: subscribes to `/sse`, asks for `/json` once the first event is in, and writes
/// what it saw (each event with its arrival time, and when `/json` answered) into `#out`.
/// It is itself streamed: its end ([`PAGE_END`]) comes 2 s later, so that the browser's
/// `load` (when `--dump-dom` reads the page) waits for the events.
const PAGE: &str = r#"<!doctype html><html><body><pre id="out">pending</pre><script>
const t0 = performance.now();
const seen = [];
let other = null;
const es = new EventSource("/sse");
es.addEventListener("token", e => {
  seen.push({ data: e.data, at: performance.now() - t0 });
  if (seen.length === 1) {
    fetch("/json").then(r => r.json()).then(j => { other = { at: performance.now() - t0, greeting: j.greeting }; });
  }
  if (e.data === "[DONE]") {
    es.close();
    document.getElementById("out").textContent = JSON.stringify({ seen, other });
  }
});
</script>"#;
const PAGE_END: &str = "</body></html>";

/// Loads `url` in headless Chromium, in a window the size of the README's picture, for
/// `wait` and returns the DOM it ended with; with `screenshot`, saves a PNG there instead.
async fn chromium(url: &str, wait: Duration, screenshot: Option<&str>) -> Option<String> {
    const WINDOW: [&str; 2] = ["--hide-scrollbars", "--window-size=1280,640"];
    match screenshot {
        Some(path) => chromium::screenshot(url, wait, &WINDOW, path)
            .await
            .map(|()| String::new()),
        None => chromium::dump_dom(url, wait, &WINDOW).await,
    }
}

async fn page() -> axum::response::Response {
    let parts = futures_util::stream::unfold(0, |i| async move {
        let part = match i {
            0 => PAGE,
            1 => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                PAGE_END
            }
            _ => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(part), i + 1))
    });
    axum::response::Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .body(axum::body::Body::from_stream(parts))
        .unwrap()
}

async fn start() -> SocketAddr {
    let app =
        axum_router::app(axum_router::AppState::new("hello from axum")).route("/page", get(page));
    local::serve(
        lambda_stream::Runtime::new(lambda_stream::Config::default()),
        local::options(),
        app,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_gets_sse_events_one_by_one_and_the_inspector_lists_them() {
    let addr = start().await;
    let Some(dom) = chromium(
        &format!("http://{addr}/page"),
        Duration::from_secs(10),
        None,
    )
    .await
    else {
        return;
    };
    let json = chromium::output(&dom);
    let seen: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let events = seen["seen"].as_array().unwrap();
    let data: Vec<_> = events.iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert_eq!(data, ["Hello", ",", " streaming", " world", "[DONE]"]);
    let at: Vec<f64> = events.iter().map(|e| e["at"].as_f64().unwrap()).collect();
    // One by one, about 100 ms apart, not all at once at the end.
    assert!(
        at[4] - at[0] >= 250.0,
        "the events arrived together: {at:?}"
    );
    // `/json` was answered while the SSE stream was still open.
    let other = &seen["other"];
    assert_eq!(other["greeting"], "hello from axum");
    assert!(
        other["at"].as_f64().unwrap() < at[4],
        "/json waited for the stream: {seen}"
    );

    // The inspector, in the browser: it lists the page, the SSE stream and /json.
    let Some(inspector) = chromium(
        &format!("http://{addr}/_lambda/"),
        Duration::from_secs(2),
        None,
    )
    .await
    else {
        return;
    };
    let rows = inspector
        .split("<tbody id=\"rows\">")
        .nth(1)
        .expect("the inspector's table");
    for path in ["<td>/page</td>", "<td>/sse</td>", "<td>/json</td>"] {
        assert!(rows.contains(path), "{path} is not listed: {rows}");
    }
    // The SSE stream: 200, five events in as many chunks or more, done.
    let sse_row = rows
        .split("<tr ")
        .find(|r| r.contains("<td>/sse</td>"))
        .unwrap();
    assert!(sse_row.contains("<td>200</td>"), "{sse_row}");
    assert!(!sse_row.contains("streaming"), "{sse_row}");

    // With LAMBDA_STREAM_SCREENSHOT=path, the README's picture of the inspector, the SSE
    // stream selected.
    if let Ok(path) = std::env::var("LAMBDA_STREAM_SCREENSHOT") {
        let id = rows
            .split("<tr id=\"inv-")
            .find(|r| r.contains("<td>/sse</td>"))
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        chromium(
            &format!("http://{addr}/_lambda/#{id}"),
            Duration::from_secs(2),
            Some(&path),
        )
        .await;
    }
}
