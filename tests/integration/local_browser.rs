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

/// An HTML page sent as `first`, then held open for `hold` before its end: its script runs
/// while the page is still loading.
fn held_page(first: &'static str, hold: Duration) -> axum::response::Response {
    let parts = futures_util::stream::unfold(0, move |i| async move {
        let part = match i {
            0 => first,
            1 => {
                tokio::time::sleep(hold).await;
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

async fn page() -> axum::response::Response {
    held_page(PAGE, Duration::from_secs(2))
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
    for path in [">/page</td>", ">/sse</td>", ">/json</td>"] {
        assert!(rows.contains(path), "{path} is not listed: {rows}");
    }
    // The SSE stream: 200, five events in as many chunks or more, done.
    let sse_row = rows
        .split("<tr ")
        .find(|r| r.contains(">/sse</td>"))
        .unwrap();
    assert!(sse_row.contains(">200</td>"), "{sse_row}");
    assert!(!sse_row.contains("streaming"), "{sse_row}");

    // With LAMBDA_STREAM_SCREENSHOT=path, the guide's picture of the inspector, the SSE
    // stream selected.
    if let Ok(path) = std::env::var("LAMBDA_STREAM_SCREENSHOT") {
        let id = rows
            .split("<tr id=\"inv-")
            .find(|r| r.contains(">/sse</td>"))
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

/// The text the compressed responses carry.
const SUMMARY: &str = "quarterly summary: revenue up, costs down\n";
/// A path long enough to fill the whole screen by itself.
fn long_path(route: &str) -> String {
    format!(
        "/reports/2026/{}{route}/summary.txt",
        "quarterly-revenue-by-region-and-product-line/".repeat(12)
    )
}
/// A body that compresses to more than the inspector's 512-byte preview.
fn numbered_lines() -> String {
    (1..=2000)
        .map(|n| format!("line {n}: {}\n", n * 7919 % 10007))
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    out.write_all(text.as_bytes()).unwrap();
    out.finish().unwrap()
}

fn zlib(text: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    out.write_all(text.as_bytes()).unwrap();
    out.finish().unwrap()
}

/// The function: `…/gzip/…`, `…/gzip-long/…`, `…/deflate/…` answer compressed text, `…/br/…`
/// bytes labelled brotli, `…/fail/…` a stream that breaks off with an error.
async fn compressed(uri: axum::http::Uri) -> axum::response::Response {
    let path = uri.path();
    let (encoding, body) = if path.contains("/gzip/") {
        ("gzip", gzip(SUMMARY))
    } else if path.contains("/gzip-long/") {
        ("gzip", gzip(&numbered_lines()))
    } else if path.contains("/deflate/") {
        ("deflate", zlib(SUMMARY))
    } else if path.contains("/br/") {
        (
            "br",
            vec![0x8b, 0x14, 0x80, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
        )
    } else {
        let parts = futures_util::stream::iter([
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"partial report\n")),
            Err(std::io::Error::other("the report generator gave up")),
        ]);
        return axum::response::Response::new(axum::body::Body::from_stream(parts));
    };
    axum::response::Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-encoding", encoding)
        .body(axum::body::Body::from(body))
        .unwrap()
}

/// The measuring page: opens the inspector at 1280 px for each invocation of `?ids=` (each
/// selected in turn), waits for its preview, and writes what it shows into `#out`: the
/// bounding boxes of the path, status and error cells and headings beside the viewport's
/// width and the list's box (which clips what overflows it), the path cell's tooltip, the
/// preview's note and text.
const MEASURE: &str = r#"<!doctype html><html><body style="margin:0"><pre id="out">pending</pre><script>
const ids = new URLSearchParams(location.search).get("ids").split(",");
const frames = ids.map(id => {
  const f = document.createElement("iframe");
  f.style.cssText = "width:1280px;height:720px;border:0;display:block";
  f.src = "/_lambda/#" + id;
  document.body.appendChild(f);
  return f;
});
const box = el => { if (!el) return null; const r = el.getBoundingClientRect(); return { left: r.left, right: r.right }; };
function read(f, id) {
  const d = f.contentDocument;
  const tr = d && d.getElementById("inv-" + id);
  const note = d && d.getElementById("preview-note");
  const text = d && d.getElementById("preview");
  if (!tr || (note && note.textContent.startsWith("decoding")) || (!note && !text)) return null;
  const ths = [...d.querySelectorAll("thead th")];
  const th = name => ths.find(t => t.textContent === name);
  return {
    viewport: f.contentWindow.innerWidth, list: box(d.getElementById("list")),
    path: box(tr.querySelector("td.path")), status: box(tr.querySelector("td.status")), error: box(tr.querySelector("td.err")),
    status_th: box(th("status")), error_th: box(th("error")),
    title: tr.querySelector("td.path").title, status_text: tr.querySelector("td.status").textContent,
    error_text: tr.querySelector("td.err").textContent,
    note: note ? note.textContent : null, preview: text ? text.textContent : null,
  };
}
const t0 = performance.now();
(function poll() {
  const seen = frames.map((f, i) => { try { return read(f, ids[i]); } catch (e) { return null; } });
  if (seen.every(s => s) || performance.now() - t0 > 6000)
    document.getElementById("out").textContent = JSON.stringify(seen);
  else setTimeout(poll, 50);
})();
</script>"#;

async fn measure_page() -> axum::response::Response {
    held_page(MEASURE, Duration::from_secs(7))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_decodes_compressed_previews_and_keeps_its_columns_on_screen_at_1280_px() {
    let app = axum::Router::new()
        .route("/measure", get(measure_page))
        .fallback(compressed);
    let addr = local::serve(
        lambda_stream::Runtime::new(lambda_stream::Config::default()),
        local::options(),
        app,
    )
    .await;
    let routes = ["/gzip", "/gzip-long", "/deflate", "/br", "/fail"];
    for route in routes {
        let req = http::Request::get(long_path(route))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let seen = crate::support::client::send(addr, req).await;
        assert_eq!(seen.status, 200, "{route}");
    }
    // The inspector's ids of the five, in order.
    let req = http::Request::get("/_lambda/invocations")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(&crate::support::client::send(addr, req).await.body()).unwrap();
    let ids: Vec<String> = routes
        .iter()
        .map(|route| {
            let path = long_path(route);
            let r = kept
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["path"] == path.as_str());
            r.unwrap_or_else(|| panic!("{route} is not kept: {kept}"))["id"].to_string()
        })
        .collect();

    let Some(dom) = chromium::dump_dom(
        &format!("http://{addr}/measure?ids={}", ids.join(",")),
        Duration::from_secs(20),
        &["--window-size=1280,800"],
    )
    .await
    else {
        return;
    };
    let out = chromium::output(&dom);
    let seen: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let seen: Vec<&serde_json::Value> = seen.as_array().unwrap().iter().collect();
    assert_eq!(seen.len(), routes.len());
    for (route, s) in routes.iter().zip(&seen) {
        assert!(
            !s.is_null(),
            "{route}: the inspector did not show it: {out}"
        );
        let viewport = s["viewport"].as_f64().unwrap();
        assert_eq!(viewport, 1280.0, "{route}: {s}");
        // The columns after the path are on screen, the path cut short, whole in its tooltip.
        let list = s["list"]["right"].as_f64().unwrap();
        assert!(list <= viewport, "{route}: {s}");
        for cell in ["status", "error", "status_th", "error_th"] {
            let right = s[cell]["right"].as_f64().unwrap();
            let left = s[cell]["left"].as_f64().unwrap();
            assert!(
                left >= 0.0 && right <= list && right > left,
                "{route}: the {cell} column is off screen: {s}"
            );
        }
        assert!(s["path"]["right"].as_f64().unwrap() <= s["status"]["left"].as_f64().unwrap());
        assert_eq!(s["title"], long_path(route).as_str(), "{route}");
        assert_eq!(s["status_text"], "200", "{route}");
    }
    let [gz, gz_long, deflate, br, fail] = seen[..] else {
        unreachable!()
    };
    // gzip and deflate (zlib), decoded in the browser.
    assert_eq!(gz["preview"], SUMMARY, "{gz}");
    assert!(
        gz["note"]
            .as_str()
            .unwrap()
            .starts_with("decoded from gzip ("),
        "{gz}"
    );
    assert_eq!(deflate["preview"], SUMMARY, "{deflate}");
    // Past the 512 bytes kept, the decoded beginning, and what it is the beginning of.
    let long = numbered_lines();
    let shown = gz_long["preview"].as_str().unwrap();
    assert!(shown.len() > 512 && long.starts_with(shown), "{gz_long}");
    let note = gz_long["note"].as_str().unwrap();
    assert!(
        note.starts_with("decoded from gzip: the first 512 B of ") && note.ends_with("on the wire"),
        "{note}"
    );
    // What the browser cannot decode is labelled, not shown garbled (should a browser
    // decode brotli, these ten bytes are not valid brotli: labelled too).
    assert!(br["preview"].is_null(), "{br}");
    let note = br["note"].as_str().unwrap();
    assert!(
        note == "br-encoded body, 10 B: this browser cannot decode br, not shown"
            || note == "br-encoded body, 10 B: not valid br, not shown",
        "{br}"
    );
    // The failed stream: its error in the error column, on screen.
    assert_eq!(fail["error_text"], "Function.StreamError", "{fail}");
    assert_eq!(fail["preview"], "partial report\n", "{fail}");
}
