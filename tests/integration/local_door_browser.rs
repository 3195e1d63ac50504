//! The local server's door in a real browser (headless Chromium, Debian's `chromium`): a page
//! on another local origin streams the function through `fetch` when the URL's CORS settings
//! allow its origin, and is refused without them; a page whose host name resolves to
//! 127.0.0.1 (DNS rebinding, played by `--host-resolver-rules`) cannot read the inspector.
//!
//! Skipped when `chromium` is not installed, unless `LAMBDA_STREAM_REQUIRE_CLIENTS` is set
//! (CI sets it and installs Chromium).

use crate::support::local;
use lambda_stream_test_support::chromium;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use lambda_stream::local::{Cors, Options};
use lambda_stream::{Body, BoxError, Runtime};

const CHUNKS: [&str; 3] = ["chunk 1\n", "chunk 2\n", "chunk 3\n"];
/// Between two chunks of the function's stream.
const GAP: Duration = Duration::from_millis(400);
/// How long a page's HTML stays open, so that the browser's `load` (when `--dump-dom`
/// reads the page) waits for its script.
const HOLD: Duration = Duration::from_secs(3);
/// The longest a page may take in the browser.
const WAIT: Duration = Duration::from_secs(15);

/// An HTML page that runs `script` and writes its result into `#out`, its end held back.
fn page(script: String) -> BoxBody<Bytes, BoxError> {
    let head = format!(
        "<!doctype html><html><body><pre id=\"out\">pending</pre><script>{script}</script>"
    );
    let parts = stream::iter([Bytes::from(head)])
        .chain(stream::once(async {
            tokio::time::sleep(HOLD).await;
            Bytes::from_static(b"</body></html>")
        }))
        .map(|b| Ok::<_, BoxError>(Frame::data(b)));
    BodyExt::boxed(StreamBody::new(parts))
}

/// Reads `fetch(url, init)`'s body chunk by chunk from its `ReadableStream`, each with when
/// it arrived, and writes `{status, exposed, chunks}` (or `{error}`) into `#out`.
fn streaming_fetch(url: &str, init: &str) -> String {
    format!(
        r#"const t0 = performance.now();
(async () => {{
  const out = document.getElementById("out");
  try {{
    const res = await fetch("{url}", {init});
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const chunks = [];
    for (;;) {{
      const {{ done, value }} = await reader.read();
      if (done) break;
      chunks.push({{ text: decoder.decode(value), at: performance.now() - t0 }});
    }}
    out.textContent = JSON.stringify({{ status: res.status, exposed: res.headers.get("x-my-custom-header"), chunks }});
  }} catch (e) {{
    out.textContent = JSON.stringify({{ error: String(e) }});
  }}
}})();"#
    )
}

/// The function: `/attack` is a page that reads the inspector's list from its own origin;
/// anything else streams [`CHUNKS`] [`GAP`] apart (without CORS headers of its own). Counts
/// its invocations.
fn function(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<BoxBody<Bytes, BoxError>>,
    Error = Infallible,
    Future = impl Send,
> + Send
       + 'static {
    tower::service_fn(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if req.uri().path() == "/attack" {
                let script = r#"fetch("/_lambda/invocations")
  .then(async r => { document.getElementById("out").textContent = JSON.stringify({ status: r.status, text: await r.text() }); })
  .catch(e => { document.getElementById("out").textContent = JSON.stringify({ error: String(e) }); });"#;
                return Ok(Response::builder()
                    .header("content-type", "text/html; charset=utf-8")
                    .body(page(script.to_owned()))
                    .unwrap());
            }
            let chunks = stream::unfold(0, |n| async move {
                if n == CHUNKS.len() {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(GAP).await;
                }
                Some((
                    Ok::<_, BoxError>(Frame::data(Bytes::from_static(CHUNKS[n].as_bytes()))),
                    n + 1,
                ))
            });
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/plain")
                    .header("x-my-custom-header", "streaming-example")
                    .body(BodyExt::boxed(StreamBody::new(chunks)))
                    .unwrap(),
            )
        }
    })
}

async fn start(options: Options) -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = local::serve(
        Runtime::new(lambda_stream::Config::default()),
        options,
        function(calls.clone()),
    )
    .await;
    (addr, calls)
}

/// Another local origin: a server on 127.0.0.1:`port` whose one page, `/page`, runs
/// `script`. It stops when the handle is aborted.
async fn other_origin(port: u16, script: String) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new().route(
        "/page",
        axum::routing::get(move || {
            let script = script.clone();
            async move {
                axum::response::Response::builder()
                    .header("content-type", "text/html; charset=utf-8")
                    .body(axum::body::Body::new(page(script)))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// A `POST` with a JSON body: not a "simple" request, so the browser asks first (preflight).
const POST_JSON: &str =
    r#"{ method: "POST", headers: { "content-type": "application/json" }, body: "{}" }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_streams_the_function_through_fetch_with_cors_and_not_without() {
    // The page's origin, known before the function's server exists: a port of its own.
    let page_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let page_port = page_listener.local_addr().unwrap().port();
    drop(page_listener);
    let page_origin = format!("http://localhost:{page_port}");

    let mut cors = Cors::default();
    cors.allow_origins = vec![page_origin.clone()];
    cors.allow_methods = vec!["POST".to_owned()];
    cors.allow_headers = vec!["content-type".to_owned()];
    cors.expose_headers = vec!["x-my-custom-header".to_owned()];
    let mut options = local::options();
    options.cors = Some(cors);
    let (with_cors, calls) = start(options).await;
    let (without_cors, _) = start(local::options()).await;

    for (target, allowed) in [(with_cors, true), (without_cors, false)] {
        let script = streaming_fetch(&format!("http://127.0.0.1:{}/", target.port()), POST_JSON);
        let server = other_origin(page_port, script).await;
        let Some(dom) = chromium::dump_dom(&format!("{page_origin}/page"), WAIT, &[]).await else {
            return;
        };
        server.abort();
        let _ = server.await;
        let seen: serde_json::Value =
            serde_json::from_str(&chromium::output(&dom)).unwrap_or_else(|e| panic!("{e}: {dom}"));
        if !allowed {
            assert!(
                seen["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Failed to fetch")),
                "read without CORS settings: {seen}"
            );
            continue;
        }
        assert_eq!(seen["status"], 200, "{seen}");
        assert_eq!(seen["exposed"], "streaming-example", "{seen}");
        let chunks = seen["chunks"].as_array().unwrap();
        let text: String = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert_eq!(text, CHUNKS.concat());
        // Read one by one as they were produced, not all at the end.
        assert!(chunks.len() >= CHUNKS.len(), "{seen}");
        let at: Vec<f64> = chunks.iter().map(|c| c["at"].as_f64().unwrap()).collect();
        let spread = at[at.len() - 1] - at[0];
        assert!(
            spread >= (GAP * 2).as_millis() as f64 * 0.9,
            "the chunks arrived together: {at:?}"
        );
        // The preflight was answered by the door: one invocation, the POST.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_a_rebound_host_name_cannot_read_the_inspector() {
    let mut options = local::options();
    options.allowed_hosts = vec!["good.test".to_owned()];
    let (addr, calls) = start(options).await;
    let rules = "--host-resolver-rules=MAP evil.test 127.0.0.1, MAP good.test 127.0.0.1";

    // The control: on an allowed name, the page reads the inspector from its own origin.
    let Some(dom) = chromium::dump_dom(
        &format!("http://good.test:{}/attack", addr.port()),
        WAIT,
        &[rules],
    )
    .await
    else {
        return;
    };
    let seen: serde_json::Value =
        serde_json::from_str(&chromium::output(&dom)).unwrap_or_else(|e| panic!("{e}: {dom}"));
    assert_eq!(seen["status"], 200, "{seen}");
    assert!(seen["text"].as_str().unwrap().contains("/attack"), "{seen}");
    // The page, and the browser's `/favicon.ico`.
    let runs = calls.load(Ordering::SeqCst);
    assert!(runs >= 1);

    // evil.test resolves to 127.0.0.1 too, as a rebinding attacker's name would: its page
    // never loads, and the inspector says why.
    let dom = chromium::dump_dom(
        &format!("http://evil.test:{}/attack", addr.port()),
        WAIT,
        &[rules],
    )
    .await
    .unwrap();
    assert!(!dom.contains("pending"), "the page loaded: {dom}");
    assert!(dom.contains("LOCAL_LAMBDA_ALLOWED_HOSTS"), "{dom}");
    let dom = chromium::dump_dom(
        &format!("http://evil.test:{}/_lambda/", addr.port()),
        WAIT,
        &[rules],
    )
    .await
    .unwrap();
    assert!(dom.contains("forbidden: the host \"evil.test\""), "{dom}");
    assert!(!dom.contains("invocations"), "{dom}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        runs,
        "the function ran for evil.test"
    );
}
