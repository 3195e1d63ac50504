//! The Lambda Runtime API, served to the runtime's own worker on an internal loopback port.
//!
//! Behaves as Lambda's (see the Runtime API reference in the `client` module): `/next` long-polls for the next queued
//! invocation and hands it out with the usual headers; `/response` is read as it streams and
//! passed on chunk by chunk; error trailers, `/error` and `/init/error` are decoded; unknown
//! request ids get `400 InvalidRequestID`. The Extensions API's `register` and a blocking
//! `event/next` are served too, as far as a runtime uses them (see [`HostLink`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Mutex as AsyncMutex};

use base64::Engine as _;
use http::HeaderMap;
use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::{self as protocol, ERROR_BODY, ERROR_TYPE, RESPONSE_MODE};

use super::{Invocation, Progress, Reply};
use crate::allowed_hosts::AllowedHosts;
use crate::error::ErrorReport;
use crate::function::FunctionConfig;
use crate::http1;

const PREFIX: &str = "/2018-06-01/runtime/";
const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";
/// How long a response that broke off waits to learn whether its process died.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// The largest `/error` report read.
const ERROR_LIMIT: usize = 1024 * 1024;

/// The Runtime API's state: the queue of invocations and those handed out.
pub(crate) struct RuntimeApi {
    queue: AsyncMutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<HashMap<String, Flight>>,
    function_timeout: Duration,
    function_arn: String,
    function_name: String,
    function_version: String,
    /// Set when the runtime is another process, watched by a host.
    host: Option<HostLink>,
}

/// An invocation handed out and not yet settled.
struct Flight {
    tx: mpsc::Sender<Progress>,
    ending: Arc<super::Ending>,
    /// Its `/response` has started.
    responding: bool,
}

/// What a host of a runtime process learns from its Runtime API (only `Server::host`
/// listens).
#[derive(Debug)]
#[cfg_attr(not(feature = "host"), allow(dead_code))]
pub(crate) enum Event {
    /// The runtime asked for an invocation (`/next`): it is initialised.
    Polling,
    /// The invocation `id` was handed to the runtime.
    Handed { id: String },
    /// The invocation `id` is over: answered, failed, or failed for the runtime.
    Settled {
        id: String,
        failure: Option<ErrorReport>,
    },
    /// The runtime reported that its initialisation failed.
    InitError(ErrorReport),
    /// An extension registered.
    Registered,
}

/// The link between the Runtime API of a runtime that runs as a process of its own and the
/// host of that process: the API tells the host what happens ([`Event`]s), and learns from
/// it when the process died.
pub(crate) struct HostLink {
    pub(crate) events: mpsc::UnboundedSender<Event>,
    /// `Some` once the process is gone, with why.
    pub(crate) exited: watch::Receiver<Option<Exit>>,
    /// The process's `_HANDLER`, which `register` tells extensions.
    pub(crate) handler: String,
}

/// Why a runtime process is gone, as Lambda says it to the invocations it held.
#[derive(Clone, Debug)]
pub(crate) struct Exit {
    pub(crate) error_type: &'static str,
    /// Follows `RequestId: {id} Error: `.
    pub(crate) message: String,
}

impl Exit {
    /// The failure of the invocation `id`.
    pub(crate) fn failure(&self, id: &str) -> ErrorReport {
        ErrorReport::new(
            self.error_type,
            format!("RequestId: {id} Error: {}", self.message),
        )
    }
}

impl RuntimeApi {
    pub(crate) fn new(
        queue: mpsc::UnboundedReceiver<Invocation>,
        function_timeout: Duration,
        function: &FunctionConfig,
        host: Option<HostLink>,
    ) -> Arc<Self> {
        Arc::new(RuntimeApi {
            queue: AsyncMutex::new(queue),
            in_flight: Mutex::new(HashMap::new()),
            function_timeout,
            function_arn: function.arn(),
            function_name: function.name.clone(),
            function_version: function.version.clone(),
            host,
        })
    }

    /// Closes the queue and takes what is in it, never handed out: the invocations a process
    /// that is gone did not get to.
    #[cfg(feature = "host")]
    pub(crate) async fn take_queued(&self) -> Vec<Invocation> {
        let mut queue = self.queue.lock().await;
        queue.close();
        let mut invocations = Vec::new();
        while let Ok(invocation) = queue.try_recv() {
            invocations.push(invocation);
        }
        invocations
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        // A panic while holding this lock cannot leave the map inconsistent: take it anyway.
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the host `event`, made only when a host listens (the in-process Runtime API of
    /// `run` and the test kit has none).
    fn tell(&self, event: impl FnOnce() -> Event) {
        if let Some(host) = &self.host {
            let _ = host.events.send(event());
        }
    }

    /// Starts the response of `id`: its caller's channel, unless `id` is not in flight or
    /// already responding.
    fn respond(&self, id: &str) -> Option<mpsc::Sender<Progress>> {
        let mut in_flight = self.in_flight();
        let flight = in_flight.get_mut(id).filter(|f| !f.responding)?;
        flight.responding = true;
        Some(flight.tx.clone())
    }

    /// Ends the invocation `id` with `last`, unless it has ended already; `false` then.
    /// Never waits on the caller: a caller that stopped reading gets `last` when it reads again.
    fn settle(&self, id: &str, last: Reply) -> bool {
        let Some(flight) = self.in_flight().remove(id) else {
            return false;
        };
        let failure = match (&self.host, &last) {
            (Some(_), Reply::Failed(f) | Reply::Error(f)) => Some(f.clone()),
            _ => None,
        };
        flight.ending.settle(&flight.tx, last);
        self.tell(|| Event::Settled {
            id: id.to_owned(),
            failure,
        });
        true
    }

    /// Fails every invocation in flight as their process died: `/error`'s treatment for
    /// those not responding yet, a failed stream for the others.
    #[cfg(feature = "host")]
    pub(crate) fn fail_in_flight(&self, exit: &Exit) {
        let held: Vec<(String, bool)> = self
            .in_flight()
            .iter()
            .map(|(id, f)| (id.clone(), f.responding))
            .collect();
        for (id, responding) in held {
            let failure = exit.failure(&id);
            let last = if responding {
                Reply::Failed(failure)
            } else {
                Reply::Error(failure)
            };
            self.settle(&id, last);
        }
    }

    /// Why a response broke off: its process's exit, if it died (waiting a little to learn
    /// it), else a truncated stream.
    async fn broke_off(&self, id: &str) -> ErrorReport {
        if let Some(host) = &self.host {
            let mut exited = host.exited.clone();
            let died = tokio::time::timeout(EXIT_GRACE, exited.wait_for(Option::is_some)).await;
            if let Ok(Ok(exit)) = died {
                if let Some(exit) = exit.as_ref() {
                    return exit.failure(id);
                }
            }
        }
        super::truncated()
    }
}

/// Serves the Runtime API on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, api: Arc<RuntimeApi>) {
    let handler: http1::Handler = Arc::new(move |req, _peer| {
        let api = api.clone();
        Box::pin(async move {
            handle(api, req)
                .await
                .map(|body| body.map_err(|never| match never {}).boxed())
        })
    });
    http1::serve(listener, "runtime api", None, handler).await;
}

async fn handle(api: Arc<RuntimeApi>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    // Only the runtime calls this API, at a loopback address, never from a browser: a page
    // that rebinds its name to 127.0.0.1 (or posts from another local origin) cannot take
    // invocations from `/next` or answer them.
    let browser = ["origin", "sec-fetch-site", "sec-fetch-mode"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let loopback = AllowedHosts::default();
    let foreign = loopback.admits_headers(req.headers()).is_err()
        || (req.uri().authority()).is_some_and(|a| loopback.admits_authority(a.as_str()).is_err());
    if browser || foreign {
        tracing::warn!("runtime api: refused a request from a browser or for a foreign host");
        return reply(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the runtime api serves the runtime on a loopback address only",
        );
    }
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix(EXTENSION_PREFIX) {
        return extension(&api, rest, req).await;
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, "NotFound", "unknown path");
    };
    let method = req.method().clone();
    match (method, rest) {
        (Method::GET, "invocation/next") => next(&api).await,
        (Method::POST, "init/error") => init_error(&api, req).await,
        (Method::POST, rest) => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, "response")) => {
                let id = id.to_owned();
                response(&api, &id, req).await
            }
            Some((id, "error")) => {
                let id = id.to_owned();
                error(&api, &id, req).await
            }
            _ => reply(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
        },
        _ => reply(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

/// `GET /runtime/invocation/next`: the next invocation whose caller is still waiting.
async fn next(api: &RuntimeApi) -> Response<Full<Bytes>> {
    api.tell(|| Event::Polling);
    let invocation = {
        let mut queue = api.queue.lock().await;
        loop {
            match queue.recv().await {
                Some(invocation) if invocation.replies.is_closed() => {
                    let id = &invocation.request_id;
                    tracing::info!(request_id = %id, "skipping an invocation whose caller left");
                }
                Some(invocation) => break invocation,
                // The front doors are gone: the server is shutting down.
                None => {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ServiceException",
                        "shutting down",
                    )
                }
            }
        }
    };
    let timeout = api.function_timeout;
    let deadline_ms = (SystemTime::now() + timeout)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // The channel is new and empty: there is room for this one.
    let _ = invocation.replies.try_send(Progress::Started {
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
    });
    let mut res = Response::new(Full::new(invocation.payload));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(protocol::REQUEST_ID, &invocation.request_id);
    set(protocol::DEADLINE_MS, &deadline_ms.to_string());
    set(protocol::INVOKED_FUNCTION_ARN, &api.function_arn);
    set(protocol::TRACE_ID, &trace_id(&invocation.request_id));
    if let Some(cc) = &invocation.client_context {
        set(protocol::CLIENT_CONTEXT, cc);
    }
    tracing::debug!(request_id = %invocation.request_id, "invocation handed to the runtime");
    api.tell(|| Event::Handed {
        id: invocation.request_id.clone(),
    });
    let flight = Flight {
        tx: invocation.replies,
        ending: invocation.ending,
        responding: false,
    };
    api.in_flight().insert(invocation.request_id, flight);
    res
}

/// `POST /runtime/invocation/{id}/response`: passes the stream on as it arrives.
async fn response(api: &RuntimeApi, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(tx) = api.respond(id) else {
        return unknown_request_id();
    };
    let (parts, mut body) = req.into_parts();
    let mode = parts.headers.get(RESPONSE_MODE);
    if mode.is_some_and(|mode| mode != "streaming") {
        let why = "lambda-runtime-function-response-mode must be streaming";
        let failure = ErrorReport::new(types::INVALID_RESPONSE_MODE, why);
        api.settle(id, Reply::Error(failure));
        return reply(StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode", why);
    }
    let content_type = parts.headers.get(CONTENT_TYPE).cloned();
    // Streamed as the mode header says, or as the content type of a prelude does; otherwise
    // a buffered runtime's one payload.
    let streaming =
        mode.is_some() || content_type.as_ref() == Some(&protocol::HTTP_INTEGRATION_CONTENT_TYPE);
    // `None` once the caller has left: the rest is read and dropped, as Lambda does.
    let mut caller = Some(tx);
    let head = Reply::Head {
        content_type,
        streaming,
    };
    forward(&mut caller, head, id).await;
    let mut failure = None;
    let mut warned = false;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if !data.is_empty() {
                        if !warned && trailers_as_data(&data) {
                            warned = true;
                            warn_trailers_as_data(id, &data);
                        }
                        forward(&mut caller, Reply::Data(data), id).await;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        failure = read_error_trailers(&trailers);
                    }
                }
            },
            Some(Err(e)) => {
                tracing::warn!(request_id = id, error = %e, "the runtime's response broke off");
                let failure = api.broke_off(id).await;
                api.settle(id, Reply::Failed(failure));
                return reply(
                    StatusCode::BAD_REQUEST,
                    "TruncatedHTTPRequest",
                    "the response broke off",
                );
            }
            None => break,
        }
    }
    let end = match failure {
        Some(f) => Reply::Failed(f),
        None => Reply::End,
    };
    api.settle(id, end);
    accepted()
}

/// Whether a chunk of a response starts with what an error trailer does: a runtime that
/// writes its error "trailers" into the body, where Lambda passes them on as body bytes.
fn trailers_as_data(data: &[u8]) -> bool {
    let name = ERROR_TYPE;
    let name = name.as_str().as_bytes();
    data.len() > name.len()
        && data[..name.len()].eq_ignore_ascii_case(name)
        && data[name.len()] == b':'
}

/// Says that the runtime's error went into the body, where no caller sees it as one.
fn warn_trailers_as_data(id: &str, data: &[u8]) {
    let line = data
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(&line[..line.len().min(200)]);
    tracing::warn!(
        request_id = id,
        "the runtime wrote an error into the response body as text ({line}): \
         Lambda passes it to the caller as body bytes and ends the response as if it \
         succeeded; error trailers go after the body's last chunk"
    );
}

/// Sends `reply` to the caller, forgetting the caller once it has gone.
async fn forward(caller: &mut Option<mpsc::Sender<Progress>>, reply: Reply, id: &str) {
    if let Some(tx) = caller {
        if tx.send(reply.into()).await.is_err() {
            tracing::info!(
                request_id = id,
                "the caller left; reading the rest of the response and dropping it"
            );
            *caller = None;
        }
    }
}

/// `POST /runtime/invocation/{id}/error`.
async fn error(api: &RuntimeApi, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if api.in_flight().get(id).is_none_or(|f| f.responding) {
        return unknown_request_id();
    }
    let failure = read_failure(req).await;
    if !api.settle(id, Reply::Error(failure)) {
        return unknown_request_id();
    }
    accepted()
}

/// `400 InvalidRequestID`: a post for an invocation that is not in flight.
fn unknown_request_id() -> Response<Full<Bytes>> {
    reply(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "unknown or already answered request id",
    )
}

/// `POST /runtime/init/error`.
async fn init_error(api: &RuntimeApi, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let failure = read_failure(req).await;
    tracing::error!(
        error_type = failure.error_type(),
        error = failure.error_message(),
        "the function's initialisation failed"
    );
    api.tell(|| Event::InitError(failure));
    accepted()
}

/// The Extensions API, as far as a runtime uses it: `register` (any events asked for are
/// never sent) and an `event/next` that waits for as long as the process lives; `init/error`
/// and `exit/error` are logged.
async fn extension(api: &RuntimeApi, rest: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method().clone(), rest) {
        (Method::POST, "register") => {
            let name = req
                .headers()
                .get("lambda-extension-name")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let Some(name) = name else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    "Extension.InvalidExtensionName",
                    "the lambda-extension-name header is missing",
                );
            };
            tracing::info!(extension = %name, "an extension registered");
            api.tell(|| Event::Registered);
            let mut res = json_reply(
                StatusCode::OK,
                serde_json::json!({
                    "functionName": api.function_name,
                    "functionVersion": api.function_version,
                    // The process's, or in-process the runtime's own.
                    "handler": match &api.host {
                        Some(host) => host.handler.clone(),
                        None => std::env::var("_HANDLER").unwrap_or_default(),
                    },
                }),
            );
            let id = super::new_request_id();
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert("lambda-extension-identifier", v);
            }
            res
        }
        (Method::GET, "event/next") => {
            if !req.headers().contains_key("lambda-extension-identifier") {
                return reply(
                    StatusCode::FORBIDDEN,
                    "Extension.MissingExtensionIdentifier",
                    "the lambda-extension-identifier header is missing",
                );
            }
            // No event is ever sent: this waits until the process or the server is gone.
            std::future::pending().await
        }
        (Method::POST, what @ ("init/error" | "exit/error")) => {
            let failure = read_failure(req).await;
            tracing::error!(
                error_type = failure.error_type(),
                error = failure.error_message(),
                "an extension reported {what}"
            );
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

/// An error report: `{"errorType","errorMessage"}`, or the `Lambda-Runtime-Function-Error-Type`
/// header when the body does not say.
async fn read_failure(req: Request<Incoming>) -> ErrorReport {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, ERROR_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let error_type = text("errorType")
        .or_else(|| {
            parts
                .headers
                .get(ERROR_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .unwrap_or_else(|| types::UNKNOWN.to_owned());
    let message =
        text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    ErrorReport::new(error_type, message)
}

/// What the error trailers of a failed response say, if they are there: the type, and the
/// message of the base64 JSON body.
fn read_error_trailers(trailers: &HeaderMap) -> Option<ErrorReport> {
    let error_type = trailers.get(ERROR_TYPE)?;
    let error_type = String::from_utf8_lossy(error_type.as_bytes()).into_owned();
    let message = trailers
        .get(ERROR_BODY)
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Some(ErrorReport::new(error_type, message))
}

/// An X-Ray trace header derived from the request id.
fn trace_id(request_id: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let (root, parent) = (hex.get(..24).unwrap_or("0"), hex.get(16..32).unwrap_or("0"));
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled=0")
}

fn accepted() -> Response<Full<Bytes>> {
    json_reply(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
}

fn reply(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    json_reply(
        status,
        serde_json::json!({"errorType": error_type, "errorMessage": message}),
    )
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(
        serde_json::to_vec(&body).unwrap_or_default().into(),
    ));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_trailers_read_back() {
        let mut trailers = HeaderMap::new();
        trailers.insert(ERROR_TYPE, HeaderValue::from_static("Function.StreamError"));
        // base64 of {"errorType":"Function.StreamError","errorMessage":"upstream closed"}
        let body = base64::engine::general_purpose::STANDARD
            .encode(br#"{"errorType":"Function.StreamError","errorMessage":"upstream closed"}"#);
        trailers.insert(ERROR_BODY, HeaderValue::from_str(&body).unwrap());
        let report = read_error_trailers(&trailers).unwrap();
        assert_eq!(
            report,
            ErrorReport::new("Function.StreamError", "upstream closed")
        );
        assert_eq!(read_error_trailers(&HeaderMap::new()), None);
        let mut only_type = HeaderMap::new();
        only_type.insert(ERROR_TYPE, HeaderValue::from_static("Function.X"));
        let d = read_error_trailers(&only_type).unwrap();
        assert_eq!((d.error_type(), d.error_message()), ("Function.X", ""));
    }

    #[test]
    fn error_trailers_written_as_data_are_told_apart() {
        assert!(trailers_as_data(
            b"Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: eA==\r\n"
        ));
        assert!(trailers_as_data(b"lambda-runtime-function-error-type:x"));
        assert!(!trailers_as_data(b"Lambda-Runtime-Function-Error-Type"));
        assert!(!trailers_as_data(b"Lambda-Runtime-Function-Error-Typo: x"));
        assert!(!trailers_as_data(
            b"the Lambda-Runtime-Function-Error-Type: header"
        ));
        assert!(!trailers_as_data(b""));
    }
}
