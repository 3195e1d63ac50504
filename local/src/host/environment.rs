//! One execution environment: a process of the function, its own Runtime API, and the
//! lifecycle Lambda gives them.
//!
//! - The process starts with the environment Lambda gives a function, in a process group of
//!   its own (so that a Ctrl-C in the terminal reaches the host, not the function).
//! - It is initialised once it asks for an invocation; an init error it reports ends it, and
//!   the invocations waiting for it fail with that error.
//! - When it exits or crashes, what it held fails as on Lambda (`Runtime.ExitError`), and the
//!   environment is gone: the next invocation starts a new one, which initialises again.
//! - An invocation past its deadline ends the environment, as Lambda ends a timed-out one.
//! - On stop: `SIGTERM` and 500 ms to exit when an extension registered, else `SIGKILL`.
//! - Its stdout and stderr are the host's; around each invocation the host writes the
//!   `START`, `END` and `REPORT` lines Lambda writes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::STOP_AFTER_DEADLINE;

use super::function::HostedFunction;
use super::log::{init_report, log_line, task_timed_out, timestamp, Log};
use crate::civil;
use crate::emulator::runtime_api::{self, Event, Exit, HostLink, RuntimeApi};
use crate::emulator::{Invocation, Reply};
use crate::error::ErrorReport;

/// How long a process with an extension has to exit after `SIGTERM`.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// An environment to run.
pub(super) struct Environment {
    pub(super) id: u64,
    pub(super) hosted: Arc<HostedFunction>,
    /// The invocations given to it.
    pub(super) invocations: mpsc::UnboundedReceiver<Invocation>,
    /// Where it says (with its id) that one of its invocations is over.
    pub(super) settled: mpsc::UnboundedSender<u64>,
    pub(super) stop: watch::Receiver<bool>,
}

/// What an environment leaves when it is gone: the invocations queued to it that its process
/// never took, to be given to another.
#[derive(Debug, Default)]
pub(super) struct Gone {
    pub(super) requeue: Vec<Invocation>,
}

/// What ended the process, besides its own exit.
enum Ending {
    /// It exited on its own (or crashed).
    Exited,
    /// Its invocation ran past the function timeout.
    TimedOut,
    /// It reported an init error.
    InitError(ErrorReport),
    /// It did not initialise within the function timeout.
    InitTimeout,
    /// The host is stopping.
    Stopped,
}

/// Runs the environment until its process is gone.
pub(super) async fn run(env: Environment) -> Gone {
    let Environment {
        id,
        hosted,
        invocations,
        settled,
        mut stop,
    } = env;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (exit_tx, exit_rx) = watch::channel(None);
    let link = HostLink {
        events: events_tx,
        exited: exit_rx,
        handler: hosted.function.handler.clone(),
    };
    let api = RuntimeApi::new(invocations, hosted.timeout, &hosted.config, Some(link));
    let listener = match bind().await {
        Ok(listener) => listener,
        Err(e) => {
            let exit = Exit {
                error_type: types::UNKNOWN,
                message: format!("cannot listen for the runtime api: {e}"),
            };
            tracing::error!("{}", exit.message);
            return gone(&api, &exit, false, None).await;
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = tokio::spawn(runtime_api::serve(listener, api.clone()));

    let started = Instant::now();
    let mut child = match command(&hosted, &address).spawn() {
        Ok(child) => child,
        Err(e) => {
            server.abort();
            let exit = Exit {
                error_type: types::INVALID_ENTRYPOINT,
                message: format!("cannot run {:?}: {e}", hosted.function.program),
            };
            tracing::error!("{}", exit.message);
            return gone(&api, &exit, false, None).await;
        }
    };
    let pid = child.id();
    tracing::debug!(env = id, pid, "started the function's process");

    let mut log = Log {
        hosted: &hosted,
        pid,
        init: None,
        init_reported: false,
        held: HashMap::new(),
    };
    let mut extension = false;
    let one_at_a_time = hosted.function.max_concurrency.is_none();
    let ending = loop {
        // In classic mode the one invocation held times out, STOP_AFTER_DEADLINE after its
        // caller has had its timeout; with many at once, the caller gets its timeout and
        // the process goes on.
        let deadline = log
            .held
            .values()
            .map(|since| *since + hosted.timeout + STOP_AFTER_DEADLINE)
            .min()
            .filter(|_| one_at_a_time);
        let init_deadline = started + hosted.timeout;
        tokio::select! {
            status = child.wait() => {
                log_exit(status);
                break Ending::Exited;
            }
            Some(event) = events.recv() => match event {
                Event::Polling => {
                    log.init.get_or_insert_with(|| started.elapsed());
                }
                Event::Handed { id: request_id } => log.start(request_id),
                Event::Settled { id: request_id, failure } => {
                    log.end(&request_id, failure.as_ref(), None);
                    let _ = settled.send(id);
                }
                Event::InitError(failure) => {
                    let _ = child.start_kill();
                    break Ending::InitError(failure);
                }
                Event::Registered => extension = true,
            },
            () = sleep_until(deadline) => {
                let _ = child.start_kill();
                break Ending::TimedOut;
            }
            () = tokio::time::sleep_until(init_deadline), if log.init.is_none() => {
                let _ = child.start_kill();
                break Ending::InitTimeout;
            }
            _ = stop.wait_for(|stop| *stop) => break Ending::Stopped,
        }
    };

    let timed_out = task_timed_out(hosted.timeout);
    let exit = match &ending {
        Ending::Stopped => {
            shut_down(&mut child, extension).await;
            Exit {
                error_type: types::EXIT_ERROR,
                message: "the local server is shutting down".to_owned(),
            }
        }
        Ending::TimedOut => Exit {
            error_type: types::SANDBOX_TIMEOUT,
            message: timed_out.clone(),
        },
        Ending::InitTimeout => Exit {
            error_type: types::SANDBOX_TIMEOUT,
            message: format!(
                "the function's initialisation did not finish within the timeout of {:.2} seconds",
                hosted.timeout.as_secs_f64()
            ),
        },
        Ending::InitError(_) | Ending::Exited => {
            let status = child.wait().await;
            Exit {
                error_type: types::EXIT_ERROR,
                message: exit_message(status.ok()),
            }
        }
    };
    let _ = exit_tx.send(Some(exit.clone()));
    if let Ending::TimedOut = ending {
        for request_id in log.held.keys() {
            log_line(&format!(
                "{} {request_id} {timed_out}",
                timestamp(SystemTime::now())
            ));
        }
    }
    // A process that never initialised: its init failed, with the error it reported or the
    // way it ended.
    let init_error_type = match &ending {
        Ending::InitError(failure) => Some(failure.error_type()),
        Ending::Stopped => None,
        _ => log.init.is_none().then_some(exit.error_type),
    };
    if let Some(error_type) = init_error_type {
        log_line(&init_report(started.elapsed(), error_type));
    }
    let status = match ending {
        Ending::TimedOut => "timeout",
        _ => "error",
    };
    // What the process held fails for it; each gets its END and REPORT.
    api.fail_in_flight(&exit).await;
    while let Ok(event) = events.try_recv() {
        if let Event::Settled {
            id: request_id,
            failure,
        } = event
        {
            log.end(&request_id, failure.as_ref(), Some(status));
        }
    }
    let initialised = log.init.is_some();
    server.abort();
    let _ = server.await;
    let init_failure = match ending {
        Ending::InitError(failure) => Some(failure),
        _ => None,
    };
    gone(&api, &exit, initialised, init_failure).await
}

/// The environment is gone: the invocations queued to it and never taken go back to the
/// pool when the process had initialised (they never reached it), else fail with its init
/// failure, as the invocation that meets a failed cold start does on Lambda.
async fn gone(
    api: &RuntimeApi,
    exit: &Exit,
    initialised: bool,
    init_failure: Option<ErrorReport>,
) -> Gone {
    let queued = api.take_queued().await;
    let mut requeue = Vec::new();
    for invocation in queued {
        if initialised {
            requeue.push(invocation);
        } else {
            let failure = init_failure
                .clone()
                .unwrap_or_else(|| exit.failure(&invocation.request_id));
            let _ = invocation.replies.send(Reply::Error(failure).into()).await;
        }
    }
    Gone { requeue }
}

async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await
}

/// The process, with the environment Lambda gives a function.
fn command(hosted: &HostedFunction, runtime_api: &str) -> Command {
    let f = &hosted.function;
    let c = &hosted.config;
    let name = &c.name;
    let mut cmd = Command::new(&f.program);
    cmd.args(&f.args);
    let task_root = f
        .task_root
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    cmd.current_dir(&task_root);
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", &c.version)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            c.memory_size_mb.to_string(),
        )
        .env("AWS_REGION", &c.region)
        .env("AWS_DEFAULT_REGION", &c.region)
        .env("AWS_LAMBDA_LOG_GROUP_NAME", c.log_group())
        .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream(hosted))
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("_HANDLER", &f.handler)
        .env("TZ", ":UTC");
    match f.max_concurrency {
        Some(n) => {
            cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", n.to_string())
                .env("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances");
        }
        None => {
            cmd.env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
                .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
        }
    }
    cmd.envs(f.envs.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// `2026/12/02/[$LATEST]` and 32 hex digits, as Lambda names a log stream.
fn log_stream(hosted: &HostedFunction) -> String {
    let days = (SystemTime::now().duration_since(UNIX_EPOCH))
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0);
    let (y, m, d) = civil::civil_from_days(days);
    let hex: String = crate::emulator::new_request_id()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    format!("{y:04}/{m:02}/{d:02}/[{}]{hex}", hosted.config.version)
}

/// Stops the process: `SIGTERM` and [`SHUTDOWN_GRACE`] when an extension registered (Lambda
/// sends no `SIGTERM` otherwise), then `SIGKILL`.
async fn shut_down(child: &mut Child, extension: bool) {
    if extension {
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
                if let Ok(status) = tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await {
                    log_exit(status);
                    return;
                }
            }
        }
    }
    let _ = child.kill().await;
}

fn log_exit(status: std::io::Result<ExitStatus>) {
    match status {
        Ok(status) if status.success() => tracing::info!("the function's process exited"),
        Ok(status) => tracing::warn!(%status, "the function's process exited"),
        Err(e) => tracing::warn!(error = %e, "cannot wait for the function's process"),
    }
}

/// `Runtime exited with error: exit status 1`, as Lambda says it.
fn exit_message(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "Runtime exited without providing a reason".to_owned();
    };
    if let Some(code) = status.code() {
        if code == 0 {
            return "Runtime exited without providing a reason".to_owned();
        }
        return format!("Runtime exited with error: exit status {code}");
    }
    let signal = match status.signal() {
        Some(6) => "aborted".to_owned(),
        Some(9) => "killed".to_owned(),
        Some(11) => "segmentation fault".to_owned(),
        Some(15) => "terminated".to_owned(),
        Some(n) => n.to_string(),
        None => "unknown".to_owned(),
    };
    format!("Runtime exited with error: signal: {signal}")
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
