//! An execution environment's processes: the process group its runtime leads, and one per
//! external extension.
//!
//! Every process the function starts (a `bootstrap` script's children, a web app a wrapper
//! starts in the background) is in the group unless it leaves it on purpose, so the group is
//! what a signal goes to, what is killed when the environment ends, and whose memory is the
//! environment's `Max Memory Used`.
//!
//! Memory is read from `/proc` (Linux): the resident memory of the environment's processes
//! (each group's leader and its descendants), summed, sampled while an invocation runs and
//! at its end. A cgroup would count it exactly
//! (`memory.peak`), but creating one needs a writable cgroup v2 hierarchy delegated to the
//! user, which most machines and containers do not give; the group works everywhere.

use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

/// How long the host waits for the group's processes to be gone once killed.
const GONE_WITHIN: Duration = Duration::from_secs(2);

/// The process groups of an environment: the runtime's (its first process and what it
/// starts), and one per external extension, as each is its own program. Killed when
/// dropped, whatever ended the environment.
#[derive(Default)]
pub(super) struct Group {
    /// The runtime's group first, once it started.
    pgids: Vec<Pid>,
    /// The most memory seen in use by its processes at once, in kB.
    peak_kb: u64,
}

impl Group {
    /// Adds the group that the process `leader` leads (it was started with
    /// `process_group(0)`).
    pub(super) fn add(&mut self, leader: Option<u32>) {
        if let Some(pgid) = leader.and_then(|p| i32::try_from(p).ok()) {
            self.pgids.push(Pid::from_raw(pgid));
        }
    }

    /// Sends `signal` to every process of the group led by `leader`; `false` when none is
    /// left.
    pub(super) fn signal(leader: Option<u32>, signal: Signal) -> bool {
        let Some(pgid) = leader.and_then(|p| i32::try_from(p).ok()) else {
            return false;
        };
        killpg(Pid::from_raw(pgid), signal).is_ok()
    }

    /// `SIGKILL` to every process of the group led by `leader`, then waits (briefly) until
    /// none is running.
    pub(super) async fn kill_one(leader: Option<u32>) {
        if let Some(pgid) = leader.and_then(|p| i32::try_from(p).ok()) {
            kill(&[Pid::from_raw(pgid)]).await;
        }
    }

    /// `SIGKILL` to every process of the environment, then waits (briefly) until none is
    /// running.
    pub(super) async fn kill(&self) {
        kill(&self.pgids).await;
    }

    /// Samples the memory the environment's processes use now; the peak so far, in MB.
    pub(super) fn sample_memory(&mut self) -> u64 {
        let leaders = self
            .pgids
            .iter()
            .filter_map(|p| u32::try_from(p.as_raw()).ok());
        // The leaders and their descendants, read off a few files of /proc; the whole of
        // /proc only where the kernel does not list a process's children.
        let processes = descendants(leaders.collect()).unwrap_or_else(|| self.members());
        let now: u64 = processes.iter().filter_map(|p| rss_kb(*p)).sum();
        // The runtime's own peak, which a spike between two samples leaves behind.
        let first = self
            .pgids
            .first()
            .and_then(|p| u32::try_from(p.as_raw()).ok());
        let peak = first.and_then(hwm_kb).unwrap_or(0);
        self.peak_kb = self.peak_kb.max(now).max(peak);
        self.peak_kb.div_ceil(1024)
    }

    /// The environment's processes that are running (not zombies), from `/proc`.
    pub(super) fn members(&self) -> Vec<u32> {
        let pgids: Vec<i32> = self.pgids.iter().map(|p| p.as_raw()).collect();
        members(&pgids)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Nothing of an environment outlives it, however its task ended.
        for pgid in &self.pgids {
            let _ = killpg(*pgid, Signal::SIGKILL);
        }
    }
}

/// `SIGKILL` to every process of the groups `pgids`, then waits (briefly) until none runs.
async fn kill(pgids: &[Pid]) {
    let signalled = pgids
        .iter()
        .filter(|pgid| killpg(**pgid, Signal::SIGKILL).is_ok())
        .count();
    if signalled == 0 {
        return;
    }
    let raw: Vec<i32> = pgids.iter().map(|p| p.as_raw()).collect();
    let until = Instant::now() + GONE_WITHIN;
    while !members(&raw).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let left = members(&raw);
    if !left.is_empty() {
        tracing::warn!(
            ?left,
            "processes of the environment are still running after SIGKILL"
        );
    }
}

/// The running processes of the process groups `pgids`.
fn members(pgids: &[i32]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid pgrp ...`: comm may hold spaces and parentheses.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?;
        let pgrp: i32 = fields.nth(1)?.parse().ok()?;
        (pgids.contains(&pgrp) && state != "Z" && state != "X").then_some(pid)
    })
    .collect()
}

/// `pids` and all their descendants, from `/proc/{pid}/task/{tid}/children`; `None` when
/// the kernel does not list them.
fn descendants(mut pids: Vec<u32>) -> Option<Vec<u32>> {
    let mut seen = Vec::new();
    while let Some(pid) = pids.pop() {
        if seen.contains(&pid) {
            continue;
        }
        seen.push(pid);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            // It is gone.
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let children = std::fs::read_to_string(task.path().join("children"));
            match children {
                Ok(children) => {
                    pids.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
                Err(_) => {}
            }
        }
    }
    Some(seen)
}

/// A field of `/proc/{pid}/status`, in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

fn hwm_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_members_are_read_from_proc() {
        let me = std::process::id();
        let pgid = nix::unistd::getpgrp().as_raw();
        assert!(members(&[pgid]).contains(&me));
        assert!(rss_kb(me).is_some_and(|kb| kb > 0));
        // A child of this process is among its descendants.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(vec![me]);
        let _ = child.kill();
        let _ = child.wait();
        let found = found.expect("this kernel lists children");
        assert!(
            found.contains(&me) && found.contains(&child.id()),
            "{found:?}"
        );
        // A group no process is in.
        assert!(members(&[i32::MAX - 1]).is_empty());
    }
}
