//! Invocations per second with one worker and with eight (`AWS_LAMBDA_MAX_CONCURRENCY`),
//! against the Runtime API mock of the tests on loopback.
//!
//! `cargo bench --bench concurrency` (release build). Each run hands out 2,000 function URL
//! events; the handler answers a 16-byte streamed body, at once or after sleeping 10 ms (an
//! I/O-bound handler, where concurrency shows). Prints one line per run.
//! `BENCH_EVENTS=N` changes the number of events.

// The tests' Runtime API mock; the bench drives a part of it.
#[path = "../tests/integration/support/mock.rs"]
#[allow(dead_code)]
mod support;

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use lambda_stream::{Body, Runtime};
use support::{MockEvent, MockRuntimeApi};

async fn run(events: usize, workers: usize, sleep: Duration) -> f64 {
    let mock = MockRuntimeApi::start().await;
    for i in 0..events {
        mock.push_event(MockEvent::fixture(
            &format!("req-{i}"),
            "function-url-get.json",
        ));
    }
    let mut config = mock.config();
    config.max_concurrency = NonZeroUsize::new(workers);
    let service = tower::service_fn(move |_req: Request<Body>| async move {
        if !sleep.is_zero() {
            tokio::time::sleep(sleep).await;
        }
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from_static(b"0123456789abcdef")))
                .expect("a valid response"),
        )
    });
    let start = Instant::now();
    let rt = tokio::spawn(Runtime::new(config).run_concurrent(service));
    for _ in 0..events {
        let res = mock.response().await;
        assert!(res.complete);
    }
    let elapsed = start.elapsed();
    rt.abort();
    events as f64 / elapsed.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets`, a quick smoke run.
    let benching = std::env::args().any(|a| a == "--bench");
    let events = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 2_000 } else { 20 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "{events} events, 16-byte streamed bodies, {} tokio worker threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for sleep in [Duration::ZERO, Duration::from_millis(10)] {
        for workers in [1, 8] {
            let rate = rt.block_on(run(events, workers, sleep));
            println!(
                "handler sleeps {:>2} ms, N={workers}: {rate:>8.0} invocations/s",
                sleep.as_millis()
            );
        }
    }
}
