//! Graceful shutdown on Lambda: the `graceful_shutdown` example binary, against the Runtime
//! API mock and its Extensions API, registers the internal extension before its first
//! `/next`, so that Lambda would send `SIGTERM`; on `SIGTERM` its shutdown future runs and
//! the process exits 0. A failed registration leaves a warning and a function that serves.

use crate::support::process::{shutdown_example as start_example, Killed};
use crate::support::{self, MockEvent, MockRuntimeApi};

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use support::extensions::{identifier, Call, RegisterReply};

const HOOK_RAN: &str = "shutdown: flushed 1 buffered records";
const REFUSED: &str = "cannot register the shutdown extension";

fn signal(child: &Killed, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} failed");
}

/// Every line the process writes to stdout until it exits, its exit status, and how long
/// after `since` it exited.
async fn wait_for_exit(mut child: Killed, since: Instant) -> (Vec<String>, ExitStatus, Duration) {
    let stdout = child.0.stdout.take().unwrap();
    let waiting = tokio::task::spawn_blocking(move || {
        let lines = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let status = child.0.wait().unwrap();
        (lines, status, since.elapsed())
    });
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the process exits within 20 s of the signal")
        .unwrap()
}

/// Waits (up to 20 s) until `ok(calls)` holds of the mock's Extensions API calls.
async fn until_calls(mock: &MockRuntimeApi, ok: impl Fn(&[Call]) -> bool) -> Vec<Call> {
    for _ in 0..2000 {
        let calls = mock.extensions.calls();
        if ok(&calls) {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not seen within 20 s: {:?}", mock.extensions.calls());
}

fn extension_nexts(calls: &[Call]) -> Vec<&http::HeaderMap> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Next { headers } => Some(headers),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_extension_registers_before_the_first_next_then_sigterm_runs_the_hook() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::url("req-1"));
    let child = start_example(&[("AWS_LAMBDA_RUNTIME_API", &mock.address())]);
    // The mock hands the event out only once the extension has called `/event/next`, as
    // Lambda ends the initialisation only then: the response says both happened.
    let res = mock.response().await;
    assert_eq!(res.split().1, b"hello\n");

    let calls = mock.extensions.calls();
    let Some(Call::Register { headers, body }) = calls.first() else {
        panic!("the first call is not a registration: {calls:?}");
    };
    assert_eq!(
        headers["lambda-extension-name"],
        "lambda-stream-graceful-shutdown"
    );
    let body: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
    assert_eq!(body, serde_json::json!({ "events": [] }));
    let registrations = calls
        .iter()
        .filter(|c| matches!(c, Call::Register { .. }))
        .count();
    assert_eq!(registrations, 1, "{calls:?}");
    let nexts = extension_nexts(&calls);
    assert_eq!(nexts.len(), 1, "{calls:?}");
    assert_eq!(
        nexts[0]["lambda-extension-identifier"],
        identifier(1).as_str()
    );
    assert!(
        calls.iter().any(|c| matches!(c, Call::RuntimeNext)),
        "{calls:?}"
    );

    // An event on `/event/next` (an internal extension subscribed to none gets none from
    // Lambda): the extension calls it again.
    mock.extensions
        .send_event(r#"{"eventType":"INVOKE","deadlineMs":0}"#);
    let calls = until_calls(&mock, |c| extension_nexts(c).len() == 2).await;
    assert_eq!(
        extension_nexts(&calls)[1]["lambda-extension-identifier"],
        identifier(1).as_str()
    );

    // Lambda shuts the environment down.
    let since = Instant::now();
    signal(&child, "-TERM");
    let (lines, status, after) = wait_for_exit(child, since).await;
    assert!(status.success(), "{status:?}: {lines:?}");
    assert!(lines.iter().any(|l| l == HOOK_RAN), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains(REFUSED)), "{lines:?}");
    eprintln!("exited {after:?} after SIGTERM");
}

#[tokio::test]
async fn a_failed_registration_is_logged_and_the_function_serves() {
    for reply in [
        RegisterReply::Status(500),
        RegisterReply::Status(404),
        RegisterReply::Hang,
    ] {
        let mock = MockRuntimeApi::start().await;
        mock.extensions.reply_to_register(reply);
        mock.push_event(MockEvent::url("req-1"));
        let child = start_example(&[("AWS_LAMBDA_RUNTIME_API", &mock.address())]);
        let res = mock.response().await;
        assert_eq!(res.split().1, b"hello\n", "{reply:?}");
        let calls = mock.extensions.calls();
        assert!(
            matches!(calls.first(), Some(Call::Register { .. })),
            "{reply:?}: {calls:?}"
        );
        assert!(extension_nexts(&calls).is_empty(), "{reply:?}: {calls:?}");

        // No SIGTERM promise, but the handler is installed: a signal still runs it.
        signal(&child, "-TERM");
        let (lines, status, _) = wait_for_exit(child, Instant::now()).await;
        assert!(status.success(), "{reply:?}: {status:?}: {lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("WARN") && l.contains(REFUSED)),
            "{reply:?}: {lines:?}"
        );
        assert!(lines.iter().any(|l| l == HOOK_RAN), "{reply:?}: {lines:?}");
    }
}

#[tokio::test]
async fn locally_nothing_is_registered_and_ctrl_c_runs_the_hook() {
    // The local server, on a free port; its in-process Runtime API is not asked to register
    // anything (that would log a warning: it has no Extensions API).
    let mut child = start_example(&[("LOCAL_LAMBDA_PORT", "0")]);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = vec![];
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("127.0.0.1:") => break line,
            Ok(line) => lines.push(line),
            Err(e) => panic!("the local server did not start: {e}: {lines:?}"),
        }
    };
    lines.push(listening);
    signal(&child, "-INT");
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    lines.extend(rx.iter());
    assert!(status.success(), "{status:?}: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "shutdown: flushed 0 buffered records"),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("extension")), "{lines:?}");
}
