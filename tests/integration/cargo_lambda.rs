//! The example project (`examples/deploy`) under `cargo lambda watch`, as its users run it:
//! a plain HTTP client requests its function URL path (`/lambda-url/streaming-numbers/`) and
//! sees the lines as they are produced, the status, headers and cookies the function set, a
//! failure midway, and the whole response at once in buffered mode.
//!
//! cargo-lambda's emulator sends function URL events with `domainName: "localhost"` and no
//! `apiId`: the default response mode must stream them. Skipped when `cargo lambda` is not
//! installed (`pip install cargo-lambda`), unless `LAMBDA_STREAM_REQUIRE_CLIENTS` is set.
//!
//! The project is built first with the cargo running the tests, in this workspace's target
//! directory (`CARGO_TARGET_DIR`, which `cargo lambda watch` then reuses), where the
//! dependencies it shares with lambda-stream's own tests are built already: about 45 s on 2
//! cores the first time, nothing after.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::support::client::{self, Seen};
use lambda_stream_test_support::{self as test_support, assert_each_before_the_next};

const NUMBERS: [&str; 4] = [
    "Number: 1\n",
    "Number: 2\n",
    "Number: 3\n",
    "Streaming complete!\n",
];

/// The function's name under cargo-lambda: its bin target's.
const FUNCTION: &str = "streaming-numbers";

/// The longest any one request may take (the stream itself takes 3 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether cargo-lambda runs (`pip install cargo-lambda`); if not, the test skips, or fails
/// when `LAMBDA_STREAM_REQUIRE_CLIENTS` is set (CI).
fn cargo_lambda_installed() -> bool {
    test_support::have("cargo", &["lambda", "--version"])
}

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy")
}

/// The target directory of this build, which `cargo lambda watch` reuses.
fn target_dir() -> PathBuf {
    test_support::target_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// Builds the project as `cargo lambda watch` does (`cargo build` of its bin, debug), so that
/// the watcher starts it at once.
fn build() {
    let started = std::time::Instant::now();
    let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(project())
        .args(["build", "--locked", "--quiet", "--bin", FUNCTION])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "building examples/deploy failed (when lambda-stream's dependencies changed, refresh \
         its lock file: cargo check --manifest-path examples/deploy/Cargo.toml, and commit it)"
    );
    eprintln!("built examples/deploy in {:?}", started.elapsed());
}

/// A port nothing listens on: bound, then released.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cargo lambda watch` on the project, with its output in a file; on drop, the watcher and
/// everything it started (cargo-lambda, the function) are killed, however the test ends.
struct Watch {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Watch {
    /// Starts the watcher with `env` for the function, and waits until it listens.
    async fn start(name: &str, env: &[(&str, &str)]) -> Watch {
        let port = free_port();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cargo-lambda-{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new("cargo");
        cmd.current_dir(project())
            .args(["lambda", "watch", "--ignore-changes", "--invoke-address"])
            .arg(Ipv4Addr::LOCALHOST.to_string())
            .arg("--invoke-port")
            .arg(port.to_string())
            .env("CARGO_TARGET_DIR", target_dir())
            .env_remove("LAMBDA_STREAM_RESPONSE_MODE")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            // A process group of its own, so that the function it starts dies with it.
            .process_group(0);
        for (k, v) in env {
            cmd.arg("--env-var").arg(format!("{k}={v}"));
        }
        let child = cmd.spawn().unwrap();
        let watch = Watch {
            child,
            addr: (Ipv4Addr::LOCALHOST, port).into(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(watch.addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen within 60 s:\n{}",
                watch.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        watch
    }

    /// What the watcher and the function printed so far.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /lambda-url/streaming-numbers{path}`, with `TE: trailers`.
    async fn get(&self, path: &str) -> Seen {
        let uri = format!("/lambda-url/{FUNCTION}{path}");
        match timeout(REQUEST_TIMEOUT, send(self.addr, &uri)).await {
            Ok(seen) => seen,
            Err(_) => panic!(
                "GET {uri}: no complete response within {REQUEST_TIMEOUT:?}:\n{}",
                self.output()
            ),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // cargo-lambda starts the function in a session of its own: kill every descendant,
        // found before any of them is killed, then the watcher's process group.
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The processes descended from `root`, from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// What cargo-lambda's answer holds beyond a [`Seen`]'s basics.
trait SeenExt {
    fn cookies(&self) -> Vec<&str>;
    /// When each line arrived (when its newline did), from when the request was sent.
    fn line_arrivals(&self) -> Vec<Duration>;
}

impl SeenExt for Seen {
    fn cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    fn line_arrivals(&self) -> Vec<Duration> {
        self.chunks
            .iter()
            .flat_map(|(at, data)| {
                let lines = data.iter().filter(|&&b| b == b'\n').count();
                std::iter::repeat_n(*at - self.sent_at, lines)
            })
            .collect()
    }
}

/// `GET uri` with `TE: trailers`, as a plain client asks.
async fn send(addr: SocketAddr, uri: &str) -> Seen {
    let req = Request::get(uri)
        .header("host", addr.to_string())
        .header("te", "trailers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    client::send(addr, req).await
}

#[tokio::test]
async fn the_example_project_under_cargo_lambda_watch() {
    if !cargo_lambda_installed() {
        return;
    }
    build();

    let watch = Watch::start("streamed", &[]).await;
    let started = std::time::Instant::now();

    // Status, headers and body as set. (The first request also starts the function.)
    let missing = watch.get("/nowhere").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", watch.output());
    assert_eq!(
        missing.header("x-my-custom-header"),
        Some("streaming-example")
    );
    assert_eq!(missing.text(), "not found\n");

    // Streamed: each line reaches the client before the next one exists, one second apart,
    // with the status, headers and cookies the function set.
    let seen = watch.get("/").await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.header("content-type"), Some("text/plain"));
    assert_eq!(seen.header("x-my-custom-header"), Some("streaming-example"));
    assert_eq!(
        seen.cookies(),
        ["flavour=oatmeal; Path=/", "visits=1; Max-Age=60; HttpOnly"]
    );
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_eq!(seen.end, Ok(()));
    let arrivals = seen.line_arrivals();
    assert_eq!(arrivals.len(), 4, "{arrivals:?}");
    assert_each_before_the_next(&arrivals, Duration::from_secs(1));
    assert!(
        arrivals[3] - arrivals[0] > Duration::from_millis(1500),
        "the lines came together, not 1 s apart: {arrivals:?}\n{}",
        watch.output()
    );

    // A failure midway: the lines before it, never the last one. cargo-lambda (1.9) ends its
    // response to the client with a clean end of the chunked body and drops the runtime's
    // error trailers; the failure shows in the watcher's output, where the function logs it.
    // Trailers or an aborted transfer, should cargo-lambda pass the failure on, would do too.
    let failed = watch.get("/fail").await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(failed.text(), NUMBERS[..3].concat());
    match (&failed.trailers, &failed.end) {
        (Some(trailers), _) => assert_eq!(
            trailers
                .get("lambda-runtime-function-error-type")
                .map(|v| v.to_str().unwrap()),
            Some("Function.StreamError"),
            "{trailers:?}"
        ),
        (None, Err(_aborted)) => {}
        (None, Ok(())) => {}
    }
    let output = watch.output();
    assert!(
        output.contains("Function.StreamError") && output.contains("the numbers ran out"),
        "the failure is not in cargo lambda watch's output:\n{output}"
    );
    drop(watch);

    // Buffered when asked: the whole response at once, after the last line was produced.
    let watch = Watch::start("buffered", &[("LAMBDA_STREAM_RESPONSE_MODE", "buffered")]).await;
    let whole = watch.get("/").await;
    assert_eq!(whole.status, StatusCode::OK, "{}", watch.output());
    assert_eq!(whole.header("content-type"), Some("text/plain"));
    assert_eq!(
        whole.header("x-my-custom-header"),
        Some("streaming-example")
    );
    assert_eq!(
        whole.cookies(),
        ["flavour=oatmeal; Path=/", "visits=1; Max-Age=60; HttpOnly"]
    );
    assert_eq!(whole.text(), NUMBERS.concat());
    let arrivals = whole.line_arrivals();
    assert!(
        arrivals[0] >= Duration::from_secs(2)
            && arrivals[3] - arrivals[0] < Duration::from_millis(500),
        "not buffered: {arrivals:?}"
    );
    eprintln!("cargo lambda watch: served in {:?}", started.elapsed());
}
