//! The local development server over real sockets: each front door, as its callers see it.
//!
//! Every test starts its own server on a free loopback port, with the real runtime loop
//! behind it (the internal Runtime API), and calls it as a client would: hyper, raw TCP,
//! `curl`, and boto3 when it is installed.
//!
//! When a line arrives is asked under paused time (`start_paused`: tokio's clock, which the
//! in-process server and client share, gives exact arrival times); only the tests whose
//! other end is another process (the example binary, curl, boto3) read the real clock, with
//! a bound that a loaded machine cannot fail (`assert_each_before_the_next`).

use crate::support::client::send;
use crate::support::{local, process};
use lambda_stream::Body;
use lambda_stream_test_support as test_support;
use process::example_binary;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use lambda_stream::{BoxError, Diagnostic, LambdaService, RequestContext, RequestExt, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::service_fn;

use crate::example::streaming_numbers;

const NUMBERS: [&str; 4] = [
    "Number: 1\n",
    "Number: 2\n",
    "Number: 3\n",
    "Streaming complete!\n",
];

type TestBody = BoxBody<Bytes, BoxError>;

// ---------------------------------------------------------------------------------------------
// Harness

/// Starts a local server for `service` on a free port; it stops when the test ends.
async fn start<S>(service: S) -> SocketAddr
where
    S: LambdaService + Send + 'static,
    S::Future: Send,
{
    start_with(service, Duration::from_secs(900)).await
}

async fn start_with<S>(service: S, function_timeout: Duration) -> SocketAddr
where
    S: LambdaService + Send + 'static,
    S::Future: Send,
{
    let mut options = local::options();
    options.function_timeout = function_timeout;
    local::serve(
        Runtime::new(lambda_stream::Config::default()),
        options,
        service,
    )
    .await
}

/// A body of `parts`, `gap` apart, then `fail` as an error if given.
fn chunks<P: Into<String>>(
    parts: impl IntoIterator<Item = P>,
    gap: Duration,
    fail: Option<Diagnostic>,
) -> TestBody {
    let parts: Vec<Bytes> = parts.into_iter().map(|p| Bytes::from(p.into())).collect();
    let frames = stream::unfold((0usize, fail), move |(i, fail)| {
        let part = parts.get(i).cloned();
        async move {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            match part {
                Some(part) => Some((Ok(Frame::data(part)), (i + 1, fail))),
                None => fail.map(|d| (Err(BoxError::from(d)), (i + 1, None))),
            }
        }
    });
    StreamBody::new(frames).boxed()
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::default())
        .unwrap()
}

fn post(path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "localhost")
        .body(Full::new(body.into()))
        .unwrap()
}

/// Durations of whole seconds.
fn seconds<const N: usize>(secs: [u64; N]) -> Vec<Duration> {
    secs.into_iter().map(Duration::from_secs).collect()
}

/// One event-stream message: its string headers and its payload.
type Message = (Vec<(String, String)>, Vec<u8>);

/// Decodes an AWS event stream, checking both CRCs of each message.
fn decode_event_stream(mut buf: &[u8]) -> Vec<Message> {
    let be32 = |b: &[u8]| u32::from_be_bytes(b[..4].try_into().unwrap());
    let mut out = vec![];
    while !buf.is_empty() {
        let total = be32(&buf[0..]) as usize;
        let headers_len = be32(&buf[4..]) as usize;
        assert_eq!(be32(&buf[8..]), crc32fast::hash(&buf[..8]), "prelude crc");
        assert_eq!(
            be32(&buf[total - 4..]),
            crc32fast::hash(&buf[..total - 4]),
            "message crc"
        );
        let mut headers = vec![];
        let mut h = &buf[12..12 + headers_len];
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = String::from_utf8(h[1..1 + n].to_vec()).unwrap();
            assert_eq!(h[1 + n], 7, "string header");
            let len = u16::from_be_bytes([h[2 + n], h[3 + n]]) as usize;
            let value = String::from_utf8(h[4 + n..4 + n + len].to_vec()).unwrap();
            headers.push((name, value));
            h = &h[4 + n + len..];
        }
        out.push((headers, buf[12 + headers_len..total - 4].to_vec()));
        buf = &buf[total..];
    }
    out
}

fn event_type(headers: &[(String, String)]) -> &str {
    headers
        .iter()
        .find(|(n, _)| n == ":event-type")
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Function URL door

#[tokio::test(start_paused = true)]
async fn function_url_streams_the_example_lines_a_second_apart() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let seen = send(addr, get("/")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("content-type"), Some("text/plain"));
    assert_eq!(seen.header("x-my-custom-header"), Some("streaming-example"));
    assert!(seen.header("content-length").is_none());
    assert_eq!(seen.text(), NUMBERS.concat(), "no prelude in the body");
    assert_eq!(seen.end, Ok(()));
    // Each line on its own, as it was produced: not buffered to the end.
    let lines: Vec<_> = seen
        .chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(lines, NUMBERS);
    assert_eq!(seen.arrivals(), seconds([0, 1, 2, 3]));
}

#[tokio::test]
async fn function_url_status_headers_cookies_and_event_fidelity() {
    let svc = service_fn(|req: Request<Body>| async move {
        let Some(RequestContext::ApiGatewayV2(rc)) = req.request_context() else {
            panic!("not a function url event");
        };
        let seen = serde_json::json!({
            "method": req.method().as_str(),
            "path": req.raw_http_path(),
            "tags": req.query_string_parameters().all("tag"),
            "cookie": req.headers().get("cookie").map(|v| v.to_str().unwrap()),
            "accept": req.headers().get("accept").map(|v| v.to_str().unwrap()),
            "body": base64::engine::general_purpose::STANDARD.encode(req.body()),
            "sourceIp": rc.http.source_ip,
            "requestId": rc.request_id,
            "remaining": req.lambda_context().remaining().map(|d| d.as_secs()),
        });
        Ok::<_, Infallible>(
            Response::builder()
                .status(201)
                .header("content-type", "application/json")
                .header("x-custom", "yes")
                .header("set-cookie", "a=1; Path=/")
                .header("set-cookie", "b=2; HttpOnly")
                .body(Full::new(Bytes::from(seen.to_string())))
                .unwrap(),
        )
    });
    let addr = start(svc).await;
    let binary = vec![0u8, 159, 146, 150, 255];
    let req = Request::post("/items/42?tag=a&tag=b")
        .header("host", "localhost")
        .header("content-type", "application/octet-stream")
        .header("accept", "text/plain")
        .header("cookie", "session=abc; theme=dark")
        .body(Full::new(Bytes::from(binary.clone())))
        .unwrap();
    let seen = send(addr, req).await;
    assert_eq!(seen.status, 201);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("x-custom"), Some("yes"));
    let cookies: Vec<_> = seen.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
    let request_id = seen.header("x-amzn-requestid").unwrap().to_owned();

    let v: serde_json::Value = serde_json::from_slice(&seen.body()).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/items/42");
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(v["cookie"], "session=abc; theme=dark");
    assert_eq!(v["accept"], "text/plain");
    assert_eq!(
        v["body"],
        base64::engine::general_purpose::STANDARD.encode(&binary),
        "a binary body arrives intact (base64 in the event)"
    );
    assert_eq!(v["sourceIp"], "127.0.0.1");
    assert_eq!(v["requestId"], request_id.as_str());
    let remaining = v["remaining"].as_u64().unwrap();
    assert!((890..=900).contains(&remaining), "{remaining}");
}

#[tokio::test]
async fn function_url_error_before_the_response_is_a_502() {
    let svc = service_fn(|_req: Request<Body>| async {
        Err::<Response<Full<Bytes>>, _>(Diagnostic::new("Function.NoDatabase", "db down"))
    });
    let addr = start(svc).await;
    let seen = send(addr, get("/")).await;
    assert_eq!(seen.status, 502);
    assert_eq!(seen.text(), "Internal Server Error");
    // The runtime is still serving.
    let seen = send(addr, get("/")).await;
    assert_eq!(seen.status, 502);
}

/// Sends "partial " then fails with `Function.Custom: db gone`.
async fn failing_midway(_req: Request<Body>) -> Result<Response<TestBody>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(chunks(
            ["partial "],
            Duration::from_millis(10),
            Some(Diagnostic::new("Function.Custom", "db gone")),
        ))
        .unwrap())
}

#[tokio::test]
async fn function_url_mid_stream_error_gives_trailers_to_clients_that_accept_them() {
    let addr = start(service_fn(failing_midway)).await;
    let req = Request::get("/")
        .header("host", "localhost")
        .header("te", "trailers")
        .body(Full::default())
        .unwrap();
    let seen = send(addr, req).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), "partial ");
    let trailers = seen.trailers.expect("error trailers");
    assert_eq!(
        trailers["lambda-runtime-function-error-type"],
        "Function.Custom"
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errorType"], "Function.Custom");
    assert_eq!(body["errorMessage"], "db gone");
}

#[tokio::test]
async fn function_url_mid_stream_error_aborts_the_connection_otherwise() {
    let addr = start(service_fn(failing_midway)).await;
    let seen = send(addr, get("/")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), "partial ");
    assert!(seen.trailers.is_none());
    assert!(seen.end.is_err(), "the response must not end cleanly");

    // On the wire: no terminating zero-length chunk.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = vec![];
    let mut buf = [0u8; 4096];
    // Until the server closes the connection (a reset counts as closed).
    while let Ok(n @ 1..) = tcp.read(&mut buf).await {
        raw.extend_from_slice(&buf[..n]);
    }
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("partial "), "{raw}");
    assert!(!raw.ends_with("0\r\n\r\n"), "a clean end: {raw:?}");
}

#[tokio::test(start_paused = true)]
async fn deadline_is_the_function_timeout_and_is_enforced() {
    let svc = service_fn(|req: Request<Body>| async move {
        let remaining = req.lambda_context().remaining().unwrap_or_default();
        let gap = if req.uri().path() == "/slow" {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        let first = format!("{}\n", remaining.as_millis());
        Ok::<_, Infallible>(Response::new(chunks([first, "late\n".into()], gap, None)))
    });
    let addr = start_with(svc, Duration::from_secs(2)).await;
    let seen = send(addr, get("/")).await;
    let remaining: u64 = seen.text().lines().next().unwrap().parse().unwrap();
    assert!((1000..=2000).contains(&remaining), "{remaining} ms left");

    let req = Request::get("/slow")
        .header("host", "localhost")
        .header("te", "trailers")
        .body(Full::default())
        .unwrap();
    let seen = send(addr, req).await;
    // Cut off at the deadline exactly, a second before the late line.
    assert_eq!(seen.arrivals(), seconds([0]));
    assert_eq!(seen.sent_at.elapsed(), Duration::from_secs(2));
    assert!(!seen.text().contains("late"));
    let trailers = seen.trailers.expect("timeout trailers");
    assert_eq!(
        trailers["lambda-runtime-function-error-type"],
        "Sandbox.Timeout"
    );
    // The slow invocation finishes in the background; the next one is served after it.
    assert_eq!(send(addr, get("/")).await.status, 200);
}

#[tokio::test]
async fn payloads_over_6_mb_are_refused_with_413() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let big = Bytes::from(vec![b'x'; 6 * 1024 * 1024 + 1]);
    for path in [
        "/invoke",
        "/",
        "/2015-03-31/functions/f/invocations",
        "/2021-11-15/functions/f/response-streaming-invocations",
    ] {
        let seen = send(addr, post(path, big.clone())).await;
        assert_eq!(seen.status, 413, "{path}");
    }
    // Just under the limit is fine (a JSON string of 6 MB minus the quotes).
    let mut payload = vec![b'"'];
    payload.extend(std::iter::repeat_n(b'y', 6 * 1024 * 1024 - 2));
    payload.push(b'"');
    let seen = send(addr, post("/invoke", payload)).await;
    assert_eq!(seen.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Concurrency and disconnects

#[tokio::test]
async fn fifty_concurrent_clients_are_all_served() {
    let svc = service_fn(|req: Request<Body>| async move {
        let parts = [req.uri().path().to_owned(), "|done".into()];
        Ok::<_, Infallible>(Response::new(chunks(parts, Duration::from_millis(5), None)))
    });
    let addr = start(svc).await;
    let clients: Vec<_> = (0..50)
        .map(|i| tokio::spawn(async move { (i, send(addr, get(&format!("/client/{i}"))).await) }))
        .collect();
    for client in clients {
        let (i, seen) = client.await.unwrap();
        assert_eq!(seen.status, 200);
        assert_eq!(seen.text(), format!("/client/{i}|done"));
        assert_eq!(seen.end, Ok(()));
    }
}

#[tokio::test]
async fn a_client_leaving_mid_stream_leaves_the_server_healthy() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("Number: 1") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    drop(tcp);

    let seen = send(addr, get("/")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_eq!(seen.end, Ok(()));
}

/// Paused time: the sleeps order the steps (each ends once everything else waits), they do
/// not race them.
#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_at_once_does_not_hold_up_the_others() {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = calls.clone();
    let svc = service_fn(move |req: Request<Body>| {
        log.lock().unwrap().push(req.uri().path().to_owned());
        async move {
            let gap = Duration::from_millis(if req.uri().path() == "/busy" { 800 } else { 1 });
            Ok::<_, Infallible>(Response::new(chunks(["a", "b"], gap, None)))
        }
    });
    let addr = start(svc).await;
    let busy = tokio::spawn(send(addr, get("/busy")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Served beside /busy (concurrent callers are), and gone at once.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /left HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(tcp);
    let after = send(addr, get("/after")).await;
    assert_eq!(after.text(), "ab");
    assert_eq!(busy.await.unwrap().text(), "ab");
    // As on a function URL, the invocation whose caller left had started, and ran.
    assert_eq!(*calls.lock().unwrap(), ["/busy", "/left", "/after"]);
}

// ---------------------------------------------------------------------------------------------
// POST /invoke

#[tokio::test]
async fn invoke_applies_the_prelude_and_passes_raw_payloads_as_they_are() {
    let svc = service_fn(|req: Request<Body>| async move {
        let is_http = req.request_context_ref().is_some();
        let res = Response::builder()
            .status(if is_http { 203 } else { 200 })
            .header("content-type", "application/x-echo")
            .header("x-http-event", is_http.to_string())
            .body(Full::new(req.into_body().into_bytes()))
            .unwrap();
        Ok::<_, Infallible>(res)
    });
    let addr = start(svc).await;

    // A raw payload: delivered as is, no prelude either way.
    let seen = send(addr, post("/invoke", r#"{"k": [1, 2]}"#)).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("content-type"), Some("application/x-echo"));
    assert_eq!(seen.text(), r#"{"k": [1, 2]}"#);

    // An HTTP event: the prelude becomes the status and headers, not body bytes.
    let event = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/events/function-url-get.json"
    ))
    .unwrap();
    let seen = send(addr, post("/invoke", event)).await;
    assert_eq!(seen.status, 203);
    assert_eq!(seen.header("x-http-event"), Some("true"));
    assert_eq!(seen.header("content-type"), Some("application/x-echo"));
    assert!(
        !seen.body().contains(&0),
        "the prelude leaked into the body"
    );
}

#[tokio::test(start_paused = true)]
async fn invoke_streams_the_example_as_it_is_produced() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let seen = send(addr, post("/invoke", "{}")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_eq!(seen.arrivals(), seconds([0, 1, 2, 3]), "{:?}", seen.chunks);
}

// ---------------------------------------------------------------------------------------------
// The Lambda API doors

#[tokio::test(start_paused = true)]
async fn invoke_with_response_stream_sends_a_framed_event_per_chunk() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let seen = send(
        addr,
        post(
            "/2021-11-15/functions/streaming_numbers/response-streaming-invocations",
            r#""this is not used""#,
        ),
    )
    .await;
    assert_eq!(seen.status, 200);
    assert_eq!(
        seen.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    let events = decode_event_stream(&seen.body());
    let kinds: Vec<_> = events.iter().map(|(h, _)| event_type(h)).collect();
    assert_eq!(
        kinds,
        [
            "PayloadChunk",
            "PayloadChunk",
            "PayloadChunk",
            "PayloadChunk",
            "InvokeComplete"
        ]
    );
    let payloads: Vec<_> = events[..4]
        .iter()
        .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
        .collect();
    assert_eq!(payloads, NUMBERS);
    let complete: serde_json::Value = serde_json::from_slice(&events[4].1).unwrap();
    assert_eq!(complete, serde_json::json!({}));
    // One PayloadChunk per chunk, each sent as it came, and InvokeComplete with the last.
    assert_eq!(
        seen.arrivals(),
        seconds([0, 1, 2, 3, 3]),
        "{:?}",
        seen.chunks
    );
}

#[tokio::test]
async fn invoke_with_response_stream_reports_a_mid_stream_error_in_invoke_complete() {
    let addr = start(service_fn(failing_midway)).await;
    let seen = send(
        addr,
        post(
            "/2021-11-15/functions/f/response-streaming-invocations",
            "{}",
        ),
    )
    .await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.end, Ok(()));
    let events = decode_event_stream(&seen.body());
    assert_eq!(events.len(), 2);
    assert_eq!(event_type(&events[0].0), "PayloadChunk");
    assert_eq!(events[0].1, b"partial ");
    assert_eq!(event_type(&events[1].0), "InvokeComplete");
    let complete: serde_json::Value = serde_json::from_slice(&events[1].1).unwrap();
    assert_eq!(complete["ErrorCode"], "Function.Custom");
    assert_eq!(complete["ErrorDetails"], "db gone");
}

#[tokio::test]
async fn buffered_invoke_returns_the_payload_or_the_error() {
    let svc = service_fn(|req: Request<Body>| async move {
        if req.body().as_ref() == b"\"fail\"" {
            return Err(Diagnostic::new("Function.Refused", "asked to fail"));
        }
        Ok(Response::builder()
            .header("content-type", "application/json")
            .body(chunks(["[1,", "2]"], Duration::from_millis(10), None))
            .unwrap())
    });
    let addr = start(svc).await;
    let seen = send(addr, post("/2015-03-31/functions/f/invocations", "{}")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), "[1,2]");
    assert_eq!(seen.header("content-length"), Some("5"));
    assert!(seen.header("x-amz-function-error").is_none());

    let seen = send(
        addr,
        post("/2015-03-31/functions/f/invocations", "\"fail\""),
    )
    .await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("x-amz-function-error"), Some("Unhandled"));
    let v: serde_json::Value = serde_json::from_slice(&seen.body()).unwrap();
    assert_eq!(v["errorType"], "Function.Refused");
    assert_eq!(v["errorMessage"], "asked to fail");
}

#[tokio::test]
async fn invoke_passes_the_client_context_and_the_function_arn() {
    let svc = service_fn(|req: Request<Body>| async move {
        let ctx = req.lambda_context();
        let custom = ctx
            .client_context
            .and_then(|cc| cc.custom.get("tenant")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        let body = format!("{custom} {}", ctx.invoked_function_arn.unwrap_or_default());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let addr = start(svc).await;
    let context =
        base64::engine::general_purpose::STANDARD.encode(r#"{"custom":{"tenant":"t-1"}}"#);
    let req = Request::post("/2015-03-31/functions/f/invocations")
        .header("host", "localhost")
        .header("x-amz-client-context", context)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let seen = send(addr, req).await;
    let text = seen.text();
    let (tenant, arn) = text.split_once(' ').unwrap();
    assert_eq!(tenant, "t-1");
    assert!(arn.starts_with("arn:aws:lambda:"), "{arn}");
}

// ---------------------------------------------------------------------------------------------
// Real clients

#[tokio::test]
async fn the_example_binary_serves_locally_without_a_runtime_api() {
    use tokio::io::AsyncBufReadExt;
    // A free port: bound, then released for the example to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(example_binary("streaming_numbers"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LOCAL_LAMBDA_PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The one line that says what to curl, once the server listens.
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the example logged nothing within 20 s")
        .unwrap()
        .unwrap();
    assert!(
        line.contains(&format!("curl -N http://127.0.0.1:{port}/")),
        "{line}"
    );
    let seen = send(([127, 0, 0, 1], port).into(), get("/")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("x-my-custom-header"), Some("streaming-example"));
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_eq!(
        seen.chunks.len(),
        4,
        "one chunk per line: {:?}",
        seen.chunks
    );
    // Another process's clock: each line was on the wire before the next existed.
    test_support::assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));
}

#[tokio::test]
async fn curl_sees_the_lines_as_they_are_produced() {
    let addr = start(service_fn(streaming_numbers::handler)).await;
    let url = format!("http://{addr}/");
    let Some(seen) = test_support::curl::lines(&["-sN", &url]).await else {
        return;
    };
    assert_eq!(seen.code, Some(0));
    assert_eq!(seen.text(), NUMBERS.concat());
    // curl's clock cannot be paused: each line reached curl before the next existed.
    test_support::assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));
}

#[tokio::test]
async fn curl_sees_an_incomplete_response_when_the_stream_fails() {
    let addr = start(service_fn(failing_midway)).await;
    let url = format!("http://{addr}/");
    let Some(seen) = test_support::curl::lines(&["-sN", &url]).await else {
        return;
    };
    assert_eq!(seen.text(), "partial \n");
    // 18: "transfer closed with outstanding read data remaining".
    assert_eq!(seen.code, Some(18), "curl must see a broken transfer");
}

#[tokio::test]
async fn boto3_invoke_with_response_stream() {
    if !test_support::boto3::available() {
        return;
    }
    let svc = service_fn(|req: Request<Body>| async move {
        if req.body().windows(4).any(|w| w == b"fail") {
            return Ok::<_, Infallible>(
                Response::builder()
                    .body(chunks(
                        ["partial "],
                        Duration::from_millis(10),
                        Some(Diagnostic::new("Function.Custom", "db gone")),
                    ))
                    .unwrap(),
            );
        }
        streaming_numbers::handler(req)
            .await
            .map(|res| res.map(|b| b.map_err(|never| match never {}).boxed()))
    });
    let addr = start(svc).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_invoke_stream.py");
    let report = test_support::boto3::report(script, [format!("http://{addr}")]).await;

    let ok = &report["ok"];
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["chunks"], serde_json::json!(NUMBERS));
    assert_eq!(ok["complete"], serde_json::json!({}));
    // Seconds since the call, on boto3's clock: each chunk before the next existed.
    let times = test_support::seconds(&ok["times"]);
    test_support::assert_each_before_the_next(&times, Duration::from_secs(1));

    let failed = &report["failed"];
    assert_eq!(failed["status"], 200);
    assert_eq!(failed["chunks"], serde_json::json!(["partial "]));
    assert_eq!(failed["complete"]["ErrorCode"], "Function.Custom");
    assert_eq!(failed["complete"]["ErrorDetails"], "db gone");
}

/// Paused time: the connection is cut off exactly when its head is overdue.
#[tokio::test(start_paused = true)]
async fn a_caller_that_never_finishes_its_head_is_cut_off() {
    let mut options = local::options();
    options.header_read_timeout = Duration::from_millis(300);
    let service = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let addr = local::serve(
        Runtime::new(lambda_stream::Config::default()),
        options,
        service,
    )
    .await;

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    // The server closes the connection (a 408, or nothing) once the head is overdue.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the stalled connection was still open after 5 s"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );

    // Callers that send their head in time are served.
    let mut ok = TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    ok.read_to_end(&mut reply).await.unwrap();
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

/// A setting the server cannot read stops `cargo run` before it serves, with an error that
/// names the variable and what it takes: as the `lambda-stream local` command does.
#[tokio::test]
async fn a_bad_setting_stops_the_example_and_names_its_variable() {
    for (name, value, says) in [
        (
            "LOCAL_LAMBDA_PORT",
            "abc",
            "LOCAL_LAMBDA_PORT=\"abc\": not a port number (0 to 65535; 0 picks a free one)",
        ),
        (
            "LAMBDA_STREAM_RESPONSE_MODE",
            "streaming",
            "LAMBDA_STREAM_RESPONSE_MODE=\"streaming\": not `streamed`, `buffered` or `auto`",
        ),
    ] {
        let run = tokio::process::Command::new(example_binary("streaming_numbers"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env(name, value)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("the example still runs after 20 s")
            .unwrap();
        assert!(!out.status.success(), "{name}={value}: {:?}", out.status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{name}={value}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("curl -N"), "it served: {stdout}");
    }
}

/// A raw payload reaches the service as `POST /` with the payload as its body. A router
/// without that route answers `405`, which a raw invocation's caller cannot see (`Invoke`
/// answers 200): the local server says so in its log, and its inspector shows the `405`.
#[tokio::test]
async fn a_raw_invocations_hidden_status_is_logged_and_shown() {
    use crate::support::logs::Logs;
    use axum::routing::{get as route_get, post as route_post};

    let (logs, _guard) = Logs::capture();
    // A page at `/` for browsers: `POST /` is not allowed.
    let router = axum::Router::new().route("/", route_get(|| async { "home" }));
    let addr = start(router).await;
    let doors = [
        ("/invoke", "invoke"),
        ("/2015-03-31/functions/f/invocations", "Invoke"),
        (
            "/2021-11-15/functions/f/response-streaming-invocations",
            "InvokeWithResponseStream",
        ),
    ];
    for (path, _) in doors {
        let seen = send(addr, post(path, "{}")).await;
        // What the caller sees: a success, with the router's empty body.
        assert_eq!(seen.status, 200, "{path}");
    }
    let warned = logs.count(&[
        "the function answered this raw invocation 405 Method Not Allowed, which its caller cannot see",
        "route `POST /`",
    ]);
    assert_eq!(warned, 3, "{}", logs.text());

    let seen = send(addr, get("/_lambda/invocations")).await;
    let records: serde_json::Value = serde_json::from_slice(&seen.body()).unwrap();
    let records = records.as_array().unwrap();
    for (_, door) in doors {
        let record = records
            .iter()
            .find(|r| r["door"] == door)
            .unwrap_or_else(|| panic!("no record of {door}: {records:?}"));
        assert_eq!(record["status"], 405, "{door}: {record}");
    }

    // Routed, a raw payload is answered, and nothing is said.
    let router = axum::Router::new().route("/", route_post(|body: String| async move { body }));
    let addr = start(router).await;
    for (path, _) in doors {
        let seen = send(addr, post(path, r#"{"ok":true}"#)).await;
        assert_eq!(seen.status, 200, "{path}");
        if !path.contains("response-streaming") {
            assert_eq!(seen.text(), r#"{"ok":true}"#, "{path}");
        }
    }
    let seen = send(addr, get("/_lambda/invocations")).await;
    let records: serde_json::Value = serde_json::from_slice(&seen.body()).unwrap();
    for record in records.as_array().unwrap() {
        assert_eq!(record["status"], 200, "{record}");
    }
    assert_eq!(logs.count(&["which its caller cannot see"]), warned);
}
