//! The local development server: run the function on your machine and call it as AWS would.
//!
//! When `AWS_LAMBDA_RUNTIME_API` is not set (or with [`Mode::Always`]), [`Runtime::run`]
//! starts two listeners instead of failing, in a debug build (see
//! [Release builds](#release-builds)). The listeners:
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
//! # Release builds
//!
//! `run*` start the server on their own only in debug builds. A release build leaves it
//! out, so that a deployed binary does not carry code Lambda never runs, and outside Lambda
//! it fails with a configuration error that says so, unless lambda-stream's
//! `local-release` feature is on. A server started explicitly
//! ([`Runtime::bind_local`](crate::Runtime::bind_local), then [`Server::run`]) is linked in
//! every build; with `default-features = false` the server is not compiled at all.
//!
//! # Concurrency
//!
//! Callers in flight at once are served at once, as a function URL gives each concurrent
//! request its own execution environment: each invocation has its own request id and
//! deadline. With [`Runtime::run`] one service serves them all (it is asked for readiness and
//! called once per invocation, and the calls' futures and bodies are driven side by side; it
//! need not be `Clone`); with [`run_concurrent`](crate::Runtime::run_concurrent), each
//! invocation slot has a clone. At most [`Options::concurrency`] invocations run at once
//! (`LOCAL_LAMBDA_CONCURRENCY`, default 64); beyond it a caller gets what Lambda answers a
//! throttled invocation: `429` with `X-Amzn-ErrorType: TooManyRequestsException` and
//! `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`.
//! A caller that disconnects mid-stream does not stop its invocation (as on Lambda): the rest
//! of its stream is read and dropped, and its slot is free once it ends.
//!
//! # Response modes
//!
//! With `LAMBDA_STREAM_RESPONSE_MODE=buffered` (or [`Runtime::response_mode`]) the function
//! answers buffered and the function URL door behaves as a `BUFFERED` function URL: the whole
//! response at once with its `content-length`, made from the response object (`statusCode`,
//! `headers`, `cookies`, `body`, base64-decoded when `isBase64Encoded`); a response over 6 MB
//! is a `502`. `Invoke` returns the JSON payload in either mode.
//!
//! # Limits
//!
//! As on Lambda:
//!
//! - a request payload over 6 MB is refused with `413`;
//! - each invocation gets a deadline (`Lambda-Runtime-Deadline-Ms`) from the function timeout
//!   ([`Options::function_timeout`], `LOCAL_LAMBDA_TIMEOUT` in seconds, default 900 s,
//!   Lambda's maximum). When it passes, the response is ended as failed (`Sandbox.Timeout`:
//!   error trailers, or the connection cut, as a function URL cuts a timed-out stream), and
//!   100 ms later the invocation is stopped as Lambda stops a timed-out function: the
//!   handler's future or response body is dropped and its slot is free. (Lambda would also
//!   start the next invocation in a fresh environment; here the service goes on serving.);
//! - a streamed response is cut after 200 MB, Lambda's maximum streamed response size, and
//!   ended as failed (`Function.ResponseSizeTooLarge`);
//! - with `LOCAL_LAMBDA_BANDWIDTH=lambda` ([`Bandwidth::Lambda`]), the function URL and
//!   `/invoke` doors send the first 6 MB of a response at full speed and the rest at 2 MB/s,
//!   the rate Lambda streams at after its uncapped first 6 MB, so that long downloads feel
//!   as they will on AWS.
//!
//! # Inspector
//!
//! `http://127.0.0.1:7000/_lambda/` lists the recent invocations (the last 64) live, through
//! server-sent events from `/_lambda/events` (`/_lambda/invocations` is the same list as
//! JSON): door, method and path, status, the headers and cookies of the prelude, time to
//! first byte, duration, bytes, chunk count, and the error type and message from the error
//! trailers or `/error`. Selecting one draws its chunk timeline (time against bytes sent):
//! a staircase is a streamed response, a single step a buffered one. Only a 512-byte preview
//! of each body is kept. Paths under `/_lambda/` are the inspector's, never the function's.
//!
//! # The door
//!
//! The server runs the function with the developer's credentials and keeps recent
//! invocations in its inspector, so before any door serves a request:
//!
//! - its `Host` must be a loopback name or address (`localhost`, `*.localhost`,
//!   127.0.0.0/8, `[::1]`), the listening address, or one of [`Options::allowed_hosts`]
//!   (`LOCAL_LAMBDA_ALLOWED_HOSTS`); otherwise `403`, so that a page rebinding its DNS name
//!   to 127.0.0.1 reads and calls nothing. The in-process Runtime API checks it too, and
//!   refuses any request a browser sent;
//! - a page on another site may not send it: an `Origin` that is not a loopback origin, the
//!   server's own, an allowed host or one of the CORS settings' origins, or
//!   `Sec-Fetch-Site: cross-site` without one, gets `403` unless
//!   [`Options::allow_cross_site`]. The inspector is same-origin only, and sends no CORS
//!   headers;
//! - with [`Options::cors`] (`LOCAL_LAMBDA_CORS_*`, in the shape of a function URL's `Cors`),
//!   preflight requests are answered without invoking the function, and the settings'
//!   `Access-Control-*` headers replace the function's on every response, as on a function
//!   URL with CORS settings;
//! - with [`AuthType::AwsIam`] (`LOCAL_LAMBDA_AUTH=AWS_IAM`), every request to the function
//!   must be signed (SigV4, service `lambda`, within 5 minutes of the server's clock) with
//!   the credentials of [`Options::iam`] (by default `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, and `AWS_SESSION_TOKEN` as `x-amz-security-token`; profiles
//!   and SSO are not read). The function URL refuses as a function URL does, `403`
//!   `{"Message":"Forbidden"}`; the API doors answer AWS's errors (`x-amzn-ErrorType`
//!   `InvalidSignatureException`, `UnrecognizedClientException`,
//!   `MissingAuthenticationTokenException`). A signed request's event carries
//!   `requestContext.authorizer.iam`.
//!
//! [`Runtime::response_mode`]: crate::Runtime::response_mode
//!
//! # Hosting a process
//!
//! With the `host` feature (Unix), [`Server::host`] puts the same front doors in front of a
//! function that runs as a process of its own: a release `bootstrap` as it is deployed, a
//! binary built with another Lambda runtime, or a runtime in another language; anything that
//! speaks the Runtime API. The `lambda-stream local -- COMMAND` command (package
//! `lambda-stream-cli`) is this method behind a command line. Each execution environment is
//! a process with Lambda's environment (`AWS_LAMBDA_RUNTIME_API` pointing at a Runtime API of
//! its own, `AWS_LAMBDA_FUNCTION_NAME`, `_VERSION`, `_MEMORY_SIZE`, `AWS_REGION`,
//! `AWS_LAMBDA_LOG_GROUP_NAME`, `_LOG_STREAM_NAME`, `LAMBDA_TASK_ROOT`, `_HANDLER`,
//! `AWS_LAMBDA_INITIALIZATION_TYPE`, `TZ`), its stdout and stderr the host's, and the life
//! Lambda gives one:
//!
//! - it starts when an invocation needs it and is initialised once it asks for the next
//!   invocation; an init error it reports (`/init/error`) is the answer of the invocations
//!   waiting for it, and is logged with an `INIT_REPORT` line; one that does not initialise
//!   within the function timeout is killed (`Sandbox.Timeout`);
//! - around each invocation the host writes the `START`, `END` and `REPORT` lines Lambda writes
//!   (`Max Memory Used` is the process's peak resident size, on Linux);
//! - concurrent invocations each get an environment, up to [`Options::concurrency`], and a
//!   warm one is reused; with [`Function::max_concurrency`] there is one process, told
//!   `AWS_LAMBDA_MAX_CONCURRENCY`, that is given up to that many at once, as on Lambda Managed
//!   Instances;
//! - when the process exits or crashes, the invocations it held fail with
//!   `Runtime.ExitError` (`Runtime exited with error: exit status 1`, or `signal: killed`):
//!   a stream already started ends with error trailers or a cut connection, never as a clean
//!   end. The next invocation starts a fresh process, which initialises again; invocations
//!   queued to the dead one and never handed to it go to another;
//! - in one-at-a-time mode, an invocation past its deadline ends its environment, as Lambda
//!   ends a timed-out one (the next starts fresh);
//! - on stop (Ctrl-C, `SIGTERM`), the doors close, then each process gets `SIGTERM` and
//!   500 ms to exit if an extension registered (the Extensions API is served, so a runtime's
//!   graceful-shutdown extension registers as it does on Lambda), otherwise `SIGKILL`, as
//!   Lambda does. Each process runs in its own process group, so a Ctrl-C in the terminal
//!   reaches the host, not the function.
//!
//! Only the runtime's process may call its Runtime API: each listens on an ephemeral loopback
//! port and refuses requests from browsers, as the in-process one does. The Extensions API
//! registers extensions and never sends them events: `INVOKE` and `SHUTDOWN` events, the
//! Telemetry API and the Logs API are not served.
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

pub(crate) mod door;
mod eventstream;
#[cfg(all(feature = "host", unix))]
mod host;
mod inspector;
mod server;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use door::fuzz as fuzz_door;
pub use door::{AuthType, Cors, Iam};
#[cfg(all(feature = "host", unix))]
pub use host::Function;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::emulator::{self, DEFAULT_TIMEOUT};
use crate::service::init_into_service;
use crate::{BoxError, Config, Error, IntoLambdaService, LambdaService, ResponseMode, Runtime};

const DEFAULT_PORT: u16 = 7000;
/// How long a caller may take to send its request head.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How many invocations run at once by default.
const DEFAULT_CONCURRENCY: usize = 64;

/// How fast the function URL and `/invoke` doors send a response; see [`Options::bandwidth`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bandwidth {
    /// As fast as the caller reads. The default.
    #[default]
    Unlimited,
    /// As Lambda streams: the first 6 MB at full speed, then at most 2 MB/s
    /// (`LOCAL_LAMBDA_BANDWIDTH=lambda`).
    Lambda,
}

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
    /// `Auto` and `Always` start the server in debug builds (see
    /// [Release builds](self#release-builds)).
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
    /// How many invocations run at once: `LOCAL_LAMBDA_CONCURRENCY` (default 64). Each has its
    /// own request id and deadline, as each concurrent request to a function URL gets its own
    /// execution environment; beyond it, callers are throttled with Lambda's `429`.
    pub concurrency: NonZeroUsize,
    /// How fast responses are sent: `LOCAL_LAMBDA_BANDWIDTH` (`lambda` or `unlimited`).
    pub bandwidth: Bandwidth,
    /// Host names served besides loopback ones and the listening address:
    /// `LOCAL_LAMBDA_ALLOWED_HOSTS`, comma-separated (`phone.lan`, `.example.com` for a
    /// domain and its subdomains, `*` for any). Other hosts get `403`; see the module docs.
    pub allowed_hosts: Vec<String>,
    /// Whether pages on other sites may send requests to the function:
    /// `LOCAL_LAMBDA_ALLOW_CROSS_SITE` (`true`/`false`, default `false`).
    pub allow_cross_site: bool,
    /// The function URL's CORS settings (`LOCAL_LAMBDA_CORS_*`); none by default.
    pub cors: Option<Cors>,
    /// The function URL's `AuthType`: `LOCAL_LAMBDA_AUTH` (`NONE` or `AWS_IAM`).
    pub auth: AuthType,
    /// The credentials and identity used under [`AuthType::AwsIam`] ([`Iam::from_env`]).
    pub iam: Iam,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            function_timeout: DEFAULT_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            concurrency: NonZeroUsize::new(DEFAULT_CONCURRENCY).unwrap_or(NonZeroUsize::MIN),
            bandwidth: Bandwidth::Unlimited,
            allowed_hosts: Vec::new(),
            allow_cross_site: false,
            cors: None,
            auth: AuthType::None,
            iam: Iam::default(),
        }
    }
}

impl Options {
    /// Reads the options from `LOCAL_LAMBDA_HOST`, `LOCAL_LAMBDA_PORT`, `LOCAL_LAMBDA_TIMEOUT`,
    /// `LOCAL_LAMBDA_CONCURRENCY`, `LOCAL_LAMBDA_BANDWIDTH`, `LOCAL_LAMBDA_ALLOWED_HOSTS`,
    /// `LOCAL_LAMBDA_ALLOW_CROSS_SITE`, the `LOCAL_LAMBDA_CORS_*` variables, `LOCAL_LAMBDA_AUTH`
    /// and [`Iam::from_env`]'s; a missing or unparsable variable keeps its default (with a
    /// warning when unparsable).
    pub fn from_env() -> Self {
        let (options, complaints) = Self::from_lookup(|name| std::env::var(name).ok());
        for complaint in complaints {
            tracing::warn!("ignoring {complaint}");
        }
        options
    }

    /// Reads the options as [`Options::from_env`] does, from `lookup` (a variable's name to
    /// its value) instead of the environment, strictly: a value that cannot be parsed is an
    /// error that names it, rather than a warning.
    ///
    /// ```
    /// let options = lambda_stream::local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_PORT").then(|| "9000".to_owned())
    /// })?;
    /// assert_eq!(options.addr.port(), 9000);
    /// assert!(lambda_stream::local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_TIMEOUT").then(|| "soon".to_owned())
    /// })
    /// .is_err());
    /// # Ok::<(), lambda_stream::Error>(())
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let (options, complaints) = Self::from_lookup(lookup);
        if complaints.is_empty() {
            Ok(options)
        } else {
            Err(Error::config(complaints.join("; ")))
        }
    }

    /// The options `lookup` gives, and what of it could not be parsed (kept as the default).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let complaints = RefCell::new(Vec::new());
        let warn = |complaint: String| complaints.borrow_mut().push(complaint);
        let mut options = Options::default();
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(host) = var("LOCAL_LAMBDA_HOST") {
            match host.trim().trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => options.addr.set_ip(ip),
                Err(_) => warn(format!("LOCAL_LAMBDA_HOST={:?}: not an ip address", host)),
            }
        }
        if let Some(port) = var("LOCAL_LAMBDA_PORT") {
            match port.trim().parse::<u16>() {
                Ok(p) => options.addr.set_port(p),
                Err(_) => warn(format!("LOCAL_LAMBDA_PORT={:?}: not a port number", port)),
            }
        }
        if let Some(secs) = var("LOCAL_LAMBDA_TIMEOUT") {
            match secs.trim().parse::<u64>() {
                Ok(s) if s > 0 => options.function_timeout = Duration::from_secs(s),
                _ => warn(format!(
                    "LOCAL_LAMBDA_TIMEOUT={:?}: not a positive number of seconds",
                    secs
                )),
            }
        }
        if let Some(n) = var("LOCAL_LAMBDA_CONCURRENCY") {
            match n.trim().parse::<NonZeroUsize>() {
                Ok(n) => options.concurrency = n,
                Err(_) => warn(format!(
                    "LOCAL_LAMBDA_CONCURRENCY={:?}: not a positive number",
                    n
                )),
            }
        }
        if let Some(b) = var("LOCAL_LAMBDA_BANDWIDTH") {
            match b.trim().to_ascii_lowercase().as_str() {
                "lambda" => options.bandwidth = Bandwidth::Lambda,
                "unlimited" => options.bandwidth = Bandwidth::Unlimited,
                _ => warn(format!(
                    "LOCAL_LAMBDA_BANDWIDTH={:?}: not `lambda` or `unlimited`",
                    b
                )),
            }
        }
        door_settings(&mut options, &var, &warn);
        options.iam = Iam::from_lookup(&lookup);
        (options, complaints.into_inner())
    }
}

/// The door's settings: allowed hosts, cross-site requests, CORS, auth.
fn door_settings(
    options: &mut Options,
    var: &dyn Fn(&str) -> Option<String>,
    warn: &dyn Fn(String),
) {
    let list = |name: &str| -> Option<Vec<String>> {
        var(name).map(|v| {
            v.split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect()
        })
    };
    let flag = |name: &str| -> Option<bool> {
        let v = var(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => {
                warn(format!("{name}={v:?}: not `true` or `false`"));
                None
            }
        }
    };
    if let Some(hosts) = list("LOCAL_LAMBDA_ALLOWED_HOSTS") {
        options.allowed_hosts = hosts;
    }
    if let Some(allow) = flag("LOCAL_LAMBDA_ALLOW_CROSS_SITE") {
        options.allow_cross_site = allow;
    }
    let mut cors = Cors::default();
    let mut any = false;
    for (name, field) in [
        ("LOCAL_LAMBDA_CORS_ALLOW_ORIGINS", &mut cors.allow_origins),
        ("LOCAL_LAMBDA_CORS_ALLOW_METHODS", &mut cors.allow_methods),
        ("LOCAL_LAMBDA_CORS_ALLOW_HEADERS", &mut cors.allow_headers),
        ("LOCAL_LAMBDA_CORS_EXPOSE_HEADERS", &mut cors.expose_headers),
    ] {
        if let Some(entries) = list(name) {
            *field = entries;
            any = true;
        }
    }
    if let Some(age) = var("LOCAL_LAMBDA_CORS_MAX_AGE") {
        match age.trim().parse::<u64>() {
            Ok(s) if s <= 86_400 => {
                cors.max_age = Some(Duration::from_secs(s));
                any = true;
            }
            _ => warn(format!(
                "LOCAL_LAMBDA_CORS_MAX_AGE={:?}: not a number of seconds up to 86400",
                age
            )),
        }
    }
    if let Some(credentials) = flag("LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS") {
        cors.allow_credentials = credentials;
        any = true;
    }
    if any {
        options.cors = Some(cors);
    }
    if let Some(auth) = var("LOCAL_LAMBDA_AUTH") {
        match auth.trim().to_ascii_uppercase().as_str() {
            "AWS_IAM" => options.auth = AuthType::AwsIam,
            "NONE" => options.auth = AuthType::None,
            _ => warn(format!(
                "LOCAL_LAMBDA_AUTH={:?}: not `NONE` or `AWS_IAM`",
                auth
            )),
        }
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
            let next = if e.kind() == std::io::ErrorKind::AddrInUse {
                "another process listens there (another function's local server?): stop it, \
                 or pick another port"
            } else {
                "pick another address or port"
            };
            Error::local(format!(
                "cannot listen on {wanted}: {e}; {next}: LOCAL_LAMBDA_PORT={} (0: any free \
                 port), LOCAL_LAMBDA_HOST for the address",
                wanted.port().wrapping_add(1).max(1),
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

    /// Starts the in-process Runtime API and the front doors. Returns the function's
    /// configuration, pointed at that Runtime API, and the server's tasks, which stop when
    /// dropped.
    pub(crate) fn start(self) -> Result<(Config, JoinSet<()>), Error> {
        let mut config = self.config.clone();
        if config.function_name.is_empty() {
            config.function_name = "local".to_owned();
        }
        let (queue, jobs) = mpsc::unbounded_channel();
        let (mut config, api) = emulator::bind(&config, self.options.function_timeout, jobs, None)
            .map_err(|e| Error::local(format!("cannot listen for the runtime api: {e}")))?;
        // One worker per invocation allowed at once, so no caller waits for another.
        config.max_concurrency = Some(self.options.concurrency);
        let mut tasks = self.open(queue, config.response_mode);
        tasks.spawn(api);
        Ok((config, tasks))
    }

    /// Opens the front doors, which queue invocations to `queue`: their task, which stops
    /// when the set is dropped.
    fn open(self, queue: mpsc::UnboundedSender<emulator::Job>, mode: ResponseMode) -> JoinSet<()> {
        let guard = door::Guard::new(&self.options);
        guard.warn_at_startup(&self.options);
        let doors = server::Doors::new(queue, self.options, mode, guard);
        let mut tasks = JoinSet::new();
        tasks.spawn(server::serve(self.listener, doors));
        tracing::info!(
            "local lambda server on http://{addr}: try `curl -N http://{addr}/` \
             (function url), `curl -N -d '{{}}' http://{addr}/invoke` (raw event), or an aws sdk \
             with endpoint_url http://{addr}; inspector on http://{addr}/_lambda/",
            addr = self.addr,
        );
        tasks
    }

    /// Serves requests with `service` until the process ends; see
    /// [`Runtime::run`](crate::Runtime::run).
    pub async fn run<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M>,
    {
        let (runtime, _tasks) = Runtime::on_local(self)?;
        runtime.serve_local(service.into_lambda_service()).await
    }

    /// Serves requests with one worker per allowed concurrent invocation, each with its own
    /// clone of `service`, until the process ends; see
    /// [`Runtime::run_concurrent`](crate::Runtime::run_concurrent).
    pub async fn run_concurrent<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M, Service: Clone + Send + 'static> + Clone + Send + 'static,
        <S::Service as LambdaService>::Future: Send,
    {
        let (runtime, _tasks) = Runtime::on_local(self)?;
        runtime
            .serve_concurrent(service.into_lambda_service())
            .await
    }

    /// Runs `init`, then serves with the service it returns; see
    /// [`Runtime::run_with_init`](crate::Runtime::run_with_init).
    pub async fn run_with_init<F, E, S, M>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: IntoLambdaService<M>,
    {
        let (runtime, _tasks) = Runtime::on_local(self)?;
        let service = runtime.init(init_into_service(init)).await?;
        runtime.serve_local(service).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The options of `vars`, leniently.
    fn lookup(vars: impl Fn(&str) -> Option<String>) -> Options {
        Options::from_lookup(vars).0
    }

    #[test]
    fn from_vars_names_what_it_cannot_parse() {
        let e = Options::from_vars(|n| match n {
            "LOCAL_LAMBDA_PORT" => Some("seventy".to_owned()),
            "LOCAL_LAMBDA_AUTH" => Some("COGNITO".to_owned()),
            _ => None,
        })
        .unwrap_err();
        // Opaque, with what went wrong as its source.
        assert_eq!(e.to_string(), "invalid runtime configuration");
        let e = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(e.contains("LOCAL_LAMBDA_PORT=\"seventy\""), "{e}");
        assert!(e.contains("LOCAL_LAMBDA_AUTH=\"COGNITO\""), "{e}");
    }

    #[tokio::test]
    async fn a_port_in_use_says_how_to_pick_another() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let options = Options {
            addr,
            ..Options::default()
        };
        let e = Server::bind(Config::default(), options).await.unwrap_err();
        assert!(e.is_local());
        let why = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            why.starts_with(&format!("cannot listen on {addr}: "))
                && why.contains("another process listens there")
                && why.contains(&format!(
                    "LOCAL_LAMBDA_PORT={} (0: any free port)",
                    addr.port() + 1
                )),
            "{why}"
        );
    }

    #[test]
    fn options_from_env() {
        let vars: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_HOST", "0.0.0.0"),
            ("LOCAL_LAMBDA_PORT", "9000"),
            ("LOCAL_LAMBDA_TIMEOUT", "30"),
            ("LOCAL_LAMBDA_CONCURRENCY", "3"),
            ("LOCAL_LAMBDA_BANDWIDTH", "Lambda"),
        ]
        .into();
        let o = lookup(|n| vars.get(n).map(|v| v.to_string()));
        assert_eq!(o.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(o.function_timeout, Duration::from_secs(30));
        assert_eq!(o.concurrency.get(), 3);
        assert_eq!(o.bandwidth, Bandwidth::Lambda);

        let o = lookup(|n| {
            (n.starts_with("LOCAL_LAMBDA_")
                && !n.contains("HOST")
                && !n.contains("CORS_ALLOW_")
                && !n.contains("CORS_EXPOSE")
                && !n.contains("_IAM_"))
            .then(|| "bad".to_owned())
        });
        assert_eq!(o, Options::default());
        assert_eq!(o.addr, "127.0.0.1:7000".parse().unwrap());
    }

    #[test]
    fn door_settings_from_env() {
        let vars: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_ALLOWED_HOSTS", " phone.lan, .example.com ,"),
            ("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "true"),
            (
                "LOCAL_LAMBDA_CORS_ALLOW_ORIGINS",
                "https://a.example,http://localhost:5173",
            ),
            ("LOCAL_LAMBDA_CORS_ALLOW_METHODS", "GET, POST"),
            ("LOCAL_LAMBDA_CORS_MAX_AGE", "300"),
            ("LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS", "TRUE"),
            ("LOCAL_LAMBDA_AUTH", "aws_iam"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("LOCAL_LAMBDA_IAM_USER_ARN", "arn:aws:iam::1:user/me"),
        ]
        .into();
        let o = lookup(|n| vars.get(n).map(|v| v.to_string()));
        assert_eq!(o.allowed_hosts, ["phone.lan", ".example.com"]);
        assert!(o.allow_cross_site);
        let cors = o.cors.unwrap();
        assert_eq!(
            cors.allow_origins,
            ["https://a.example", "http://localhost:5173"]
        );
        assert_eq!(cors.allow_methods, ["GET", "POST"]);
        assert!(cors.allow_headers.is_empty());
        assert_eq!(cors.max_age, Some(Duration::from_secs(300)));
        assert!(cors.allow_credentials);
        assert_eq!(o.auth, AuthType::AwsIam);
        assert_eq!(o.iam.access_key_id, "AKIDEXAMPLE");
        assert_eq!(o.iam.session_token.as_deref(), Some("token"));
        assert_eq!(o.iam.user_arn, "arn:aws:iam::1:user/me");
        assert_eq!(o.iam.account_id, "123456789012");

        let bad: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "maybe"),
            ("LOCAL_LAMBDA_CORS_MAX_AGE", "90000"),
            ("LOCAL_LAMBDA_AUTH", "COGNITO"),
        ]
        .into();
        let o = lookup(|n| bad.get(n).map(|v| v.to_string()));
        assert_eq!(o, Options::default());
    }
}
