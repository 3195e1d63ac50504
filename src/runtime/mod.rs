//! The runtime: its builder, the `run*` entry points, and the one place that decides whether
//! the workers talk to Lambda's Runtime API or to the local server's.
//!
//! - [`invocation`]: one invocation, start (decode, ready, call) and finish (respond, settle,
//!   the deadline stop), the same for every loop;
//! - [`worker`]: one worker's loop, `/next` then the invocation, one at a time;
//! - [`supervisor`]: N workers on Lambda Managed Instances;
//! - [`many`]: many invocations at once with one service, the local server's and the test
//!   kit's loop ([`serve_many`]);
//! - [`trace_env`]: the process-wide `_X_AMZN_TRACE_ID`.

mod invocation;
#[cfg(feature = "local")]
mod many;
mod supervisor;
mod trace_env;
mod worker;

#[cfg(feature = "local")]
pub(crate) use many::serve_many;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use self::invocation::Settings;
use crate::client::Client;
#[cfg(feature = "local")]
use crate::local;
use crate::service::init_into_service;
use crate::service::ResponseBody;
use crate::{BoxError, Config, Error, IntoLambdaService, LambdaService, ResponseMode};

/// The runtime, configured: [`run`](crate::run) with a chosen [`Config`].
///
/// While one invocation runs at a time ([`run`](Runtime::run),
/// [`run_with_init`](Runtime::run_with_init), or [`run_concurrent`](Runtime::run_concurrent)
/// with one worker), the runtime sets the process-wide `_X_AMZN_TRACE_ID` variable, which the
/// AWS SDK reads, to each invocation's X-Ray trace id; never with more workers. See
/// [`trace_id_env`](Runtime::trace_id_env).
///
/// ```no_run
/// use lambda_stream::{Config, Runtime};
/// # async fn doc(service: tower::util::ServiceFn<fn(http::Request<lambda_stream::Body>) -> std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>>) -> Result<(), lambda_stream::Error> {
/// let mut config = Config::from_env();
/// config.runtime_api = Some("127.0.0.1:9001".into());
/// Runtime::new(config).run(service).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    config: Config,
    #[cfg(feature = "local")]
    local: local::Mode,
    /// `None`: read from the environment when the local server starts.
    #[cfg(feature = "local")]
    local_options: Option<local::Options>,
    /// Set `_X_AMZN_TRACE_ID` while one invocation runs at a time.
    trace_env: bool,
    /// Serving the local server's Runtime API: timed-out invocations are stopped.
    #[cfg(feature = "local")]
    emulated: bool,
}

impl Runtime {
    /// A runtime with this configuration.
    pub fn new(config: Config) -> Self {
        Runtime {
            config,
            #[cfg(feature = "local")]
            local: local::Mode::default(),
            #[cfg(feature = "local")]
            local_options: None,
            trace_env: true,
            #[cfg(feature = "local")]
            emulated: false,
        }
    }

    /// Whether the runtime sets the process-wide `_X_AMZN_TRACE_ID` variable from each
    /// invocation's X-Ray trace id (on by default).
    ///
    /// The AWS SDK for Rust copies that variable into the `X-Amzn-Trace-Id` header of every
    /// AWS call, which X-Ray and Lambda's recursive-loop detection depend on. The runtime sets
    /// it before calling the service, and removes it when an event carries no trace id, only
    /// while one invocation runs at a time: with [`run`](Runtime::run),
    /// [`run_with_init`](Runtime::run_with_init), or
    /// [`run_concurrent`](Runtime::run_concurrent) with one worker. With more workers one
    /// variable cannot hold the trace ids of concurrent invocations, and it is never set:
    /// read the trace id from [`Context::xray_trace_id`](crate::Context::xray_trace_id) or
    /// the request's `x-amzn-trace-id` header, and hand it to the SDK yourself.
    pub fn trace_id_env(mut self, set: bool) -> Self {
        self.trace_env = set;
        self
    }

    /// How a worker serves when `workers` of them run.
    fn settings(&self, workers: usize) -> Settings {
        Settings {
            mode: self.config.response_mode,
            trace_env: self.trace_env && workers == 1,
            #[cfg(feature = "local")]
            stop_late: self.emulated,
            #[cfg(not(feature = "local"))]
            stop_late: false,
        }
    }

    #[cfg(feature = "local")]
    /// When to start the [local server](crate::local) instead of connecting to Lambda's
    /// Runtime API: by default ([`local::Mode::Auto`]) when `AWS_LAMBDA_RUNTIME_API` is unset.
    pub fn local(mut self, mode: local::Mode) -> Self {
        self.local = mode;
        self
    }

    #[cfg(feature = "local")]
    /// The [local server](crate::local)'s address and function timeout, instead of
    /// [`local::Options::from_env`].
    pub fn local_options(mut self, options: local::Options) -> Self {
        self.local_options = Some(options);
        self
    }

    #[cfg(feature = "local")]
    /// Binds the [local server](crate::local)'s front doors, whatever the [`local::Mode`];
    /// run it with [`local::Server::run`].
    pub async fn bind_local(self) -> Result<local::Server, Error> {
        let options = match self.local_options {
            Some(options) => options,
            // A value that cannot be parsed is a configuration error that names it.
            None => local::Options::from_env()?,
        };
        local::Server::bind(self.config, options).await
    }

    #[cfg(feature = "local")]
    fn is_local(&self) -> bool {
        match self.local {
            local::Mode::Always => true,
            local::Mode::Never => false,
            local::Mode::Auto => self.config.runtime_api.is_none(),
        }
    }

    /// Sends responses streamed, buffered, or by the default rule ([`ResponseMode::Auto`]:
    /// streamed where the caller can take a stream), instead of what
    /// `LAMBDA_STREAM_RESPONSE_MODE` says; see [`ResponseMode`].
    ///
    /// The [local server](crate::local)'s function URL door answers a buffered function as a
    /// `BUFFERED` function URL does.
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.config.response_mode = mode;
        self
    }

    /// Takes a named stage out of the path of API Gateway HTTP API requests, instead of what
    /// `LAMBDA_STREAM_STRIP_STAGE_PREFIX` says; see [`Config::strip_stage_prefix`].
    pub fn strip_stage_prefix(mut self, strip: bool) -> Self {
        self.config.strip_stage_prefix = strip;
        self
    }

    /// A runtime configured from the environment ([`Config::from_env`]).
    pub fn from_env() -> Self {
        Runtime::new(Config::from_env())
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves invocations with `service` until the Runtime API says to stop.
    ///
    /// Returns only on a fatal error: the Runtime API cannot be reached or answered `500`.
    /// Every other failure is reported for its invocation and the loop goes on. Outside
    /// Lambda, a debug build serves the [local server](crate::local) instead (see
    /// [`Runtime::local`] and [release builds](https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md#release-builds)).
    ///
    /// One invocation at a time, whatever `AWS_LAMBDA_MAX_CONCURRENCY` says (a warning is
    /// logged when it asks for more): on Lambda Managed Instances, use
    /// [`run_concurrent`](Runtime::run_concurrent) with a `Clone` service.
    pub async fn run<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M>,
    {
        let service = service.into_lambda_service();
        let (runtime, local) = self.connect().await?;
        #[cfg(all(feature = "local", any(debug_assertions, feature = "local-release")))]
        if local.is_some() {
            return runtime.serve_local(service).await;
        }
        drop(local);
        runtime.warn_if_concurrency_is_ignored();
        let mut client = runtime.client()?;
        worker::run(service, &mut client, runtime.settings(1)).await
    }

    /// The local server's callers, served at once (up to its concurrency) by one service.
    #[cfg(feature = "local")]
    pub(crate) async fn serve_local<S>(&self, service: S) -> Result<(), Error>
    where
        S: LambdaService,
    {
        let mode = self.config.response_mode;
        serve_many(service, || self.client(), self.workers(), mode).await
    }

    /// Serves invocations with as many workers as `AWS_LAMBDA_MAX_CONCURRENCY` asks for (one
    /// without it): the way to run on Lambda Managed Instances.
    ///
    /// Each worker is a task with its own clone of `service` and its own connection to the
    /// Runtime API, looping `/next` → `poll_ready` → `call` → response on its own, so a slow
    /// or stuck invocation holds up only its worker. Clones share what the service shares:
    /// state behind an `Arc`, or a `tower::limit::ConcurrencyLimit`'s permits. Logs of
    /// concurrent invocations are told apart by the `invocation` span's `request_id` (and the
    /// `worker` span's `id`); tasks the handler spawns join them with
    /// [`Instrument::in_current_span`](tracing::Instrument::in_current_span).
    ///
    /// - A fatal error (the Runtime API answered `500` or stayed unreachable) stops every
    ///   worker and is returned: Lambda says the environment is broken, so the process exits.
    /// - A worker that dies unexpectedly (a panic the handler's own boundary did not catch)
    ///   is logged and replaced by a new worker with a fresh clone;
    ///   the others go on. The invocation it held is reported to `/error` as
    ///   `Function.Panic`, echoing the `Lambda-Runtime-Invocation-Id` its `/next` carried
    ///   (unless its response had started: then Lambda keeps what it got).
    /// - A panic in the service's `Clone` is caught and logged, and that worker is left out:
    ///   the others serve, and it is not retried (a `Clone` that panics is a bug that trying
    ///   again does not fix). When no worker can be made at startup, the panic is reported to
    ///   `/runtime/init/error` and returned ([`Error::is_init`]); when the last worker dies
    ///   and cannot be replaced, the runtime stops ([`Error::is_no_worker_left`]), so that
    ///   Lambda replaces the process.
    ///
    /// Outside Lambda, the [local server](crate::local) serves with one worker per allowed
    /// concurrent invocation (`LOCAL_LAMBDA_CONCURRENCY`).
    ///
    /// ```no_run
    /// use lambda_stream::{Body, Runtime};
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), lambda_stream::Error> {
    ///     // service_fn of a Clone closure is Clone; so are axum Routers.
    ///     let service = tower::service_fn(|_req: Request<Body>| async {
    ///         Ok::<_, Infallible>(Response::new(String::from("hello")))
    ///     });
    ///     Runtime::from_env().run_concurrent(service).await
    /// }
    /// ```
    pub async fn run_concurrent<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M, Service: Clone + Send + 'static> + Clone + Send + 'static,
        <S::Service as LambdaService>::Future: Send,
    {
        let service = service.into_lambda_service();
        let (runtime, _local) = self.connect().await?;
        runtime.serve_concurrent(service).await
    }

    /// `run_concurrent`'s workers, on this runtime's Runtime API.
    pub(crate) async fn serve_concurrent<S>(&self, service: S) -> Result<(), Error>
    where
        S: LambdaService + Clone + Send + 'static,
        S::Future: Send,
    {
        let client = self.client()?;
        supervisor::supervise(self, service, client).await
    }

    /// Runs `init`, then serves with the service it returns as
    /// [`run_concurrent`](Runtime::run_concurrent) does; init failures are reported as
    /// [`run_with_init`](Runtime::run_with_init) does.
    pub async fn run_concurrent_with_init<F, E, S, M>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: IntoLambdaService<M, Service: Clone + Send + 'static> + Clone + Send + 'static,
        <S::Service as LambdaService>::Future: Send,
    {
        let (runtime, _local) = self.connect().await?;
        let mut client = runtime.client()?;
        let service = worker::init_service(init_into_service(init), &mut client).await?;
        supervisor::supervise(&runtime, service, client).await
    }

    fn workers(&self) -> usize {
        self.config.workers()
    }

    fn warn_if_concurrency_is_ignored(&self) {
        if self.workers() > 1 {
            tracing::warn!(
                max_concurrency = self.workers(),
                "AWS_LAMBDA_MAX_CONCURRENCY is set but run() serves one invocation at a time: \
                 use run_concurrent() with a Clone service"
            );
        }
    }

    /// Runs `init`, then serves with the service it returns.
    ///
    /// When `init` fails, the error is reported to `/runtime/init/error` (type
    /// `Function.InitError`, or a [`Diagnostic`](crate::Diagnostic)'s own) and returned:
    /// return it from `main` so the process exits non-zero, as Lambda expects.
    ///
    /// ```no_run
    /// # use std::convert::Infallible;
    /// # use http::{Request, Response};
    /// use lambda_stream::Body;
    /// # async fn load_model() -> Result<String, std::io::Error> { Ok(String::new()) }
    /// #[tokio::main]
    /// async fn main() -> Result<(), lambda_stream::Error> {
    ///     lambda_stream::Runtime::from_env()
    ///         .run_with_init(async {
    ///             let model = load_model().await?;
    ///             Ok::<_, std::io::Error>(tower::service_fn(move |_req: Request<Body>| {
    ///                 let reply = model.clone();
    ///                 async move { Ok::<_, Infallible>(Response::new(reply)) }
    ///             }))
    ///         })
    ///         .await
    /// }
    /// ```
    pub async fn run_with_init<F, E, S, M>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: IntoLambdaService<M>,
    {
        let init = init_into_service(init);
        let (runtime, local) = self.connect().await?;
        #[cfg(all(feature = "local", any(debug_assertions, feature = "local-release")))]
        if local.is_some() {
            let service = runtime.init(init).await?;
            return runtime.serve_local(service).await;
        }
        drop(local);
        runtime.warn_if_concurrency_is_ignored();
        let mut client = runtime.client()?;
        let service = worker::init_service(init, &mut client).await?;
        worker::run(service, &mut client, runtime.settings(1)).await
    }

    /// The one "Lambda or local?" dispatch. On Lambda (or with [`local::Mode::Never`]): this
    /// runtime, as configured. Outside Lambda: the local server, started, and a runtime
    /// pointed at its Runtime API. The server's tasks stop when the returned set is dropped.
    ///
    /// Boxed: the local server's startup is then compiled once, not into the future of every
    /// `run*` of every service (it runs once per process).
    ///
    /// In a release build without the `local-release` feature, the local server is not
    /// started here (nor compiled in): outside Lambda, this is a configuration error that
    /// says how to get the server.
    fn connect(self) -> Connecting {
        Box::pin(async move {
            #[cfg(all(feature = "local", any(debug_assertions, feature = "local-release")))]
            if self.is_local() {
                return Runtime::on_local(self.bind_local().await?);
            }
            #[cfg(all(
                feature = "local",
                not(any(debug_assertions, feature = "local-release"))
            ))]
            if self.is_local() {
                return Err(Error::config(NOT_IN_RELEASE_BUILDS));
            }
            // Before the first `/next`: Lambda takes extensions only while the environment
            // initialises.
            #[cfg(feature = "graceful-shutdown")]
            crate::shutdown::register_extension(&self.config).await;
            Ok((self, None))
        })
    }

    /// Starts `server`; the runtime serves its Runtime API with as many invocations at once
    /// as its concurrency allows (set by `start` as `max_concurrency`).
    #[cfg(feature = "local")]
    pub(crate) fn on_local(server: local::Server) -> Result<(Self, LocalTasks), Error> {
        let (config, tasks) = server.start()?;
        let mut runtime = Runtime::new(config).local(local::Mode::Never);
        runtime.emulated = true;
        Ok((runtime, Some(tasks)))
    }

    /// Runs `init`, reporting its failure as [`run_with_init`](Runtime::run_with_init) does.
    #[cfg(feature = "local")]
    pub(crate) async fn init<F, E, S>(&self, init: F) -> Result<S, Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: LambdaService,
    {
        let mut client: Client<S::ResBody> = self.client()?;
        worker::init_service(init, &mut client).await
    }

    pub(crate) fn client<B: ResponseBody>(&self) -> Result<Client<B>, Error> {
        let Some(address) = self.config.runtime_api.as_deref() else {
            return Err(Error::config(
                "AWS_LAMBDA_RUNTIME_API is not set and the local server is disabled \
                 (local::Mode::Never, or the `local` feature is off)",
            ));
        };
        Client::new(address, Arc::new(self.config.clone())).map_err(Error::config)
    }
}

/// Why `run*` did not start the local server: a release build without `local-release`.
#[cfg(all(
    feature = "local",
    not(any(debug_assertions, feature = "local-release"))
))]
const NOT_IN_RELEASE_BUILDS: not_in_release::NotInReleaseBuilds =
    not_in_release::NotInReleaseBuilds;

#[cfg(all(
    feature = "local",
    not(any(debug_assertions, feature = "local-release"))
))]
mod not_in_release {
    /// The configuration error of a release build run outside Lambda: what serves it locally,
    /// the first way with this binary's own path, as it was started.
    #[derive(Debug)]
    pub(super) struct NotInReleaseBuilds;

    impl std::fmt::Display for NotInReleaseBuilds {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let exe = std::env::args_os()
                .next()
                .filter(|arg0| !arg0.is_empty())
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::current_exe().ok());
            let exe = exe.as_deref().and_then(std::path::Path::to_str);
            f.write_str(
                "AWS_LAMBDA_RUNTIME_API is not set, and release builds do not start the local \
                 server: serve this binary with the lambda-stream CLI (`lambda-stream local -- ",
            )?;
            match exe {
                // As a shell reads it: quoted unless it is one plain word.
                Some(exe)
                    if exe
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c)) =>
                {
                    f.write_str(exe)?
                }
                Some(exe) => write!(f, "'{}'", exe.replace('\'', r"'\''"))?,
                None => f.write_str("./your-function")?,
            }
            f.write_str(
                "`), run a debug build (`cargo run`), or enable lambda-stream's `local-release` \
                 feature",
            )
        }
    }

    impl std::error::Error for NotInReleaseBuilds {}
}

/// The local server, while it serves (`None` on Lambda).
#[cfg(feature = "local")]
pub(crate) type LocalTasks = Option<local::Serving>;
/// Never a local server without the `local` feature.
#[cfg(not(feature = "local"))]
pub(crate) type LocalTasks = Option<NoLocalServer>;
/// What is never there: a local server, without the `local` feature.
#[cfg(not(feature = "local"))]
pub(crate) enum NoLocalServer {}

/// Dropped as the local server would be, where `run*` drop it before serving Lambda.
#[cfg(not(feature = "local"))]
impl Drop for NoLocalServer {
    fn drop(&mut self) {}
}

/// The future of [`Runtime::connect`].
type Connecting = Pin<Box<dyn Future<Output = Result<(Runtime, LocalTasks), Error>> + Send>>;
