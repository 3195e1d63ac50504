//! N workers on Lambda Managed Instances: each a task with its own clone of the service and
//! its own connection; a worker that dies is replaced, a fatal error stops them all.
//!
//! The service's `Clone` is the function's code, and runs here, outside any worker: a panic
//! in it is caught. A worker that cannot be made is left out (the others serve); when none
//! can be made at startup, that is an initialisation failure, and when the last one is lost,
//! the runtime stops.

use std::collections::HashMap;

use tokio::task::JoinSet;
use tracing::Instrument;

use super::invocation::{settle, Settings};
use super::worker::{init_failed, lock, serve, Current};
use super::Runtime;
use crate::catch_unwind::{clone_caught, drop_caught, panic_message, Guarded};
use crate::client::Client;
use crate::error::types;
use crate::{Diagnostic, Error, LambdaService};

/// Runs the workers, replaces any that dies, and returns the first fatal error.
pub(super) async fn supervise<S>(
    runtime: &Runtime,
    service: S,
    first: Client<S::ResBody>,
) -> Result<(), Error>
where
    S: LambdaService + Clone + Send + 'static,
    S::Future: Send,
{
    let workers = runtime.workers();
    let mode = runtime.settings(workers);
    if workers > 1 {
        tracing::info!(
            workers,
            "serving invocations concurrently; _X_AMZN_TRACE_ID is not set (read the trace id \
             from the Context or the x-amzn-trace-id header)"
        );
    }
    let mut clients = Vec::with_capacity(workers);
    clients.push(first);
    for _ in 1..workers {
        clients.push(runtime.client()?);
    }
    // `service` itself is never polled: it is the pristine template each worker's clone
    // comes from, so no clone starts from a state another worker's `poll_ready` left. It is
    // dropped inside the panic boundary when the workers stop.
    let service = Guarded::new(service, "the service");
    // Every clone is made before any worker starts: should none be made, no `/next` has been
    // called yet, and the failure can still go to `/init/error`.
    let mut made = Vec::with_capacity(workers);
    let mut first_failure = None;
    for n in 0..workers {
        match clone_for(&*service, n) {
            Ok(clone) => made.push((n, clone)),
            Err(why) => {
                first_failure.get_or_insert(why);
            }
        }
    }
    if made.is_empty() {
        let why = first_failure.unwrap_or_else(|| {
            Diagnostic::new(types::PANIC, "no worker could be made for the service")
        });
        return Err(init_failed(&mut clients[0], why).await);
    }
    if made.len() < workers {
        tracing::error!(
            workers = made.len(),
            asked = workers,
            "serving with fewer workers: the service's clone panicked for the others"
        );
    }
    let mut set = JoinSet::new();
    let mut ids = HashMap::with_capacity(workers);
    for ((n, clone), client) in made.into_iter().zip(clients) {
        spawn_worker(&mut set, &mut ids, n, clone, client, mode);
    }
    while let Some(done) = set.join_next_with_id().await {
        let (task, err) = match done {
            Ok((_, Ok(()))) => continue,
            Ok((_, Err(fatal))) => {
                set.abort_all();
                return Err(fatal);
            }
            Err(e) => (e.id(), e),
        };
        let (n, current) = ids.remove(&task).unwrap_or_default();
        let why = if err.is_panic() {
            let payload = err.into_panic();
            let why = Diagnostic::new(
                types::PANIC,
                format!("the worker panicked: {}", panic_message(&*payload)),
            );
            drop_caught(payload, "a panic payload");
            why
        } else {
            Diagnostic::new(types::PANIC, "the worker was cancelled")
        };
        tracing::error!(
            worker = n,
            error = why.error_message(),
            "a worker died outside its handler; replacing it"
        );
        let mut client = runtime.client()?;
        // The invocation it held would wait for its timeout: report it now, with the ids its
        // `/next` carried (the invocation id too, which this new connection never saw). If
        // its response had started, the Runtime API refuses this with a 400, which is logged.
        let orphan = lock(&current).take();
        if let Some(held) = orphan {
            let diagnostic = Diagnostic::new(
                types::PANIC,
                format!(
                    "the worker serving this invocation died: {}",
                    why.error_message()
                ),
            );
            let reply = client.report_error_of(&held, &diagnostic).await;
            settle(reply, "error report")?;
        }
        match clone_for(&*service, n) {
            Ok(clone) => spawn_worker(&mut set, &mut ids, n, clone, client, mode),
            // Nothing is left to ask for events: stop, and let Lambda replace the process.
            Err(why) if set.is_empty() => {
                tracing::error!(
                    worker = n,
                    "the last worker cannot be replaced; stopping the runtime"
                );
                return Err(Error::no_worker_left(why));
            }
            // Not retried: a `Clone` that panicked is a bug that trying again does not fix
            // (often a lock the dead worker poisoned), and the others still serve.
            Err(_) => tracing::error!(
                worker = n,
                workers = set.len(),
                "serving with fewer workers: the dead worker cannot be replaced"
            ),
        }
    }
    Ok(())
}

/// A clone of `service` for worker `n`; a panic in the service's `Clone` is logged and
/// becomes the diagnostic that says so.
fn clone_for<S: Clone>(service: &S, n: usize) -> Result<S, Diagnostic> {
    clone_caught(service).map_err(|payload| {
        let why = Diagnostic::new(
            types::PANIC,
            format!(
                "the service panicked while it was cloned for a worker: {}",
                panic_message(&*payload)
            ),
        );
        drop_caught(payload, "a panic payload");
        tracing::error!(
            worker = n,
            error = why.error_message(),
            "cannot make a worker: the service's clone panicked"
        );
        why
    })
}

/// Starts worker `n` on `set`, remembering its task's id and its current invocation.
fn spawn_worker<S>(
    set: &mut JoinSet<Result<(), Error>>,
    ids: &mut HashMap<tokio::task::Id, (usize, Current)>,
    n: usize,
    service: S,
    mut client: Client<S::ResBody>,
    mode: Settings,
) where
    S: LambdaService + Send + 'static,
    S::Future: Send,
{
    let span = tracing::info_span!("worker", id = n);
    let current = Current::default();
    let slot = current.clone();
    let task =
        set.spawn(async move { serve(service, &mut client, mode, &slot).await }.instrument(span));
    ids.insert(task.id(), (n, current));
}
