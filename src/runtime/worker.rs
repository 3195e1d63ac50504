//! One worker: `/next` → decode → call the service → respond (streamed or buffered) →
//! settle the Runtime API's reply, on the worker's own connection, until the Runtime API says
//! to stop.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tracing::Instrument;

use crate::catch_unwind::{drop_caught, CatchUnwind, Guarded};
use crate::client::{ApiError, Client, Invocation, InvocationIds};
use crate::error::types;
use crate::event::ResponseFormat;
use crate::{
    event, trace_env, wire, Body, BoxError, Diagnostic, Error, LambdaService, ResponseMode,
};

/// How many `/next` failures in a row the runtime retries before it gives up.
const NEXT_ATTEMPTS: u32 = 6;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How a worker serves: the response mode, and whether it sets `_X_AMZN_TRACE_ID` (only
/// when it is the only worker).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) mode: ResponseMode,
    pub(crate) trace_env: bool,
}

/// A mode alone: no `_X_AMZN_TRACE_ID` (the test kit serves beside other tests).
impl From<ResponseMode> for Settings {
    fn from(mode: ResponseMode) -> Self {
        Settings {
            mode,
            trace_env: false,
        }
    }
}

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

/// Runs `init`, then the worker with the service it returns; reports an init failure.
pub(crate) async fn init_then_run<F, E, S>(
    init: F,
    client: &mut Client<S::ResBody>,
    settings: Settings,
) -> Result<(), Error>
where
    F: Future<Output = Result<S, E>>,
    E: Into<BoxError>,
    S: LambdaService,
{
    let service = init_service(init, client).await?;
    run(service, client, settings).await
}

/// Runs `init`; reports its failure to `/init/error`.
pub(super) async fn init_service<F, E, S, B>(init: F, client: &mut Client<B>) -> Result<S, Error>
where
    F: Future<Output = Result<S, E>>,
    E: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
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
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
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

/// One worker: loops over invocations on its own connection.
pub(crate) async fn run<S>(
    service: S,
    client: &mut Client<S::ResBody>,
    settings: impl Into<Settings>,
) -> Result<(), Error>
where
    S: LambdaService,
{
    serve(service, client, settings.into(), &Current::default()).await
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
        let span = invocation_span(&invocation.context);
        if settings.trace_env {
            trace_env::propagate(invocation.context.xray_trace_id.as_deref());
        }
        invoke(&mut *service, client, invocation, settings.mode)
            .instrument(span)
            .await?;
        *lock(current) = None;
    }
}

/// The span of one invocation's work: its ids, in every log line of it.
fn invocation_span(context: &crate::Context) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        xray_trace_id = context.xray_trace_id.as_deref().unwrap_or(""),
        tenant_id = context.tenant_id.as_deref(),
    )
}

/// How long after its deadline an invocation of the local server or the test kit is stopped:
/// long enough for the emulator to end the caller's response with `Sandbox.Timeout` first.
#[cfg(feature = "local")]
const STOP_AFTER_DEADLINE: Duration = Duration::from_millis(100);

/// `/next`, retried with capped exponential backoff; fatal on a `5xx` or too many failures.
async fn next<B>(client: &mut Client<B>) -> Result<Invocation, Error>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
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

/// One invocation, from its event to the Runtime API's reply to the response.
///
/// Returns `Err` only when the runtime must exit.
async fn invoke<S>(
    service: &mut S,
    client: &mut Client<S::ResBody>,
    invocation: Invocation,
    mode: ResponseMode,
) -> Result<(), Error>
where
    S: LambdaService,
{
    let request_id = invocation.context.request_id.clone();
    let (request, format) = match decode(invocation) {
        Ok(decoded) => decoded,
        Err(d) => return fail(client, &request_id, d).await,
    };
    let streamed = event::streams(mode, format, &request);
    let response = match ready(service).await {
        Ok(()) => match begin(service, request) {
            Ok(future) => finish(future).await,
            Err(d) => Err(d),
        },
        Err(d) => Err(d),
    };
    respond(client, &request_id, format, response, streamed).await
}

/// The invocation's event as a request, and the response format its source expects.
fn decode(invocation: Invocation) -> Result<(Request<Body>, ResponseFormat), Diagnostic> {
    event::decode(invocation.payload, invocation.context)
        .map_err(|e| Diagnostic::new(types::INVALID_EVENT, e.to_string()))
}

/// Sends `response` (or reports its failure) and settles the Runtime API's reply.
async fn respond<B>(
    client: &mut Client<B>,
    request_id: &str,
    format: ResponseFormat,
    response: Result<Response<B>, Diagnostic>,
    streamed: bool,
) -> Result<(), Error>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = match response {
        Ok(response) => response,
        Err(diagnostic) => return fail(client, request_id, diagnostic).await,
    };
    let (parts, body) = response.into_parts();
    if streamed {
        let head = wire::encode_head(format, &parts);
        // Its extensions are the handler's values: dropped inside the panic boundary.
        drop_caught(parts, "the response head");
        let reply = client
            .respond(request_id, head, body, tracing::Span::current())
            .await;
        return settle(reply, "response");
    }
    // Nothing is sent before the whole body is read: its failure still goes to `/error`.
    let buffered = wire::buffer(format, &parts, body).await;
    drop_caught(parts, "the response head");
    match buffered {
        Ok(buffered) => {
            let reply = client.respond_buffered(request_id, buffered).await;
            settle(reply, "response")
        }
        Err(diagnostic) => fail(client, request_id, diagnostic).await,
    }
}

/// Waits for the service to be ready (`poll_ready`), which may fail or panic. Errors become
/// diagnostics here, so that no handler error is held across an await (and the runtime's
/// future is `Send` without asking it of the error type).
async fn ready<S>(service: &mut S) -> Result<(), Diagnostic>
where
    S: LambdaService,
{
    match CatchUnwind::new(poll_fn(|cx| service.poll_ready(cx))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Diagnostic::from_error(e, types::NOT_READY)),
        Err(panic) => Err(Diagnostic::from_panic(&*panic)),
    }
}

/// `call`, on a ready service; a panic in it becomes a diagnostic.
fn begin<S>(service: &mut S, request: Request<Body>) -> Result<S::Future, Diagnostic>
where
    S: LambdaService,
{
    catch_unwind(AssertUnwindSafe(|| service.call(request)))
        .map_err(|panic| Diagnostic::from_panic(&*panic))
}

/// Drives the call's future to a response; its error or panic becomes a diagnostic.
async fn finish<F, R, E>(future: F) -> Result<R, Diagnostic>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    match CatchUnwind::new(future).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(Diagnostic::from_error(e, types::HANDLER)),
        Err(panic) => Err(Diagnostic::from_panic(&*panic)),
    }
}

/// Serves up to `limit` invocations at once with one service, in this task: the local
/// server's way to answer concurrent callers with a service that need not be `Clone`.
///
/// Each invocation in flight has its own Runtime API connection (from `connect`, reused once
/// it is free). The service is asked for readiness (`poll_ready`) and called one invocation
/// at a time; the calls' futures and their response bodies are driven side by side.
#[cfg(feature = "local")]
pub(crate) async fn serve_many<S>(
    service: S,
    mut connect: impl FnMut() -> Result<Client<S::ResBody>, Error>,
    limit: usize,
    mode: ResponseMode,
) -> Result<(), Error>
where
    S: LambdaService,
{
    use std::pin::pin;
    use std::task::Poll;

    // One in-flight invocation: its response sent, it gives its connection back. Stopped
    // (dropped, with its connection) at `stop_at`, as Lambda stops a timed-out function.
    async fn one<F, B>(
        mut client: Client<B>,
        request_id: String,
        format: ResponseFormat,
        call: Result<F, Diagnostic>,
        streamed: bool,
        stop_at: Option<tokio::time::Instant>,
    ) -> (Option<Client<B>>, Result<(), Error>)
    where
        F: Future<Output = Result<Response<B>, Diagnostic>>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut work = Box::pin(async {
            let response = match call {
                Ok(future) => future.await,
                Err(d) => Err(d),
            };
            respond(&mut client, &request_id, format, response, streamed).await
        });
        let Some(stop_at) = stop_at else {
            let done = work.await;
            return (Some(client), done);
        };
        let mut stop = pin!(tokio::time::sleep_until(stop_at));
        let done = poll_fn(|cx| match work.as_mut().poll(cx) {
            Poll::Ready(done) => Poll::Ready(Some(done)),
            Poll::Pending => stop.as_mut().poll(cx).map(|()| None),
        })
        .await;
        match done {
            Some(done) => {
                drop(work);
                (Some(client), done)
            }
            None => {
                tracing::warn!(
                    "the invocation ran past its deadline; stopping it, as Lambda stops a \
                     timed-out function"
                );
                // The handler's future or body: dropped inside the panic boundary. The
                // connection is mid-request: it goes too.
                drop_caught(work, "the timed-out invocation");
                (None, Ok(()))
            }
        }
    }

    // Dropped inside the panic boundary, as every worker's service is.
    let mut service = Guarded::new(service, "the service");
    let limit = limit.max(1);
    let mut idle: Vec<Client<S::ResBody>> = Vec::new();
    let mut running = Vec::new();
    loop {
        if running.len() >= limit {
            // Full: wait for one to finish.
            let before = running.len();
            poll_fn(|cx| match drive_all(&mut running, &mut idle, cx) {
                Err(e) => Poll::Ready(Err(e)),
                Ok(()) if running.len() < before => Poll::Ready(Ok(())),
                Ok(()) => Poll::Pending,
            })
            .await?;
            continue;
        }
        let mut client = match idle.pop() {
            Some(client) => client,
            None => connect()?,
        };
        // The next invocation, while those in flight go on.
        let invocation = {
            let mut next = pin!(next(&mut client));
            poll_fn(|cx| {
                if let Err(e) = drive_all(&mut running, &mut idle, cx) {
                    return Poll::Ready(Err(e));
                }
                next.as_mut().poll(cx)
            })
            .await?
        };
        let request_id = invocation.context.request_id.clone();
        let stop_at = invocation
            .context
            .deadline_instant()
            .map(|deadline| deadline + STOP_AFTER_DEADLINE);
        let span = invocation_span(&invocation.context);
        let (request, format) = match decode(invocation) {
            Ok(decoded) => decoded,
            Err(d) => {
                fail(&mut client, &request_id, d).instrument(span).await?;
                idle.push(client);
                continue;
            }
        };
        let is_ready = {
            let mut ready = pin!(ready(&mut *service).instrument(span.clone()));
            poll_fn(|cx| {
                if let Err(e) = drive_all(&mut running, &mut idle, cx) {
                    return Poll::Ready(Err(e));
                }
                ready.as_mut().poll(cx).map(Ok)
            })
            .await?
        };
        let streamed = event::streams(mode, format, &request);
        let call = is_ready
            .and_then(|()| span.in_scope(|| begin(&mut *service, request)))
            .map(finish);
        running.push(Box::pin(
            one(client, request_id, format, call, streamed, stop_at).instrument(span),
        ));
    }
}

/// Polls the invocations in flight, taking back the connections of those done; `Err` when
/// one of them says the runtime must exit.
#[cfg(feature = "local")]
fn drive_all<F, B>(
    running: &mut Vec<std::pin::Pin<Box<F>>>,
    idle: &mut Vec<Client<B>>,
    cx: &mut std::task::Context<'_>,
) -> Result<(), Error>
where
    F: Future<Output = (Option<Client<B>>, Result<(), Error>)>,
{
    let mut i = 0;
    while i < running.len() {
        if let std::task::Poll::Ready((client, done)) = running[i].as_mut().poll(cx) {
            drop(running.swap_remove(i));
            done?;
            idle.extend(client);
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Reports a failure before the response started, to `/error`.
async fn fail<B>(
    client: &mut Client<B>,
    request_id: &str,
    diagnostic: Diagnostic,
) -> Result<(), Error>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    tracing::error!(
        error_type = diagnostic.error_type(),
        error = diagnostic.error_message(),
        "invocation failed before its response started; reporting it"
    );
    let reply = client.report_error(request_id, &diagnostic).await;
    settle(reply, "error report")
}

/// Acts on the Runtime API's reply to a POST: a `5xx` ends the runtime, anything else is
/// logged and the loop goes on.
pub(super) fn settle(reply: Result<(), ApiError>, what: &'static str) -> Result<(), Error> {
    match reply {
        Ok(()) => Ok(()),
        Err(err) if err.is_fatal() => {
            tracing::error!(error = %err, what, "the runtime api reported a fatal error; exiting");
            Err(Error::runtime_api(err))
        }
        Err(err) => {
            tracing::error!(error = %err, what, "the runtime api did not accept the call");
            Ok(())
        }
    }
}
