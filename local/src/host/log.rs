//! The lines Lambda writes in a function's log around each invocation (`START`, `END`,
//! `REPORT`, a timed-out invocation's, `INIT_REPORT`), on the host's stdout beside the
//! process's own output.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::function::HostedFunction;
use crate::civil;
use crate::error::ErrorReport;

/// The invocations the process holds, and the lines Lambda writes around each.
pub(super) struct Log<'a> {
    pub(super) hosted: &'a HostedFunction,
    pub(super) pid: Option<u32>,
    /// How long the process took to initialise, once it has.
    pub(super) init: Option<Duration>,
    /// Whether a `REPORT` carried the init duration already: the first one does.
    pub(super) init_reported: bool,
    /// Since when each invocation is held.
    pub(super) held: HashMap<String, Instant>,
}

impl Log<'_> {
    /// The invocation `request_id` was handed to the process: its `START` line.
    pub(super) fn start(&mut self, request_id: String) {
        log_line(&start(&request_id, &self.hosted.config.version));
        self.held.insert(request_id, Instant::now());
    }

    /// The invocation `request_id` is over: its `END` and `REPORT` lines, with `status` when
    /// the environment ended it.
    pub(super) fn end(
        &mut self,
        request_id: &str,
        failure: Option<&ErrorReport>,
        status: Option<&str>,
    ) {
        let Some(since) = self.held.remove(request_id) else {
            return;
        };
        let init = self.init.filter(|_| !self.init_reported);
        self.init_reported = true;
        if status.is_some() {
            if let Some(f) = failure {
                log_line(&format!("{}\n{}", f.error_message(), f.error_type()));
            }
        }
        let took = since.elapsed();
        log_line(&format!("END RequestId: {request_id}"));
        log_line(&report(&Report {
            request_id,
            took,
            memory_size_mb: self.hosted.config.memory_size_mb,
            max_memory_used_mb: self.pid.and_then(max_memory_mb).unwrap_or(0),
            init,
            status,
            error_type: failure.map(ErrorReport::error_type),
        }));
    }
}

/// `START RequestId: {id} Version: {version}`.
fn start(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

/// What a `REPORT` line says of an invocation.
struct Report<'a> {
    request_id: &'a str,
    took: Duration,
    memory_size_mb: u32,
    max_memory_used_mb: u64,
    /// The environment's init duration, on its first `REPORT`.
    init: Option<Duration>,
    /// `timeout` or `error` when the environment ended the invocation.
    status: Option<&'a str>,
    error_type: Option<&'a str>,
}

/// `REPORT RequestId: …\tDuration: … ms\tBilled Duration: … ms\tMemory Size: … MB\tMax
/// Memory Used: … MB`, then `Init Duration`, `Status` and `Error Type` when there are.
fn report(r: &Report<'_>) -> String {
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\t\
         Memory Size: {} MB\tMax Memory Used: {} MB",
        r.request_id,
        ms(r.took),
        r.took.as_millis() + 1,
        r.memory_size_mb,
        r.max_memory_used_mb,
    );
    if let Some(init) = r.init {
        line += &format!("\tInit Duration: {:.2} ms", ms(init));
    }
    if let Some(status) = r.status {
        line += &format!("\tStatus: {status}");
        if let Some(error_type) = r.error_type {
            line += &format!("\tError Type: {error_type}");
        }
    }
    line
}

/// `INIT_REPORT Init Duration: … ms\tPhase: init\tStatus: error\tError Type: …`: an
/// environment whose initialisation failed.
pub(super) fn init_report(took: Duration, error_type: &str) -> String {
    format!(
        "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}",
        ms(took),
    )
}

/// `Task timed out after 3.00 seconds`: what Lambda says of an invocation past its
/// deadline, in the log after the timestamp and the request id, and to its caller.
pub(super) fn task_timed_out(timeout: Duration) -> String {
    format!("Task timed out after {:.2} seconds", timeout.as_secs_f64())
}

/// The process's peak resident memory, in MB (Linux only).
fn max_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An RFC 3339 UTC timestamp of `time`, to the millisecond.
pub(super) fn timestamp(time: SystemTime) -> String {
    let now = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (y, m, d) = civil::civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        t / 3600,
        t / 60 % 60,
        t % 60,
        now.subsec_millis()
    )
}

/// Writes a line of the function's log.
pub(super) fn log_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

    #[test]
    fn start_and_report_lines_are_lambdas() {
        assert_eq!(
            start(ID, "$LATEST"),
            "START RequestId: 8476a536-e9f4-11e8-9739-2dfe598c3fcd Version: $LATEST"
        );
        let first = Report {
            request_id: ID,
            took: Duration::from_micros(12_345),
            memory_size_mb: 128,
            max_memory_used_mb: 17,
            init: Some(Duration::from_micros(45_678)),
            status: None,
            error_type: None,
        };
        assert_eq!(
            report(&first),
            "REPORT RequestId: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\tDuration: 12.35 ms\t\
             Billed Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 17 MB\t\
             Init Duration: 45.68 ms"
        );
        let ended = Report {
            init: None,
            took: Duration::from_secs(3),
            status: Some("timeout"),
            error_type: Some("Sandbox.Timeout"),
            ..first
        };
        assert_eq!(
            report(&ended),
            "REPORT RequestId: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\tDuration: 3000.00 ms\t\
             Billed Duration: 3001 ms\tMemory Size: 128 MB\tMax Memory Used: 17 MB\t\
             Status: timeout\tError Type: Sandbox.Timeout"
        );
    }

    #[test]
    fn init_report_and_timed_out_lines_are_lambdas() {
        assert_eq!(
            init_report(Duration::from_micros(250_500), "Runtime.ExitError"),
            "INIT_REPORT Init Duration: 250.50 ms\tPhase: init\tStatus: error\t\
             Error Type: Runtime.ExitError"
        );
        let at = UNIX_EPOCH + Duration::from_millis(1_764_657_296_007);
        assert_eq!(timestamp(at), "2025-12-02T06:34:56.007Z");
        assert_eq!(
            task_timed_out(Duration::from_millis(2_500)),
            "Task timed out after 2.50 seconds"
        );
    }
}
