//! One worker: `/next`, then the [invocation](super::invocation) from start to finish, on the
//! worker's own connection, one at a time, until the Runtime API says to stop. Under `run`,
//! and as each of `run_concurrent`'s workers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::invocation::{self, Settings};
use crate::catch_unwind::{CatchUnwind, Guarded};
use crate::client::{ApiError, Client, Invocation, InvocationIds};
use crate::error::types;
use crate::service::ResponseBody;
use crate::{BoxError, Diagnostic, Error, LambdaService};

/// How many `/next` failures in a row the runtime retries before it gives up.
const NEXT_ATTEMPTS: u32 = 6;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The invocation a worker is serving (its request id and `Lambda-Runtime-Invocation-Id`),
/// for its supervisor: should the worker die, the supervisor reports it on another
/// connection, with the same ids.
pub(super) type Current = Arc<std::sync::Mutex<Option<InvocationIds>>>;

pub(super) fn lock(current: &Current) -> std::sync::MutexGuard<'_, Option<InvocationIds>> {
    // A panic while holding it cannot leave a half-written `Option`.
    current
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `init`; reports its failure to `/init/error`.
pub(super) async fn init_service<F, E, S, B>(init: F, client: &mut Client<B>) -> Result<S, Error>
where
    F: Future<Output = Result<S, E>>,
    E: Into<BoxError>,
    B: ResponseBody,
{
    let err = match CatchUnwind::new(init).await {
        Ok(Ok(service)) => return Ok(service),
        Ok(Err(e)) => Diagnostic::from_error(e, types::INIT),
        Err(panic) => Diagnostic::from_panic(&*panic),
    };
    Err(init_failed(client, err).await)
}

/// Logs an initialisation failure, reports it to `/init/error` (valid only before the first
/// `/next`), and returns the error the runtime stops with.
pub(super) async fn init_failed<B>(client: &mut Client<B>, err: Diagnostic) -> Error
where
    B: ResponseBody,
{
    tracing::error!(
        error_type = err.error_type(),
        error = err.error_message(),
        "initialisation failed"
    );
    if let Err(report) = client.report_init_error(&err).await {
        tracing::error!(error = %report, "cannot report the initialisation error");
    }
    Error::init(err)
}

/// The worker's loop; `current` holds the ids of the invocation in progress.
pub(super) async fn serve<S>(
    service: S,
    client: &mut Client<S::ResBody>,
    settings: Settings,
    current: &Current,
) -> Result<(), Error>
where
    S: LambdaService,
{
    // However the loop ends (a fatal error, or this future dropped), the service is dropped
    // inside the panic boundary.
    let mut service = Guarded::new(service, "the service");
    loop {
        let invocation = next(client).await?;
        *lock(current) = Some(client.ids(&invocation.context.request_id));
        let span = invocation::span(&invocation);
        async {
            let started = invocation::start(&mut *service, invocation, settings).await;
            invocation::finish(client, started).await
        }
        .instrument(span)
        .await?;
        *lock(current) = None;
    }
}

/// `/next`, retried with capped exponential backoff; fatal on a `5xx` or too many failures.
pub(super) async fn next<B>(client: &mut Client<B>) -> Result<Invocation, Error>
where
    B: ResponseBody,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let err = match client.next().await {
            Ok(invocation) => return Ok(invocation),
            Err(err) if err.is_fatal() => {
                tracing::error!(error = %err, "the runtime api reported a fatal error; exiting");
                return Err(Error::runtime_api(err));
            }
            // An event nobody can be told about: skip it, the environment is fine.
            Err(ApiError::BadEvent(why)) => {
                tracing::error!(error = why, "skipping an event without a usable request id");
                attempt = 1;
                continue;
            }
            Err(err) => err,
        };
        if attempt >= NEXT_ATTEMPTS {
            tracing::error!(error = %err, attempts = attempt, "cannot get the next event; exiting");
            return Err(match err {
                ApiError::Transport(e) => Error::connect(e),
                other => Error::runtime_api(other),
            });
        }
        tracing::warn!(error = %err, attempt, "cannot get the next event; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// One worker with no supervisor: under [`Runtime::run`](crate::Runtime::run).
pub(super) async fn run<S>(
    service: S,
    client: &mut Client<S::ResBody>,
    settings: Settings,
) -> Result<(), Error>
where
    S: LambdaService,
{
    serve(service, client, settings, &Current::default()).await
}
