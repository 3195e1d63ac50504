//! N workers on Lambda Managed Instances: each a task with its own clone of the service and
//! its own connection; a worker that dies is replaced, a fatal error stops them all.

use std::collections::HashMap;

use http::{Request, Response};
use tokio::task::JoinSet;
use tower_service::Service;
use tracing::Instrument;

use super::worker::{lock, serve, settle, Current};
use super::Runtime;
use crate::client::Client;
use crate::error::types;
use crate::{Body, BoxError, Diagnostic, Error, ResponseMode};

/// Runs the workers, replaces any that dies, and returns the first fatal error.
pub(super) async fn supervise<S, B>(
    runtime: &Runtime,
    service: S,
    first: Client<B>,
) -> Result<(), Error>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let workers = runtime.workers();
    let mode = runtime.config.response_mode;
    if workers > 1 {
        tracing::info!(workers, "serving invocations concurrently");
    }
    let mut set = JoinSet::new();
    let mut ids = HashMap::with_capacity(workers);
    // `service` itself is never polled: it is the pristine template each worker's clone
    // comes from, so no clone starts from a state another worker's `poll_ready` left.
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
fn spawn_worker<S, B>(
    set: &mut JoinSet<Result<(), Error>>,
    ids: &mut HashMap<tokio::task::Id, (usize, Current)>,
    n: usize,
    service: S,
    mut client: Client<B>,
    mode: ResponseMode,
) where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let span = tracing::info_span!("worker", id = n);
    let current = Current::default();
    let slot = current.clone();
    let task =
        set.spawn(async move { serve(service, &mut client, mode, &slot).await }.instrument(span));
    ids.insert(task.id(), (n, current));
}
