//! A user's function built as it is deployed, `cargo build --release` with lambda-stream's
//! default features (`tests/fixtures/release_probe`): outside Lambda it must not start the
//! local server (whose code must not be in the binary) and must say how to get it; under a
//! Runtime API it must serve; with `local-release` it must serve locally again.
//!
//! Each test builds the probe with the cargo running the tests, in a target directory of its
//! own (the first build compiles the dependencies in release: about a minute on 2 cores).

use crate::support::{self, process};

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use process::Killed;
use support::{contains, MockEvent, MockRuntimeApi};

/// The first line of what the local server logs when it listens: in the binary only when
/// the server's code is.
const SERVER_LOG: &[u8] = b"local lambda server on http://";
/// The inspector page's title: in the binary only when the server's code is.
const INSPECTOR_TITLE: &[u8] = b"<title>lambda-stream inspector</title>";

/// One build at a time: both variants come out of the same target directory.
static BUILD: Mutex<()> = Mutex::new(());

/// Builds the probe in release with `features`, and returns a copy of its binary.
fn build(variant: &str, features: &[&str]) -> PathBuf {
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("release-probe");
    let krate = tmp.join("crate");
    std::fs::create_dir_all(&krate).unwrap();
    let fixture = repo.join("tests/fixtures/release_probe");
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml.in"))
        .unwrap()
        .replace("@LAMBDA_STREAM@", &repo.display().to_string());
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(fixture.join("main.rs"), krate.join("main.rs")).unwrap();
    // The versions this repository is tested with.
    if repo.join("Cargo.lock").exists() && !krate.join("Cargo.lock").exists() {
        std::fs::copy(repo.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    }
    let target = tmp.join("target");
    let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cargo
        .current_dir(&krate)
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&target)
        // Not the test run's: a probe built with them would not be what users build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS");
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    let status = cargo.status().unwrap();
    assert!(status.success(), "building the release probe failed");
    let built = target.join("release/release-probe");
    let copy = tmp.join(format!("release-probe-{variant}"));
    std::fs::copy(&built, &copy).unwrap();
    copy
}

/// The probe, outside Lambda, on `port`.
fn outside_lambda(exe: &Path, port: u16) -> Command {
    let mut command = Command::new(exe);
    command
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LOCAL_LAMBDA_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_release_build_outside_lambda_says_how_to_get_the_local_server() {
    let exe = build("default", &[]);
    let bytes = std::fs::read(&exe).unwrap();
    assert!(
        !contains(&bytes, SERVER_LOG) && !contains(&bytes, INSPECTOR_TITLE),
        "the local server's code is linked into a default release build"
    );

    let port = lambda_stream_test_support::free_port();
    let mut child = Killed(outside_lambda(&exe, port).spawn().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid runtime configuration: AWS_LAMBDA_RUNTIME_API is not set")
            && stderr.contains("release builds do not start the local server")
            && stderr.contains("`local-release`")
            // The host that serves it as it is, named with this binary's path.
            && stderr.contains(&format!("`lambda-stream local -- {}`", exe.display()))
            && stderr.contains("(config: true)"),
        "{stderr}"
    );
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "something listens on the local server's port"
    );
}

#[tokio::test]
async fn a_release_build_serves_the_runtime_api() {
    let exe = tokio::task::spawn_blocking(|| build("default", &[]))
        .await
        .unwrap();
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::url("release-1"));
    let _child = Killed(
        Command::new(exe)
            .env("AWS_LAMBDA_RUNTIME_API", mock.address())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "release-1");
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, b"release probe\n");
}

#[test]
fn local_release_serves_locally_in_a_release_build() {
    let exe = build("local-release", &["lambda-stream/local-release"]);
    let bytes = std::fs::read(&exe).unwrap();
    assert!(contains(&bytes, SERVER_LOG) && contains(&bytes, INSPECTOR_TITLE));

    let port = lambda_stream_test_support::free_port();
    let _child = Killed(outside_lambda(&exe, port).spawn().unwrap());
    let mut stream =
        lambda_stream_test_support::connect_when_listening(port, Duration::from_secs(20));
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("release probe\n"), "{response}");
}
