//! The Runtime API client: our own, on hyper's HTTP/1.1 client connection over tokio.
//!
//! One keep-alive connection per worker, with `TCP_NODELAY` so that a small chunk is not held
//! back waiting for the previous one's ACK. The connection is driven inside the worker's own
//! task, while the worker awaits a call, rather than by a task of its own: nothing is handed
//! between tasks (or threads) per call (BENCHMARKS.md has what that saves). The one exception
//! is a streamed response on the `block_on` thread of a multi-thread runtime, which is posted
//! from a task of its own (see `Client::post_from_a_task`). `/next` long-polls with no client
//! timeout (the
//! environment is frozen between invocations). Every POST's reply is read and classified:
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

pub(crate) use body::Outgoing;

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, TRAILER, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::net::TcpStream;
use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::wire::{self, Head, ResponseStream};
use crate::{BoxError, Config, Context, Diagnostic};

const PREFIX: &str = "/2018-06-01/runtime";
/// How much of a reply's body is kept for the logs.
const REPLY_LIMIT: usize = 64 * 1024;
/// `User-Agent` of every Runtime API request.
const USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("lambda-stream/", env!("CARGO_PKG_VERSION")));
/// `Lambda-Runtime-Invocation-Id`: sent on `/next`, echoed on `/response` and `/error`.
pub(crate) const INVOCATION_ID: HeaderName =
    HeaderName::from_static("lambda-runtime-invocation-id");
/// `Lambda-Runtime-Function-XRay-Error-Cause`, on `/error`.
const XRAY_ERROR_CAUSE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-xray-error-cause");
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

/// What went wrong talking to the Runtime API.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The connection failed (refused, reset, garbled reply). The next call reconnects.
    Transport(BoxError),
    /// A `4xx`: this call was refused, the environment is fine. (`410 Gone`: the invocation
    /// had already timed out.)
    Rejected { status: StatusCode, body: String },
    /// A `5xx`: the environment is broken; the runtime must exit.
    Fatal { status: StatusCode, body: String },
    /// `/next` sent an event the runtime cannot attribute (no request id).
    BadEvent(&'static str),
}

impl ApiError {
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self, ApiError::Fatal { .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The whole chain: hyper's own message ("connection error") names no cause.
            ApiError::Transport(e) => write!(
                f,
                "runtime api connection failed: {}",
                crate::error::error_chain(&**e)
            ),
            ApiError::Rejected { status, body } if *status == StatusCode::GONE => write!(
                f,
                "runtime api answered {status}: the invocation already timed out: {body}"
            ),
            ApiError::Rejected { status, body } => {
                write!(f, "runtime api refused the call with {status}: {body}")
            }
            ApiError::Fatal { status, body } => {
                write!(f, "runtime api answered {status} (non-recoverable): {body}")
            }
            ApiError::BadEvent(why) => f.write_str(why),
        }
    }
}

/// The message already holds the causes (see `Display`), so there is no `source()`: a
/// chain printed from here would say them twice.
impl std::error::Error for ApiError {}

/// hyper's half of a connection: the future that does its reads and writes. Boxed once per
/// connection, so that [`Client`] needs no bounds on `B` where it is named.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

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
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
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

    async fn connect(&mut self) -> Result<SendRequest<Outgoing<B>>, ApiError> {
        let stream = TcpStream::connect(self.address.as_str())
            .await
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        // Small chunks must leave at once, not wait for the ACK of the previous segment.
        stream
            .set_nodelay(true)
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        let (send, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        self.driver = Some(Box::pin(conn));
        Ok(send)
    }

    /// Sends one request on the worker's connection, connecting first if needed.
    async fn send(
        &mut self,
        mut req: Request<Outgoing<B>>,
    ) -> Result<Response<Incoming>, ApiError> {
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(USER_AGENT, USER_AGENT_VALUE);
        let reusable = match self.conn.take() {
            Some(mut c) => drive(&mut self.driver, c.ready())
                .await
                .is_ok()
                .then_some(c),
            None => None,
        };
        let mut conn = match reusable {
            Some(c) => c,
            None => self.connect().await?,
        };
        match drive(&mut self.driver, conn.send_request(req)).await {
            Ok(res) => {
                self.conn = Some(conn);
                Ok(res)
            }
            Err(e) => Err(ApiError::Transport(Box::new(e))),
        }
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
        if off_the_workers() {
            return self.post_from_a_task(req).await;
        }
        self.post(req).await
    }

    /// [`post`](Client::post) from a task of the runtime, which this client's connection is
    /// handed to for the call and taken back from.
    ///
    /// For a streamed response on the thread of a multi-thread runtime's `block_on` (a plain
    /// `#[tokio::main]` with [`run`](crate::run)): the handler's body is usually fed by tasks
    /// on the runtime's worker threads, and driving the connection here would wake this thread
    /// from theirs for every chunk they make ready. From a task, the connection runs beside
    /// them on the workers.
    async fn post_from_a_task(&mut self, req: Request<Outgoing<B>>) -> Result<(), ApiError> {
        // `post` needs the address and host (to reconnect), not the paths.
        let mut detached = Client {
            address: self.address.clone(),
            host: self.host.clone(),
            base: String::new(),
            config: self.config.clone(),
            conn: self.conn.take(),
            driver: self.driver.take(),
            // Already echoed on `req`.
            invocation_id: None,
        };
        let call = async move {
            let reply = detached.post(req).await;
            (detached.conn, detached.driver, reply)
        };
        let mut task = AbortOnDrop(tokio::spawn(call.in_current_span()));
        match (&mut task.0).await {
            Ok((conn, driver, reply)) => {
                self.conn = conn;
                self.driver = driver;
                reply
            }
            // The same panic as if the call had been made here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(ApiError::Transport(Box::new(e))),
        }
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
        req.headers_mut()
            .insert(CONTENT_TYPE, buffered.content_type);
        self.post(req).await
    }

    /// `POST /runtime/invocation/{id}/error`.
    pub(crate) async fn report_error(
        &mut self,
        request_id: &str,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let ids = self.ids(request_id);
        self.report_error_of(&ids, diagnostic).await
    }

    /// `POST /runtime/invocation/{id}/error`, echoing what `ids` holds: also for an
    /// invocation another client got from `/next` (a dead worker's, which its supervisor
    /// reports).
    pub(crate) async fn report_error_of(
        &mut self,
        ids: &InvocationIds,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let mut req = error_request(self.invocation_path(&ids.request_id, "error"), diagnostic)?;
        if let Some(value) = &ids.invocation_id {
            req.headers_mut().insert(INVOCATION_ID, value.clone());
        }
        self.post(req).await
    }

    /// `POST /runtime/init/error`.
    pub(crate) async fn report_init_error(
        &mut self,
        diagnostic: &Diagnostic,
    ) -> Result<(), ApiError> {
        let req = error_request(format!("{}/init/error", self.base), diagnostic)?;
        self.post(req).await
    }

    async fn post(&mut self, req: Request<Outgoing<B>>) -> Result<(), ApiError> {
        let res = self.send(req).await?;
        let status = res.status();
        // Read the reply to its end, so the connection can carry the next call.
        let reply = Limited::new(res.into_body(), REPLY_LIMIT).collect();
        let body = match drive(&mut self.driver, reply).await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.conn = None;
                return if status.is_success() {
                    Ok(())
                } else {
                    Err(ApiError::Transport(e))
                };
            }
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(classify(status, &body))
        }
    }
}

/// Whether this code runs outside the worker threads of a multi-thread runtime: on its
/// `block_on` thread, outside any task.
fn off_the_workers() -> bool {
    tokio::task::try_id().is_none()
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

/// A spawned call, aborted if its caller goes away first: a call never outlives its worker.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Awaits `fut` while polling the connection's `driver`, which does the I/O `fut` waits for.
/// A driver that ends (the connection closed or failed) is dropped, which fails whatever
/// `fut` still waited for on it.
async fn drive<F: Future>(driver: &mut Option<Driver>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Some(conn) = driver.as_mut() {
            if let Poll::Ready(end) = conn.as_mut().poll(cx) {
                if let Err(e) = end {
                    tracing::debug!(error = %e, "runtime api connection closed");
                }
                *driver = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
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

fn error_request<B>(
    path: String,
    diagnostic: &Diagnostic,
) -> Result<Request<Outgoing<B>>, ApiError> {
    let mut req = request(
        Method::POST,
        path,
        Outgoing::full(wire::error_report_body(diagnostic)),
    )?;
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, wire::ERROR_CONTENT_TYPE);
    h.insert(wire::ERROR_TYPE, wire::error_type_header(diagnostic));
    if let Some(cause) = xray_error_cause(diagnostic) {
        h.insert(XRAY_ERROR_CAUSE, cause);
    }
    Ok(req)
}

/// The X-Ray error cause of `diagnostic`, as the official runtime clients send it:
/// `{"working_directory":..,"exceptions":[{"type":..,"message":..,"stack":[]}],"paths":[]}`,
/// its message cut to fit [`wire::limits::MAX_XRAY_ERROR_CAUSE`].
fn xray_error_cause(diagnostic: &Diagnostic) -> Option<HeaderValue> {
    #[derive(serde::Serialize)]
    struct Cause<'a> {
        working_directory: &'a str,
        exceptions: [Exception<'a>; 1],
        paths: [&'a str; 0],
    }
    #[derive(serde::Serialize)]
    struct Exception<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        message: &'a str,
        stack: [&'a str; 0],
    }
    let working_directory = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = wire::limits::error_type(diagnostic);
    let json = wire::limits::render_capped(
        diagnostic.error_message(),
        wire::limits::MAX_XRAY_ERROR_CAUSE,
        |message| {
            serde_json::to_vec(&Cause {
                working_directory: &working_directory,
                exceptions: [Exception {
                    kind,
                    message,
                    stack: [],
                }],
                paths: [],
            })
            .unwrap_or_default()
        },
    );
    // serde_json escapes control characters; other bytes are valid in a header value.
    HeaderValue::from_bytes(&json)
        .ok()
        .filter(|_| !json.is_empty())
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

fn classify(status: StatusCode, body: &[u8]) -> ApiError {
    let body = String::from_utf8_lossy(body).into_owned();
    if status.is_server_error() {
        ApiError::Fatal { status, body }
    } else {
        ApiError::Rejected { status, body }
    }
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
