//! A Runtime API that closes the connection after every reply: the runtime notices, opens a
//! new connection for the next call, and loses no event and no response.
//!
//! The server here is raw TCP, so that every byte and every close is under the test's control.

use crate::support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use lambda_stream::Body;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::service_fn;

const EVENT: &str = include_str!("../fixtures/events/function-url-get.json");

/// Reads one request: its head, and its chunked body if it has one.
async fn read_request(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let chunked = head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked");
            if !chunked || text[end + 4..].ends_with("0\r\n\r\n") {
                return text;
            }
        }
        let n = s.read(&mut byte).await.expect("read");
        assert!(n > 0, "the runtime closed mid-request: {text:?}");
        buf.extend_from_slice(&byte[..n]);
    }
}

async fn accept(listener: &TcpListener) -> TcpStream {
    tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("the runtime did not reconnect within 10 s")
        .expect("accept")
        .0
}

#[tokio::test]
async fn a_connection_closed_after_each_reply_is_replaced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = lambda_stream::Config::default();
    config.runtime_api = Some(listener.local_addr().unwrap().to_string());
    let rt = support::Serving::spawn(lambda_stream::Runtime::new(config).run(service_fn(
        |req: Request<Body>| async move {
            let reply = format!("hello from {}", req.uri().path());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(reply))))
        },
    )));

    for i in 0..3 {
        let mut s = accept(&listener).await;
        let req = read_request(&mut s).await;
        assert!(
            req.starts_with("GET /2018-06-01/runtime/invocation/next "),
            "{req}"
        );
        let head = format!(
            "HTTP/1.1 200 OK\r\nconnection: close\r\nlambda-runtime-aws-request-id: req-{i}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            EVENT.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(EVENT.as_bytes()).await.unwrap();
        drop(s);

        let mut s = accept(&listener).await;
        let req = read_request(&mut s).await;
        assert!(
            req.starts_with(&format!(
                "POST /2018-06-01/runtime/invocation/req-{i}/response "
            )),
            "{req}"
        );
        assert!(req.contains("\0\0\0\0\0\0\0\0"), "{req:?}");
        assert!(req.contains("hello from /"), "{req:?}");
        s.write_all(
            b"HTTP/1.1 202 Accepted\r\nconnection: close\r\ncontent-length: 15\r\n\r\n{\"status\":\"OK\"}",
        )
        .await
        .unwrap();
        drop(s);
    }
    // And it goes on to ask for the next event.
    let mut s = accept(&listener).await;
    assert!(read_request(&mut s)
        .await
        .starts_with("GET /2018-06-01/runtime/invocation/next "));
    assert!(!rt.is_finished());
}
