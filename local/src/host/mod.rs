//! Hosting a function that runs as a process of its own: any runtime that speaks the Lambda
//! Runtime API, behind the local server's doors ([`Server::host`]).
//!
//! - this file: [`Function`], what to run and how, and the host's start and stop;
//! - `pool`: which process takes an invocation, and when a new one starts;
//! - `sandbox`: one execution environment, its process and its Runtime API, with the
//!   lifecycle Lambda gives them, and the log lines Lambda writes around each invocation.

mod pool;
mod sandbox;

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::{Error, FunctionConfig, Server};

/// A function process for [`Server::host`]: the command Lambda would run as the runtime
/// (a `bootstrap`, or any program that speaks the Runtime API), and how it is run.
///
/// ```no_run
/// # async fn doc() -> Result<(), lambda_stream_local::Error> {
/// use lambda_stream_local::{Function, FunctionConfig, Options, Server};
///
/// let server = Server::bind(Options::from_env(), FunctionConfig::default()).await?;
/// server.host(Function::new("target/release/my-fn")).await
/// # }
/// ```
#[derive(Clone)]
pub struct Function {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    max_concurrency: Option<NonZeroUsize>,
    handler: String,
    task_root: Option<PathBuf>,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The environment may hold secrets: only its names.
        let names: Vec<_> = self.envs.iter().map(|(k, _)| k).collect();
        f.debug_struct("Function")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("envs", &names)
            .field("max_concurrency", &self.max_concurrency)
            .field("handler", &self.handler)
            .field("task_root", &self.task_root)
            .finish()
    }
}

impl Function {
    /// Runs `program` (looked up in `PATH` when it has no `/`).
    pub fn new(program: impl Into<OsString>) -> Self {
        Function {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            max_concurrency: None,
            handler: "bootstrap".to_owned(),
            task_root: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable of the process, over the host's and Lambda's.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// One process serves up to `n` invocations at once, told so by
    /// `AWS_LAMBDA_MAX_CONCURRENCY`, as on Lambda Managed Instances. Without it, each
    /// concurrent invocation has a process of its own, as in classic Lambda.
    pub fn max_concurrency(mut self, n: NonZeroUsize) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// `_HANDLER` (default `bootstrap`).
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = handler.into();
        self
    }

    /// `LAMBDA_TASK_ROOT`, and the process's working directory (default: the host's working
    /// directory).
    pub fn task_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.task_root = Some(dir.into());
        self
    }
}

/// What every environment of the hosted function shares.
struct Host {
    function: Function,
    config: FunctionConfig,
    timeout: Duration,
    /// How many environments may run at once.
    environments: usize,
}

impl Server {
    /// Serves the front doors, with `function` run as the function's processes, until the
    /// host is stopped (Ctrl-C, `SIGTERM` or `SIGHUP`); see
    /// [Hosting a process](crate#hosting-a-process).
    ///
    /// A host killed outright (`SIGKILL`) cannot stop its processes: they lose their Runtime
    /// API, and end as their runtime ends then.
    ///
    /// Fails at once if a signal handler cannot be installed; a process that cannot be
    /// started fails each invocation given to it (`Runtime.InvalidEntrypoint`), not the host.
    pub async fn host(self, function: Function) -> Result<(), Error> {
        let stop = stop_signal()?;
        self.host_until(function, stop).await
    }

    /// [`Server::host`], stopped when `stop` completes rather than on a signal.
    pub async fn host_until(
        self,
        function: Function,
        stop: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let config = self.function.clone();
        let timeout = self.options.function_timeout;
        let environments = match function.max_concurrency {
            Some(_) => 1,
            None => self.options.concurrency.get(),
        };
        let host = Arc::new(Host {
            function,
            config: config.clone(),
            timeout,
            environments,
        });
        let (queue, invocations) = mpsc::unbounded_channel();
        let mut tasks = self.open(queue);
        let (stopping, stopped) = watch::channel(false);
        let pool = tokio::spawn(pool::dispatch(host, invocations, stopped));
        stop.await;
        tracing::info!("stopping: the function's processes are shut down as Lambda does");
        // The doors first: no new invocation while the processes stop.
        tasks.abort_all();
        let _ = stopping.send(true);
        let _ = pool.await;
        Ok(())
    }
}

/// Completes on Ctrl-C, `SIGTERM`, or `SIGHUP` (the terminal closed): the function's
/// processes, in process groups of their own, are stopped by the host, not by the terminal.
fn stop_signal() -> Result<impl Future<Output = ()>, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Error::server(format!("cannot handle {name}: {e}")))
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = listen(SignalKind::hangup(), "SIGHUP")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    })
}
