//! Fault injection: a Runtime API that misbehaves on purpose, and handlers that fail in every
//! place they can. For each fault: what the platform is told, and that the next invocation is
//! served (or, for the faults Lambda calls non-recoverable, that the runtime exits promptly).
//!
//! `runtime.rs` already covers a refused connection, `/next` answering 500 and 403,
//! `/response` answering 413 and 500, an event without a request id and panics in `call`,
//! the future and the body; `backpressure.rs` a reader that stops. This file adds the
//! faults a well-behaved HTTP server cannot make (see `support/raw.rs`) and the rest.

use crate::support::{self, logs, raw};

use lambda_stream::Body;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use lambda_stream::{BoxError, RequestExt};
use logs::Logs;
use raw::RawApi;
use support::{MockEvent, MockRuntimeApi};
use tower::service_fn;

fn ok_service() -> impl tower::Service<
    Request<Body>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Send {
    service_fn(|req: Request<Body>| async move {
        let id = req.lambda_context().request_id.clone();
        Ok(Response::new(Full::new(Bytes::from(format!(
            "served {id}"
        )))))
    })
}

/// Serves one raw invocation on `conn`: answers `/next` with `id`, reads the streamed response
/// and accepts it. Returns the response body.
async fn serve_one(conn: &mut raw::RawConn, id: &str) -> Vec<u8> {
    let head = conn.head().await;
    assert_eq!(
        head.line,
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
    );
    conn.event(id, "\"raw\"").await;
    let head = conn.head().await;
    assert_eq!(
        head.line,
        format!("POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1")
    );
    let (body, trailers) = conn.chunked_body().await;
    assert!(trailers.is_empty(), "{trailers:?}");
    conn.accepted().await;
    body
}

#[tokio::test]
async fn garbage_instead_of_http_on_next_is_retried_on_a_fresh_connection() {
    let api = RawApi::bind().await;
    let rt = api.serve(ok_service());
    for garbage in [
        &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
        b"\x00\x01\x02\xff\xfe\r\n\r\n",
        b"HTTP/1.1 two hundred\r\n\r\n",
        // Truncated: the connection closes after 10 of 100 promised bytes.
        b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: t\r\ncontent-length: 100\r\n\r\n0123456789",
    ] {
        let mut conn = api.accept().await;
        conn.head().await;
        conn.write(garbage).await;
        drop(conn);
    }
    let mut conn = api.accept().await;
    assert_eq!(
        serve_one(&mut conn, "after-garbage").await,
        b"served after-garbage"
    );
    // The loop goes on, on the same connection.
    conn.head().await;
    assert!(!rt.is_finished());
}

#[tokio::test]
async fn a_runtime_api_that_only_speaks_garbage_is_a_connect_error_after_retries() {
    let (logs, _guard) = Logs::capture();
    let api = RawApi::bind().await;
    let mut rt = api.serve(ok_service());
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let server = tokio::spawn(async move {
        loop {
            let mut conn = api.accept().await;
            counter.fetch_add(1, Ordering::SeqCst);
            conn.head().await;
            conn.write(b"not http\r\n\r\n").await;
        }
    });
    let err = rt.error().await;
    server.abort();
    let attempts = attempts.load(Ordering::SeqCst);
    assert!(err.is_connect(), "{err:?}");
    let text = format!("{err:?}");
    assert!(
        text.starts_with("cannot reach the lambda runtime api"),
        "{text}"
    );
    assert!(
        text.contains("invalid"),
        "the cause is in the message: {text}"
    );
    assert_eq!(attempts, 6, "retried with backoff, then gave up");
    eprintln!("{}", logs.text());
    assert_eq!(
        logs.count(&[
            "WARN",
            "cannot get the next event; retrying",
            "runtime api connection failed"
        ]),
        5
    );
    assert_eq!(
        logs.count(&["ERROR", "cannot get the next event; exiting", "attempts=6"]),
        1
    );
}

#[tokio::test]
async fn garbled_optional_next_headers_are_ignored_and_the_event_served() {
    let mock = support::serve(
        [
            MockEvent::url("garbled")
                .header("lambda-runtime-deadline-ms", Some("soon"))
                .header("lambda-runtime-client-context", Some("{not json"))
                .header("lambda-runtime-cognito-identity", Some("[1, 2]"))
                .header("lambda-runtime-invoked-function-arn", Some(""))
                .header("lambda-runtime-trace-id", None),
            MockEvent::url("huge-deadline")
                .header("lambda-runtime-deadline-ms", Some("18446744073709551615")),
        ],
        service_fn(|req: Request<Body>| async move {
            let cx = req.lambda_context();
            if cx.request_id == "garbled" {
                assert!(cx.deadline.is_none());
                assert!(cx.client_context.is_none());
                assert!(cx.identity.is_none());
                assert!(cx.invoked_function_arn.is_none());
                assert!(cx.xray_trace_id.is_none());
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }),
    )
    .await;
    for id in ["garbled", "huge-deadline"] {
        let res = mock.response().await;
        assert_eq!(res.request_id, id);
        assert_eq!(res.split().1, b"ok");
        assert!(res.error_trailers().is_none());
    }
    assert!(!mock.runtime.is_finished());
}

#[tokio::test]
async fn non_ascii_next_headers_do_not_break_the_loop() {
    let api = RawApi::bind().await;
    let rt = api.serve(ok_service());
    let mut conn = api.accept().await;
    conn.head().await;
    // A request id that is not text: nobody can be told, the event is skipped.
    conn.write(b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: \xff\xfe\r\ncontent-length: 2\r\n\r\n{}")
        .await;
    conn.head().await;
    // A trace id that is not text: ignored, the event is served.
    conn.write(b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: r2\r\nlambda-runtime-trace-id: \xe9t\xe9\r\ncontent-length: 2\r\n\r\n{}")
        .await;
    let head = conn.head().await;
    assert!(head.line.contains("/invocation/r2/response"), "{head:?}");
    let (body, _) = conn.chunked_body().await;
    assert_eq!(body, b"served r2");
    conn.accepted().await;
    conn.head().await;
    assert!(!rt.is_finished());
}

#[tokio::test]
async fn refused_posts_are_logged_and_the_loop_goes_on() {
    let (logs, _guard) = Logs::capture();
    let mock = MockRuntimeApi::start().await;
    mock.reply_to_response(
        400,
        r#"{"errorType":"InvalidRequestID","errorMessage":"unknown id"}"#,
    );
    mock.reply_to_error(
        400,
        r#"{"errorType":"InvalidRequestID","errorMessage":"unknown id"}"#,
    );
    mock.reply_to_error(
        403,
        r#"{"errorType":"InvalidStateTransition","errorMessage":"no"}"#,
    );
    for id in ["resp-400", "err-400", "err-403", "after"] {
        mock.push_event(MockEvent::url(id));
    }
    let rt = mock.serve(service_fn(|req: Request<Body>| async move {
        if req.lambda_context().request_id.starts_with("err-") {
            return Err(std::io::Error::other("handler failed"));
        }
        Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    assert_eq!(mock.response().await.request_id, "resp-400");
    assert_eq!(mock.error().await.request_id.as_deref(), Some("err-400"));
    assert_eq!(mock.error().await.request_id.as_deref(), Some("err-403"));
    assert_eq!(mock.response().await.request_id, "after");
    assert!(!rt.is_finished());
    drop(rt);
    eprintln!("{}", logs.text());
    let refused = [
        "ERROR",
        "the runtime api did not accept the call",
        "unknown id",
    ];
    assert_eq!(
        logs.count(&[&refused[..], &["what=\"response\"", "400 Bad Request"]].concat()),
        1
    );
    assert_eq!(
        logs.count(&[&refused[..], &["what=\"error report\"", "400 Bad Request"]].concat()),
        1
    );
    assert_eq!(logs.count(&["what=\"error report\"", "403 Forbidden"]), 1);
}

#[tokio::test]
async fn a_500_reply_to_an_error_report_stops_the_runtime() {
    let (logs, _guard) = Logs::capture();
    let mock = MockRuntimeApi::start().await;
    mock.reply_to_error(
        500,
        r#"{"errorType":"ContainerError","errorMessage":"broken"}"#,
    );
    mock.push_event(MockEvent::url("req-1"));
    mock.push_event(MockEvent::url("req-2"));
    let mut rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("handler failed"))
    }));
    assert_eq!(mock.error().await.request_id.as_deref(), Some("req-1"));
    let err = rt.error().await;
    assert!(err.is_runtime_api(), "{err:?}");
    assert!(format!("{err:?}").contains("broken"), "{err:?}");
    mock.assert_quiet(Duration::from_millis(200)).await;
    assert_eq!(
        logs.count(&[
            "ERROR",
            "the runtime api reported a fatal error; exiting",
            "broken"
        ]),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_runtime_api_that_closes_after_every_reply_gets_a_new_connection_each_time() {
    let api = RawApi::bind().await;
    let _rt = api.serve(ok_service());
    let mut conn = api.accept().await;
    conn.head().await;
    conn.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\nlambda-runtime-aws-request-id: c1\r\ncontent-length: 2\r\n\r\n{}")
        .await;
    drop(conn);
    let mut conn = api.accept().await;
    let head = conn.head().await;
    assert!(head.line.contains("/invocation/c1/response"), "{head:?}");
    assert_eq!(conn.chunked_body().await.0, b"served c1");
    conn.write(b"HTTP/1.1 202 Accepted\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        .await;
    drop(conn);
    let mut conn = api.accept().await;
    assert_eq!(serve_one(&mut conn, "c2").await, b"served c2");
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_reset_midway_through_a_stream_drops_the_body_and_the_next_event_is_served() {
    let (logs, _guard) = Logs::capture();
    let api = RawApi::bind().await;
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let svc = service_fn(move |req: Request<Body>| {
        let flag = flag.clone();
        async move {
            let endless = req.lambda_context().request_id == "endless";
            let guard = DropFlag(flag);
            let body = stream::unfold((0u64, guard), move |(n, guard)| async move {
                if !endless && n == 2 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                let chunk = Frame::data(Bytes::from(format!("chunk {n}\n")));
                Some((Ok::<_, Infallible>(chunk), (n + 1, guard)))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
        }
    });
    let rt = api.serve(svc);

    let mut conn = api.accept().await;
    conn.head().await;
    conn.event("endless", "\"raw\"").await;
    let head = conn.head().await;
    assert!(head.line.contains("/invocation/endless/response"));
    let got = conn.read_at_least(20).await;
    assert!(support::contains(&got, b"chunk 0\n"), "{got:?}");
    conn.reset();

    // The body is dropped: the handler's stream stops being polled and its resources go.
    tokio::time::timeout(Duration::from_secs(5), async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the handler's body was dropped after the reset");

    // The next event comes on a fresh connection and is served in full.
    let mut conn = api.accept().await;
    assert_eq!(serve_one(&mut conn, "next").await, b"chunk 0\nchunk 1\n");
    assert!(!rt.is_finished());
    drop(rt);
    eprintln!("{}", logs.text());
    assert_eq!(
        logs.count(&[
            "ERROR",
            "request_id=endless",
            "the runtime api did not accept the call",
            "runtime api connection failed",
            // The log names the cause, not only hyper's "connection error".
            "reset by peer",
        ]),
        1
    );
}

#[tokio::test]
async fn a_reset_while_waiting_for_the_reply_to_a_response_is_survived() {
    let api = RawApi::bind().await;
    let rt = api.serve(ok_service());
    let mut conn = api.accept().await;
    conn.head().await;
    conn.event("r1", "\"raw\"").await;
    conn.head().await;
    assert_eq!(conn.chunked_body().await.0, b"served r1");
    conn.reset();
    let mut conn = api.accept().await;
    assert_eq!(serve_one(&mut conn, "r2").await, b"served r2");
    assert!(!rt.is_finished());
}

#[tokio::test]
async fn a_slow_reader_bounds_what_the_handler_runs_ahead() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 48 * 1024 * 1024;
    // Kernel socket buffers on both ends, hyper's write buffer, one chunk in flight.
    const AHEAD: usize = 16 * 1024 * 1024;
    let api = RawApi::bind().await;
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let svc = service_fn(move |_req: Request<Body>| {
        let counter = counter.clone();
        async move {
            let body = stream::iter(0..TOTAL / CHUNK).map(move |i| {
                counter.fetch_add(CHUNK, Ordering::SeqCst);
                Ok::<_, Infallible>(Frame::data(Bytes::from(vec![(i % 251) as u8; CHUNK])))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
        }
    });
    let _rt = api.serve(svc);
    let mut conn = api.accept().await;
    conn.head().await;
    conn.event("slow", "\"raw\"").await;
    conn.head().await;
    let mut read = 0usize;
    let mut max_ahead = 0usize;
    let mut tail = Vec::new();
    loop {
        let got = conn.read_at_least(1).await;
        read += got.len();
        tail.extend_from_slice(&got);
        if tail.len() > 16 {
            tail.drain(..tail.len() - 16);
        }
        max_ahead = max_ahead.max(produced.load(Ordering::SeqCst).saturating_sub(read));
        if tail.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
        // About 64 MB/s: far slower than the handler could produce.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!("the handler ran at most {max_ahead} bytes ahead of the slow reader");
    assert!(max_ahead < AHEAD, "{max_ahead} bytes buffered");
    assert!(read > TOTAL, "every byte arrived: {read}");
    conn.accepted().await;
}

/// A service whose `poll_ready` fails (or panics) for chosen invocations.
#[derive(Clone)]
struct Flaky {
    calls: Arc<AtomicUsize>,
}

impl tower::Service<Request<Body>> for Flaky {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Poll::Ready(Err("connection pool exhausted".into())),
            1 => panic!("poll_ready exploded"),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, _req: Request<Body>) -> Self::Future {
        Box::pin(async { Ok(Response::new(Full::new(Bytes::from_static(b"ready")))) })
    }
}

#[tokio::test]
async fn a_service_that_is_not_ready_fails_the_invocation_and_the_runtime_goes_on() {
    let mock = support::serve(
        ["not-ready", "ready-panics", "ready"],
        Flaky {
            calls: Arc::new(AtomicUsize::new(0)),
        },
    )
    .await;
    let err = mock.error().await;
    assert_eq!(err.request_id.as_deref(), Some("not-ready"));
    assert_eq!(err.error_type(), "Function.ServiceNotReady");
    assert_eq!(err.message(), "connection pool exhausted");
    let err = mock.error().await;
    assert_eq!(err.request_id.as_deref(), Some("ready-panics"));
    assert_eq!(err.error_type(), "Function.Panic");
    assert!(
        err.message().contains("poll_ready exploded"),
        "{}",
        err.message()
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "ready");
    assert_eq!(res.split().1, b"ready");
    assert!(!mock.runtime.is_finished());
}
