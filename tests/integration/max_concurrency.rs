//! `AWS_LAMBDA_MAX_CONCURRENCY=30000` starts `Config::MAX_CONCURRENCY` workers, not 30000:
//! counted as the long polls on `/next` the Runtime API mock holds, one per worker.
//!
//! In a process of its own ([`process::alone`]): the test sets the process's environment
//! (for `Config::from_env`), which the child processes of other tests would inherit, while no
//! other thread reads it.

use crate::support::{self, process};

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use http::{Request, Response};
use lambda_stream::{Config, RequestExt, Runtime};
use support::{MockEvent, MockRuntimeApi};
use tower::service_fn;

#[test]
fn thirty_thousand_asked_for_starts_the_capped_number_of_workers() {
    if !process::alone(
        module_path!(),
        "thirty_thousand_asked_for_starts_the_capped_number_of_workers",
    ) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = rt.block_on(MockRuntimeApi::start());
    // Nothing else reads the environment at the same time: the only task running is the
    // mock's accept loop, which does not.
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", mock.address());
    std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "30000");
    let config = Config::from_env();
    assert_eq!(
        config.max_concurrency.map(|n| n.get()),
        Some(Config::MAX_CONCURRENCY)
    );

    rt.block_on(async {
        let service = service_fn(|req: Request<Body>| async move {
            let id = req.lambda_context().request_id.clone();
            Ok::<_, Infallible>(Response::new(format!("served {id}")))
        });
        let runtime = tokio::spawn(Runtime::new(config).run_concurrent(service));

        let want = Config::MAX_CONCURRENCY;
        let started = Instant::now();
        while mock.next_calls() < want {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "only {} of {want} workers polled /next",
                mock.next_calls()
            );
            assert!(!runtime.is_finished(), "the runtime stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give any worker past the cap the time to show up: there must be none.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(mock.next_calls(), want);
        assert_eq!(mock.connections(), want);

        // And they serve.
        mock.push_event(MockEvent::fixture("one", "function-url-get.json"));
        let res = mock.response().await;
        assert_eq!(res.split().1, b"served one");
        runtime.abort();
    });
}
