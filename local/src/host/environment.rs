//! One execution environment: the function's processes, its own Runtime API, and the
//! lifecycle Lambda gives them.
//!
//! - The external extensions start first, then the runtime, each with the environment Lambda
//!   gives a function, in process groups of their own (see `process`).
//! - It is initialised once the runtime and every extension have asked for what is next;
//!   until then the runtime is given no invocation. Nothing asking within [`INIT_LIMIT`] ends
//!   it, and its callers are told what to check. An init error it reports ends it, and the
//!   invocations waiting for it fail with that error.
//! - Each invocation handed to the runtime is an `INVOKE` event for the extensions that
//!   asked for it.
//! - When the runtime (or an external extension) exits or crashes, what it held fails as on
//!   Lambda (`Runtime.ExitError`), and the environment is gone: the next invocation starts a
//!   new one, which initialises again.
//! - An invocation past its deadline ends the environment, as Lambda ends a timed-out one.
//! - Its end, as Lambda's ([`shut_down`]): on stop, `SIGTERM` to the runtime when an extension
//!   registered, and 300 ms for it to exit (500 ms with an internal extension); then
//!   `SHUTDOWN` to the external extensions that asked for it, which have until 2,000 ms after
//!   the start of the shutdown; then `SIGKILL` to every process left, of every group.
//! - Its stdout and stderr are the host's; around each invocation the host writes the
//!   `START`, `END` and `REPORT` lines Lambda writes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::STOP_AFTER_DEADLINE;

use super::extension::{start_extensions, External, Init};
use super::function::HostedFunction;
use super::group::Group;
use super::log::{init_report, log_line, task_timed_out, timestamp, Log};
use super::process::{self, exit_message, init_hint, log_exit};
use crate::emulator::runtime_api::{self, Event, Exit, HostLink, RuntimeApi};
use crate::emulator::{Invocation, Reply};
use crate::error::ErrorReport;

/// Lambda's limit on the init phase. Lambda would try the init once more, within the first
/// invocation's timeout; the host does not: a process that never asks for an invocation is
/// far more often not a runtime at all than a slow one, and its caller is told so now.
pub(super) const INIT_LIMIT: Duration = Duration::from_secs(10);
/// Lambda's limit on the shutdown phase, with an external extension.
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(2000);
/// How long the runtime has to exit after `SIGTERM`: 300 ms, 500 ms with an internal extension.
const RUNTIME_GRACE: Duration = Duration::from_millis(300);
const RUNTIME_GRACE_INTERNAL: Duration = Duration::from_millis(500);
/// How often the memory of the environment's processes is sampled while it runs an invocation.
const MEMORY_SAMPLES: Duration = Duration::from_millis(100);

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

/// What ended the environment.
enum Ending {
    /// The runtime exited on its own (or crashed).
    Exited,
    /// The external extension `name` exited before the environment's end.
    ExtensionExited(String),
    /// Its invocation ran past the function timeout.
    TimedOut,
    /// The runtime (or an extension) reported an init error.
    InitError(ErrorReport),
    /// It was not initialised within [`INIT_LIMIT`].
    InitTimeout,
    /// The host is stopping.
    Stopped,
    /// The runtime's command could not be started.
    CannotRun(String),
}

/// Runs the environment until its processes are gone.
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
    let (ready_tx, ready) = watch::channel(false);
    let link = HostLink {
        events: events_tx,
        exited: exit_rx,
        handler: hosted.function.handler.clone(),
        ready,
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
    let mut group = Group::default();
    let mut externals = Vec::new();
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    if let Err(message) = start_extensions(&hosted, &address, &mut group, &mut externals, exits_tx)
    {
        server.abort();
        group.kill().await;
        let exit = Exit {
            error_type: types::INVALID_ENTRYPOINT,
            message,
        };
        tracing::error!("{}", exit.message);
        return gone(&api, &exit, false, None).await;
    }
    // The runtime starts once every external extension registered, as on Lambda.
    let mut child: Option<Child> = None;
    let mut pid = None;

    let mut log = Log {
        hosted: &hosted,
        group,
        init: None,
        init_reported: false,
        held: HashMap::new(),
    };
    let mut init = Init::default();
    let one_at_a_time = hosted.function.max_concurrency.is_none();
    let mut memory = tokio::time::interval(MEMORY_SAMPLES);
    memory.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        let init_deadline = started + INIT_LIMIT;
        if child.is_none() && externals.iter().all(|e| init.registered.contains(&e.name)) {
            match process::runtime(&hosted, &address).spawn() {
                Ok(started) => {
                    pid = started.id();
                    log.group.add(pid);
                    tracing::debug!(env = id, pid, "started the function's process");
                    child = Some(started);
                }
                Err(e) => {
                    let program = &hosted.function.program;
                    break Ending::CannotRun(format!("cannot run {program:?}: {e}"));
                }
            }
        }
        tokio::select! {
            status = wait(&mut child) => {
                log_exit(status);
                break Ending::Exited;
            }
            Some(name) = exits.recv() => break Ending::ExtensionExited(name),
            Some(event) = events.recv() => match event {
                Event::Polling => init.runtime_polled = true,
                Event::Handed { id: request_id } => log.start(request_id),
                Event::Settled { id: request_id, failure } => {
                    log.end(&request_id, failure.as_ref(), None);
                    let _ = settled.send(id);
                }
                Event::InitError(failure) => {
                    if let Some(hint) = init_hint(&failure, &hosted) {
                        tracing::error!("{hint}");
                    }
                    break Ending::InitError(failure);
                }
                Event::Registered { name } => {
                    init.internal |= !externals.iter().any(|e| e.name == name);
                    init.registered.insert(name);
                }
                Event::ExtensionPolling { name } => {
                    init.polled.insert(name);
                }
            },
            () = sleep_until(deadline) => break Ending::TimedOut,
            () = tokio::time::sleep_until(init_deadline), if log.init.is_none() => {
                break Ending::InitTimeout;
            }
            _ = memory.tick(), if !log.held.is_empty() => {
                log.group.sample_memory();
            }
            _ = stop.wait_for(|stop| *stop) => break Ending::Stopped,
        }
        if log.init.is_none() && init.done(&externals) {
            log.init = Some(started.elapsed());
            let _ = ready_tx.send(true);
        }
    };
    // Nothing of the environment outlives it: the runtime stops, the extensions are told,
    // and every process of its groups goes with it.
    let reason = match &ending {
        Ending::Stopped => "spindown",
        Ending::TimedOut => "timeout",
        _ => "failure",
    };
    shut_down(
        child.as_mut(),
        pid,
        &api,
        &log.group,
        &externals,
        &init,
        reason,
    )
    .await;

    let timed_out = task_timed_out(hosted.timeout);
    let exit = match &ending {
        Ending::Stopped => Exit {
            error_type: types::EXIT_ERROR,
            message: "the local server is shutting down".to_owned(),
        },
        Ending::TimedOut => Exit {
            error_type: types::SANDBOX_TIMEOUT,
            message: timed_out.clone(),
        },
        Ending::InitTimeout => {
            let program = hosted.function.program.to_string_lossy();
            let exit = Exit {
                error_type: types::SANDBOX_TIMEOUT,
                message: init.missing(&externals, &program, &address),
            };
            tracing::error!("{}", exit.message);
            exit
        }
        Ending::ExtensionExited(name) => Exit {
            error_type: "Extension.Crash",
            message: format!("the extension {name} exited"),
        },
        Ending::CannotRun(message) => {
            tracing::error!("{message}");
            Exit {
                error_type: types::INVALID_ENTRYPOINT,
                message: message.clone(),
            }
        }
        Ending::InitError(_) | Ending::Exited => {
            let status = wait(&mut child).await;
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
    // An environment that never initialised: its init failed, with the error reported or
    // the way it ended.
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
    // What the runtime held fails for it; each gets its END and REPORT.
    api.fail_in_flight(&exit);
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

/// Ends the environment as Lambda does. On stop (`spindown`), when an extension registered,
/// `SIGTERM` to the runtime's group and [`RUNTIME_GRACE`] (500 ms with an internal
/// extension) for it to exit; otherwise, and after it, `SIGKILL` to the runtime's group.
/// Then `SHUTDOWN` with `reason` to the external extensions that asked for it, which have
/// until [`SHUTDOWN_LIMIT`] after the start; then `SIGKILL` to every process left.
async fn shut_down(
    child: Option<&mut Child>,
    pid: Option<u32>,
    api: &RuntimeApi,
    group: &Group,
    externals: &[External],
    init: &Init,
    reason: &str,
) {
    let start = SystemTime::now();
    let begun = Instant::now();
    if reason == "spindown" && !init.registered.is_empty() && Group::signal(pid, Signal::SIGTERM) {
        let grace = if init.internal {
            RUNTIME_GRACE_INTERNAL
        } else {
            RUNTIME_GRACE
        };
        if let Some(child) = child {
            if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
                log_exit(status);
            }
        }
    }
    Group::kill_one(pid).await;
    let deadline = start + SHUTDOWN_LIMIT;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let told = api.extensions.shutdown(reason, deadline_ms);
    if !told.is_empty() {
        tracing::debug!(?told, reason, "SHUTDOWN sent to the extensions");
        let all_exited = async {
            for e in externals {
                let _ = e.exited.clone().wait_for(|x| *x).await;
            }
        };
        if tokio::time::timeout_at(begun + SHUTDOWN_LIMIT, all_exited)
            .await
            .is_err()
        {
            tracing::warn!("extensions still running at the shutdown's deadline: killed");
        }
    }
    group.kill().await;
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
            invocation
                .ending
                .settle(&invocation.replies, Reply::Error(failure));
        }
    }
    Gone { requeue }
}

async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await
}

/// The runtime's exit, once it started.
async fn wait(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
