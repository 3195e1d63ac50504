use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, HOST};
use http::{HeaderMap, Request, StatusCode};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Chunk, Error, FunctionError, TestResponse};
use crate::client::Client;
use crate::emulator::prelude::Next as _;
use crate::emulator::{self, event, prelude, Job, Replies, Reply, DEFAULT_TIMEOUT};
use crate::wire::MAX_PAYLOAD;
use crate::{Body, BoxError, Config, Diagnostic, LambdaService};

/// The caller's address in the function URL events of [`Invocation::request`].
const DEFAULT_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 49_152);

type Worker = Pin<Box<dyn Future<Output = Result<(), crate::Error>> + Send>>;
/// Builds the runtime's worker, connected to the Runtime API at the given address.
type Starter = Box<dyn FnOnce(&str, Config) -> Result<Worker, BoxError> + Send>;

/// Invokes a service in-process, through the same runtime loop, Runtime API client and
/// response encoding as on Lambda; see the module docs.
///
/// Cheap to clone: clones share one runtime, which (as one Lambda execution environment)
/// runs one invocation at a time; concurrent invocations wait their turn. The runtime
/// starts on the first invocation, on the tokio runtime that makes it, and stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct TestClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The function timeout.
    timeout: Duration,
    state: Mutex<State>,
}

enum State {
    /// Not started yet: the first invocation starts it.
    Idle(Starter),
    Running(Running),
}

struct Running {
    queue: mpsc::UnboundedSender<Job>,
    /// `Some` (the worker's error) once the worker stopped; closed if its task ended.
    stopped: Stopped,
    /// The Runtime API's and the worker's tasks: aborted when the client goes.
    _tasks: JoinSet<()>,
}

type Stopped = watch::Receiver<Option<Arc<crate::Error>>>;

impl TestClient {
    /// A client of `service`, with the [`Builder`]'s defaults.
    ///
    /// Nothing starts until the first invocation, so this works outside a tokio runtime too.
    /// The service runs on a task of its own, as under [`Runtime::run`](crate::Runtime::run)
    /// it runs beside the Runtime API: hence `Send` (an axum `Router` is).
    pub fn new<S>(service: S) -> Self
    where
        S: LambdaService + Send + 'static,
        S::Future: Send,
    {
        Builder::default().build(service)
    }

    /// A [`Builder`], to set the function's name, timeout or configuration.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Invokes the function with `request`, as its function URL would: the request becomes a
    /// payload 2.0 event (see [`Invocation::request`]).
    pub async fn request<B: Into<Body>>(&self, request: Request<B>) -> Result<TestResponse, Error> {
        self.invocation().request(request).await
    }

    /// Invokes the function with `payload` as the event, as is: a fixture of a function URL,
    /// API Gateway or ALB event, or any raw payload.
    pub async fn event(&self, payload: impl AsRef<[u8]>) -> Result<TestResponse, Error> {
        self.invocation().event(payload).await
    }

    /// Invokes the function with `event` serialized as JSON, as is.
    pub async fn json(&self, event: &impl Serialize) -> Result<TestResponse, Error> {
        self.invocation().json(event).await
    }

    /// An invocation to configure (request id, client context) before making it.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            client: self.clone(),
            request_id: None,
            client_context: None,
            peer: DEFAULT_PEER,
        }
    }

    /// The function's configuration. The handler's [`Context`](crate::Context) carries it,
    /// with `runtime_api` set to the in-process Runtime API's address.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, starting the runtime first if need be; returns the runtime's stop signal.
    fn submit(&self, job: Job) -> Result<Stopped, Error> {
        let mut state = self.state();
        if let State::Idle(_) = &*state {
            let running = self.start(&mut state)?;
            *state = State::Running(running);
        }
        match &*state {
            State::Running(running) => match running.queue.send(job) {
                Ok(()) => Ok(running.stopped.clone()),
                Err(_) => Err(Error::stopped(running.cause())),
            },
            State::Idle(_) => Err(Error::stopped(None)),
        }
    }

    fn stopped(&self) -> Error {
        match &*self.state() {
            State::Running(running) => Error::stopped(running.cause()),
            State::Idle(_) => Error::stopped(None),
        }
    }

    /// Starts the Runtime API and the worker; `state` is `Idle` and stays so on failure.
    fn start(&self, state: &mut State) -> Result<Running, Error> {
        let emulator::Emulator {
            config,
            queue,
            mut tasks,
            api,
        } = emulator::start(&self.inner.config, self.inner.timeout).map_err(Error::start)?;
        let starter = match std::mem::replace(state, State::Idle(Box::new(not_startable))) {
            State::Idle(starter) => starter,
            running => {
                *state = running;
                return Err(Error::start("the test runtime is already running"));
            }
        };
        let addr = config.runtime_api.clone().unwrap_or_default();
        let worker = starter(&addr, config).map_err(Error::start)?;

        let (stop, stopped) = watch::channel(None);
        tasks.spawn(async move {
            let cause = worker.await.err().map(|e| {
                tracing::error!(error = %e, "the test runtime stopped");
                Arc::new(e)
            });
            // Invocations waiting for it fail rather than wait forever.
            api.abort();
            let _ =
                stop.send(Some(cause.unwrap_or_else(|| {
                    Arc::new(crate::Error::local("the worker returned"))
                })));
        });
        Ok(Running {
            queue,
            stopped,
            _tasks: tasks,
        })
    }
}

impl Running {
    fn cause(&self) -> Option<Arc<crate::Error>> {
        self.stopped.borrow().clone()
    }
}

fn not_startable(_: &str, _: Config) -> Result<Worker, BoxError> {
    Err("the test runtime failed to start".into())
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let started = matches!(*self.state(), State::Running(_));
        f.debug_struct("TestClient")
            .field("function_name", &self.inner.config.function_name)
            .field("timeout", &self.inner.timeout)
            .field("started", &started)
            .finish()
    }
}

/// Configures a [`TestClient`]: the function's name, timeout and configuration.
///
/// ```
/// use std::time::Duration;
/// # use lambda_stream::Body;
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// # let service = tower::service_fn(|_req: Request<Body>| async {
/// #     Ok::<_, Infallible>(Response::new(String::new()))
/// # });
///
/// let client = lambda_stream::testing::TestClient::builder()
///     .function_name("orders")
///     .timeout(Duration::from_secs(3))
///     .build(service);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    timeout: Duration,
    concurrency: usize,
}

impl Default for Builder {
    fn default() -> Self {
        let config = Config {
            function_name: "test".to_owned(),
            function_version: "$LATEST".to_owned(),
            region: "us-east-1".to_owned(),
            memory_size_mb: Some(128),
            initialization_type: "on-demand".to_owned(),
            ..Config::default()
        };
        Builder {
            config,
            timeout: DEFAULT_TIMEOUT,
            concurrency: 1,
        }
    }
}

impl Builder {
    /// The function's configuration, as the handler's [`Context`](crate::Context) sees it;
    /// default: function `test`, version `$LATEST`, 128 MB, `us-east-1`. Nothing is read
    /// from the environment.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The function's name (in its configuration and ARN).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.config.function_name = name.into();
        self
    }

    /// The function timeout (default 900 s, Lambda's maximum): each invocation's deadline
    /// (`Lambda-Runtime-Deadline-Ms`) is this far from when the runtime takes it, and a
    /// response still streaming then ends with a `Sandbox.Timeout` error. 100 ms later the
    /// invocation is stopped, as Lambda stops a timed-out function: the handler's future or
    /// response body is dropped.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many invocations the service serves at once (default 1, as one Lambda execution
    /// environment does): with more, invocations made at once (e.g. spawned, or joined) run
    /// side by side through the one service, each with its own request id and deadline, as
    /// the local server runs concurrent callers.
    pub fn concurrency(mut self, invocations: usize) -> Self {
        self.concurrency = invocations.max(1);
        self
    }

    /// The client of `service`.
    pub fn build<S>(self, service: S) -> TestClient
    where
        S: LambdaService + Send + 'static,
        S::Future: Send,
    {
        let concurrency = self.concurrency;
        let starter: Starter = Box::new(move |addr, config| {
            let config = Arc::new(config);
            // Checked here, so that a bad address fails the start, not the first invocation.
            let first = Client::<S::ResBody>::new(addr, config.clone())?;
            let mut first = Some(first);
            let addr = addr.to_owned();
            Ok(Box::pin(async move {
                let mode = crate::ResponseMode::Streamed;
                // The local server's loop, whatever the concurrency: the same deadlines.
                let connect = || match first.take() {
                    Some(client) => Ok(client),
                    None => Client::new(&addr, config.clone()).map_err(crate::Error::config),
                };
                crate::runtime::worker::serve_many(service, connect, concurrency, mode).await
            }) as Worker)
        });
        TestClient {
            inner: Arc::new(Inner {
                config: self.config,
                timeout: self.timeout,
                state: Mutex::new(State::Idle(starter)),
            }),
        }
    }
}

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
    client: TestClient,
    request_id: Option<String>,
    client_context: Option<String>,
    peer: SocketAddr,
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
        let request_id = self.request_id.clone().unwrap_or_else(emulator::request_id);
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
        let payload = event::function_url(&parts, &body, self.peer, &request_id, SystemTime::now());
        self.send(request_id, payload).await
    }

    /// Invokes with `payload` as the event, as is.
    pub async fn event(self, payload: impl AsRef<[u8]>) -> Result<TestResponse, Error> {
        let request_id = self.request_id.clone().unwrap_or_else(emulator::request_id);
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
        let (job, replies) = emulator::job(
            request_id.clone(),
            payload,
            self.client_context,
            self.client.inner.timeout,
        );
        let sent_at = Instant::now();
        let stopped = self.client.submit(job)?;
        let replies = Watched { replies, stopped };
        match record(replies, request_id, sent_at).await {
            Some(response) => Ok(response),
            None => Err(self.client.stopped()),
        }
    }
}

/// An invocation's replies, ended by the runtime stopping.
struct Watched {
    replies: Replies,
    stopped: Stopped,
}

impl prelude::Next for Watched {
    async fn next(&mut self) -> Reply {
        tokio::select! {
            biased;
            reply = self.replies.next() => reply,
            // `Err`: the worker's task ended without a word (it panicked).
            _ = self.stopped.wait_for(Option::is_some) => Reply::Failed(Diagnostic::new(
                "Runtime.ExitError",
                "the runtime stopped during the invocation",
            )),
        }
    }
}

impl Watched {
    fn is_started(&self) -> bool {
        self.replies.is_started()
    }
}

/// Reads an invocation's replies into the response the caller sees; `None` when the runtime
/// never took the invocation (it stopped).
async fn record(
    mut replies: Watched,
    request_id: String,
    sent_at: Instant,
) -> Option<TestResponse> {
    let mut res = TestResponse {
        request_id,
        status: StatusCode::BAD_GATEWAY,
        headers: HeaderMap::new(),
        prelude: None,
        chunks: Vec::new(),
        body: Bytes::new(),
        error: None,
        sent_at,
        head_at: None,
        ended_at: sent_at,
    };
    let opened = match prelude::open(&mut replies).await {
        Ok(opened) => opened,
        // Never taken: the runtime stopped first.
        Err(u) if !u.head && !u.reported && !replies.is_started() => return None,
        Err(u) => {
            res.prelude = u.prelude;
            return Some(res.failed(u.failure, u.head));
        }
    };
    let now = Instant::now();
    res.status = opened.status;
    res.headers = opened.headers;
    res.prelude = opened.prelude;
    res.head_at = Some(now);
    if !opened.first.is_empty() {
        res.chunks.push(Chunk {
            bytes: opened.first,
            arrived_at: now,
        });
    }

    loop {
        match replies.next().await {
            Reply::Data(bytes) => res.chunks.push(Chunk {
                bytes,
                arrived_at: Instant::now(),
            }),
            Reply::End => break,
            Reply::Failed(f) | Reply::Error(f) => {
                res.error = Some(mid_stream(f));
                break;
            }
            Reply::Started { .. } | Reply::Head { .. } => continue,
        }
    }
    res.ended_at = Instant::now();
    res.body = join(&res.chunks);
    Some(res)
}

impl TestResponse {
    /// Ends the response as failed; `started`: its head had been sent.
    fn failed(mut self, failure: Diagnostic, started: bool) -> Self {
        if started {
            self.head_at.get_or_insert_with(Instant::now);
        }
        self.error = Some(FunctionError {
            diagnostic: failure,
            mid_stream: started,
        });
        self.ended_at = Instant::now();
        self
    }
}

fn mid_stream(f: Diagnostic) -> FunctionError {
    FunctionError {
        diagnostic: f,
        mid_stream: true,
    }
}

fn join(chunks: &[Chunk]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.bytes.clone(),
        many => {
            let mut body = BytesMut::with_capacity(many.iter().map(|c| c.bytes.len()).sum());
            for chunk in many {
                body.extend_from_slice(&chunk.bytes);
            }
            body.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HTTP_INTEGRATION_CONTENT_TYPE;

    /// What `record` makes of these replies, sent as the Runtime API would send them.
    async fn recorded(replies: Vec<Reply>, stop: Option<crate::Error>) -> Option<TestResponse> {
        let (job, replies_rx) = emulator::job("r-1".into(), Bytes::new(), None, DEFAULT_TIMEOUT);
        let (stop_tx, stopped) = watch::channel(None);
        let tx = job.replies;
        tokio::spawn(async move {
            for reply in replies {
                let _ = tx.send(reply).await;
            }
            if let Some(e) = stop {
                let _ = stop_tx.send(Some(Arc::new(e)));
            }
            // Hold the invocation open until the reader is done.
            tx.closed().await;
        });
        let watched = Watched {
            replies: replies_rx,
            stopped,
        };
        record(watched, "r-1".into(), Instant::now()).await
    }

    fn started() -> Reply {
        Reply::Started {
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    fn head() -> Reply {
        Reply::Head {
            content_type: Some(HTTP_INTEGRATION_CONTENT_TYPE),
        }
    }

    fn data(bytes: &'static [u8]) -> Reply {
        Reply::Data(Bytes::from_static(bytes))
    }

    #[tokio::test]
    async fn a_prelude_split_anywhere_and_body_bytes_beside_its_delimiter() {
        let res = recorded(
            vec![
                started(),
                head(),
                data(br#"{"statusCode":418,"hea"#),
                data(b"ders\":{\"x\":\"1\"},\"cookies\":[\"c=1\"]}\0\0\0"),
                data(b"\0\0\0\0\0body "),
                data(b"more"),
                Reply::End,
            ],
            None,
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 418);
        assert_eq!(res.header("x"), Some("1"));
        assert_eq!(res.cookies(), ["c=1"]);
        assert_eq!(
            res.prelude(),
            Some(&br#"{"statusCode":418,"headers":{"x":"1"},"cookies":["c=1"]}"#[..])
        );
        let chunks: Vec<_> = res.chunks().iter().map(|c| c.bytes().clone()).collect();
        assert_eq!(chunks, ["body ", "more"]);
        assert_eq!(res.body(), "body more");
        assert!(res.is_complete());
    }

    #[tokio::test]
    async fn an_unusable_prelude_is_an_invalid_response() {
        let res = recorded(
            vec![
                started(),
                head(),
                data(b"nope\0\0\0\0\0\0\0\0x"),
                Reply::End,
            ],
            None,
        )
        .await
        .unwrap();
        let err = res.error().unwrap();
        assert_eq!(err.error_type(), "Runtime.InvalidResponse");
        assert!(err.is_mid_stream());
        assert_eq!(res.status(), 502);
        assert_eq!(res.prelude(), Some(&b"nope"[..]));

        let res = recorded(vec![started(), head(), data(b"{}"), Reply::End], None)
            .await
            .unwrap();
        assert_eq!(res.error().unwrap().error_type(), "Runtime.InvalidResponse");
        assert!(res.prelude().is_none());
    }

    #[tokio::test]
    async fn a_stopped_runtime_is_an_error_or_ends_the_response() {
        // Never taken: no response at all.
        assert!(recorded(vec![], Some(crate::Error::local("gone")))
            .await
            .is_none());
        // Taken, then the runtime stopped.
        let res = recorded(
            vec![started(), head(), data(b"{}\0\0\0\0\0\0\0\0a")],
            Some(crate::Error::local("gone")),
        )
        .await
        .unwrap();
        assert_eq!(res.text(), "a");
        let err = res.error().unwrap();
        assert_eq!(err.error_type(), "Runtime.ExitError");
        assert!(err.is_mid_stream());
    }

    #[tokio::test]
    async fn without_a_prelude_the_content_type_is_the_runtimes() {
        let head = Reply::Head {
            content_type: Some(HeaderValue::from_static("text/csv")),
        };
        let res = recorded(vec![started(), head, data(b"a,b\n"), Reply::End], None)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("content-type"), Some("text/csv"));
        assert_eq!(res.text(), "a,b\n");
        assert!(res.prelude().is_none());
    }
}
