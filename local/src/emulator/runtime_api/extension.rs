//! The Extensions API, as far as a runtime uses it.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::{accepted, json_reply, read_failure, reply, Event, RuntimeApi};
use crate::emulator::new_request_id;

/// The Extensions API, as far as a runtime uses it: `register` (any events asked for are
/// never sent) and an `event/next` that waits for as long as the process lives; `init/error`
/// and `exit/error` are logged.
pub(super) async fn extension(
    api: &RuntimeApi,
    rest: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
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
            let id = new_request_id();
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
