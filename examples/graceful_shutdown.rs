//! Flushes on shutdown: when Lambda shuts the environment down it sends `SIGTERM`, the
//! shutdown future runs, then the process exits.
//!
//! Installing the handler before `run` is all it takes: on Lambda, the runtime registers an
//! internal extension of its own before it asks for the first event, because Lambda sends
//! `SIGTERM` only to environments with an extension registered. Locally, Ctrl-C runs the
//! future.
//!
//! Needs the `graceful-shutdown` and `logging` features.
//!
//! ```text
//! cargo run --example graceful_shutdown --features graceful-shutdown,logging
//! # then Ctrl-C: "shutdown: flushed 0 buffered records"
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response};
use lambda_stream::Body;

#[tokio::main]
async fn main() -> Result<(), lambda_stream::Error> {
    lambda_stream::logging::init_default_subscriber();
    // Stands for a telemetry buffer that must be flushed before the process goes.
    let buffered = Arc::new(AtomicUsize::new(0));
    let on_shutdown = buffered.clone();
    lambda_stream::shutdown::spawn_graceful_shutdown_handler(move || async move {
        let n = on_shutdown.swap(0, Ordering::SeqCst);
        println!("shutdown: flushed {n} buffered records");
    })
    .map_err(|e| {
        eprintln!("cannot install the shutdown handler: {e}");
        e
    })
    .ok();
    lambda_stream::run(tower::service_fn(move |_req: Request<Body>| {
        buffered.fetch_add(1, Ordering::SeqCst);
        tracing::info!("handled a request");
        async { Ok::<_, Infallible>(Response::new(String::from("hello\n"))) }
    }))
    .await
}
