//! boto3, the AWS SDK for Python, running a script of the tests against the local server: the
//! script prints one JSON report, which is returned ([`report`], [`report_blocking`]).

use std::ffi::OsStr;
use std::process::Output;

use crate::skip;

/// Whether python3 with boto3 can run here; when not, the test [`skip`]s.
pub fn available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("python3 with boto3 is not installed");
    }
    ok
}

/// Runs `python3 script args...` on tokio (so that a server on the same runtime goes on
/// serving); the JSON it printed. Panics, with what it wrote, when it fails.
pub async fn report<A: AsRef<OsStr>>(
    script: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = A>,
) -> serde_json::Value {
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    parse(out)
}

/// [`report`], blocking the thread: for tests whose server is another process.
pub fn report_blocking<A: AsRef<OsStr>>(
    script: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = A>,
) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    parse(out)
}

fn parse(out: Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
