//! [`Function`]: the process to run and how; and what every environment of it shares.

use std::ffi::OsString;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::function::FunctionConfig;

/// A function process for [`Server::host`](crate::Server::host): the command Lambda would run as the runtime
/// (a `bootstrap`, or any program that speaks the Runtime API), and how it is run.
///
/// ```no_run
/// # async fn doc() -> Result<(), lambda_stream_local::Error> {
/// use lambda_stream_local::{Function, FunctionConfig, Options, Server};
///
/// let server = Server::bind(Options::from_env()?, FunctionConfig::default()).await?;
/// server.host(Function::new("target/release/my-fn")).await
/// # }
/// ```
#[derive(Clone)]
pub struct Function {
    pub(super) program: OsString,
    pub(super) args: Vec<OsString>,
    pub(super) envs: Vec<(OsString, OsString)>,
    pub(super) max_concurrency: Option<NonZeroUsize>,
    pub(super) handler: String,
    pub(super) task_root: Option<PathBuf>,
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
pub(super) struct HostedFunction {
    pub(super) function: Function,
    pub(super) config: FunctionConfig,
    pub(super) timeout: Duration,
    /// How many environments may run at once.
    pub(super) environments: usize,
}
