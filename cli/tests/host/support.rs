//! What the tests of `lambda-stream local` share: the host as its users start it, curl as
//! a caller, the fixtures, and the checks on what arrived when.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const NUMBERS: [&str; 4] = [
    "Number: 1\n",
    "Number: 2\n",
    "Number: 3\n",
    "Streaming complete!\n",
];

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

pub fn runtime_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime.py")
}

pub use lambda_stream_test_support::{self as test_support, assert_each_before_the_next, have};

/// A peer installed outside the clone (`.ci/run` caches them): the path the variable `var`
/// names, when it exists; if not, the test is skipped, or fails when
/// `LAMBDA_STREAM_REQUIRE_CLIENTS` is set.
pub fn peer(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(path) if path.exists() => Some(path),
        _ => {
            test_support::skip(&format!("{var} does not name {what}"));
            None
        }
    }
}

pub fn have_curl() -> bool {
    have("curl", &["--version"])
}

pub fn have_python() -> bool {
    have("python3", &["--version"])
}

/// One cargo build at a time: they share target directories.
pub static BUILD: Mutex<()> = Mutex::new(());

/// Builds with the cargo running the tests; `args` after `build --release`.
pub fn cargo_build(args: &[&str]) {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(root())
        .args(["build", "--release", "--quiet"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --release {args:?} failed");
}

/// `target/release/examples/streaming_numbers`, built as a user builds what they deploy.
pub fn release_example() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        cargo_build(&["-p", "lambda-stream", "--example", "streaming_numbers"]);
        test_support::target_dir(root()).join("release/examples/streaming_numbers")
    })
}

/// The `lambda_http` benchmark function (`benches/compare`, `run_with_streaming_response`).
pub fn lambda_http_function() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = "benches/compare/Cargo.toml";
        cargo_build(&["--manifest-path", manifest, "--bin", "fn_lambda_http"]);
        test_support::target_dir(&root().join("benches/compare")).join("release/fn_lambda_http")
    })
}

/// lambda-stream's example `name`, as `cargo test --workspace` builds it (built here when
/// missing).
pub fn debug_example(name: &str) -> PathBuf {
    let exe = test_support::target_dir(root())
        .join("debug/examples")
        .join(name);
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !exe.exists() {
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .current_dir(root())
            .args(["build", "--quiet", "-p", "lambda-stream", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example {name} failed");
    }
    exe
}

pub fn decode(b64: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("{b64:?}: {e}"));
    String::from_utf8(bytes).unwrap()
}

/// A running `lambda-stream local`: its address, and what it printed so far.
pub struct Host {
    pub child: Child,
    pub addr: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Host {
    /// `lambda-stream local --port 0 FLAGS -- COMMAND...`, once it listens.
    pub fn start<S: AsRef<std::ffi::OsStr>>(
        flags: &[&str],
        command: &[S],
        env: &[(&str, &str)],
    ) -> Host {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-stream"));
        cmd.args(["local", "--port", "0"])
            .args(flags)
            .arg("--")
            .args(command)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone(), None);
        let (found, addr) = mpsc::channel();
        collect(child.stderr.take().unwrap(), stderr.clone(), Some(found));
        let addr = match addr.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the host did not listen within 30 s: {}",
                    stderr.lock().unwrap()
                );
            }
        };
        Host {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until the host's stdout holds `text` `n` times.
    pub fn wait_for_stdout(&self, text: &str, n: usize) -> String {
        wait_for(|| self.stdout(), text, n)
    }

    /// Waits (up to 10 s) until the host's own log, on stderr, holds `text`.
    pub fn wait_for_stderr(&self, text: &str) -> String {
        wait_for(|| self.stderr(), text, 1)
    }

    /// Stops the host as Ctrl-C would (`SIGTERM`); its exit status, and how long it took.
    pub fn stop(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        signal(self.child.id(), "TERM");
        let status = wait_timeout(&mut self.child, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("the host did not stop within 15 s"));
        (status, started.elapsed())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Gracefully, so that it stops the function's processes (in process groups of their own).
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), "TERM");
            if wait_timeout(&mut self.child, Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Reads `from` into `into`; with `found`, sends the address the host says it listens on.
pub fn collect(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    found: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if let (Some(found), Some((_, rest))) =
                (&found, line.split_once("local lambda server on http://"))
            {
                if let Some((addr, _)) = rest.split_once(": ") {
                    let _ = found.send(addr.to_owned());
                }
            }
            let mut into = into.lock().unwrap();
            into.push_str(&line);
            into.push('\n');
        }
    });
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` still exists.
pub fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What curl printed, line by line with when each arrived (from curl's start), and its exit code.
pub type Curl = test_support::curl::Lines;

/// The error trailers of a `--raw` response: the type, and the body decoded.
pub fn error_trailers(raw: &Curl) -> (String, serde_json::Value) {
    let trailer = |name: &str| {
        raw.lines
            .iter()
            .find_map(|(_, l)| {
                let (n, v) = l.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} in {:?}", raw.lines))
    };
    let body = decode(&trailer("lambda-runtime-function-error-body"));
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    (trailer("lambda-runtime-function-error-type"), body)
}

/// curl on a streamed response (`-sN`, a minute at most); skips the test's remaining calls
/// when curl is missing (the tests ask [`have_curl`] first).
pub fn curl(args: &[&str]) -> Curl {
    let mut all = vec!["-sN", "--max-time", "60"];
    all.extend(args);
    test_support::curl::lines_blocking(&all).expect("curl runs")
}

/// The `pid=` a `/pid` answer names.
pub fn pid_of(text: &str) -> u32 {
    let pid = text.split_whitespace().find_map(|w| w.strip_prefix("pid="));
    pid.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"))
}

pub fn python_function() -> Vec<OsString> {
    vec!["python3".into(), runtime_py().into()]
}

/// Waits (up to 10 s) until what `read` gives holds `text` `n` times; what it gave last.
fn wait_for(read: impl Fn() -> String, text: &str, n: usize) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let out = read();
        if out.matches(text).count() >= n || Instant::now() > until {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the fixture runtime wrote to its mark file.
pub fn marks(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn mark_file(name: &str) -> PathBuf {
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The Node.js fixture app (`tests/fixtures/node`) under `host`, as any Node runtime client
/// serves it: its own header, then the four lines of its body, each before the next existed.
pub fn assert_node_app_streams(host: &Host) {
    let seen = curl(&["-i", &host.url("/")]);
    assert_eq!(seen.code, Some(0));
    let text = seen.text();
    assert!(
        text.to_ascii_lowercase().contains("\nx-runtime: node\n"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("\n\n{}", NUMBERS.concat())),
        "{text}"
    );
    let body = &seen.arrivals()[seen.lines.len() - 4..];
    test_support::assert_each_before_the_next(body, Duration::from_secs(1));
}
