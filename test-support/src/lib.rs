//! What the tests of every lambda-stream crate share, written once: the real clients they call
//! the local server with ([`curl`], [`boto3`], headless [`chromium`]), the rule for a client
//! that is missing ([`skip`]), the timing checks for streams read on another process's clock
//! ([`assert_each_before_the_next`]), and where the build puts what it makes
//! ([`target_dir`]), and a capture of what is logged ([`logs::Logs`]).
//!
//! A missing client skips its test with a line that says so, unless
//! `LAMBDA_STREAM_REQUIRE_CLIENTS` is set (CI sets it): then it fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub mod boto3;
pub mod chromium;
pub mod curl;
pub mod logs;

/// The variable that makes a missing client a failure rather than a skip.
pub const REQUIRE_CLIENTS: &str = "LAMBDA_STREAM_REQUIRE_CLIENTS";

/// Says why the test skips; panics instead when [`REQUIRE_CLIENTS`] is set, so that a client
/// missing in CI fails rather than passes silently.
pub fn skip(why: &str) {
    if std::env::var_os(REQUIRE_CLIENTS).is_some() {
        panic!("{why}, and {REQUIRE_CLIENTS} is set");
    }
    eprintln!("{why}: skipping");
}

/// Whether `program` runs with `args` (`--version`, say) and succeeds; when it does not, the
/// test [`skip`]s.
pub fn have(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!("{program} {} does not run", args.join(" ")));
    }
    ok
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

/// The gaps between consecutive arrivals (instants, or durations since a start).
pub fn gaps<T>(arrivals: impl IntoIterator<Item = T>) -> Vec<Duration>
where
    T: Copy + std::ops::Sub<Output = Duration>,
{
    let arrivals: Vec<T> = arrivals.into_iter().collect();
    arrivals.windows(2).map(|pair| pair[1] - pair[0]).collect()
}

/// Asserts that the arrivals came exactly `gap` apart: for a paused clock (tokio's
/// `start_paused`), where a stream produced `gap` apart arrives so when nothing holds a chunk
/// back.
pub fn assert_apart<T>(arrivals: impl IntoIterator<Item = T>, gap: Duration)
where
    T: Copy + std::ops::Sub<Output = Duration>,
{
    let gaps = gaps(arrivals);
    assert!(!gaps.is_empty(), "fewer than two arrivals");
    assert!(
        gaps.iter().all(|g| *g == gap),
        "arrived {gaps:?} apart, not {gap:?}"
    );
}

/// Seconds in a JSON array (`[0.01, 1.02]`, as the Python clients report them) as durations.
pub fn seconds(times: &serde_json::Value) -> Vec<Duration> {
    times
        .as_array()
        .unwrap_or_else(|| panic!("not an array of seconds: {times}"))
        .iter()
        .map(|t| Duration::from_secs_f64(t.as_f64().unwrap_or_else(|| panic!("{t}"))))
        .collect()
}

/// A loopback port free a moment ago: bound, then released, for another process (or a
/// listener started later) to take. Nothing listens on it until then.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A connection to `port` on loopback as soon as a server started elsewhere (another
/// process) listens there; panics when nothing does within `within`. The connection times
/// reads out after `within` too, so that a test never waits for ever.
pub fn connect_when_listening(port: u16, within: Duration) -> std::net::TcpStream {
    let started = std::time::Instant::now();
    let stream = loop {
        match std::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)) {
            Ok(stream) => break stream,
            Err(e) => assert!(
                started.elapsed() < within,
                "nothing listens on port {port} after {within:?}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stream.set_read_timeout(Some(within)).unwrap();
    stream
}

/// The target directory of a build of `workspace`: `CARGO_TARGET_DIR` when set (as cargo
/// reads it), else `workspace/target`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_before_the_next_passes_a_live_stream() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_each_before_the_next(&ms(&[5, 1005, 2005, 3005]), Duration::from_secs(1));
        // The last line may come as late as it likes: nothing waits for it.
        assert_each_before_the_next(&ms(&[900, 1900, 9000]), Duration::from_secs(1));
    }

    #[test]
    #[should_panic(expected = "line 1 arrived")]
    fn each_before_the_next_fails_a_stream_held_back_by_one_line() {
        let at = [1001, 1002].map(Duration::from_millis);
        assert_each_before_the_next(&at, Duration::from_secs(1));
    }

    #[test]
    fn gaps_between_arrivals() {
        let at = [0, 500, 1000].map(Duration::from_millis);
        assert_eq!(gaps(at), [Duration::from_millis(500); 2]);
        assert_apart(at, Duration::from_millis(500));
    }

    #[test]
    #[should_panic(expected = "apart, not")]
    fn arrivals_held_back_are_not_apart() {
        assert_apart(
            [0, 1000, 1000].map(Duration::from_millis),
            Duration::from_millis(500),
        );
    }

    #[test]
    fn seconds_of_a_report() {
        let times = serde_json::json!([0.5, 1.25]);
        assert_eq!(
            seconds(&times),
            [Duration::from_millis(500), Duration::from_millis(1250)]
        );
    }

    #[test]
    fn the_target_dir_is_the_workspaces_unless_set() {
        let dir = target_dir(Path::new("/w"));
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(set) => assert_eq!(dir, PathBuf::from(set)),
            None => assert_eq!(dir, Path::new("/w/target")),
        }
    }
}
