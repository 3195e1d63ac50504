//! The processes of an environment: the runtime's command (behind `AWS_LAMBDA_EXEC_WRAPPER`
//! when the function sets one, as Lambda runs it) and the external extensions, each with the
//! environment Lambda gives a function, in process groups of their own (so that a Ctrl-C in
//! the terminal reaches the host, not the function); and what the host says of them.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::process::Command;

use super::function::HostedFunction;
use crate::civil;
use crate::error::ErrorReport;

/// The runtime's process: its command, or `AWS_LAMBDA_EXEC_WRAPPER` with the command as its
/// arguments.
pub(super) fn runtime(hosted: &HostedFunction, runtime_api: &str) -> Command {
    let f = &hosted.function;
    let mut cmd = match exec_wrapper(hosted) {
        Some(wrapper) => {
            let mut cmd = Command::new(wrapper);
            cmd.arg(&f.program);
            cmd
        }
        None => Command::new(&f.program),
    };
    cmd.args(&f.args);
    lambdas_environment(&mut cmd, hosted, runtime_api);
    cmd
}

/// An external extension's process: the program `path`, as Lambda starts each file of
/// `/opt/extensions`.
pub(super) fn extension(hosted: &HostedFunction, path: &Path, runtime_api: &str) -> Command {
    let mut cmd = Command::new(path);
    lambdas_environment(&mut cmd, hosted, runtime_api);
    cmd
}

/// `AWS_LAMBDA_EXEC_WRAPPER`, as the function sets it (or the host's environment, which the
/// function inherits).
fn exec_wrapper(hosted: &HostedFunction) -> Option<OsString> {
    let name = "AWS_LAMBDA_EXEC_WRAPPER";
    let set = hosted.function.envs.iter().rev().find(|(k, _)| k == name);
    set.map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(name))
        .filter(|v| !v.is_empty())
}

/// The environment Lambda gives a function's processes.
fn lambdas_environment(cmd: &mut Command, hosted: &HostedFunction, runtime_api: &str) {
    let f = &hosted.function;
    let c = &hosted.config;
    let name = &c.name;
    let task_root = f.task_root_dir();
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

pub(super) fn log_exit(status: std::io::Result<ExitStatus>) {
    match status {
        Ok(status) if status.success() => tracing::info!("the function's process exited"),
        Ok(status) => tracing::warn!(%status, "the function's process exited"),
        Err(e) => tracing::warn!(error = %e, "cannot wait for the function's process"),
    }
}

/// `Runtime exited with error: exit status 1`, as Lambda says it.
pub(super) fn exit_message(status: Option<ExitStatus>) -> String {
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

/// What to change when the runtime's init error says the handler is wrong or not found: the
/// flag (and [`Function`](super::Function) setting) that fixes it.
pub(super) fn init_hint(failure: &ErrorReport, hosted: &HostedFunction) -> Option<String> {
    let f = &hosted.function;
    let handler = &f.handler;
    let task_root = f.task_root_dir();
    let message = failure.error_message();
    match failure.error_type() {
        "Runtime.MalformedHandlerName" | "Runtime.HandlerNotFound" => Some(format!(
            "the runtime cannot use the handler {handler:?} (_HANDLER): name it with \
             `--handler module.function`, e.g. `--handler app.handler` for the function \
             `handler` of app.mjs or app.py"
        )),
        "Runtime.ImportModuleError" | "Runtime.UserCodeSyntaxError"
            if !message.contains("SyntaxError") =>
        {
            Some(format!(
                "the runtime cannot find the handler's module in {} (LAMBDA_TASK_ROOT, and \
                 the working directory): give the directory of the function's code with \
                 `--task-root DIR`, and its handler with `--handler module.function` (now \
                 {handler:?})",
                task_root.display()
            ))
        }
        _ if message.contains("Cannot find module") => Some(format!(
            "the runtime cannot find a module in {}: give the directory of the function's \
             code with `--task-root DIR`",
            task_root.display()
        )),
        _ => None,
    }
}
