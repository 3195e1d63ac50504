//! The `run_concurrent` supervisor's own failures, against the Runtime API mock (a real
//! HTTP/1.1 server): a service whose `Clone` panics (at startup, and when a dead worker is
//! replaced), and the report of a dead worker's invocation, which echoes the
//! `Lambda-Runtime-Invocation-Id` its `/next` carried, byte for byte.
//!
//! A worker is killed as `concurrency.rs` does it: the handler fails with a message that the
//! log writer panics on, and the runtime logs that error in the worker, outside the handler.
//! Every test here is on a current-thread runtime, so that the subscriber set here is the one
//! every worker task logs to.

use crate::support::{self, logs};
use logs::Logs;

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use lambda_stream::{Body, BoxError, RequestExt, Runtime};
use support::{MockEvent, MockRuntimeApi, Record};
use tokio::sync::Barrier;

const INVOCATION_ID: &str = "lambda-runtime-invocation-id";

/// A service whose `Clone` panics on the clones it is told to (counted from 1 across every
/// copy). It answers `served <request id>`, and fails with `kill the worker <request id>`
/// for a request id that starts with `boom`. With a barrier, each invocation waits there
/// first.
struct Brittle {
    clones: Arc<AtomicUsize>,
    panics_on: &'static [usize],
    barrier: Option<Arc<Barrier>>,
}

impl Brittle {
    fn new(panics_on: &'static [usize]) -> Self {
        Brittle {
            clones: Arc::default(),
            panics_on,
            barrier: None,
        }
    }
}

impl Clone for Brittle {
    fn clone(&self) -> Self {
        let n = self.clones.fetch_add(1, Ordering::SeqCst) + 1;
        if self.panics_on.contains(&n) {
            panic!("clone {n} exploded");
        }
        Brittle {
            clones: self.clones.clone(),
            panics_on: self.panics_on,
            barrier: self.barrier.clone(),
        }
    }
}

type Reply = Pin<Box<dyn Future<Output = Result<Response<String>, BoxError>> + Send>>;

impl tower::Service<Request<Body>> for Brittle {
    type Response = Response<String>;
    type Error = BoxError;
    type Future = Reply;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Reply {
        let id = req
            .lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default();
        let barrier = self.barrier.clone();
        Box::pin(async move {
            if let Some(barrier) = barrier {
                barrier.wait().await;
            }
            if id.starts_with("boom") {
                return Err(BoxError::from(format!("kill the worker {id}")));
            }
            Ok(Response::new(format!("served {id}")))
        })
    }
}

fn spawn_concurrent(mock: &MockRuntimeApi, workers: usize, service: Brittle) -> support::Serving {
    let mut config = mock.config();
    config.max_concurrency = NonZeroUsize::new(workers);
    // One worker would set the process-wide `_X_AMZN_TRACE_ID`, beside other tests.
    let runtime = Runtime::new(config).trace_id_env(false);
    support::Serving::spawn(runtime.run_concurrent(service))
}

/// The head of the first request the mock received that starts with `line`, as bytes.
fn request_head(raw: &[u8], line: &str) -> Vec<u8> {
    let start = raw
        .windows(line.len())
        .position(|w| w == line.as_bytes())
        .unwrap_or_else(|| panic!("no {line:?} in what the mock received"));
    let rest = &raw[start..];
    let end = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the request head ends");
    rest[..end + 4].to_vec()
}

/// Serves `req-<from>..req-<to>` one after the other and checks each answer.
async fn assert_serves(mock: &MockRuntimeApi, rt: &support::Serving, ids: std::ops::Range<u32>) {
    for i in ids {
        let id = format!("req-{i}");
        mock.push_event(MockEvent::url(&id));
        let res = mock.response().await;
        assert_eq!(res.request_id, id);
        assert!(res.complete);
        assert_eq!(res.split().1, format!("served {id}").as_bytes());
    }
    assert!(!rt.is_finished(), "the runtime stopped");
}

// 1. A panic in the service's `Clone`.

#[tokio::test]
async fn a_service_that_cannot_be_cloned_for_any_worker_is_an_init_error() {
    let (logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    let mut rt = spawn_concurrent(&mock, 2, Brittle::new(&[1, 2]));
    // Reported as an initialisation failure: no worker ever asked for an event, so Lambda
    // still takes `/init/error` (and shows the cause), rather than a bare exit.
    match mock.record().await {
        Record::InitError(report) => {
            assert_eq!(report.error_type(), "Function.Panic");
            assert_eq!(
                report.message(),
                "the service panicked while it was cloned for a worker: clone 1 exploded"
            );
            assert_eq!(
                report.headers["lambda-runtime-function-error-type"],
                "Function.Panic"
            );
        }
        other => panic!("expected an init error, got {other:?}"),
    }
    let err = rt.error().await;
    assert!(err.is_init(), "{err:?}");
    assert!(
        format!("{err:?}").contains("clone 1 exploded"),
        "the error says why: {err:?}"
    );
    assert_eq!(mock.next_calls(), 0, "no worker asked for an event");
    assert!(support::contains(
        &mock.raw(),
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
    ));
    assert_eq!(
        logs.count(&["cannot make a worker", "clone 2 exploded"]),
        1,
        "each failed clone is logged"
    );
}

#[tokio::test]
async fn a_worker_that_cannot_be_cloned_at_startup_is_left_out_and_the_others_serve() {
    let (logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    let mut service = Brittle::new(&[2]);
    // Two invocations meet at the barrier: both workers that could be made serve at once.
    service.barrier = Some(Arc::new(Barrier::new(2)));
    let rt = spawn_concurrent(&mock, 3, service);
    mock.push_event(MockEvent::url("req-0"));
    mock.push_event(MockEvent::url("req-1"));
    let mut ids = vec![
        mock.response().await.request_id,
        mock.response().await.request_id,
    ];
    ids.sort();
    assert_eq!(ids, ["req-0", "req-1"]);
    assert!(!rt.is_finished(), "the runtime stopped");
    assert_eq!(mock.connections(), 2, "two workers, not three");
    assert_eq!(
        logs.count(&["cannot make a worker", "worker=1", "clone 2 exploded"]),
        1
    );
    assert_eq!(logs.count(&["serving with fewer workers", "workers=2"]), 1);
}

#[tokio::test]
async fn a_dead_worker_whose_clone_panics_is_not_replaced_and_the_others_go_on() {
    let (logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    // Clones 1 and 2 are the workers; 3 would replace the one that dies.
    let rt = spawn_concurrent(&mock, 2, Brittle::new(&[3]));
    mock.push_event(MockEvent::url("boom-1"));
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom-1"));
    assert_eq!(report.error_type(), "Function.Panic");
    assert_serves(&mock, &rt, 0..4).await;
    assert_eq!(
        logs.count(&["cannot make a worker", "clone 3 exploded"]),
        1,
        "the failed replacement is logged"
    );
    assert_eq!(logs.count(&["serving with fewer workers", "workers=1"]), 1);
}

#[tokio::test]
async fn the_last_worker_lost_for_good_stops_the_runtime() {
    let (_logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    let mut rt = spawn_concurrent(&mock, 1, Brittle::new(&[2]));
    mock.push_event(MockEvent::url("boom-1"));
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom-1"));
    // Nothing is left to ask for events: the process exits, and Lambda replaces it.
    let err = rt.error().await;
    assert!(err.is_no_worker_left(), "{err:?}");
    assert!(!err.is_init() && !err.is_runtime_api(), "{err:?}");
    assert_eq!(
        format!("{err:?}"),
        "no worker is left to serve invocations: Function.Panic: the service panicked while \
         it was cloned for a worker: clone 2 exploded"
    );
}

// 2. The dead worker's report echoes `Lambda-Runtime-Invocation-Id`.

#[tokio::test]
async fn a_dead_workers_report_echoes_its_invocation_id() {
    let (_logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    let rt = spawn_concurrent(&mock, 2, Brittle::new(&[]));
    mock.push_event(
        MockEvent::url("boom-1").header(INVOCATION_ID, Some("inv-dead-0001/attempt=2")),
    );
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom-1"));
    assert_eq!(report.error_type(), "Function.Panic");
    assert!(
        report.message().contains("the log writer exploded"),
        "{}",
        report.message()
    );
    assert_eq!(report.headers[INVOCATION_ID], "inv-dead-0001/attempt=2");
    // On the wire: one header line, the value byte for byte.
    let head = request_head(
        &mock.raw(),
        "POST /2018-06-01/runtime/invocation/boom-1/error HTTP/1.1\r\n",
    );
    assert!(
        support::contains(
            &head,
            b"\r\nlambda-runtime-invocation-id: inv-dead-0001/attempt=2\r\n"
        ),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(report.headers.get_all(INVOCATION_ID).iter().count(), 1);
    assert_serves(&mock, &rt, 0..3).await;
}

#[tokio::test]
async fn a_dead_workers_report_echoes_only_the_id_its_own_invocation_was_sent() {
    let (_logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    // One worker, so that every event goes to the same one (and then to its replacement).
    let rt = spawn_concurrent(&mock, 1, Brittle::new(&[]));
    mock.push_event(MockEvent::url("req-a").header(INVOCATION_ID, Some("inv-a")));
    let res = mock.response().await;
    assert_eq!(res.header(INVOCATION_ID), Some("inv-a"));
    // The worker that served `req-a` dies on an invocation sent without an id: its report
    // carries none (not `req-a`'s).
    mock.push_event(MockEvent::url("boom-1"));
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom-1"));
    assert!(
        report.headers.get(INVOCATION_ID).is_none(),
        "{:?}",
        report.headers
    );
    // Its replacement dies on one sent with an id: echoed.
    mock.push_event(MockEvent::url("boom-2").header(INVOCATION_ID, Some("inv-b")));
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom-2"));
    assert_eq!(report.headers[INVOCATION_ID], "inv-b");
    let head = request_head(
        &mock.raw(),
        "POST /2018-06-01/runtime/invocation/boom-2/error HTTP/1.1\r\n",
    );
    assert!(
        support::contains(&head, b"\r\nlambda-runtime-invocation-id: inv-b\r\n"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_serves(&mock, &rt, 0..2).await;
}
