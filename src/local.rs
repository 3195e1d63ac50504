//! The local development server: run the function on your machine and call it as AWS would.
//!
//! When `AWS_LAMBDA_RUNTIME_API` is not set (or with [`Mode::Always`]), [`Runtime::run`]
//! serves the function behind the local server of the `lambda-stream-local` crate instead of
//! failing, in a debug build: `curl -N http://127.0.0.1:7000/` calls it as its function URL
//! would. A release build leaves the server out unless the `local-release` feature is on; a
//! server started explicitly ([`Runtime::bind_local`], then [`Server::run`]) is linked in
//! every build. With [`Runtime::run`] one service serves concurrent callers (called once per
//! invocation, its futures and bodies driven side by side; it need not be `Clone`); with
//! [`run_concurrent`](Runtime::run_concurrent) each invocation slot has a clone.
//!
//! The server's doors, limits, inspector, settings and release builds are written once, in
//! the guide's [local server][local-server] page; [`Options`] and the types of its fields are
//! re-exported here.
//!
//! [local-server]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md
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

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

pub use lambda_stream_local::{
    Alb, AuthType, Bandwidth, Cors, Iam, Options, RestApi, Source, TransferMode,
};
use lambda_stream_local::{FunctionConfig, InvokeMode};

use crate::service::init_into_service;
use crate::{BoxError, Config, Error, IntoLambdaService, LambdaService, ResponseMode, Runtime};

/// The local server while it serves: its Runtime API and front doors stop when dropped.
pub(crate) type Serving = lambda_stream_local::Serving;

/// When [`Runtime::run`] starts the local server; set with [`Runtime::local`].
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
    /// [Release builds](https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md#release-builds)).
    #[default]
    Auto,
    /// Always, even when a Runtime API is configured.
    Always,
    /// Never: without a Runtime API, `run` fails with a configuration error.
    Never,
}

/// A bound local server, ready to run a service; from [`Runtime::bind_local`].
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
    inner: lambda_stream_local::Server,
    config: Config,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.inner.local_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    pub(crate) async fn bind(config: Config, options: Options) -> Result<Self, Error> {
        let inner = lambda_stream_local::Server::bind(options, function_config(&config)).await?;
        Ok(Server { inner, config })
    }

    /// The address the front doors listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// Starts the local server's Runtime API and front doors. Returns the function's
    /// configuration, pointed at that Runtime API with one worker per invocation allowed at
    /// once (so no caller waits for another), and the server, which stops when dropped.
    pub(crate) fn start(self) -> Result<(Config, Serving), Error> {
        let mut config = self.config;
        if config.function_name.is_empty() {
            config.function_name = self.inner.function().name.clone();
        }
        config.max_concurrency = Some(self.inner.options().concurrency);
        let serving = self.inner.serve()?;
        config.runtime_api = Some(serving.runtime_api().to_string());
        Ok((config, serving))
    }

    /// Serves requests with `service` until the process ends; see [`Runtime::run`].
    pub async fn run<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M>,
    {
        let (runtime, _serving) = Runtime::on_local(self)?;
        runtime.serve_local(service.into_lambda_service()).await
    }

    /// Serves requests with one worker per allowed concurrent invocation, each with its own
    /// clone of `service`, until the process ends; see [`Runtime::run_concurrent`].
    pub async fn run_concurrent<S, M>(self, service: S) -> Result<(), Error>
    where
        S: IntoLambdaService<M, Service: Clone + Send + 'static> + Clone + Send + 'static,
        <S::Service as LambdaService>::Future: Send,
    {
        let (runtime, _serving) = Runtime::on_local(self)?;
        runtime
            .serve_concurrent(service.into_lambda_service())
            .await
    }

    /// Runs `init`, then serves with the service it returns; see
    /// [`Runtime::run_with_init`].
    pub async fn run_with_init<F, E, S, M>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: IntoLambdaService<M>,
    {
        let (runtime, _serving) = Runtime::on_local(self)?;
        let service = runtime.init(init_into_service(init)).await?;
        runtime.serve_local(service).await
    }
}

/// The function as the local Lambda describes it: what `config` says, the local Lambda's
/// defaults for what it leaves empty.
pub(crate) fn function_config(config: &Config) -> FunctionConfig {
    let mut function = FunctionConfig::default();
    let set = |field: &mut String, value: &str| {
        if !value.is_empty() {
            *field = value.to_owned();
        }
    };
    set(&mut function.name, &config.function_name);
    set(&mut function.version, &config.function_version);
    set(&mut function.region, &config.region);
    if let Some(mb) = config.memory_size_mb {
        function.memory_size_mb = mb;
    }
    if config.response_mode == ResponseMode::Buffered {
        function.invoke_mode = InvokeMode::Buffered;
    }
    function
}

/// Unusable options are a configuration error; anything else, the local server's.
impl From<lambda_stream_local::Error> for Error {
    fn from(e: lambda_stream_local::Error) -> Self {
        if e.is_options() {
            Error::config(e)
        } else {
            Error::local(e)
        }
    }
}
