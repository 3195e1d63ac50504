//! Hosting a function that runs as a process of its own: any runtime that speaks the Lambda
//! Runtime API, behind the local server's doors ([`Server::host`](crate::Server::host)).
//!
//! - this file: the host's start and stop;
//! - `function`: [`Function`], what to run and how, and what every environment shares;
//! - `pool`: which process takes an invocation, and when a new one starts;
//! - `environment`: one execution environment, its process and its Runtime API, with the
//!   lifecycle Lambda gives them;
//! - `log`: the lines Lambda writes in the function's log around each invocation.

mod environment;
mod function;
mod log;
mod pool;

pub use function::Function;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::emulator::Invocation;
use crate::error::Error;
use crate::function::FunctionConfig;
use crate::options::Options;
use function::HostedFunction;

/// Serves `function` behind the doors `open` opens (which queue invocations to the queue it
/// is given) until `stop`: what [`Server::host_until`](crate::Server::host_until) does.
pub(crate) async fn serve(
    function: Function,
    config: FunctionConfig,
    options: &Options,
    open: impl FnOnce(mpsc::UnboundedSender<Invocation>) -> JoinSet<()>,
    stop: impl Future<Output = ()>,
) {
    let environments = match function.max_concurrency {
        Some(_) => 1,
        None => options.concurrency.get(),
    };
    let hosted = Arc::new(HostedFunction {
        function,
        config,
        timeout: options.function_timeout,
        environments,
    });
    let (queue, invocations) = mpsc::unbounded_channel();
    let mut doors = open(queue);
    let (stopping, stopped) = watch::channel(false);
    let pool = tokio::spawn(pool::dispatch(
        hosted,
        invocations,
        stopped,
        environment::run,
    ));
    stop.await;
    tracing::info!("stopping: the function's processes are shut down as Lambda does");
    // The doors first: no new invocation while the processes stop.
    doors.abort_all();
    let _ = stopping.send(true);
    let _ = pool.await;
}

/// Completes on Ctrl-C, `SIGTERM`, or `SIGHUP` (the terminal closed): the function's
/// processes, in process groups of their own, are stopped by the host, not by the terminal.
pub(crate) fn stop_signal() -> Result<impl Future<Output = ()>, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Error::server(format!("cannot handle {name}: {e}")))
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = listen(SignalKind::hangup(), "SIGHUP")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    })
}
