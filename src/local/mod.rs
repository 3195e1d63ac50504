//! The local development server: run the function on your machine and call it as AWS would.
//!
//! When `AWS_LAMBDA_RUNTIME_API` is not set (or with [`Mode::Always`]), [`Runtime::run`]
//! starts two listeners instead of failing:
//!
//! - an internal one, on an ephemeral loopback port, that serves the **Lambda Runtime API**
//!   (`/2018-06-01/runtime/...`). The runtime's usual worker and Runtime API client run
//!   against it, so what runs locally is the code path that runs on Lambda: event decoding,
//!   the prelude, chunked streaming, error trailers.
//! - a public one (default `127.0.0.1:7000`; `LOCAL_LAMBDA_HOST` and `LOCAL_LAMBDA_PORT` change
//!   it) with the front doors callers use:
//!
//! | request | what it emulates |
//! |---|---|
//! | `POST /2021-11-15/functions/{name}/response-streaming-invocations` | `InvokeWithResponseStream`: an `application/vnd.amazon.eventstream` of `PayloadChunk` events as the chunks arrive, then `InvokeComplete` (with `ErrorCode`/`ErrorDetails` after an error) |
//! | `POST /2015-03-31/functions/{name}/invocations` | `Invoke`: the collected payload; `X-Amz-Function-Error: Unhandled` and the error JSON when it failed |
//! | `POST /invoke` | the request body is the event, as is; the response streams back, with the prelude (if any) applied as status and headers |
//! | anything else | a **function URL**: the request becomes a payload 2.0 event; the prelude's status, headers and cookies become the response's; chunks reach the client as they arrive |
//!
//! A failure after the response started stays visible on the function URL and `/invoke`
//! doors: the response ends with the `Lambda-Runtime-Function-Error-Type` and
//! `Lambda-Runtime-Function-Error-Body` trailers when the client sent `TE: trailers`,
//! otherwise the connection is aborted, so the response is visibly incomplete. A failure
//! before the response started is a `502`. Both are logged.
//!
//! Invocations are queued and run one at a time, as in one Lambda execution environment;
//! callers wait their turn, and one that leaves while queued is skipped. A caller that
//! disconnects mid-stream does not stop its invocation (as on Lambda): the rest of its
//! stream is read and dropped, and the next invocation is served.
//!
//! Limits, as on Lambda: a request payload over 6 MB is refused with `413`, and each
//! invocation gets a deadline (`Lambda-Runtime-Deadline-Ms`) from the function timeout
//! ([`Options::function_timeout`], `LOCAL_LAMBDA_TIMEOUT` in seconds, default 900 s, Lambda's
//! maximum). When the deadline passes, the caller's response is ended as failed
//! (`Sandbox.Timeout`); the handler itself is not stopped (Lambda would stop it).
//!
//! # Example
//!
//! ```no_run
//! # use std::convert::Infallible;
//! # use http::{Request, Response};
//! use lambda_stream::Body;
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     let service = tower::service_fn(|_req: Request<Body>| async {
//!         Ok::<_, Infallible>(Response::new("hello\n".to_owned()))
//!     });
//!     // Outside Lambda this serves http://127.0.0.1:7000: `curl -N http://127.0.0.1:7000/`.
//!     lambda_stream::run(service).await
//! }
//! ```
//!
//! [`Runtime::run`]: crate::Runtime::run

pub(crate) mod event;
mod eventstream;
pub(crate) mod prelude;
pub(crate) mod runtime_api;
mod server;

/// What the fuzz targets reach of the local server (see `crate::__fuzz`).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz {
    use std::net::SocketAddr;
    use std::time::SystemTime;

    use bytes::Bytes;
    use http::{request::Parts, HeaderMap, StatusCode};

    /// The prelude parser of the function URL door.
    pub(crate) fn parse_prelude(json: &[u8]) -> Result<(StatusCode, HeaderMap), String> {
        super::prelude::parse(json).map_err(|f| f.to_string())
    }

    /// The event the function URL door builds of a request.
    pub(crate) fn function_url_event(
        parts: &Parts,
        body: &[u8],
        peer: SocketAddr,
        now: SystemTime,
    ) -> Bytes {
        super::event::function_url(parts, body, peer, "fuzz-request", now)
    }
}

use crate::Body;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower_service::Service;

use crate::client::Client;
use crate::{BoxError, Config, Error};

/// The largest request payload Lambda accepts for a synchronous invocation: 6 MB.
pub(crate) const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// The default function timeout: Lambda's maximum.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);
const DEFAULT_PORT: u16 = 7000;
/// How long a caller may take to send its request head.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// When [`Runtime::run`](crate::Runtime::run) starts the local server; set with
/// [`Runtime::local`](crate::Runtime::local).
///
/// ```no_run
/// # async fn doc(service: tower::util::ServiceFn<fn(http::Request<lambda_stream::Body>) -> std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>>) -> Result<(), lambda_stream::Error> {
/// use lambda_stream::{local, Runtime};
///
/// // Fail fast instead of serving locally when AWS_LAMBDA_RUNTIME_API is missing.
/// Runtime::from_env().local(local::Mode::Never).run(service).await
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// When `AWS_LAMBDA_RUNTIME_API` is not set ([`Config::runtime_api`] is `None`): outside
    /// Lambda. The default.
    ///
    /// [`Config::runtime_api`]: crate::Config::runtime_api
    #[default]
    Auto,
    /// Always, even when a Runtime API is configured.
    Always,
    /// Never: without a Runtime API, `run` fails with a configuration error.
    Never,
}

/// Settings of the local server; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Where the front doors listen: `LOCAL_LAMBDA_HOST` (default `127.0.0.1`) and
    /// `LOCAL_LAMBDA_PORT` (default `7000`; `0` picks a free port).
    pub addr: SocketAddr,
    /// The function timeout that sets each invocation's deadline: `LOCAL_LAMBDA_TIMEOUT`, in
    /// seconds (default 900, Lambda's maximum).
    pub function_timeout: Duration,
    /// How long a caller may take to send its request head before the connection is closed
    /// (default 30 s), so that slow or stalled clients cannot hold connections forever.
    pub header_read_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            function_timeout: DEFAULT_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl Options {
    /// Reads the options from `LOCAL_LAMBDA_HOST`, `LOCAL_LAMBDA_PORT` and
    /// `LOCAL_LAMBDA_TIMEOUT`; a missing or unparsable variable keeps its default (with a
    /// warning when unparsable).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut options = Options::default();
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(host) = var("LOCAL_LAMBDA_HOST") {
            match host.trim().trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => options.addr.set_ip(ip),
                Err(_) => {
                    tracing::warn!(value = %host, "ignoring LOCAL_LAMBDA_HOST: not an ip address")
                }
            }
        }
        if let Some(port) = var("LOCAL_LAMBDA_PORT") {
            match port.trim().parse::<u16>() {
                Ok(p) => options.addr.set_port(p),
                Err(_) => {
                    tracing::warn!(value = %port, "ignoring LOCAL_LAMBDA_PORT: not a port number")
                }
            }
        }
        if let Some(secs) = var("LOCAL_LAMBDA_TIMEOUT") {
            match secs.trim().parse::<u64>() {
                Ok(s) if s > 0 => options.function_timeout = Duration::from_secs(s),
                _ => tracing::warn!(
                    value = %secs,
                    "ignoring LOCAL_LAMBDA_TIMEOUT: not a positive number of seconds"
                ),
            }
        }
        options
    }
}

/// A bound local server, ready to run a service; from
/// [`Runtime::bind_local`](crate::Runtime::bind_local).
///
/// Binding first tells you the address (useful with port `0`, in tests):
///
/// ```no_run
/// # use std::convert::Infallible;
/// # use http::{Request, Response};
/// use lambda_stream::Body;
/// # async fn doc() -> Result<(), lambda_stream::Error> {
/// let mut options = lambda_stream::local::Options::default();
/// options.addr = "127.0.0.1:0".parse().unwrap();
/// let server = lambda_stream::Runtime::from_env()
///     .local_options(options)
///     .bind_local()
///     .await?;
/// println!("curl -N http://{}/", server.local_addr());
/// server
///     .run(tower::service_fn(|_req: Request<Body>| async {
///         Ok::<_, Infallible>(Response::new("hello\n".to_owned()))
///     }))
///     .await
/// # }
/// ```
pub struct Server {
    config: Config,
    options: Options,
    listener: TcpListener,
    addr: SocketAddr,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    pub(crate) async fn bind(config: Config, options: Options) -> Result<Self, Error> {
        let wanted = options.addr;
        let listener = TcpListener::bind(wanted).await.map_err(|e| {
            Error::local(format!(
                "cannot listen on {wanted} (LOCAL_LAMBDA_PORT picks another port): {e}"
            ))
        })?;
        let addr = listener.local_addr().map_err(Error::local)?;
        Ok(Server {
            config,
            options,
            listener,
            addr,
        })
    }

    /// The address the front doors listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves requests with `service` until the process ends; see
    /// [`Runtime::run`](crate::Runtime::run).
    pub async fn run<S, B>(self, service: S) -> Result<(), Error>
    where
        S: Service<Request<Body>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut client, _tasks) = self.start().await?;
        // The local runtime api takes streamed responses only.
        crate::runtime::worker(service, &mut client, crate::ResponseMode::Streamed).await
    }

    /// Runs `init`, then serves with the service it returns; see
    /// [`Runtime::run_with_init`](crate::Runtime::run_with_init).
    pub async fn run_with_init<F, E, S, B>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: Service<Request<Body>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut client, _tasks) = self.start().await?;
        crate::runtime::init_then_serve(init, &mut client, crate::ResponseMode::Streamed).await
    }

    /// Starts the internal Runtime API and the front doors; returns a client of the former.
    /// The tasks stop when the returned guard is dropped.
    async fn start<B>(self) -> Result<(Client<B>, Tasks), Error>
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let options = Arc::new(self.options);
        let internal = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::local(format!("cannot listen for the runtime api: {e}")))?;
        let api_addr = internal.local_addr().map_err(Error::local)?;

        let mut config = self.config;
        if config.function_name.is_empty() {
            config.function_name = "local".to_owned();
        }
        config.runtime_api = Some(api_addr.to_string());
        let client =
            Client::new(&api_addr.to_string(), Arc::new(config.clone())).map_err(Error::local)?;

        let (queue, jobs) = mpsc::unbounded_channel();
        let api = runtime_api::RuntimeApi::new(jobs, options.clone(), &config);
        let doors = server::Doors::new(queue, options);
        let tasks = Tasks(vec![
            tokio::spawn(runtime_api::serve(internal, api)),
            tokio::spawn(server::serve(self.listener, doors)),
        ]);
        tracing::info!(
            "local lambda server on http://{addr}: try `curl -N http://{addr}/` \
             (function url), `curl -N -d '{{}}' http://{addr}/invoke` (raw event), or an aws sdk \
             with endpoint_url http://{addr}",
            addr = self.addr,
        );
        Ok((client, tasks))
    }
}

/// Background tasks that end with the server.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One invocation waiting for, or held by, the runtime.
pub(crate) struct Job {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    /// `Lambda-Runtime-Client-Context`: the caller's client context, JSON.
    pub(crate) client_context: Option<String>,
    pub(crate) replies: mpsc::Sender<Reply>,
}

/// What the Runtime API tells the front door about its invocation, in order:
/// `Started`, then `Error`, or `Head`, `Data`..., and `End` or `Failed`.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The runtime took the invocation; it must be done by `deadline`.
    Started { deadline: tokio::time::Instant },
    /// The runtime started its response, with this content type.
    Head {
        content_type: Option<http::HeaderValue>,
    },
    /// A chunk of the response, as the runtime sent it.
    Data(Bytes),
    /// The response is complete.
    End,
    /// The response failed after it started (error trailers, a broken stream, the deadline).
    Failed(Failure),
    /// The invocation failed before its response started (`/error`).
    Error(Failure),
}

/// A failed invocation: what Lambda's callers are told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) error_type: String,
    pub(crate) error_message: String,
}

impl Failure {
    pub(crate) fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Failure {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    /// `{"errorMessage":"...","errorType":"..."}`, as Lambda returns it.
    pub(crate) fn to_json(&self) -> Bytes {
        serde_json::to_vec(&serde_json::json!({
            "errorMessage": self.error_message,
            "errorType": self.error_type,
        }))
        .unwrap_or_default()
        .into()
    }

    fn truncated() -> Self {
        Failure::new(
            "Runtime.TruncatedResponse",
            "the runtime's response stream broke off before its end",
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for Failure {}

/// The front door's end of an invocation: its replies, with the deadline enforced.
pub(crate) struct Replies {
    rx: mpsc::Receiver<Reply>,
    timeout: Duration,
    deadline: Option<tokio::time::Instant>,
}

impl Replies {
    /// Whether the runtime took the invocation (`Started` was seen).
    #[cfg(feature = "testing")]
    pub(crate) fn is_started(&self) -> bool {
        self.deadline.is_some()
    }

    /// The next reply. After `End`, `Failed` or `Error`, do not ask again.
    pub(crate) async fn next(&mut self) -> Reply {
        loop {
            let reply = match self.deadline {
                Some(deadline) => tokio::select! {
                    reply = self.rx.recv() => reply,
                    () = tokio::time::sleep_until(deadline) => {
                        return Reply::Failed(Failure::new(
                            "Sandbox.Timeout",
                            format!(
                                "task timed out after {:.2} seconds",
                                self.timeout.as_secs_f64()
                            ),
                        ));
                    }
                },
                None => self.rx.recv().await,
            };
            match reply {
                Some(Reply::Started { deadline }) => self.deadline = Some(deadline),
                Some(reply) => return reply,
                // The runtime api dropped the invocation without an end.
                None => return Reply::Failed(Failure::truncated()),
            }
        }
    }
}

/// A new invocation of `payload`: the job for the queue and the front door's end.
pub(crate) fn job(
    request_id: String,
    payload: Bytes,
    client_context: Option<String>,
    options: &Options,
) -> (Job, Replies) {
    // Small: the runtime's stream waits for a slow caller, as over TCP on Lambda.
    let (tx, rx) = mpsc::channel(4);
    let job = Job {
        request_id,
        payload,
        client_context,
        replies: tx,
    };
    let replies = Replies {
        rx,
        timeout: options.function_timeout,
        deadline: None,
    };
    (job, replies)
}

/// A random UUID (version 4 layout), from std's randomly keyed hasher.
pub(crate) fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.finish()
    };
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn options_from_env() {
        let vars: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_HOST", "0.0.0.0"),
            ("LOCAL_LAMBDA_PORT", "9000"),
            ("LOCAL_LAMBDA_TIMEOUT", "30"),
        ]
        .into();
        let o = Options::from_lookup(|n| vars.get(n).map(|v| v.to_string()));
        assert_eq!(o.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(o.function_timeout, Duration::from_secs(30));

        let o = Options::from_lookup(|n| (n != "LOCAL_LAMBDA_HOST").then(|| "bad".to_owned()));
        assert_eq!(o, Options::default());
        assert_eq!(o.addr, "127.0.0.1:7000".parse().unwrap());
    }

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }
}
