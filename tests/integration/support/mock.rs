//! A Lambda Runtime API mock that is a real HTTP/1.1 server on 127.0.0.1.
//!
//! It hands out scripted events on `GET /next` (long-polling while none is queued), records
//! every POST (headers, each body chunk with its arrival time, trailers), keeps the raw bytes
//! it received for wire-level assertions, and answers as scripted (default `202`).
//!
//! Times are tokio's clock: exact under `#[tokio::test(start_paused = true)]`.
//!
//! [`serve`] (or [`MockRuntimeApi::serve`]) runs a service under a runtime pointed at the mock,
//! stopped when the test ends.

#[path = "extensions.rs"]
pub mod extensions;

use lambda_stream::LambdaService;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex as AsyncMutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the mock answers to one `GET /next`.
pub enum Next {
    /// An event, with the `/next` headers Lambda sends.
    Event(MockEvent),
    /// An error status with a body.
    Status(u16, &'static str),
}

/// One scripted event.
#[derive(Clone)]
pub struct MockEvent {
    pub request_id: String,
    pub payload: Bytes,
    pub headers: Vec<(String, String)>,
}

impl MockEvent {
    /// An event with the usual headers: request id, a deadline 60 s away, an ARN, a trace id.
    pub fn new(request_id: &str, payload: impl Into<Bytes>) -> Self {
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        MockEvent {
            request_id: request_id.to_owned(),
            payload: payload.into(),
            headers: vec![
                ("lambda-runtime-aws-request-id".into(), request_id.into()),
                ("lambda-runtime-deadline-ms".into(), deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn".into(),
                    "arn:aws:lambda:us-east-1:123456789012:function:stream".into(),
                ),
                (
                    "lambda-runtime-trace-id".into(),
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
                        .into(),
                ),
            ],
        }
    }

    /// The function URL `GET /` event (`function-url-get.json`), with the usual headers.
    pub fn url(request_id: &str) -> Self {
        Self::fixture(request_id, "function-url-get.json")
    }

    /// An event from a fixture file in `tests/fixtures/events/`.
    pub fn fixture(request_id: &str, name: &str) -> Self {
        Self::new(request_id, fixture(name))
    }

    /// Replaces or adds a `/next` header (`None` removes it).
    pub fn header(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.retain(|(n, _)| n != name);
        if let Some(v) = value {
            self.headers.push((name.to_owned(), v.to_owned()));
        }
        self
    }
}

/// Reads a fixture event.
pub fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .into()
}

/// A POST the mock received.
#[derive(Debug)]
pub enum Record {
    Response(StreamedResponse),
    Error(ErrorReport),
    InitError(ErrorReport),
}

/// A streamed `/response` as received.
#[derive(Debug)]
pub struct StreamedResponse {
    pub request_id: String,
    pub headers: HeaderMap,
    /// Each data frame hyper decoded, with the time it arrived.
    pub chunks: Vec<(Instant, Bytes)>,
    pub trailers: Option<HeaderMap>,
    /// When the event was handed out on `/next`.
    pub handed_out_at: Option<Instant>,
    /// Whether the body ended cleanly (the terminating chunk arrived).
    pub complete: bool,
}

impl StreamedResponse {
    /// Every body byte, in order.
    pub fn bytes(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    /// The prelude JSON and the body after the 8 NULs; panics if the delimiter is missing.
    pub fn split(&self) -> (serde_json::Value, Vec<u8>) {
        let all = self.bytes();
        let at = all
            .windows(8)
            .position(|w| w == [0u8; 8])
            .unwrap_or_else(|| panic!("no 8-NUL delimiter in {:?}", String::from_utf8_lossy(&all)));
        let prelude = serde_json::from_slice(&all[..at]).expect("the prelude is JSON");
        (prelude, all[at + 8..].to_vec())
    }

    /// When the first byte after the delimiter arrived, and each later chunk: `(time, bytes)`
    /// of the body proper, with the prelude stripped.
    pub fn body_chunks(&self) -> Vec<(Instant, Bytes)> {
        let mut seen = 0usize;
        let all = self.bytes();
        let start = all
            .windows(8)
            .position(|w| w == [0u8; 8])
            .map(|p| p + 8)
            .unwrap_or(0);
        let mut out = vec![];
        for (t, b) in &self.chunks {
            let end = seen + b.len();
            if end > start {
                let from = start.saturating_sub(seen);
                out.push((*t, b.slice(from..)));
            }
            seen = end;
        }
        out
    }

    /// The decoded error trailers: `(error type, error body JSON)`.
    pub fn error_trailers(&self) -> Option<(String, serde_json::Value)> {
        let t = self.trailers.as_ref()?;
        let ty = t
            .get("lambda-runtime-function-error-type")?
            .to_str()
            .ok()?
            .to_owned();
        let body = t.get("lambda-runtime-function-error-body")?;
        let json = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .expect("the error body trailer is standard base64");
        Some((
            ty,
            serde_json::from_slice(&json).expect("the error body is JSON"),
        ))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An `/error` or `/init/error` report.
#[derive(Debug)]
pub struct ErrorReport {
    pub request_id: Option<String>,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl ErrorReport {
    pub fn error_type(&self) -> &str {
        self.body["errorType"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["errorMessage"].as_str().unwrap_or("")
    }
}

#[derive(Default)]
struct Shared {
    handed_out: HashMap<String, Instant>,
    response_replies: VecDeque<(u16, &'static str)>,
    error_replies: VecDeque<(u16, &'static str)>,
    next_calls: usize,
    connections: usize,
}

/// The mock server. Dropping it stops accepting new connections.
pub struct MockRuntimeApi {
    pub addr: SocketAddr,
    next_tx: mpsc::UnboundedSender<Next>,
    records: AsyncMutex<mpsc::UnboundedReceiver<Record>>,
    shared: Arc<Mutex<Shared>>,
    raw: Arc<Mutex<Vec<u8>>>,
    accept: JoinHandle<()>,
    /// The Extensions API (`/2020-01-01/extension/...`), its calls and scripted replies.
    pub extensions: Arc<extensions::Extensions>,
}

impl Drop for MockRuntimeApi {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl MockRuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (next_tx, next_rx) = mpsc::unbounded_channel();
        let (record_tx, record_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let next_rx = Arc::new(AsyncMutex::new(next_rx));
        let extensions = Arc::new(extensions::Extensions::default());
        let accept = {
            let extensions = extensions.clone();
            let shared = shared.clone();
            let raw = raw.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    shared.lock().unwrap().connections += 1;
                    let state = State {
                        next_rx: next_rx.clone(),
                        record_tx: record_tx.clone(),
                        shared: shared.clone(),
                        extensions: extensions.clone(),
                    };
                    let io = TokioIo::new(Recording {
                        inner: stream,
                        raw: raw.clone(),
                    });
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| state.clone().handle(req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    });
                }
            })
        };
        MockRuntimeApi {
            addr,
            next_tx,
            records: AsyncMutex::new(record_rx),
            shared,
            raw,
            accept,
            extensions,
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// A runtime `Config` pointing at this mock.
    pub fn config(&self) -> lambda_stream::Config {
        let mut c = lambda_stream::Config::default();
        c.runtime_api = Some(self.address());
        c.function_name = "stream".into();
        c
    }

    pub fn push(&self, next: Next) {
        self.next_tx.send(next).unwrap();
    }

    pub fn push_event(&self, event: MockEvent) {
        self.push(Next::Event(event));
    }

    /// The reply to the next `/response` POST (default 202).
    pub fn reply_to_response(&self, status: u16, body: &'static str) {
        self.shared
            .lock()
            .unwrap()
            .response_replies
            .push_back((status, body));
    }

    /// The reply to the next `/error` POST (default 202).
    pub fn reply_to_error(&self, status: u16, body: &'static str) {
        self.shared
            .lock()
            .unwrap()
            .error_replies
            .push_back((status, body));
    }

    /// The next POST received, waiting up to 20 s.
    pub async fn record(&self) -> Record {
        let mut rx = self.records.lock().await;
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the runtime posted nothing within 20 s")
            .expect("mock closed")
    }

    pub async fn response(&self) -> StreamedResponse {
        match self.record().await {
            Record::Response(r) => r,
            other => panic!("expected a streamed response, got {other:?}"),
        }
    }

    pub async fn error(&self) -> ErrorReport {
        match self.record().await {
            Record::Error(r) => r,
            other => panic!("expected an /error report, got {other:?}"),
        }
    }

    /// Asserts that nothing more is posted within `wait`.
    pub async fn assert_quiet(&self, wait: Duration) {
        let mut rx = self.records.lock().await;
        if let Ok(Some(r)) = tokio::time::timeout(wait, rx.recv()).await {
            panic!("unexpected post: {r:?}");
        }
    }

    /// Every byte the mock received, on every connection, in arrival order per connection.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    pub fn next_calls(&self) -> usize {
        self.shared.lock().unwrap().next_calls
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().unwrap().connections
    }
}

#[derive(Clone)]
struct State {
    next_rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<Next>>>,
    record_tx: mpsc::UnboundedSender<Record>,
    shared: Arc<Mutex<Shared>>,
    extensions: Arc<extensions::Extensions>,
}

fn reply(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

impl State {
    async fn handle(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path().to_owned();
        if let Some(rest) = path.strip_prefix("/2020-01-01/extension/") {
            return Ok(self.extensions.handle(rest, req).await);
        }
        let rest = path
            .strip_prefix("/2018-06-01/runtime/")
            .unwrap_or_else(|| panic!("unexpected path {path}"));
        if rest == "invocation/next" {
            self.shared.lock().unwrap().next_calls += 1;
            self.extensions.runtime_next().await;
            let next = self.next_rx.lock().await.recv().await;
            return Ok(match next {
                Some(Next::Event(event)) => {
                    self.shared
                        .lock()
                        .unwrap()
                        .handed_out
                        .insert(event.request_id.clone(), Instant::now());
                    let mut res = Response::builder().status(200);
                    for (k, v) in &event.headers {
                        res = res.header(k.as_str(), v.as_str());
                    }
                    res.body(Full::new(event.payload)).unwrap()
                }
                Some(Next::Status(status, body)) => reply(status, body),
                // The test is over: hang, as a frozen environment would.
                None => std::future::pending().await,
            });
        }
        if rest == "init/error" {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let _ = self.record_tx.send(Record::InitError(ErrorReport {
                request_id: None,
                headers: parts.headers,
                body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            }));
            return Ok(reply(202, r#"{"status":"OK"}"#));
        }
        let (id, what) = rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
            .unwrap_or_else(|| panic!("unexpected path {path}"));
        let id = id.to_owned();
        match what {
            "response" => {
                let (parts, mut body) = req.into_parts();
                let mut chunks = vec![];
                let mut trailers = None;
                let mut complete = true;
                loop {
                    match body.frame().await {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => chunks.push((Instant::now(), data)),
                            Err(frame) => trailers = frame.into_trailers().ok(),
                        },
                        Some(Err(_)) => {
                            complete = false;
                            break;
                        }
                        None => break,
                    }
                }
                let handed_out_at = self.shared.lock().unwrap().handed_out.get(&id).copied();
                let _ = self.record_tx.send(Record::Response(StreamedResponse {
                    request_id: id,
                    headers: parts.headers,
                    chunks,
                    trailers,
                    handed_out_at,
                    complete,
                }));
                let scripted = self.shared.lock().unwrap().response_replies.pop_front();
                let (status, body) = scripted.unwrap_or((202, r#"{"status":"OK"}"#));
                Ok(reply(status, body))
            }
            "error" => {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let _ = self.record_tx.send(Record::Error(ErrorReport {
                    request_id: Some(id),
                    headers: parts.headers,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                }));
                let scripted = self.shared.lock().unwrap().error_replies.pop_front();
                let (status, body) = scripted.unwrap_or((202, r#"{"status":"OK"}"#));
                Ok(reply(status, body))
            }
            other => panic!("unexpected path suffix {other}"),
        }
    }
}

/// A TCP stream that copies every byte it reads into a shared log.
struct Recording {
    inner: TcpStream,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            this.raw
                .lock()
                .unwrap()
                .extend_from_slice(&buf.filled()[before..]);
        }
        res
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the helpers here serve: a [`LambdaService`] whose runtime can run on a task of its
/// own.
pub trait Function: LambdaService<Future: Send> + Send + 'static {}

impl<S> Function for S where S: LambdaService<Future: Send> + Send + 'static {}

/// A runtime running in the background; aborted when dropped, so a test that ends (or fails)
/// leaves nothing behind.
pub struct Serving(JoinHandle<Result<(), lambda_stream::Error>>);

impl Serving {
    /// Runs `runtime` (any `Runtime::run*` future) on a task of its own.
    pub fn spawn(
        runtime: impl Future<Output = Result<(), lambda_stream::Error>> + Send + 'static,
    ) -> Self {
        Serving(tokio::spawn(runtime))
    }

    /// Whether the runtime has stopped.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits (up to 20 s) for the runtime to stop; what it returned.
    pub async fn exit(&mut self) -> Result<(), lambda_stream::Error> {
        tokio::time::timeout(Duration::from_secs(20), &mut self.0)
            .await
            .expect("the runtime did not stop within 20 s")
            .expect("the runtime's task panicked")
    }

    /// Waits (up to 20 s) for the runtime to stop with an error, and returns it.
    pub async fn error(&mut self) -> lambda_stream::Error {
        match self.exit().await {
            Ok(()) => panic!("the runtime stopped without an error"),
            Err(e) => e,
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl MockRuntimeApi {
    /// Runs `service` under a runtime pointed at this mock (`Runtime::run`), until the
    /// returned guard is dropped.
    pub fn serve<S: Function>(&self, service: S) -> Serving {
        Serving::spawn(lambda_stream::Runtime::new(self.config()).run(service))
    }
}

/// A mock with its runtime: reads as the mock (`response()`, `error()`, `push_event`...);
/// the runtime is aborted when it is dropped, before the mock stops.
pub struct Served {
    /// The runtime serving the mock.
    pub runtime: Serving,
    /// The mock.
    pub mock: MockRuntimeApi,
}

impl Deref for Served {
    type Target = MockRuntimeApi;

    fn deref(&self) -> &MockRuntimeApi {
        &self.mock
    }
}

/// Starts a mock with `events` queued (a bare request id is the function URL `GET /` event,
/// [`MockEvent::url`]) and `service` serving it: the setup most wire tests share.
pub async fn serve<E: Into<MockEvent>, S: Function>(
    events: impl IntoIterator<Item = E>,
    service: S,
) -> Served {
    let mock = MockRuntimeApi::start().await;
    for event in events {
        mock.push_event(event.into());
    }
    let runtime = mock.serve(service);
    Served { runtime, mock }
}

impl From<&str> for MockEvent {
    fn from(request_id: &str) -> Self {
        MockEvent::url(request_id)
    }
}

/// Finds `needle` in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
