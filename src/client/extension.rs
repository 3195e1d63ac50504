//! A client of Lambda's Extensions API, for the one extension the runtime registers itself:
//! the no-op internal extension that makes Lambda send `SIGTERM` before it shuts the
//! environment down (see [`crate::shutdown`]).
//!
//! Lambda sends `SIGTERM` only to environments with an extension registered. An internal
//! extension (one the runtime process registers for itself) may subscribe to no event at all:
//! it registers with `{"events":[]}`, then calls `/event/next` once, which never answers. Its
//! registration must happen during the environment's initialisation, before the runtime's
//! first `/runtime/invocation/next`, and initialisation ends only once every registered
//! extension has called `/event/next`: that call is made at once, on a connection of its own,
//! without waiting for the runtime.
//!
//! API reference: <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html>

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::Instrument;

use super::connection::{REPLY_LIMIT, USER_AGENT_VALUE};
use super::parse_address;
use crate::BoxError;

const PREFIX: &str = "/2020-01-01/extension";
/// `Lambda-Extension-Name`, on `/register`.
const EXTENSION_NAME: HeaderName = HeaderName::from_static("lambda-extension-name");
/// `Lambda-Extension-Identifier`: in `/register`'s reply, then on every `/event/next`.
const EXTENSION_IDENTIFIER: HeaderName = HeaderName::from_static("lambda-extension-identifier");
/// How long registering may take before the runtime goes on without it. Lambda answers at
/// once; an emulator that does not implement the Extensions API answers `404` at once too.
/// This bounds only an endpoint that takes the call and never answers.
pub(crate) const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the internal extension `name`, subscribed to no event, with the Extensions API
/// at `address` (`AWS_LAMBDA_RUNTIME_API`), then keeps it waiting in `/event/next` on a task
/// of its own for as long as the process lives.
///
/// Returns the extension's identifier once Lambda accepted the registration; the task's
/// `/event/next` is under way (or about to be) and needs nothing from the caller. Fails,
/// within [`REGISTER_TIMEOUT`], when the registration is refused or unanswered.
pub(crate) async fn register(address: &str, name: &str) -> Result<String, BoxError> {
    let (authority, prefix) = parse_address(address)?;
    let host = HeaderValue::from_str(authority)?;
    let name = HeaderValue::from_str(name)?;
    let base = format!("{prefix}{PREFIX}");
    let registering = async {
        let mut send = connect(authority).await?;
        let mut req = request(Method::POST, format!("{base}/register"), &host)?;
        *req.body_mut() = Full::new(Bytes::from_static(br#"{"events":[]}"#));
        let h = req.headers_mut();
        h.insert(EXTENSION_NAME, name);
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let res = send.send_request(req).await?;
        let status = res.status();
        let identifier = res.headers().get(EXTENSION_IDENTIFIER).cloned();
        let body = Limited::new(res.into_body(), REPLY_LIMIT)
            .collect()
            .await?
            .to_bytes();
        let identifier = match (status, identifier) {
            (StatusCode::OK, Some(id)) => id,
            (StatusCode::OK, None) => {
                return Err(BoxError::from(
                    "the extensions api answered 200 without a lambda-extension-identifier",
                ))
            }
            (status, _) => {
                return Err(format!(
                    "the extensions api refused the registration with {status}: {}",
                    String::from_utf8_lossy(&body)
                )
                .into())
            }
        };
        Ok::<_, BoxError>((send, identifier))
    };
    let (send, identifier) = tokio::time::timeout(REGISTER_TIMEOUT, registering)
        .await
        .map_err(|_| {
            format!(
                "the extensions api did not answer the registration within {REGISTER_TIMEOUT:?}"
            )
        })??;
    let registered = String::from_utf8_lossy(identifier.as_bytes()).into_owned();
    let next = format!("{base}/event/next");
    tokio::spawn(wait_for_events(send, next, host, identifier).in_current_span());
    Ok(registered)
}

/// Calls `/event/next` (no timeout: the call lasts as long as the environment), and again
/// whenever it answers with an event. An error ends the loop, logged: the function goes on
/// serving.
async fn wait_for_events(
    mut send: SendRequest<Full<Bytes>>,
    path: String,
    host: HeaderValue,
    identifier: HeaderValue,
) {
    loop {
        let outcome = async {
            let mut req = request(Method::GET, path.clone(), &host)?;
            req.headers_mut()
                .insert(EXTENSION_IDENTIFIER, identifier.clone());
            send.ready().await?;
            let res = send.send_request(req).await?;
            let status = res.status();
            let body = Limited::new(res.into_body(), REPLY_LIMIT)
                .collect()
                .await?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(BoxError::from(format!(
                    "the extensions api answered /event/next with {status}: {}",
                    String::from_utf8_lossy(&body)
                )))
            }
        };
        match outcome.await {
            Ok(event) => tracing::debug!(
                event = %String::from_utf8_lossy(&event),
                "the shutdown extension got an event; waiting for the next"
            ),
            Err(e) => {
                tracing::warn!(
                    error = %crate::error::error_chain(&*e),
                    "the shutdown extension's /event/next failed; Lambda may not send SIGTERM"
                );
                return;
            }
        }
    }
}

/// A connection of its own to the Extensions API, driven by a task of its own: it waits in
/// `/event/next` while the runtime's connections carry invocations.
async fn connect(authority: &str) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(authority).await?;
    let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(
        async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "extensions api connection closed");
            }
        }
        .in_current_span(),
    );
    Ok(send)
}

fn request(
    method: Method,
    path: String,
    host: &HeaderValue,
) -> Result<Request<Full<Bytes>>, BoxError> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::default())?;
    let h = req.headers_mut();
    h.insert(HOST, host.clone());
    h.insert(USER_AGENT, USER_AGENT_VALUE);
    Ok(req)
}
