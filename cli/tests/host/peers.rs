//! The runtimes users deploy, under `lambda-stream local`: AWS's Node.js runtime client 4.x
//! on Node 22, and Python's runtime interface client (`awslambdaric`), whose answers are
//! buffered. Each is installed outside the clone (`.ci/run` caches them) and named by a
//! variable; a test whose peer is missing is skipped unless `LAMBDA_STREAM_REQUIRE_CLIENTS`
//! is set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::support::*;

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let all = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
    std::env::join_paths(all).unwrap()
}

#[test]
fn aws_lambda_ric_4_on_node_22_streams_with_its_handler_from_its_argument() {
    let Some(ric) = peer("LAMBDA_STREAM_NODE_RIC_4", "aws-lambda-ric 4.x's command") else {
        return;
    };
    let Some(node) = peer("LAMBDA_STREAM_NODE_22", "a Node 22 (or newer) binary") else {
        return;
    };
    if !have_curl() {
        return;
    }
    let path = path_with(node.parent().unwrap());
    let app = fixture("node");
    // No --handler: it is the command's argument, as the client is given it.
    let flags = ["--task-root", app.to_str().unwrap()];
    let env = [("PATH", path.to_str().unwrap())];
    let host = Host::start(&flags, &[ric.as_os_str(), "app.handler".as_ref()], &env);

    assert_node_app_streams(&host);

    let raw = curl(&["--raw", "-H", "TE: trailers", &host.url("/fail")]);
    let (error_type, body) = error_trailers(&raw);
    assert_eq!(error_type, "Error");
    assert_eq!(body["errorMessage"], "db gone");
    // It ran on the Node given, 22 or newer.
    let log = host.wait_for_stdout("REPORT RequestId: ", 2);
    assert!(!log.contains("Status: error"), "{log}");
}

#[test]
fn awslambdaric_for_python_answers_buffered_and_its_errors_reach_the_caller() {
    let Some(site) = peer(
        "LAMBDA_STREAM_AWSLAMBDARIC",
        "the directory awslambdaric is installed in (pip install --target)",
    ) else {
        return;
    };
    if !have_curl() || !have_python() {
        return;
    }
    let app = fixture("python");
    let flags = [
        "--task-root",
        app.to_str().unwrap(),
        "--function-name",
        "orders",
    ];
    let env = [("PYTHONPATH", site.to_str().unwrap())];
    let command = ["python3", "-m", "awslambdaric", "app.handler"];
    let host = Host::start(&flags, &command, &env);

    let seen = curl(&["-i", &host.url("/")]);
    let text = seen.text();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("\nx-runtime: python\n"),
        "{text}"
    );
    assert!(text.ends_with("\n\nhello from orders\n"), "{text}");

    // Its error, as Invoke answers it.
    let url = host.url("/2015-03-31/functions/orders/invocations");
    let seen = curl(&["-i", "-d", r#"{"rawPath":"/fail"}"#, &url]);
    let text = seen.text();
    assert!(
        text.to_ascii_lowercase()
            .contains("\nx-amz-function-error: unhandled\n"),
        "{text}"
    );
    assert!(text.contains("\"errorType\":\"ValueError\""), "{text}");
    assert!(text.contains("no such order"), "{text}");
    // The function URL's caller gets a 502, as on Lambda.
    let seen = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\n",
        &host.url("/fail"),
    ]);
    assert_eq!(seen.text(), "502\n");
}
