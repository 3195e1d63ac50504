//! N workers on Lambda Managed Instances: each a task with its own clone of the service and
//! its own connection; a worker that dies is replaced, a fatal error stops them all.

use std::collections::HashMap;

use tokio::task::JoinSet;
use tracing::Instrument;

use super::worker::{lock, serve, settle, Current, Settings};
use super::Runtime;
use crate::catch_unwind::Guarded;
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
    let mut set = JoinSet::new();
    let mut ids = HashMap::with_capacity(workers);
    // `service` itself is never polled: it is the pristine template each worker's clone
    // comes from, so no clone starts from a state another worker's `poll_ready` left. It is
    // dropped inside the panic boundary when the workers stop.
    let service = Guarded::new(service, "the service");
    spawn_worker(&mut set, &mut ids, 0, service.clone(), first, mode);
    for n in 1..workers {
        spawn_worker(
            &mut set,
            &mut ids,
            n,
            service.clone(),
            runtime.client()?,
            mode,
        );
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
            Diagnostic::from_panic(&*err.into_panic())
        } else {
            Diagnostic::new(types::PANIC, "the worker was cancelled")
        };
        tracing::error!(
            worker = n,
            error = why.error_message(),
            "a worker died outside its handler; starting a new one"
        );
        let mut client = runtime.client()?;
        // The invocation it held would wait for its timeout: report it now. (If its
        // response had started, the Runtime API refuses this with a 400, which is logged.)
        let orphan = lock(&current).take();
        if let Some(request_id) = orphan {
            let diagnostic = Diagnostic::new(
                types::PANIC,
                format!(
                    "the worker serving this invocation died: {}",
                    why.error_message()
                ),
            );
            let reply = client.report_error(&request_id, &diagnostic).await;
            settle(reply, "error report")?;
        }
        spawn_worker(&mut set, &mut ids, n, service.clone(), client, mode);
    }
    Ok(())
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
