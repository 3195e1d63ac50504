//! Graceful shutdown (feature `graceful-shutdown`): run a future when Lambda stops the
//! environment.
//!
//! Lambda sends `SIGTERM` to the runtime when it shuts an environment down, but only when an
//! extension is registered; then the process has 500 ms before it is killed, time to flush
//! what is buffered. [`spawn_graceful_shutdown_handler`] runs your future on `SIGTERM` (or
//! `SIGINT`, Ctrl-C when running locally), then exits the process with status 0.
//!
//! So that Lambda sends that `SIGTERM` with no other extension around, installing the handler
//! also has the runtime register an extension of its own when it starts on Lambda: an internal
//! extension named `lambda-stream-graceful-shutdown`, subscribed to no event, that does
//! nothing but exist. [`Runtime::run`](crate::Runtime::run) and the other `run*` methods
//! register it before they ask for the first event, through the Extensions API at
//! `AWS_LAMBDA_RUNTIME_API` (`POST /2020-01-01/extension/register`, then a
//! `GET /2020-01-01/extension/event/next` that stays open, on a connection of its own, so
//! that Lambda sees the extension ready and the environment's initialisation ends). Hence:
//!
//! - install the handler before calling `run*` (a handler installed later, in the future of
//!   [`run_with_init`](crate::Runtime::run_with_init) for one, still runs on a signal, but no
//!   extension is registered for it: a warning says so);
//! - a registration that fails (refused, or unanswered within 2 s, as under an emulator
//!   without the Extensions API) is logged as a warning and the function serves all the
//!   same, without the promise of a `SIGTERM`;
//! - outside Lambda (the local server, or the test kit) nothing is registered: there, Ctrl-C
//!   runs the handler.
//!
//! With an internal extension registered, Lambda gives the runtime 500 ms after `SIGTERM`;
//! keep the future well within that.
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
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Config;

/// The name of the extension the runtime registers for the handler.
const EXTENSION_NAME: &str = "lambda-stream-graceful-shutdown";

/// Whether a shutdown handler was installed in this process.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Whether a runtime of this process has started on the Runtime API: past the point where it
/// registers the extension.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Whether the extension was registered (once per process, however many runtimes start).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Runs `shutdown()`'s future when the process receives `SIGTERM` or `SIGINT` (Ctrl-C on
/// Windows), then exits with status 0; see the module docs.
///
/// Call it from inside the tokio runtime, before [`run`](crate::run): on Lambda, the runtime
/// then registers the extension that makes Lambda send `SIGTERM`. The signal handlers are
/// installed before it returns, so a signal that comes at once is not missed; it fails only
/// when they cannot be installed. Keep the future short: Lambda kills the process 500 ms
/// after `SIGTERM`.
pub fn spawn_graceful_shutdown_handler<F, Fut>(shutdown: F) -> io::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let signalled = signalled()?;
    INSTALLED.store(true, Ordering::SeqCst);
    if STARTED.load(Ordering::SeqCst) && !REGISTERED.load(Ordering::SeqCst) {
        tracing::warn!(
            "the shutdown handler was installed after the runtime started: no extension is \
             registered for it, so Lambda sends SIGTERM only if another extension is; \
             install it before run()"
        );
    }
    tokio::spawn(async move {
        let name = signalled.await;
        tracing::info!(signal = name, "shutting down: running the shutdown handler");
        shutdown().await;
        std::process::exit(0);
    });
    Ok(())
}

/// On Lambda, before the runtime's first `/next`: registers the shutdown extension if a
/// handler is installed (and no runtime of this process has registered it yet). A failure is
/// logged; the runtime serves either way.
pub(crate) async fn register_extension(config: &Config) {
    STARTED.store(true, Ordering::SeqCst);
    let Some(address) = config.runtime_api.as_deref() else {
        return;
    };
    if !INSTALLED.load(Ordering::SeqCst) || REGISTERED.swap(true, Ordering::SeqCst) {
        return;
    }
    match crate::client::extension::register(address, EXTENSION_NAME).await {
        Ok(identifier) => tracing::debug!(
            extension = EXTENSION_NAME,
            identifier,
            "registered the shutdown extension: Lambda sends SIGTERM before it shuts down"
        ),
        Err(e) => {
            REGISTERED.store(false, Ordering::SeqCst);
            tracing::warn!(
                extension = EXTENSION_NAME,
                error = %crate::error::error_chain(&*e),
                "cannot register the shutdown extension: the function serves, but Lambda \
                 sends SIGTERM only if another extension is registered"
            );
        }
    }
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
