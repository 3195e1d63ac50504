//! `Server::host_until` with a real process: a runtime written in a few lines of Python (any
//! program that speaks the Runtime API), invoked through the `Invoke` door over a real socket.
#![cfg(all(unix, feature = "host"))]

use std::net::SocketAddr;
use std::time::Duration;

use lambda_stream_local::{Function, FunctionConfig, Options, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A runtime: each event comes back as `{"name": the function's name, "event": the event}`.
const RUNTIME: &str = r#"
import json, os, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(base + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.dumps({"name": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "event": event})
    urllib.request.urlopen(urllib.request.Request(
        base + request_id + "/response", data=body.encode(), method="POST"))
"#;

/// Whether `python3` runs here; without it the test is skipped, unless
/// `LAMBDA_STREAM_REQUIRE_CLIENTS` asks that it fail instead.
fn python() -> bool {
    lambda_stream_test_support::have("python3", &["--version"])
}

async fn invoke(doors: SocketAddr, event: &str) -> String {
    let request = format!(
        "POST /2015-03-31/functions/shop/invocations HTTP/1.1\r\nHost: localhost\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{event}",
        event.len()
    );
    let mut stream = TcpStream::connect(doors).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_hosted_process_answers_until_the_host_is_stopped() {
    if !python() {
        return;
    }
    let mut options = Options::default();
    options.addr = "127.0.0.1:0".parse().unwrap();
    options.function_timeout = Duration::from_secs(30);
    let mut function = FunctionConfig::default();
    function.name = "shop".to_owned();
    let server = Server::bind(options, function).await.unwrap();
    let doors = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let host = tokio::spawn(server.host_until(
        Function::new("python3").arg("-c").arg(RUNTIME),
        async move {
            let _ = stopped.await;
        },
    ));

    // The first invocation starts the process (a cold start); the second finds it warm.
    for n in 1..=2 {
        let answer = invoke(doors, &format!(r#"{{"n":{n}}}"#)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body, serde_json::json!({"name": "shop", "event": {"n": n}}));
    }

    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(10), host).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    // The doors are closed (their task is aborted first, and gone within moments).
    let mut closed = false;
    for _ in 0..100 {
        if TcpStream::connect(doors).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "the doors still accept connections");
}
