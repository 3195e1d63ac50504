//! The Extensions API, as Lambda documents it: `register` with the events an extension asks
//! for; `event/next`, which answers each with the next of them (`INVOKE` for each
//! invocation handed to the runtime, `SHUTDOWN` when the environment ends); `init/error` and
//! `exit/error`, logged and told to the host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::{accepted, json_reply, read_failure, reply, Event, RuntimeApi, ERROR_LIMIT};
use crate::emulator::new_request_id;

const IDENTIFIER: &str = "lambda-extension-identifier";

/// The extensions registered, by identifier.
#[derive(Default)]
pub(crate) struct Extensions {
    registered: Mutex<HashMap<String, Registered>>,
}

/// An extension, the events it asked for, and those waiting for its `event/next`.
struct Registered {
    name: String,
    invoke: bool,
    #[cfg_attr(not(feature = "host"), allow(dead_code))]
    shutdown: bool,
    tx: mpsc::UnboundedSender<serde_json::Value>,
    rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<serde_json::Value>>>,
}

impl Extensions {
    fn registered(&self) -> std::sync::MutexGuard<'_, HashMap<String, Registered>> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `INVOKE`, to each extension that asked for it.
    pub(super) fn invoke(&self, event: &serde_json::Value) {
        for ext in self.registered().values().filter(|e| e.invoke) {
            let _ = ext.tx.send(event.clone());
        }
    }

    /// `SHUTDOWN` with `reason` (`spindown`, `timeout`, `failure`) and the deadline, to each
    /// extension that asked for it: the names of those told.
    #[cfg(feature = "host")]
    pub(crate) fn shutdown(&self, reason: &str, deadline_ms: u128) -> Vec<String> {
        let event = serde_json::json!({
            "eventType": "SHUTDOWN",
            "shutdownReason": reason,
            "deadlineMs": deadline_ms,
        });
        let registered = self.registered();
        let told = registered.values().filter(|e| e.shutdown);
        told.filter(|e| e.tx.send(event.clone()).is_ok())
            .map(|e| e.name.clone())
            .collect()
    }
}

pub(super) async fn extension(
    api: &RuntimeApi,
    rest: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match (req.method().clone(), rest) {
        (Method::POST, "register") => register(api, req).await,
        (Method::GET, "event/next") => {
            let Some(id) = req.headers().get(IDENTIFIER).and_then(|v| v.to_str().ok()) else {
                return reply(
                    StatusCode::FORBIDDEN,
                    "Extension.MissingExtensionIdentifier",
                    "the lambda-extension-identifier header is missing",
                );
            };
            let found = api
                .extensions
                .registered()
                .get(id)
                .map(|e| (e.name.clone(), e.rx.clone()));
            let Some((name, rx)) = found else {
                return reply(
                    StatusCode::FORBIDDEN,
                    "Extension.UnknownExtensionIdentifier",
                    "no extension registered with this lambda-extension-identifier",
                );
            };
            api.tell(|| Event::ExtensionPolling { name });
            // One `event/next` at a time per extension; with no event left, it waits until
            // the environment is gone.
            let event = rx.lock().await.recv().await;
            match event {
                Some(event) => {
                    let mut res = json_reply(StatusCode::OK, event);
                    if let Ok(v) = HeaderValue::from_str(&new_request_id()) {
                        res.headers_mut()
                            .insert("lambda-extension-event-identifier", v);
                    }
                    res
                }
                None => std::future::pending().await,
            }
        }
        (Method::POST, what @ ("init/error" | "exit/error")) => {
            let failure = read_failure(req).await;
            tracing::error!(
                error_type = failure.error_type(),
                error = failure.error_message(),
                "an extension reported {what}"
            );
            if what == "init/error" {
                api.tell(|| Event::InitError(failure));
            }
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

/// `POST /extension/register`: `{"events": ["INVOKE", "SHUTDOWN"]}`, named by the
/// `Lambda-Extension-Name` header.
async fn register(api: &RuntimeApi, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
    let body = match Limited::new(req.into_body(), ERROR_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let events: Vec<&str> = asked
        .get("events")
        .and_then(|e| e.as_array())
        .map(|e| e.iter().filter_map(|e| e.as_str()).collect())
        .unwrap_or_default();
    if let Some(unknown) = events
        .iter()
        .find(|e| !matches!(**e, "INVOKE" | "SHUTDOWN"))
    {
        return reply(
            StatusCode::BAD_REQUEST,
            "InvalidEventType",
            &format!("unknown event {unknown:?}: the events are INVOKE and SHUTDOWN"),
        );
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let id = new_request_id();
    let ext = Registered {
        name: name.clone(),
        invoke: events.contains(&"INVOKE"),
        shutdown: events.contains(&"SHUTDOWN"),
        tx,
        rx: Arc::new(AsyncMutex::new(rx)),
    };
    tracing::info!(extension = %name, ?events, "an extension registered");
    api.extensions.registered().insert(id.clone(), ext);
    api.tell(|| Event::Registered { name });
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
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(IDENTIFIER, v);
    }
    res
}
