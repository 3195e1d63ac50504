//! The Lambda Runtime API, served to the runtime's own worker on an internal loopback port.
//!
//! Behaves as Lambda's (see the Runtime API reference in the `client` module): `/next` long-polls for the next queued
//! invocation and hands it out with the usual headers; `/response` is read as it streams and
//! passed on chunk by chunk; error trailers, `/error` and `/init/error` are decoded; unknown
//! request ids get `400 InvalidRequestID`. The Extensions API's `register` and a blocking
//! `event/next` are served too, as far as a runtime uses them (see [`HostLink`]).

mod extension;
mod invocation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::ERROR_TYPE;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Mutex as AsyncMutex};

use self::extension::extension;
use self::invocation::{error, init_error, next, response};
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
    async fn settle(&self, id: &str, last: Reply) -> bool {
        let Some(flight) = self.in_flight().remove(id) else {
            return false;
        };
        let failure = match (&self.host, &last) {
            (Some(_), Reply::Failed(f) | Reply::Error(f)) => Some(f.clone()),
            _ => None,
        };
        let _ = flight.tx.send(last.into()).await;
        self.tell(|| Event::Settled {
            id: id.to_owned(),
            failure,
        });
        true
    }

    /// Fails every invocation in flight as their process died: `/error`'s treatment for
    /// those not responding yet, a failed stream for the others.
    #[cfg(feature = "host")]
    pub(crate) async fn fail_in_flight(&self, exit: &Exit) {
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
            self.settle(&id, last).await;
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
