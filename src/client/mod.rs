//! The Runtime API client: our own, on hyper's HTTP/1.1 client connection over tokio.
//!
//! One keep-alive connection per worker, with `TCP_NODELAY` so that a small chunk is not held
//! back waiting for the previous one's ACK. The connection is driven inside the worker's own
//! task, while the worker awaits a call, rather than by a task of its own: nothing is handed
//! between tasks (or threads) per call. The one exception is a streamed response on the
//! `block_on` thread of a multi-thread runtime, which is posted from a task of its own (see
//! `Client::post_from_a_task`). `/next` long-polls with no client timeout (the environment
//! is frozen between invocations). Every POST's reply is read and classified:
//! `2xx` accepted, `4xx` rejected (logged; the loop goes on), `5xx` fatal (the runtime exits).
//! A `410 Gone` says the invocation already timed out.
//!
//! Every request names the runtime in `User-Agent: lambda-stream/<version>`. When `/next`
//! carries `Lambda-Runtime-Invocation-Id` (cross-wiring protection), it is echoed on that
//! invocation's `/response` and `/error`, so that Lambda can refuse the late answer of a
//! timed-out invocation whose request id was reused. The request id goes in the paths
//! percent-encoded. `/error` carries `Lambda-Runtime-Function-XRay-Error-Cause`, the error
//! as X-Ray shows it, its message cut to fit 8 KiB (see `wire::limits`).
//!
//! API reference: <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

mod body;
mod connection;
mod error;
#[cfg(feature = "graceful-shutdown")]
pub(crate) mod extension;
mod report;

pub(crate) use body::Outgoing;
pub(crate) use error::ApiError;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, TRAILER, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use lambda_stream_protocol::RAW_STATUS;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use self::connection::{drive, off_the_workers, Driver};
use self::error::classify;
use crate::service::ResponseBody;
use crate::wire::{self, Head, ResponseStream};
use crate::{BoxError, Config, Context};

const PREFIX: &str = "/2018-06-01/runtime";
/// `Lambda-Runtime-Invocation-Id`: sent on `/next`, echoed on `/response` and `/error`.
pub(crate) const INVOCATION_ID: HeaderName =
    HeaderName::from_static("lambda-runtime-invocation-id");
/// What a request id cannot carry as it is in a path segment: all but `A-Z a-z 0-9 - . _ ~`.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One event from `/next`.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) context: Context,
    pub(crate) payload: Bytes,
}

/// How `/next` named an invocation: its request id, and the `Lambda-Runtime-Invocation-Id`
/// it sent with it, if any. What a post for that invocation from another client (a dead
/// worker's, reported by its supervisor) needs to echo.
#[derive(Clone, Debug)]
pub(crate) struct InvocationIds {
    pub(crate) request_id: String,
    pub(crate) invocation_id: Option<HeaderValue>,
}

/// A Runtime API client for one worker; `B` is the handler's response body.
pub(crate) struct Client<B> {
    address: String,
    host: HeaderValue,
    /// `/2018-06-01/runtime`, after any path prefix the address carried.
    base: String,
    config: Arc<Config>,
    conn: Option<SendRequest<Outgoing<B>>>,
    /// Polled by [`drive`] whenever the worker awaits a call; `None` once it has ended.
    driver: Option<Driver>,
    /// The request id and `Lambda-Runtime-Invocation-Id` of the last event from `/next`: a
    /// worker serves one invocation at a time, so posts for that request id echo it.
    invocation_id: Option<(String, HeaderValue)>,
}

impl<B> fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl<B> Client<B>
where
    B: ResponseBody,
{
    /// A client of the Runtime API at `address`. Connects lazily.
    ///
    /// Lambda sets `host:port`; emulators may set a URL (`http://host:port/prefix`), whose
    /// path prefix then goes before every Runtime API path.
    pub(crate) fn new(address: &str, config: Arc<Config>) -> Result<Self, BoxError> {
        let (authority, prefix) = parse_address(address)?;
        let host = HeaderValue::from_str(authority)
            .map_err(|_| format!("AWS_LAMBDA_RUNTIME_API is not a valid host:port: {address:?}"))?;
        Ok(Client {
            address: authority.to_owned(),
            host,
            base: format!("{prefix}{PREFIX}"),
            config,
            conn: None,
            driver: None,
            invocation_id: None,
        })
    }

    /// `GET /runtime/invocation/next`: waits for the next event.
    pub(crate) async fn next(&mut self) -> Result<Invocation, ApiError> {
        let req = request(
            Method::GET,
            format!("{}/invocation/next", self.base),
            Outgoing::empty(),
        )?;
        let res = self.send(req).await?;
        let (parts, body) = res.into_parts();
        let payload = drive(&mut self.driver, body.collect())
            .await
            .map_err(|e| ApiError::Transport(Box::new(e)))?
            .to_bytes();
        if !parts.status.is_success() {
            return Err(classify(parts.status, &payload));
        }
        let context = Context::from_headers(&parts.headers, self.config.clone())
            .map_err(ApiError::BadEvent)?;
        self.invocation_id = parts
            .headers
            .get(INVOCATION_ID)
            .map(|id| (context.request_id.clone(), id.clone()));
        Ok(Invocation { context, payload })
    }

    /// `{base}/invocation/{request id, percent-encoded}/{what}`.
    fn invocation_path(&self, request_id: &str, what: &str) -> String {
        let id = utf8_percent_encode(request_id, PATH_SEGMENT);
        format!("{}/invocation/{id}/{what}", self.base)
    }

    /// The invocation id `/next` sent with `request_id`, if it sent one.
    fn invocation_id_of(&self, request_id: &str) -> Option<&HeaderValue> {
        match &self.invocation_id {
            Some((id, value)) if id == request_id => Some(value),
            _ => None,
        }
    }

    /// The ids of `request_id`, as this client's last `/next` gave them.
    pub(crate) fn ids(&self, request_id: &str) -> InvocationIds {
        InvocationIds {
            request_id: request_id.to_owned(),
            invocation_id: self.invocation_id_of(request_id).cloned(),
        }
    }

    /// Adds the invocation id `/next` sent with `request_id`, if it sent one.
    fn echo_invocation_id(&self, request_id: &str, req: &mut Request<Outgoing<B>>) {
        if let Some(value) = self.invocation_id_of(request_id) {
            req.headers_mut().insert(INVOCATION_ID, value.clone());
        }
    }

    /// `POST /runtime/invocation/{id}/response`, streamed.
    pub(crate) async fn respond(
        &mut self,
        request_id: &str,
        head: Head,
        body: B,
        span: tracing::Span,
    ) -> Result<(), ApiError> {
        let stream = ResponseStream::new(head.prelude, body, span);
        let mut req = request(
            Method::POST,
            self.invocation_path(request_id, "response"),
            Outgoing::stream(stream),
        )?;
        self.echo_invocation_id(request_id, &mut req);
        let h = req.headers_mut();
        h.insert(wire::RESPONSE_MODE, HeaderValue::from_static("streaming"));
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(TRAILER, wire::TRAILER_DECLARATION);
        h.insert(CONTENT_TYPE, head.content_type);
        if let Some(status) = head.raw_status {
            h.insert(RAW_STATUS, HeaderValue::from(status.as_u16()));
        }
        if off_the_workers() {
            return self.post_from_a_task(req).await;
        }
        self.post(req).await
    }

    /// `POST /runtime/invocation/{id}/response`, buffered: one payload with a length.
    pub(crate) async fn respond_buffered(
        &mut self,
        request_id: &str,
        buffered: wire::Buffered,
    ) -> Result<(), ApiError> {
        let mut req = request(
            Method::POST,
            self.invocation_path(request_id, "response"),
            Outgoing::full(buffered.payload),
        )?;
        self.echo_invocation_id(request_id, &mut req);
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, buffered.content_type);
        if let Some(status) = buffered.raw_status {
            h.insert(RAW_STATUS, HeaderValue::from(status.as_u16()));
        }
        self.post(req).await
    }
}

fn request<B>(
    method: Method,
    path: String,
    body: Outgoing<B>,
) -> Result<Request<Outgoing<B>>, ApiError> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .map_err(|e| {
            ApiError::BadEvent(if e.is::<http::uri::InvalidUri>() {
                "the runtime api sent a request id that cannot stand in a url"
            } else {
                "cannot build a runtime api request"
            })
        })
}

/// Splits `AWS_LAMBDA_RUNTIME_API` into the `host:port` to connect to and a path prefix
/// (empty, or `/something` without a trailing slash).
fn parse_address(address: &str) -> Result<(&str, &str), String> {
    let address = address.trim();
    let rest = match address.split_once("://") {
        None => address,
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "AWS_LAMBDA_RUNTIME_API must be host:port or an http:// url, not {scheme}://: {address:?}"
            ))
        }
    };
    let (authority, prefix) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || !authority.contains(':') {
        return Err(format!(
            "AWS_LAMBDA_RUNTIME_API is not a valid host:port: {address:?}"
        ));
    }
    Ok((authority, prefix.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn runtime_api_addresses() {
        assert_eq!(parse_address("127.0.0.1:9001"), Ok(("127.0.0.1:9001", "")));
        assert_eq!(
            parse_address(" localhost:9001 "),
            Ok(("localhost:9001", ""))
        );
        assert_eq!(parse_address("[::1]:9001"), Ok(("[::1]:9001", "")));
        // The form an emulator uses: a URL with a path prefix.
        assert_eq!(
            parse_address("http://127.0.0.1:9000/.rt/my-fn"),
            Ok(("127.0.0.1:9000", "/.rt/my-fn"))
        );
        assert_eq!(
            parse_address("http://127.0.0.1:9000/"),
            Ok(("127.0.0.1:9000", ""))
        );
        assert!(parse_address("https://127.0.0.1:9000").is_err());
        assert!(parse_address("127.0.0.1").is_err());
        assert!(parse_address("http:///x").is_err());
    }
}
