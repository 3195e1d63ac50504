//! Graceful shutdown (feature `graceful-shutdown`): run a future when Lambda stops the
//! environment.
//!
//! Lambda sends `SIGTERM` to the runtime when it shuts an environment down, with up to
//! 500 ms before it kills the process, but only when an extension is registered (a telemetry
//! or monitoring extension, for example): then there is time to flush what is buffered.
//! [`spawn_graceful_shutdown_handler`] runs your future on `SIGTERM` (or `SIGINT`, Ctrl-C
//! when running locally), then exits the process with status 0.
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use lambda_stream::Body;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     lambda_stream::shutdown::spawn_graceful_shutdown_handler(|| async {
//!         // flush telemetry, close connections...
//!         println!("shutting down");
//!     })
//!     .expect("signal handlers can be installed");
//!     lambda_stream::run(tower::service_fn(|_req: Request<Body>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("hello")))
//!     }))
//!     .await
//! }
//! ```

use std::future::Future;
use std::io;

/// Runs `shutdown()`'s future when the process receives `SIGTERM` or `SIGINT` (Ctrl-C on
/// Windows), then exits with status 0; see the module docs.
///
/// Call it from inside the tokio runtime, before [`run`](crate::run). The signal handlers are
/// installed before it returns, so a signal that comes at once is not missed; it fails only
/// when they cannot be installed. Keep the future short: Lambda kills the process 500 ms
/// after `SIGTERM`.
pub fn spawn_graceful_shutdown_handler<F, Fut>(shutdown: F) -> io::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let signalled = signalled()?;
    tokio::spawn(async move {
        let name = signalled.await;
        tracing::info!(signal = name, "shutting down: running the shutdown handler");
        shutdown().await;
        std::process::exit(0);
    });
    Ok(())
}

/// A future that ends with the name of the first `SIGTERM` or `SIGINT` received.
#[cfg(unix)]
fn signalled() -> io::Result<impl Future<Output = &'static str> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

#[cfg(not(unix))]
fn signalled() -> io::Result<impl Future<Output = &'static str> + Send> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
    Ok(async move {
        ctrl_c.recv().await;
        "Ctrl-C"
    })
}
