//! [`TestClient`]: the runtime, its Runtime API and the invocations in flight.

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::Request;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use lambda_stream_local::Emulator;

use super::{Builder, Error, Invocation, TestResponse};
use crate::local::function_config;
use crate::{Body, BoxError, Config, IntoLambdaService, LambdaService};

/// The caller's address in the function URL events of [`Invocation::request`].
pub(super) const DEFAULT_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 49_152);

pub(super) type Worker = Pin<Box<dyn Future<Output = Result<(), crate::Error>> + Send>>;
/// Builds the runtime's worker, connected to the Runtime API at the given address.
pub(super) type Starter = Box<dyn FnOnce(&str, Config) -> Result<Worker, BoxError> + Send>;

/// Invokes a service in-process, through the same runtime loop, Runtime API client and
/// response encoding as on Lambda; see the module docs.
///
/// Cheap to clone: clones share one runtime, which (as one Lambda execution environment)
/// runs one invocation at a time; concurrent invocations wait their turn. The runtime
/// starts on the first invocation, on the tokio runtime that makes it, and stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct TestClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: Config,
    /// The function timeout.
    pub(super) timeout: Duration,
    pub(super) state: Mutex<State>,
}

pub(super) enum State {
    /// Not started yet: the first invocation starts it.
    Idle(Starter),
    Running(Running),
}

pub(super) struct Running {
    /// The Runtime API: stopped when the worker stops, or when the client goes.
    emulator: Arc<Emulator>,
    /// `Some` (the worker's error) once the worker stopped; closed if its task ended.
    stopped: Stopped,
    /// The Runtime API's and the worker's tasks: aborted when the client goes.
    _tasks: JoinSet<()>,
}

pub(super) type Stopped = watch::Receiver<Option<Arc<crate::Error>>>;

impl TestClient {
    /// A client of `service`, with the [`Builder`]'s defaults.
    ///
    /// Nothing starts until the first invocation, so this works outside a tokio runtime too.
    /// The service runs on a task of its own, as under [`Runtime::run`](crate::Runtime::run)
    /// it runs beside the Runtime API: hence `Send` (an axum `Router` is).
    pub fn new<S, M>(service: S) -> Self
    where
        S: IntoLambdaService<M, Service: Send + 'static>,
        <S::Service as LambdaService>::Future: Send,
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

    /// Queues `invocation`, starting the runtime first if need be; returns the runtime's stop
    /// signal.
    pub(super) fn submit(
        &self,
        invocation: lambda_stream_local::Invocation,
    ) -> Result<Stopped, Error> {
        let mut state = self.state();
        if let State::Idle(_) = &*state {
            let running = self.start(&mut state)?;
            *state = State::Running(running);
        }
        match &*state {
            State::Running(running) => match running.emulator.queue(invocation) {
                Ok(()) => Ok(running.stopped.clone()),
                Err(_) => Err(Error::stopped(running.cause())),
            },
            State::Idle(_) => Err(Error::stopped(None)),
        }
    }

    pub(super) fn stopped(&self) -> Error {
        match &*self.state() {
            State::Running(running) => Error::stopped(running.cause()),
            State::Idle(_) => Error::stopped(None),
        }
    }

    /// Starts the Runtime API and the worker; `state` is `Idle` and stays so on failure.
    fn start(&self, state: &mut State) -> Result<Running, Error> {
        let function = function_config(&self.inner.config);
        let emulator =
            Arc::new(Emulator::start(&function, self.inner.timeout).map_err(Error::start)?);
        let mut config = self.inner.config.clone();
        config.runtime_api = Some(emulator.runtime_api().to_string());
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
        let api = emulator.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let cause = worker.await.err().map(|e| {
                tracing::error!(error = %e, "the test runtime stopped");
                Arc::new(e)
            });
            // Invocations waiting for it fail rather than wait forever.
            api.stop();
            let _ =
                stop.send(Some(cause.unwrap_or_else(|| {
                    Arc::new(crate::Error::local("the worker returned"))
                })));
        });
        Ok(Running {
            emulator,
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
