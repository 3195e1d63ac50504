//! An execution environment's processes: the process group its first process leads.
//!
//! Every process the function starts (a `bootstrap` script's children, a web app a wrapper
//! starts in the background) is in the group unless it leaves it on purpose, so the group is
//! what a signal goes to, what is killed when the environment ends, and whose memory is the
//! environment's `Max Memory Used`.
//!
//! Memory is read from `/proc` (Linux): the resident memory of the group's processes,
//! summed, sampled while an invocation runs and at its end. A cgroup would count it exactly
//! (`memory.peak`), but creating one needs a writable cgroup v2 hierarchy delegated to the
//! user, which most machines and containers do not give; the group works everywhere.

use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

/// How long the host waits for the group's processes to be gone once killed.
const GONE_WITHIN: Duration = Duration::from_secs(2);

/// The process group of an environment; killed when dropped, whatever ended the environment.
pub(super) struct Group {
    pgid: Pid,
    /// The most memory seen in use by the group's processes at once, in kB.
    peak_kb: u64,
}

impl Group {
    /// The group that the process `leader` leads (it was started with `process_group(0)`).
    pub(super) fn led_by(leader: u32) -> Option<Group> {
        let pgid = Pid::from_raw(i32::try_from(leader).ok()?);
        Some(Group { pgid, peak_kb: 0 })
    }

    pub(super) fn id(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Sends `signal` to every process of the group; `false` when none is left.
    pub(super) fn signal(&self, signal: Signal) -> bool {
        killpg(self.pgid, signal).is_ok()
    }

    /// `SIGKILL` to every process of the group, then waits (briefly) until none is running.
    pub(super) async fn kill(&self) {
        if !self.signal(Signal::SIGKILL) {
            return;
        }
        let until = Instant::now() + GONE_WITHIN;
        while !self.members().is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let left = self.members();
        if !left.is_empty() {
            tracing::warn!(
                pgid = self.id(),
                ?left,
                "processes of the environment are still running after SIGKILL"
            );
        }
    }

    /// Samples the memory the group's processes use now; the peak so far, in MB.
    pub(super) fn sample_memory(&mut self) -> u64 {
        let now: u64 = self.members().iter().filter_map(|p| rss_kb(*p)).sum();
        // The leader's own peak, which a spike between two samples leaves behind.
        let leader = u32::try_from(self.pgid.as_raw()).ok().and_then(hwm_kb);
        self.peak_kb = self.peak_kb.max(now).max(leader.unwrap_or(0));
        self.peak_kb.div_ceil(1024)
    }

    /// The group's processes that are running (not zombies), from `/proc`.
    pub(super) fn members(&self) -> Vec<u32> {
        members(self.pgid.as_raw())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Nothing of an environment outlives it, however its task ended.
        let _ = killpg(self.pgid, Signal::SIGKILL);
    }
}

/// The running processes of process group `pgid`.
fn members(pgid: i32) -> Vec<u32> {
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
        (pgrp == pgid && state != "Z" && state != "X").then_some(pid)
    })
    .collect()
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
        assert!(members(pgid).contains(&me));
        assert!(rss_kb(me).is_some_and(|kb| kb > 0));
        // A group no process is in.
        assert!(members(i32::MAX - 1).is_empty());
    }
}
