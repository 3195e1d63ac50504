//! Child processes: the example binaries `cargo test` builds, and this test binary again for a
//! test that must be alone in its process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

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
#[cfg(target_os = "linux")]
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Set in the process [`alone`] starts: the test it runs.
const ALONE: &str = "LAMBDA_STREAM_TEST_ALONE";

/// Whether the caller, the test `test` of the module `module` (its `module_path!()`), is in a
/// process of its own: for a test that changes what every thread of the process shares (the
/// environment) or asserts on it, which the other tests of this binary, running beside it,
/// would disturb.
///
/// In the test binary's process: runs this binary again for that one test, alone (`--exact`,
/// one thread), prints what it printed, asserts that exactly that test ran and passed, and
/// returns `false`: the caller returns. In that second process: returns `true`, and the caller
/// goes on with the test.
pub fn alone(module: &str, test: &str) -> bool {
    // `module_path!()` starts with the crate's name, test names do not.
    let module = module.split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::{test}");
    if std::env::var_os(ALONE).is_some_and(|v| v == name.as_str()) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, &name)
        // What the runtimes of the other tests in this process set: not this test's to inherit.
        .env_remove("_X_AMZN_TRACE_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name}, alone in a process: {}",
        out.status
    );
    false
}

/// Starts the `graceful_shutdown` example with `env` (and no Runtime API unless `env` names
/// one), stdout piped (text logs: the hook's
/// line and the warnings).
pub fn shutdown_example(env: &[(&str, &str)]) -> Killed {
    let mut cmd = Command::new(example_binary("graceful_shutdown"));
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("AWS_LAMBDA_FUNCTION_NAME", "stream")
        .env_remove("AWS_LAMBDA_LOG_LEVEL")
        .env_remove("AWS_LAMBDA_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Killed(cmd.spawn().unwrap())
}
