//! `Runtime::run_concurrent` against the Runtime API mock, which hands out its queued events
//! to concurrent `/next` calls: N workers overlap, a stuck or dying one holds up nobody.

use crate::support::{self, logs};
use logs::Logs;

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use lambda_stream::{Body, RequestExt, Runtime};
use support::{MockEvent, MockRuntimeApi, Next};
use tokio::sync::Barrier;
use tower::service_fn;

fn spawn_concurrent<S>(mock: &MockRuntimeApi, workers: usize, service: S) -> support::Serving
where
    S: support::Function + Clone,
{
    let mut config = mock.config();
    config.max_concurrency = NonZeroUsize::new(workers);
    support::Serving::spawn(Runtime::new(config).run_concurrent(service))
}

fn request_id(req: &Request<Body>) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default()
}

/// `n` responses, as `(request id, body)` sorted by request id.
async fn responses(mock: &MockRuntimeApi, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let res = mock.response().await;
        let (_, body) = res.split();
        out.push((res.request_id, String::from_utf8(body).unwrap()));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_overlap_and_all_complete() {
    const WORKERS: usize = 4;
    let mock = MockRuntimeApi::start().await;
    // Each invocation waits until WORKERS of them are in flight at once: with fewer than
    // WORKERS concurrent invocations the barrier never opens and the test times out.
    let barrier = Arc::new(Barrier::new(WORKERS));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let rt = spawn_concurrent(&mock, WORKERS, {
        let (barrier, in_flight, most) = (barrier.clone(), in_flight.clone(), most.clone());
        service_fn(move |req: Request<Body>| {
            let (barrier, in_flight, most) = (barrier.clone(), in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Response::new(format!("done {}", request_id(&req))))
            }
        })
    });
    for i in 0..2 * WORKERS {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    let got = responses(&mock, 2 * WORKERS).await;
    let want: Vec<_> = (0..2 * WORKERS)
        .map(|i| (format!("req-{i}"), format!("done req-{i}")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        got, want,
        "every invocation answered, each with its own body"
    );
    assert_eq!(most.load(Ordering::SeqCst), WORKERS);
    assert_eq!(
        mock.connections(),
        WORKERS,
        "each worker on its own connection"
    );
    assert!(!rt.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_handler_holds_up_only_its_worker() {
    let mock = MockRuntimeApi::start().await;
    let _rt = spawn_concurrent(
        &mock,
        2,
        service_fn(|req: Request<Body>| async move {
            let id = request_id(&req);
            if id == "stuck" {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(id))
        }),
    );
    mock.push_event(MockEvent::url("stuck"));
    for i in 0..5 {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    let got = responses(&mock, 5).await;
    let ids: Vec<_> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3", "req-4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_travels_with_each_request() {
    let mock = MockRuntimeApi::start().await;
    let barrier = Arc::new(Barrier::new(3));
    let _rt = spawn_concurrent(&mock, 3, {
        let barrier = barrier.clone();
        service_fn(move |req: Request<Body>| {
            let barrier = barrier.clone();
            async move {
                // Read before and after the others ran: no shared state in between.
                let before = req.lambda_context().xray_trace_id;
                barrier.wait().await;
                assert_eq!(req.lambda_context().xray_trace_id, before);
                // Never set with more than one worker. (One-worker runtimes of other tests
                // in this process may set it, to the mock's default trace id: never to ours.)
                assert_ne!(std::env::var("_X_AMZN_TRACE_ID").ok(), before);
                Ok::<_, Infallible>(Response::new(before.unwrap_or_default()))
            }
        })
    });
    for i in 0..3 {
        let trace = format!("Root=1-5bef4de7-00000000000000000000000{i};Sampled=1");
        mock.push_event(
            MockEvent::url(&format!("req-{i}")).header("lambda-runtime-trace-id", Some(&trace)),
        );
    }
    for (i, (id, body)) in responses(&mock, 3).await.into_iter().enumerate() {
        assert_eq!(id, format!("req-{i}"));
        assert_eq!(
            body,
            format!("Root=1-5bef4de7-00000000000000000000000{i};Sampled=1")
        );
    }
}

// Current-thread: the subscriber set here is the one every worker task logs to.
#[tokio::test]
async fn a_worker_that_dies_is_replaced_and_the_others_go_on() {
    let (_logs, _guard) = Logs::tripwire();
    let mock = MockRuntimeApi::start().await;
    let service = service_fn(|req: Request<Body>| async move {
        let id = request_id(&req);
        if id == "boom" {
            return Err(lambda_stream::BoxError::from("kill the worker"));
        }
        Ok(Response::new(id))
    });
    let rt = spawn_concurrent(&mock, 2, service);
    mock.push_event(MockEvent::url("boom"));
    // The invocation the dead worker held is reported, not left to time out.
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("boom"));
    assert_eq!(report.error_type(), "Function.Panic");
    assert!(
        report.message().contains("the log writer exploded"),
        "{}",
        report.message()
    );
    // Wait (up to 20 s) for the worker that took `boom` to die and come back: 2 + 1
    // connections.
    for _ in 0..2000 {
        if mock.connections() == 3 && mock.next_calls() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.connections(), 3, "a replacement worker connected");
    for i in 0..4 {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    let got = responses(&mock, 4).await;
    let ids: Vec<_> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3"]);
    assert!(!rt.is_finished(), "the runtime survived its worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_stops_every_worker() {
    let mock = MockRuntimeApi::start().await;
    let mut rt = spawn_concurrent(
        &mock,
        3,
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    );
    // Three workers wait on /next; one gets the 500, the other two are still waiting.
    mock.push(Next::Status(500, r#"{"errorType":"Runtime.Unknown"}"#));
    let err = rt.error().await;
    assert!(err.is_runtime_api(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_without_the_variable() {
    let mock = MockRuntimeApi::start().await;
    let _rt = support::Serving::spawn(Runtime::new(mock.config()).run_concurrent(service_fn(
        |req: Request<Body>| async move { Ok::<_, Infallible>(Response::new(request_id(&req))) },
    )));
    for i in 0..3 {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    assert_eq!(responses(&mock, 3).await.len(), 3);
    assert_eq!(mock.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_concurrent_with_init_serves_with_the_initialised_service() {
    let mock = MockRuntimeApi::start().await;
    let mut config = mock.config();
    config.max_concurrency = NonZeroUsize::new(2);
    let barrier = Arc::new(Barrier::new(2));
    let _rt = support::Serving::spawn(Runtime::new(config).run_concurrent_with_init(async move {
        let greeting = String::from("loaded");
        Ok::<_, std::io::Error>(service_fn(move |req: Request<Body>| {
            let (greeting, barrier) = (greeting.clone(), barrier.clone());
            async move {
                barrier.wait().await;
                Ok::<_, Infallible>(Response::new(format!("{greeting} {}", request_id(&req))))
            }
        }))
    }));
    for i in 0..2 {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    let got = responses(&mock, 2).await;
    assert_eq!(
        got,
        [
            ("req-0".to_owned(), "loaded req-0".to_owned()),
            ("req-1".to_owned(), "loaded req-1".to_owned())
        ]
    );
}

#[tokio::test]
async fn run_concurrent_with_init_reports_an_init_failure() {
    let mock = MockRuntimeApi::start().await;
    let mut rt =
        support::Serving::spawn(Runtime::new(mock.config()).run_concurrent_with_init(async {
            Err::<
                tower::util::ServiceFn<
                    fn(Request<Body>) -> std::future::Ready<Result<Response<String>, Infallible>>,
                >,
                _,
            >(std::io::Error::other("no model"))
        }));
    match mock.record().await {
        support::Record::InitError(report) => {
            assert_eq!(report.error_type(), "Function.InitError");
            assert_eq!(report.message(), "no model");
        }
        other => panic!("expected an init error, got {other:?}"),
    }
    assert!(rt.error().await.is_init());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_ready_is_honoured_per_clone() {
    // A concurrency limit shared by the clones: four workers, but never more than two
    // invocations inside the handler, because each worker waits in its clone's poll_ready.
    let mock = MockRuntimeApi::start().await;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // Pairs meet at the barrier (so two are in at once), then linger (so that a third, if
    // the limit let it in, would be counted).
    let barrier = Arc::new(Barrier::new(2));
    let handler = {
        let (in_flight, most, barrier) = (in_flight.clone(), most.clone(), barrier.clone());
        service_fn(move |req: Request<Body>| {
            let (in_flight, most, barrier) = (in_flight.clone(), most.clone(), barrier.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Response::new(request_id(&req)))
            }
        })
    };
    let service = tower::ServiceBuilder::new()
        .concurrency_limit(2)
        .service(handler);
    let _rt = spawn_concurrent(&mock, 4, service);
    for i in 0..8 {
        mock.push_event(MockEvent::url(&format!("req-{i}")));
    }
    assert_eq!(responses(&mock, 8).await.len(), 8);
    assert_eq!(most.load(Ordering::SeqCst), 2);
}
