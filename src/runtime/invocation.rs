//! One invocation, the same for every loop: [`start`] (decode the event, wait for the
//! service, call it: the part that needs the service) and [`finish`] (drive the call to its
//! response, send it or report its failure, settle the Runtime API's reply: the part that
//! does not).
//!
//! The one-at-a-time worker ([`worker`](super::worker), under `run` and every `run_concurrent`
//! worker) runs `finish` right after `start`; the many-at-once loop ([`many`](super::many),
//! the local server's `run` and the test kit) runs the `finish` of several invocations side by
//! side while it `start`s the next.

use http::{Request, Response};
use lambda_stream_protocol::STOP_AFTER_DEADLINE;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

use super::trace_env;
use crate::catch_unwind::{drop_caught, CatchUnwind};
use crate::client::{ApiError, Client, Invocation};
use crate::error::types;
use crate::service::ResponseBody;
use crate::wire::{self, ResponseFormat};
use crate::{event, Body, BoxError, Diagnostic, Error, LambdaService, ResponseMode};

/// How a worker serves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) mode: ResponseMode,
    /// Set `_X_AMZN_TRACE_ID` (only when it is the only worker).
    pub(crate) trace_env: bool,
    /// Stop an invocation [`STOP_AFTER_DEADLINE`] past its deadline, as Lambda stops a
    /// timed-out function: in an emulated environment only.
    pub(crate) stop_late: bool,
}

impl Settings {
    /// An emulated environment's: no `_X_AMZN_TRACE_ID` (the test kit serves beside other
    /// tests, the local server many invocations at once), timed-out invocations stopped.
    #[cfg(feature = "local")]
    pub(crate) fn emulated(mode: ResponseMode) -> Self {
        Settings {
            mode,
            trace_env: false,
            stop_late: true,
        }
    }
}

/// The span of one invocation's work: its ids, in every log line of it.
pub(super) fn span(invocation: &Invocation) -> tracing::Span {
    let context = &invocation.context;
    tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        xray_trace_id = context.xray_trace_id.as_deref().unwrap_or(""),
        tenant_id = context.tenant_id.as_deref(),
    )
}

/// An invocation whose service was called: what [`finish`] needs.
pub(super) struct Started<F> {
    request_id: String,
    format: ResponseFormat,
    streamed: bool,
    /// The call's future, or why there is none (an undecodable event, a service that was
    /// not ready or panicked in `call`).
    call: Result<F, Diagnostic>,
    /// When to stop the invocation, in an emulated environment.
    stop_at: Option<tokio::time::Instant>,
    /// Tell the Runtime API a raw response's status (`Lambda-Stream-Raw-Status`): in an
    /// emulated environment only, whose local Lambda shows it; Lambda's API is sent only what
    /// it documents.
    emulated: bool,
}

/// The future of a called service, its error or panic made a diagnostic.
pub(super) type Call<S> = Caught<<S as LambdaService>::Future>;

/// Decodes `invocation`'s event, waits for `service` to be ready, and calls it. Never fails:
/// what goes wrong here is reported by [`finish`].
pub(super) async fn start<S>(
    service: &mut S,
    invocation: Invocation,
    settings: Settings,
) -> Started<Call<S>>
where
    S: LambdaService,
{
    if settings.trace_env {
        trace_env::propagate(invocation.context.xray_trace_id.as_deref());
    }
    let request_id = invocation.context.request_id.clone();
    let stop_at = settings
        .stop_late
        .then(|| invocation.context.deadline_instant())
        .flatten()
        .map(|deadline| deadline + STOP_AFTER_DEADLINE);
    let (request, format) = match decode(invocation) {
        Ok(decoded) => decoded,
        Err(d) => {
            return Started {
                request_id,
                format: ResponseFormat::Raw,
                streamed: false,
                call: Err(d),
                stop_at,
                emulated: settings.stop_late,
            }
        }
    };
    let streamed = wire::streams(settings.mode, format, &request);
    let call = match ready(service).await {
        Ok(()) => begin(service, request).map(Caught::new),
        Err(d) => Err(d),
    };
    Started {
        request_id,
        format,
        streamed,
        call,
        stop_at,
        emulated: settings.stop_late,
    }
}

/// Drives the call to its response, sends it (streamed or buffered) or reports its failure,
/// and settles the Runtime API's reply; in an emulated environment, stops the invocation once
/// it runs past its deadline.
///
/// Returns `Err` only when the runtime must exit. The client stays usable either way (a
/// stopped invocation's connection is closed; the next call opens another).
pub(super) async fn finish<F, B>(client: &mut Client<B>, started: Started<F>) -> Result<(), Error>
where
    F: Future<Output = Result<Response<B>, Diagnostic>>,
    B: ResponseBody,
{
    let Started {
        request_id,
        format,
        streamed,
        call,
        stop_at,
        emulated,
    } = started;
    let Some(stop_at) = stop_at else {
        let response = match call {
            Ok(future) => future.await,
            Err(d) => Err(d),
        };
        return respond(client, &request_id, format, response, streamed, emulated).await;
    };
    let mut work = Box::pin(async {
        let response = match call {
            Ok(future) => future.await,
            Err(d) => Err(d),
        };
        respond(
            &mut *client,
            &request_id,
            format,
            response,
            streamed,
            emulated,
        )
        .await
    });
    let mut stop = pin!(tokio::time::sleep_until(stop_at));
    let done = poll_fn(|cx| match work.as_mut().poll(cx) {
        Poll::Ready(done) => Poll::Ready(Some(done)),
        Poll::Pending => stop.as_mut().poll(cx).map(|()| None),
    })
    .await;
    if let Some(done) = done {
        return done;
    }
    tracing::warn!(
        "the invocation ran past its deadline; stopping it, as Lambda stops a timed-out function"
    );
    // The handler's future or body: dropped inside the panic boundary.
    drop_caught(work, "the timed-out invocation");
    // Its connection was mid-request.
    client.disconnect();
    Ok(())
}

/// The invocation's event as a request, and the response format its source expects.
fn decode(invocation: Invocation) -> Result<(Request<Body>, ResponseFormat), Diagnostic> {
    event::decode(invocation.payload, invocation.context)
        .map_err(|e| Diagnostic::new(types::INVALID_EVENT, e.to_string()))
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

pin_project_lite::pin_project! {
    /// A call's future whose error or panic becomes a diagnostic.
    pub(super) struct Caught<F> {
        #[pin]
        future: CatchUnwind<F>,
    }
}

impl<F> Caught<F> {
    fn new(future: F) -> Self {
        Caught {
            future: CatchUnwind::new(future),
        }
    }
}

impl<F, R, E> Future for Caught<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, Diagnostic>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map(|caught| match caught {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(Diagnostic::from_error(e, types::HANDLER)),
            Err(panic) => Err(Diagnostic::from_panic(&*panic)),
        })
    }
}

/// Sends `response` (or reports its failure) and settles the Runtime API's reply.
async fn respond<B>(
    client: &mut Client<B>,
    request_id: &str,
    format: ResponseFormat,
    response: Result<Response<B>, Diagnostic>,
    streamed: bool,
    emulated: bool,
) -> Result<(), Error>
where
    B: ResponseBody,
{
    let response = match response {
        Ok(response) => response,
        Err(diagnostic) => return fail(client, request_id, diagnostic).await,
    };
    let (parts, body) = response.into_parts();
    if streamed {
        let mut head = wire::encode_head(format, &parts);
        head.raw_status = raw_status(head.raw_status, emulated);
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
        Ok(mut buffered) => {
            buffered.raw_status = raw_status(buffered.raw_status, emulated);
            let reply = client.respond_buffered(request_id, buffered).await;
            settle(reply, "response")
        }
        Err(diagnostic) => fail(client, request_id, diagnostic).await,
    }
}

/// A raw response's status that is not a success: its caller sees only the body (a raw
/// invocation has no HTTP integration to carry a status), so it is logged, on Lambda too,
/// and told to an emulated Runtime API, whose local Lambda shows it. Lambda's own Runtime API
/// is sent nothing it does not document.
fn raw_status(status: Option<http::StatusCode>, emulated: bool) -> Option<http::StatusCode> {
    let status = status?;
    tracing::warn!(
        status = status.as_u16(),
        "a raw invocation (no HTTP integration) was answered {status}, which its caller does \
         not see: it gets the body alone. A raw payload is a POST to / with the payload as its \
         body; route it (for example `Router::route(\"/\", post(handler))`)"
    );
    emulated.then_some(status)
}

/// Reports a failure before the response started, to `/error`.
async fn fail<B>(
    client: &mut Client<B>,
    request_id: &str,
    diagnostic: Diagnostic,
) -> Result<(), Error>
where
    B: ResponseBody,
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
