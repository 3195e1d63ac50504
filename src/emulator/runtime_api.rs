//! The Lambda Runtime API, served to the runtime's own worker on an internal loopback port.
//!
//! Behaves as Lambda's (see the Runtime API reference in the `client` module): `/next` long-polls for the next queued
//! invocation and hands it out with the usual headers; `/response` is read as it streams and
//! passed on chunk by chunk; error trailers, `/error` and `/init/error` are decoded; unknown
//! request ids get `400 InvalidRequestID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::{http1, Job, Reply, Signal};
use crate::error::types;
use crate::local::door::host::Hosts;
use crate::wire::{self, ERROR_TYPE, RESPONSE_MODE};
use crate::{Config, Diagnostic};

const PREFIX: &str = "/2018-06-01/runtime/";
/// The largest `/error` report read.
const ERROR_LIMIT: usize = 1024 * 1024;

/// The Runtime API's state: the queue of invocations and those handed out.
pub(crate) struct RuntimeApi {
    queue: AsyncMutex<mpsc::UnboundedReceiver<Job>>,
    in_flight: Mutex<HashMap<String, mpsc::Sender<Signal>>>,
    function_timeout: Duration,
    function_arn: String,
}

impl RuntimeApi {
    pub(crate) fn new(
        queue: mpsc::UnboundedReceiver<Job>,
        function_timeout: Duration,
        config: &Config,
    ) -> Arc<Self> {
        let region = if config.region.is_empty() {
            "us-east-1"
        } else {
            config.region.as_str()
        };
        Arc::new(RuntimeApi {
            queue: AsyncMutex::new(queue),
            in_flight: Mutex::new(HashMap::new()),
            function_timeout,
            function_arn: format!(
                "arn:aws:lambda:{region}:000000000000:function:{}",
                config.function_name
            ),
        })
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Signal>>> {
        // A panic while holding this lock cannot leave the map inconsistent: take it anyway.
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
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
    let loopback = Hosts::default();
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
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, "NotFound", "unknown path");
    };
    let method = req.method().clone();
    match (method, rest) {
        (Method::GET, "invocation/next") => next(&api).await,
        (Method::POST, "init/error") => init_error(req).await,
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
    let job = {
        let mut queue = api.queue.lock().await;
        loop {
            match queue.recv().await {
                Some(job) if job.replies.is_closed() => {
                    let id = &job.request_id;
                    tracing::info!(request_id = %id, "skipping an invocation whose caller left");
                }
                Some(job) => break job,
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
    let _ = job.replies.try_send(Signal::Started {
        deadline: tokio::time::Instant::now() + timeout,
    });
    let mut res = Response::new(Full::new(job.payload));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &job.request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &api.function_arn);
    set("lambda-runtime-trace-id", &trace_id(&job.request_id));
    if let Some(cc) = &job.client_context {
        set("lambda-runtime-client-context", cc);
    }
    tracing::debug!(request_id = %job.request_id, "invocation handed to the runtime");
    api.in_flight().insert(job.request_id, job.replies);
    res
}

/// `POST /runtime/invocation/{id}/response`: passes the stream on as it arrives.
async fn response(api: &RuntimeApi, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(tx) = api.in_flight().remove(id) else {
        return unknown_request_id();
    };
    let (parts, mut body) = req.into_parts();
    if let Some(mode) = parts.headers.get(RESPONSE_MODE) {
        if mode != "streaming" {
            let why = "lambda-runtime-function-response-mode must be streaming";
            let _ = tx
                .send(Reply::Error(Diagnostic::new(types::INVALID_RESPONSE_MODE, why)).into())
                .await;
            return reply(StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode", why);
        }
    }
    let content_type = parts.headers.get(CONTENT_TYPE).cloned();
    // `None` once the caller has left: the rest is read and dropped, as Lambda does.
    let mut caller = Some(tx);
    forward(&mut caller, Reply::Head { content_type }, id).await;
    let mut failure = None;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if !data.is_empty() {
                        forward(&mut caller, Reply::Data(data), id).await;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        failure = wire::read_error_trailers(&trailers);
                    }
                }
            },
            Some(Err(e)) => {
                tracing::warn!(request_id = id, error = %e, "the runtime's response broke off");
                forward(&mut caller, Reply::Failed(super::truncated()), id).await;
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
    forward(&mut caller, end, id).await;
    accepted()
}

/// Sends `reply` to the caller, forgetting the caller once it has gone.
async fn forward(caller: &mut Option<mpsc::Sender<Signal>>, reply: Reply, id: &str) {
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
    let Some(tx) = api.in_flight().remove(id) else {
        return unknown_request_id();
    };
    let failure = read_failure(req).await;
    let _ = tx.send(Reply::Error(failure).into()).await;
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
async fn init_error(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let failure = read_failure(req).await;
    tracing::error!(
        error_type = failure.error_type(),
        error = failure.error_message(),
        "the function's initialisation failed"
    );
    accepted()
}

/// An error report: `{"errorType","errorMessage"}`, or the `Lambda-Runtime-Function-Error-Type`
/// header when the body does not say.
async fn read_failure(req: Request<Incoming>) -> Diagnostic {
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
    Diagnostic::new(error_type, message)
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
