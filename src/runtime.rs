//! The runtime loop: `/next` → decode → service → stream (or buffer) the response → repeat;
//! one worker, or N supervised workers on Lambda Managed Instances.

use crate::Body;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tokio::task::JoinSet;
use tower_service::Service;
use tracing::Instrument;

use crate::catch_unwind::CatchUnwind;
use crate::client::{ApiError, Client, Invocation};
use crate::error::types;
#[cfg(feature = "local")]
use crate::local;
use crate::{event, wire, BoxError, Config, Diagnostic, Error, ResponseMode};

/// How many `/next` failures in a row the runtime retries before it gives up.
const NEXT_ATTEMPTS: u32 = 6;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The runtime, configured: [`run`](crate::run) with a chosen [`Config`].
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
        let options = self.local_options.unwrap_or_else(local::Options::from_env);
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

    /// Sends responses streamed (the default) or buffered, instead of what
    /// `LAMBDA_STREAM_RESPONSE_MODE` says; see [`ResponseMode`].
    ///
    /// The [local server](crate::local) always streams.
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
    /// Lambda, it serves the [local server](crate::local) instead (see [`Runtime::local`]).
    ///
    /// One invocation at a time, whatever `AWS_LAMBDA_MAX_CONCURRENCY` says (a warning is
    /// logged when it asks for more): on Lambda Managed Instances, use
    /// [`run_concurrent`](Runtime::run_concurrent) with a `Clone` service.
    pub async fn run<S, B>(self, service: S) -> Result<(), Error>
    where
        S: Service<Request<Body>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        #[cfg(feature = "local")]
        if self.is_local() {
            return self.bind_local().await?.run(service).await;
        }
        self.warn_if_concurrency_is_ignored();
        let mut client = self.client()?;
        worker(service, &mut client, self.config.response_mode).await
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
    /// - A worker that dies unexpectedly (a panic outside the handler, which the runtime
    ///   catches, e.g. in a `Drop`) is logged and replaced by a new worker with a fresh clone;
    ///   the others go on. The invocation it held is reported to `/error` as
    ///   `Function.Panic` (unless its response had started: then Lambda keeps what it got).
    ///
    /// Outside Lambda, the [local server](crate::local) serves with one worker.
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
    pub async fn run_concurrent<S, B>(self, service: S) -> Result<(), Error>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        #[cfg(feature = "local")]
        if self.is_local() {
            return self.bind_local().await?.run(service).await;
        }
        let client = self.client()?;
        self.supervise(service, client).await
    }

    /// Runs `init`, then serves with the service it returns as
    /// [`run_concurrent`](Runtime::run_concurrent) does; init failures are reported as
    /// [`run_with_init`](Runtime::run_with_init) does.
    pub async fn run_concurrent_with_init<F, E, S, B>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        #[cfg(feature = "local")]
        if self.is_local() {
            return self.bind_local().await?.run_with_init(init).await;
        }
        let mut client = self.client()?;
        let service = init_service(init, &mut client).await?;
        self.supervise(service, client).await
    }

    fn workers(&self) -> usize {
        self.config.max_concurrency.map_or(1, |n| n.get())
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

    /// Runs the workers, replaces any that dies, and returns the first fatal error.
    async fn supervise<S, B>(&self, service: S, first: Client<B>) -> Result<(), Error>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let workers = self.workers();
        let mode = self.config.response_mode;
        if workers > 1 {
            tracing::info!(workers, "serving invocations concurrently");
        }
        let mut set = JoinSet::new();
        let mut ids = HashMap::with_capacity(workers);
        // `service` itself is never polled: it is the pristine template each worker's clone
        // comes from, so no clone starts from a state another worker's `poll_ready` left.
        spawn_worker(&mut set, &mut ids, 0, service.clone(), first, mode);
        for n in 1..workers {
            spawn_worker(&mut set, &mut ids, n, service.clone(), self.client()?, mode);
        }
        while let Some(done) = set.join_next_with_id().await {
            let (task, err) = match done {
                Ok((_, Ok(()))) => continue,
                Ok((_, Err(fatal))) => {
                    set.abort_all();
                    return Err(fatal);
                }
                Err(e) => (e.id(), e),
            };
            let (n, current) = ids.remove(&task).unwrap_or_default();
            let why = if err.is_panic() {
                Diagnostic::from_panic(&*err.into_panic())
            } else {
                Diagnostic::new(types::PANIC, "the worker was cancelled")
            };
            tracing::error!(
                worker = n,
                error = why.error_message(),
                "a worker died outside its handler; starting a new one"
            );
            let mut client = self.client()?;
            // The invocation it held would wait for its timeout: report it now. (If its
            // response had started, the Runtime API refuses this with a 400, which is logged.)
            let orphan = lock(&current).take();
            if let Some(request_id) = orphan {
                let diagnostic = Diagnostic::new(
                    types::PANIC,
                    format!(
                        "the worker serving this invocation died: {}",
                        why.error_message()
                    ),
                );
                let reply = client.report_error(&request_id, &diagnostic).await;
                settle(reply, "error report")?;
            }
            spawn_worker(&mut set, &mut ids, n, service.clone(), client, mode);
        }
        Ok(())
    }

    /// Runs `init`, then serves with the service it returns.
    ///
    /// When `init` fails, the error is reported to `/runtime/init/error` (type
    /// `Function.InitError`, or a [`Diagnostic`]'s own) and returned: return it from `main`
    /// so the process exits non-zero, as Lambda expects.
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
    pub async fn run_with_init<F, E, S, B>(self, init: F) -> Result<(), Error>
    where
        F: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
        S: Service<Request<Body>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        #[cfg(feature = "local")]
        if self.is_local() {
            return self.bind_local().await?.run_with_init(init).await;
        }
        self.warn_if_concurrency_is_ignored();
        let mut client = self.client()?;
        init_then_serve(init, &mut client, self.config.response_mode).await
    }

    fn client<B>(&self) -> Result<Client<B>, Error>
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Some(address) = self.config.runtime_api.as_deref() else {
            return Err(Error::config(
                "AWS_LAMBDA_RUNTIME_API is not set and the local server is disabled \
                 (local::Mode::Never, or the `local` feature is off)",
            ));
        };
        Client::new(address, Arc::new(self.config.clone())).map_err(Error::config)
    }
}

/// The request id of the invocation a worker is serving, for its supervisor.
type Current = Arc<std::sync::Mutex<Option<String>>>;

fn lock(current: &Current) -> std::sync::MutexGuard<'_, Option<String>> {
    // A panic while holding it cannot leave a half-written `Option`.
    current
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts worker `n` on `set`, remembering its task's id and its current invocation.
fn spawn_worker<S, B>(
    set: &mut JoinSet<Result<(), Error>>,
    ids: &mut HashMap<tokio::task::Id, (usize, Current)>,
    n: usize,
    service: S,
    mut client: Client<B>,
    mode: ResponseMode,
) where
    S: Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let span = tracing::info_span!("worker", id = n);
    let current = Current::default();
    let slot = current.clone();
    let task =
        set.spawn(async move { serve(service, &mut client, mode, &slot).await }.instrument(span));
    ids.insert(task.id(), (n, current));
}

/// Runs `init`, then the worker with the service it returns; reports an init failure.
pub(crate) async fn init_then_serve<F, E, S, B>(
    init: F,
    client: &mut Client<B>,
    mode: ResponseMode,
) -> Result<(), Error>
where
    F: Future<Output = Result<S, E>>,
    E: Into<BoxError>,
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let service = init_service(init, client).await?;
    worker(service, client, mode).await
}

/// Runs `init`; reports its failure to `/init/error`.
async fn init_service<F, E, S, B>(init: F, client: &mut Client<B>) -> Result<S, Error>
where
    F: Future<Output = Result<S, E>>,
    E: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let err = match CatchUnwind::new(init).await {
        Ok(Ok(service)) => return Ok(service),
        Ok(Err(e)) => Diagnostic::from_error(e.into(), types::INIT),
        Err(panic) => Diagnostic::from_panic(&*panic),
    };
    tracing::error!(
        error_type = err.error_type(),
        error = err.error_message(),
        "initialisation failed"
    );
    if let Err(report) = client.report_init_error(&err).await {
        tracing::error!(error = %report, "cannot report the initialisation error");
    }
    Err(Error::init(err))
}

/// One worker: loops over invocations on its own connection.
pub(crate) async fn worker<S, B>(
    service: S,
    client: &mut Client<B>,
    mode: ResponseMode,
) -> Result<(), Error>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve(service, client, mode, &Current::default()).await
}

/// The worker's loop; `current` holds the request id of the invocation in progress.
async fn serve<S, B>(
    mut service: S,
    client: &mut Client<B>,
    mode: ResponseMode,
    current: &Current,
) -> Result<(), Error>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        let invocation = next(client).await?;
        *lock(current) = Some(invocation.context.request_id.clone());
        let span = tracing::info_span!(
            "invocation",
            request_id = %invocation.context.request_id,
            xray_trace_id = invocation.context.xray_trace_id.as_deref().unwrap_or(""),
            tenant_id = invocation.context.tenant_id.as_deref(),
        );
        invoke(&mut service, client, invocation, mode)
            .instrument(span)
            .await?;
        *lock(current) = None;
    }
}

/// `/next`, retried with capped exponential backoff; fatal on a `5xx` or too many failures.
async fn next<B>(client: &mut Client<B>) -> Result<Invocation, Error>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let err = match client.next().await {
            Ok(invocation) => return Ok(invocation),
            Err(err) if err.is_fatal() => {
                tracing::error!(error = %err, "the runtime api reported a fatal error; exiting");
                return Err(Error::runtime_api(err));
            }
            // An event nobody can be told about: skip it, the environment is fine.
            Err(ApiError::BadEvent(why)) => {
                tracing::error!(error = why, "skipping an event without a usable request id");
                attempt = 1;
                continue;
            }
            Err(err) => err,
        };
        if attempt >= NEXT_ATTEMPTS {
            tracing::error!(error = %err, attempts = attempt, "cannot get the next event; exiting");
            return Err(match err {
                ApiError::Transport(e) => Error::connect(e),
                other => Error::runtime_api(other),
            });
        }
        tracing::warn!(error = %err, attempt, "cannot get the next event; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// One invocation, from its event to the Runtime API's reply to the response.
///
/// Returns `Err` only when the runtime must exit.
async fn invoke<S, B>(
    service: &mut S,
    client: &mut Client<B>,
    invocation: Invocation,
    mode: ResponseMode,
) -> Result<(), Error>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let request_id = invocation.context.request_id.clone();
    let (request, format) = match event::decode(invocation.payload, invocation.context) {
        Ok(decoded) => decoded,
        Err(e) => {
            let d = Diagnostic::new(types::INVALID_EVENT, e.to_string());
            return fail(client, &request_id, d).await;
        }
    };

    let streamed = event::streams(mode, format, &request);
    let response = match call(service, request).await {
        Ok(response) => response,
        Err(diagnostic) => return fail(client, &request_id, diagnostic).await,
    };

    let (parts, body) = response.into_parts();
    if streamed {
        let head = wire::encode_head(format, &parts);
        let reply = client
            .respond(&request_id, head, body, tracing::Span::current())
            .await;
        return settle(reply, "response");
    }
    // Nothing is sent before the whole body is read: its failure still goes to `/error`.
    match wire::buffer(format, &parts, body).await {
        Ok(buffered) => {
            let reply = client.respond_buffered(&request_id, buffered).await;
            settle(reply, "response")
        }
        Err(diagnostic) => fail(client, &request_id, diagnostic).await,
    }
}

/// Drives the service to a response: `poll_ready`, `call`, the future, any of which may fail
/// or panic. Errors become diagnostics here, so that no handler error is held across an
/// await (and the runtime's future is `Send` without asking it of the error type).
async fn call<S, B>(service: &mut S, request: Request<Body>) -> Result<Response<B>, Diagnostic>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    match CatchUnwind::new(poll_fn(|cx| service.poll_ready(cx))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Diagnostic::from_error(e.into(), types::NOT_READY)),
        Err(panic) => return Err(Diagnostic::from_panic(&*panic)),
    }
    let future = match catch_unwind(AssertUnwindSafe(|| service.call(request))) {
        Ok(future) => future,
        Err(panic) => return Err(Diagnostic::from_panic(&*panic)),
    };
    match CatchUnwind::new(future).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(Diagnostic::from_error(e.into(), types::HANDLER)),
        Err(panic) => Err(Diagnostic::from_panic(&*panic)),
    }
}

/// Reports a failure before the response started, to `/error`.
async fn fail<B>(
    client: &mut Client<B>,
    request_id: &str,
    diagnostic: Diagnostic,
) -> Result<(), Error>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    tracing::error!(
        error_type = diagnostic.error_type(),
        error = diagnostic.error_message(),
        "invocation failed before its response started; reporting it"
    );
    let reply = client.report_error(request_id, &diagnostic).await;
    settle(reply, "error report")
}

/// Acts on the Runtime API's reply to a POST: a `5xx` ends the runtime, anything else is
/// logged and the loop goes on.
fn settle(reply: Result<(), ApiError>, what: &'static str) -> Result<(), Error> {
    match reply {
        Ok(()) => Ok(()),
        Err(err) if err.is_fatal() => {
            tracing::error!(error = %err, what, "the runtime api reported a fatal error; exiting");
            Err(Error::runtime_api(err))
        }
        Err(err) => {
            tracing::error!(error = %err, what, "the runtime api did not accept the call");
            Ok(())
        }
    }
}
