//! Test support: the example binaries `cargo test` builds, run as child processes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// The example binary `name` that `cargo test` built beside this test.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the whole suite (`cargo test --workspace`), which builds the examples",
        path.display()
    );
    path
}

/// Kills and reaps the child when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/PID/status` field, in kB.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Asserts that each line of a stream produced `gap` apart (the first at once) reached the
/// caller before the next one existed. Line `n + 1` is produced `n` gaps after the request at
/// the earliest, so line `n` arriving within `n` gaps was not held back for it; `arrivals`
/// are measured from a moment before the handler started (when the request was sent, or the
/// event handed out).
///
/// For clocks a test cannot pause (another process's): a bound with a whole gap of slack
/// rather than a margin on each gap, so a loaded machine does not fail it, while a stream
/// held back by even one line does.
pub fn assert_each_before_the_next(arrivals: &[Duration], gap: Duration) {
    assert!(arrivals.len() > 1, "{arrivals:?}");
    for (n, at) in (1u32..).zip(&arrivals[..arrivals.len() - 1]) {
        assert!(
            *at < gap * n,
            "line {n} arrived {at:?} after the start, when line {} could exist: {arrivals:?}",
            n + 1
        );
    }
}
