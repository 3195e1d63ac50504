//! Panics while the handler's values are dropped: a response body, the service's future, the
//! service itself. Under `run` and `run_concurrent`, against the Runtime API mock (a real
//! HTTP/1.1 server): a response that was complete stays delivered byte for byte, a failure
//! midway still ends with its trailers, the panic is logged, and the next invocation is
//! served by the same runtime.

use crate::support::{self, logs, raw};

use lambda_stream::Body;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use lambda_stream::{BoxError, Error, RequestExt, ResponseMode, Runtime};
use logs::Logs;
use support::{MockEvent, MockRuntimeApi, Next};
use tokio::task::JoinHandle;

const URL_EVENT: &str = "function-url-get.json";

/// One step of a scripted body.
#[derive(Clone, Copy)]
enum Step {
    Data(&'static str),
    Fail(&'static str),
    Panic,
    /// Pending for ever: the body is still streaming when it is dropped.
    Hang,
}

/// A body that plays its script, and panics when it is dropped if `armed`.
struct Bomb {
    steps: VecDeque<Step>,
    armed: bool,
}

impl Bomb {
    fn new(steps: &[Step], armed: bool) -> Self {
        Bomb {
            steps: steps.iter().copied().collect(),
            armed,
        }
    }
}

impl http_body::Body for Bomb {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.steps.pop_front() {
            None => Poll::Ready(None),
            Some(Step::Data(s)) => {
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
            }
            Some(Step::Fail(s)) => Poll::Ready(Some(Err(s.into()))),
            Some(Step::Panic) => panic!("the body exploded"),
            Some(Step::Hang) => {
                self.steps.push_front(Step::Hang);
                Poll::Pending
            }
        }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed {
            panic!("the body's drop exploded");
        }
    }
}

/// The service's future: ready at once with its outcome, and panics when dropped if `armed`.
struct Answer {
    outcome: Option<Result<Response<Bomb>, BoxError>>,
    armed: bool,
}

impl Future for Answer {
    type Output = Result<Response<Bomb>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(self.outcome.take().expect("polled once"))
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.armed {
            panic!("the future's drop exploded");
        }
    }
}

/// The service: what it does is named by the request id's prefix.
/// - `complete-`: "hello " "world", then the body's drop panics;
/// - `fail-`: "part", an error, then the drop panics;
/// - `panic-`: "part", a panic in `poll_frame`, then the drop panics too;
/// - `hang-`: "part", then pending until dropped, and the drop panics;
/// - `future-ok-`: a fine response from a future whose drop panics;
/// - `future-err-`: an error from a future whose drop panics;
/// - anything else: "served <id>", nothing panics.
#[derive(Clone, Copy)]
struct Handler;

impl tower::Service<Request<Body>> for Handler {
    type Response = Response<Bomb>;
    type Error = BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Answer {
        let id = req.lambda_context().request_id.clone();
        let body = |steps: &[Step], armed| {
            let mut res = Response::new(Bomb::new(steps, armed));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain"),
            );
            Ok(res)
        };
        let (outcome, armed) = match id.split_once('-').map_or("", |(p, _)| p) {
            "complete" => (
                body(&[Step::Data("hello "), Step::Data("world")], true),
                false,
            ),
            "fail" => (
                body(&[Step::Data("part"), Step::Fail("db gone")], true),
                false,
            ),
            "panic" => (body(&[Step::Data("part"), Step::Panic], true), false),
            "hang" => (body(&[Step::Data("part"), Step::Hang], true), false),
            "future" if id.starts_with("future-ok") => {
                (body(&[Step::Data("from a bombed future")], false), true)
            }
            "future" => (Err("the handler said no".into()), true),
            _ => {
                let served: &'static str = Box::leak(format!("served {id}").into_boxed_str());
                (body(&[Step::Data(served)], false), false)
            }
        };
        Answer {
            outcome: Some(outcome),
            armed,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry {
    Run,
    RunConcurrent,
}

const ENTRIES: [Entry; 2] = [Entry::Run, Entry::RunConcurrent];

fn start<S>(
    config: lambda_stream::Config,
    entry: Entry,
    service: S,
) -> JoinHandle<Result<(), Error>>
where
    S: tower::Service<Request<Body>, Response = Response<Bomb>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let runtime = Runtime::new(config);
    match entry {
        Entry::Run => tokio::spawn(runtime.run(service)),
        Entry::RunConcurrent => tokio::spawn(runtime.run_concurrent(service)),
    }
}

/// Serves `after-<n>` and checks it arrives whole: the runtime lives on.
async fn assert_serves_next(mock: &MockRuntimeApi, rt: &JoinHandle<Result<(), Error>>, n: &str) {
    let id = format!("after-{n}");
    mock.push_event(MockEvent::fixture(&id, URL_EVENT));
    let res = mock.response().await;
    assert_eq!(res.request_id, id);
    assert!(res.complete);
    assert_eq!(res.split().1, format!("served {id}").as_bytes());
    assert!(res.trailers.is_none());
    assert!(!rt.is_finished(), "the runtime stopped");
}

#[tokio::test]
async fn a_body_that_panics_when_dropped_after_a_complete_response() {
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let mock = MockRuntimeApi::start().await;
        let rt = start(mock.config(), entry, Handler);
        mock.push_event(MockEvent::fixture("complete-1", URL_EVENT));
        let res = mock.response().await;
        assert_eq!(res.request_id, "complete-1");
        // The response is delivered as the body produced it, and it ends cleanly: no
        // trailers, and no `/error` replacing it.
        assert!(res.complete, "{entry:?}: the stream was broken");
        let (prelude, body) = res.split();
        assert_eq!(prelude["statusCode"], 200);
        assert_eq!(body, b"hello world");
        assert!(res.trailers.is_none(), "{entry:?}: {:?}", res.trailers);
        // The two chunks were ready at once: one frame, then the clean end of the stream.
        assert!(support::contains(
            &mock.raw(),
            b"B\r\nhello world\r\n0\r\n\r\n"
        ));
        assert_serves_next(&mock, &rt, "complete").await;
        assert_eq!(
            logs.count(&[
                "the response body panicked while it was dropped",
                "the body's drop exploded",
                "complete-1"
            ]),
            1,
            "{entry:?}: the panic is logged once, for its invocation"
        );
        mock.assert_quiet(Duration::from_millis(100)).await;
        rt.abort();
    }
}

#[tokio::test]
async fn a_body_that_fails_midway_then_panics_when_dropped_still_sends_its_trailers() {
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let mock = MockRuntimeApi::start().await;
        let rt = start(mock.config(), entry, Handler);
        for (id, ty, message) in [
            ("fail-1", "Function.StreamError", "db gone"),
            (
                "panic-1",
                "Function.Panic",
                "the handler panicked: the body exploded",
            ),
        ] {
            mock.push_event(MockEvent::fixture(id, URL_EVENT));
            let res = mock.response().await;
            assert_eq!(res.request_id, id);
            assert!(res.complete, "{entry:?} {id}: the stream was broken");
            assert_eq!(res.split().1, b"part");
            let (got_ty, json) = res.error_trailers().expect("error trailers");
            assert_eq!(got_ty, ty, "{entry:?} {id}");
            assert_eq!(json["errorMessage"], message, "{entry:?} {id}");
        }
        assert_serves_next(&mock, &rt, "fail").await;
        assert_eq!(
            logs.count(&["the response body panicked while it was dropped"]),
            2,
            "{entry:?}"
        );
        mock.assert_quiet(Duration::from_millis(100)).await;
        rt.abort();
    }
}

#[tokio::test]
async fn a_body_dropped_mid_stream_that_panics_when_dropped() {
    // The connection to the Runtime API breaks while the body is still streaming: the body
    // is dropped unfinished, and its drop panics. The runtime reconnects and goes on.
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let api = raw::RawApi::bind().await;
        let rt = start(api.config(), entry, Handler);
        let mut conn = api.accept().await;
        conn.head().await;
        conn.event("hang-1", "\"raw\"").await;
        let head = conn.head().await;
        assert_eq!(
            head.line,
            "POST /2018-06-01/runtime/invocation/hang-1/response HTTP/1.1"
        );
        let sent = conn.read_at_least(b"4\r\npart\r\n".len()).await;
        assert!(support::contains(&sent, b"4\r\npart\r\n"), "{sent:?}");
        conn.reset();

        // The next invocation, on a new connection.
        let mut conn = api.accept().await;
        let head = conn.head().await;
        assert_eq!(
            head.line,
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
        );
        conn.event("after-1", "\"raw\"").await;
        let head = conn.head().await;
        assert_eq!(
            head.line,
            "POST /2018-06-01/runtime/invocation/after-1/response HTTP/1.1"
        );
        let (body, trailers) = conn.chunked_body().await;
        assert_eq!(body, b"served after-1");
        assert!(trailers.is_empty(), "{trailers:?}");
        conn.accepted().await;
        assert!(!rt.is_finished(), "{entry:?}: the runtime stopped");
        assert_eq!(
            logs.count(&["the response body panicked while it was dropped", "hang-1"]),
            1,
            "{entry:?}"
        );
        rt.abort();
    }
}

#[tokio::test]
async fn a_future_that_panics_when_dropped() {
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let mock = MockRuntimeApi::start().await;
        let rt = start(mock.config(), entry, Handler);

        // Its response is complete: it is delivered.
        mock.push_event(MockEvent::fixture("future-ok-1", URL_EVENT));
        let res = mock.response().await;
        assert_eq!(res.request_id, "future-ok-1");
        assert!(res.complete);
        assert_eq!(res.split().1, b"from a bombed future");
        assert!(res.trailers.is_none());

        // Its error is reported as the error it is.
        mock.push_event(MockEvent::fixture("future-err-1", URL_EVENT));
        let report = mock.error().await;
        assert_eq!(report.request_id.as_deref(), Some("future-err-1"));
        assert_eq!(report.error_type(), "Function.Error");
        assert_eq!(report.message(), "the handler said no");

        assert_serves_next(&mock, &rt, "future").await;
        assert_eq!(
            logs.count(&[
                "a future of the handler panicked while it was dropped",
                "the future's drop exploded"
            ]),
            2,
            "{entry:?}"
        );
        mock.assert_quiet(Duration::from_millis(100)).await;
        rt.abort();
    }
}

#[tokio::test]
async fn a_body_that_panics_when_dropped_in_buffered_mode() {
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let mock = MockRuntimeApi::start().await;
        let mut config = mock.config();
        config.response_mode = ResponseMode::Buffered;
        let rt = start(config, entry, Handler);
        mock.push_event(MockEvent::fixture("complete-1", URL_EVENT));
        let res = mock.response().await;
        assert_eq!(res.request_id, "complete-1");
        let object: serde_json::Value = serde_json::from_slice(&res.bytes()).unwrap();
        assert_eq!(object["statusCode"], 200);
        assert_eq!(object["body"], "hello world");
        mock.push_event(MockEvent::fixture("after-1", URL_EVENT));
        let res = mock.response().await;
        let object: serde_json::Value = serde_json::from_slice(&res.bytes()).unwrap();
        assert_eq!(object["body"], "served after-1");
        assert_eq!(
            logs.count(&["the response body panicked while it was dropped"]),
            1,
            "{entry:?}"
        );
        mock.assert_quiet(Duration::from_millis(100)).await;
        rt.abort();
    }
}

/// A service whose every clone panics when dropped.
#[derive(Clone)]
struct DropBombService(Handler);

impl tower::Service<Request<Body>> for DropBombService {
    type Response = Response<Bomb>;
    type Error = BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Answer {
        self.0.call(req)
    }
}

impl Drop for DropBombService {
    fn drop(&mut self) {
        panic!("the service's drop exploded");
    }
}

#[tokio::test]
async fn a_service_that_panics_when_dropped_at_shutdown() {
    // Lambda says the environment is broken (a 500 on /next): the runtime returns its fatal
    // error, as it would without the panic, instead of dying in the service's drop.
    for entry in ENTRIES {
        let (logs, _guard) = Logs::capture();
        let mock = MockRuntimeApi::start().await;
        let rt = start(mock.config(), entry, DropBombService(Handler));
        mock.push_event(MockEvent::fixture("first", URL_EVENT));
        assert_eq!(mock.response().await.split().1, b"served first");
        mock.push(Next::Status(500, r#"{"errorType":"Runtime.Broken"}"#));
        let outcome = tokio::time::timeout(Duration::from_secs(20), rt)
            .await
            .expect("the runtime stopped");
        let err = match outcome {
            Ok(Err(err)) => err,
            Ok(Ok(())) => panic!("{entry:?}: the runtime returned Ok"),
            Err(join) => panic!("{entry:?}: the runtime died: {join}"),
        };
        assert!(err.is_runtime_api(), "{entry:?}: {err:?}");
        // `run` owns one service; `run_concurrent` a template and a worker's clone.
        let drops = logs.count(&[
            "the service panicked while it was dropped",
            "the service's drop exploded",
        ]);
        let want = if entry == Entry::Run { 1 } else { 2 };
        assert_eq!(drops, want, "{entry:?}");
    }
}
