//! [`Invocation`]: one invocation, configured, then sent as a request, an event or JSON.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::Request;
use serde::Serialize;
use tokio::time::Instant;

use super::record::{record, Watched};
use super::{Error, TestClient, TestResponse};
use lambda_stream_local::{function_url_event, new_request_id};

use crate::wire::MAX_PAYLOAD;
use crate::Body;

/// One invocation, configured; from [`TestClient::invocation`].
///
/// It holds a handle to its client, so the future that makes it can be spawned.
///
/// ```
/// # use lambda_stream::{Body, RequestExt};
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lambda_stream::testing::Error> {
/// let client = lambda_stream::testing::TestClient::new(tower::service_fn(
///     |req: Request<Body>| async move {
///         let id = req.lambda_context_ref().map(|c| c.request_id.clone());
///         Ok::<_, Infallible>(Response::new(id.unwrap_or_default()))
///     },
/// ));
/// let res = client
///     .invocation()
///     .request_id("req-1")
///     .event(r#""a raw event""#)
///     .await?;
/// assert_eq!(res.request_id(), "req-1");
/// assert_eq!(res.text(), "req-1");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Invocation {
    pub(super) client: TestClient,
    pub(super) request_id: Option<String>,
    pub(super) client_context: Option<String>,
    pub(super) peer: SocketAddr,
}

impl Invocation {
    /// The request id (`Lambda-Runtime-Aws-Request-Id`, and `requestContext.requestId` of
    /// the event [`request`](Self::request) builds); default: a random UUID.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The caller's client context (`Lambda-Runtime-Client-Context`), JSON such as
    /// `{"client":{"appTitle":"demo"},"custom":{"k":"v"},"env":{}}`.
    pub fn client_context(mut self, json: impl Into<String>) -> Self {
        self.client_context = Some(json.into());
        self
    }

    /// The caller's address, for `requestContext.http.sourceIp` and `x-forwarded-for` in the
    /// event [`request`](Self::request) builds; default `127.0.0.1:49152`.
    pub fn peer_addr(mut self, addr: SocketAddr) -> Self {
        self.peer = addr;
        self
    }

    /// Invokes with `request` as a function URL would: a payload 2.0 event with the method,
    /// path, query, headers (repeated ones comma-joined), cookies and body (base64 unless
    /// text), as AWS builds it. The `Host` header defaults to the URI's authority.
    pub async fn request<B: Into<Body>>(self, request: Request<B>) -> Result<TestResponse, Error> {
        let request_id = self.request_id.clone().unwrap_or_else(new_request_id);
        let (mut parts, body) = request.into_parts();
        let body: Body = body.into();
        if !parts.headers.contains_key(HOST) {
            let host = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
            if let Some(host) = host {
                parts.headers.insert(HOST, host);
            }
        }
        let payload = function_url_event(&parts, &body, self.peer, &request_id, SystemTime::now());
        self.send(request_id, payload).await
    }

    /// Invokes with `payload` as the event, as is.
    pub async fn event(self, payload: impl AsRef<[u8]>) -> Result<TestResponse, Error> {
        let request_id = self.request_id.clone().unwrap_or_else(new_request_id);
        let payload = Bytes::copy_from_slice(payload.as_ref());
        self.send(request_id, payload).await
    }

    /// Invokes with `event` serialized as JSON.
    pub async fn json(self, event: &impl Serialize) -> Result<TestResponse, Error> {
        let payload = serde_json::to_vec(event).map_err(Error::json)?;
        self.event(payload).await
    }

    async fn send(self, request_id: String, payload: Bytes) -> Result<TestResponse, Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::too_large(payload.len()));
        }
        let (invocation, replies) =
            lambda_stream_local::Invocation::new(request_id.clone(), payload, self.client_context);
        let sent_at = Instant::now();
        let stopped = self.client.submit(invocation)?;
        let replies = Watched { replies, stopped };
        match record(replies, request_id, sent_at).await {
            Some(response) => Ok(response),
            None => Err(self.client.stopped()),
        }
    }
}
