use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::Error;
use crate::Diagnostic;

/// One invocation's response, recorded as the caller received it; see the module docs.
///
/// The status, headers and cookies are those a function URL returns: the prelude's
/// `statusCode` and `headers`, each of its `cookies` as a `Set-Cookie` header. Without a
/// prelude (a raw event) the status is `200` and the only header the `Content-Type` the
/// runtime sent. When the invocation failed before its response started, the status is
/// `502` (a function URL's `Internal Server Error`) and [`error`](Self::error) says why.
#[derive(Clone)]
pub struct TestResponse {
    pub(super) request_id: String,
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) prelude: Option<Bytes>,
    pub(super) chunks: Vec<Chunk>,
    pub(super) body: Bytes,
    pub(super) error: Option<FunctionError>,
    pub(super) sent_at: Instant,
    pub(super) head_at: Option<Instant>,
    pub(super) ended_at: Instant,
}

impl TestResponse {
    /// The invocation's request id (`Lambda-Runtime-Aws-Request-Id`).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The status: the prelude's `statusCode` (default `200`); `502` when the invocation
    /// failed before its response started.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers, cookies included as `Set-Cookie`.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of the header `name`, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The cookies the function set (the prelude's `cookies`), as `Set-Cookie` values, in
    /// order.
    pub fn cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The prelude as the runtime sent it: the JSON before the 8 NUL bytes. `None` without
    /// one (a raw event, or a failure before the response started).
    pub fn prelude(&self) -> Option<&[u8]> {
        self.prelude.as_deref()
    }

    /// The prelude, parsed; `None` without one or when it is not JSON.
    pub fn prelude_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.prelude.as_deref()?).ok()
    }

    /// The body chunks, in order, each as it reached the Runtime API.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The whole body: every chunk, joined.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The whole body, deserialized from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(Error::json)
    }

    /// Why the invocation failed: the `/error` report when it failed before its response
    /// started, or the error trailers that ended its stream. `None` when it succeeded.
    pub fn error(&self) -> Option<&FunctionError> {
        self.error.as_ref()
    }

    /// Whether the response is complete: no [`error`](Self::error). Says nothing about the
    /// status (a `500` the function chose is a complete response).
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }

    /// When the invocation was submitted.
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// When the response started: its head (and prelude, if any) arrived. `None` when it
    /// never started.
    pub fn head_arrived_at(&self) -> Option<Instant> {
        self.head_at
    }

    /// When the response ended, completely or not.
    pub fn ended_at(&self) -> Instant {
        self.ended_at
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("request_id", &self.request_id)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field(
                "prelude",
                &self.prelude.as_deref().map(String::from_utf8_lossy),
            )
            .field("chunks", &self.chunks)
            .field("error", &self.error)
            .finish()
    }
}

/// One body chunk, as it arrived; see [`TestResponse::chunks`].
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    pub(super) bytes: Bytes,
    pub(super) arrived_at: Instant,
}

impl Chunk {
    /// The chunk's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The chunk as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    /// When it reached the Runtime API, on tokio's clock (paused or not).
    pub fn arrived_at(&self) -> Instant {
        self.arrived_at
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("bytes", &self.bytes)
            .field("arrived_at", &self.arrived_at)
            .finish()
    }
}

/// How an invocation failed, as Lambda reports it to the caller; see
/// [`TestResponse::error`].
///
/// Either the runtime reported it to `/error` before the response started (a service error
/// or panic, an event it could not decode), or the response started and then ended with the
/// `Lambda-Runtime-Function-Error-Type`/`-Body` trailers (a body error or panic), broke off,
/// or ran past the function timeout (`Sandbox.Timeout`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    pub(super) diagnostic: Diagnostic,
    pub(super) mid_stream: bool,
}

impl FunctionError {
    /// The error type, e.g. `Function.StreamError` or `Runtime.InvalidEvent`.
    pub fn error_type(&self) -> &str {
        self.diagnostic.error_type()
    }

    /// The error message.
    pub fn error_message(&self) -> &str {
        self.diagnostic.error_message()
    }

    /// Whether the response had started (its head was sent) when it failed: the failure
    /// came in trailers (or as a broken or timed-out stream), not as an `/error` report.
    pub fn is_mid_stream(&self) -> bool {
        self.mid_stream
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.diagnostic, f)
    }
}

impl std::error::Error for FunctionError {}
