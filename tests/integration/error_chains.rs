//! Errors of wrapped bodies (axum's, hyper's) reach Lambda with each message said once: in
//! the error trailers of a streamed response, and in `/error` with its X-Ray cause.

use std::io;
use std::time::Duration;

use crate::support::{self, MockRuntimeApi, Serving};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use lambda_stream::{Body, ResponseMode, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MIDWAY: &str = "the body failed midway";

/// An axum app whose `/` streams one chunk, then fails with [`MIDWAY`].
fn failing_app() -> axum::Router {
    axum::Router::new().route(
        "/",
        get(|| async {
            let chunks = stream::iter([
                Ok(Bytes::from_static(b"first chunk\n")),
                Err(io::Error::other(MIDWAY)),
            ]);
            axum::body::Body::from_stream(chunks)
        }),
    )
}

#[tokio::test]
async fn an_axum_body_failing_midway_says_its_message_once_in_the_trailers() {
    let served = support::serve(["axum-1"], failing_app()).await;
    let res = served.response().await;
    let (_, body) = res.split();
    assert_eq!(body, b"first chunk\n");
    let (error_type, error) = res.error_trailers().expect("error trailers");
    assert_eq!(error_type, "Function.StreamError");
    assert_eq!(error["errorType"], "Function.StreamError");
    assert_eq!(error["errorMessage"], MIDWAY);
}

#[tokio::test]
async fn an_axum_body_failing_before_a_buffered_answer_says_its_message_once() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event("axum-buffered".into());
    let _runtime = Serving::spawn(
        Runtime::new(mock.config())
            .response_mode(ResponseMode::Buffered)
            .run(failing_app()),
    );
    let report = mock.error().await;
    assert_eq!(report.error_type(), "Function.Error");
    assert_eq!(report.message(), MIDWAY);
    let cause: serde_json::Value = serde_json::from_slice(
        report.headers["lambda-runtime-function-xray-error-cause"].as_bytes(),
    )
    .expect("the X-Ray error cause is JSON");
    assert_eq!(cause["exceptions"][0]["message"], MIDWAY);
}

/// An upstream HTTP server on loopback that promises `Content-Length: 100`, sends 12 bytes,
/// then closes the connection.
async fn upstream_that_breaks_off() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request head; its end does not matter, the reply is the same.
                let mut head = [0u8; 1024];
                let _ = stream.read(&mut head).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst chunk\n")
                    .await;
                // Let the chunk leave on its own before the connection closes.
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    addr
}

/// The body of `GET /` from `upstream`, through hyper's client: an `Incoming`, whose errors
/// are hyper's.
async fn proxied_body(upstream: std::net::SocketAddr) -> hyper::body::Incoming {
    let stream = tokio::net::TcpStream::connect(upstream).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/")
        .header("host", upstream.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    send.send_request(req).await.unwrap().into_body()
}

/// What hyper says when that upstream breaks off, as its error chain reads with each part
/// said once: hyper's message, then its cause's.
async fn what_hyper_says(upstream: std::net::SocketAddr) -> String {
    let mut body = proxied_body(upstream).await;
    let mut parts = vec![];
    loop {
        match body.frame().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                parts.push(e.to_string());
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    parts.push(s.to_string());
                    source = s.source();
                }
                break;
            }
            None => panic!("the upstream's body ended cleanly"),
        }
    }
    // hyper's own message does not repeat its cause's.
    assert!(
        parts.windows(2).all(|w| !w[0].ends_with(&w[1])),
        "{parts:?}"
    );
    parts.join(": ")
}

#[tokio::test]
async fn a_hyper_body_failing_midway_says_hypers_chain_once() {
    let upstream = upstream_that_breaks_off().await;
    let expected = what_hyper_says(upstream).await;

    // The hyper body as the response body.
    let service = tower::service_fn(move |_req: Request<Body>| async move {
        Ok::<_, std::convert::Infallible>(Response::new(proxied_body(upstream).await))
    });
    let served = support::serve(["hyper-1"], service).await;
    let res = served.response().await;
    assert_eq!(res.split().1, b"first chunk\n");
    let (_, error) = res.error_trailers().expect("error trailers");
    assert_eq!(error["errorMessage"], expected.as_str());

    // The same body wrapped by axum, whose error prints hyper's and returns it as its source.
    let app = axum::Router::new().route(
        "/",
        get(move || async move { axum::body::Body::new(proxied_body(upstream).await) }),
    );
    let served = support::serve(["axum-hyper-1"], app).await;
    let res = served.response().await;
    assert_eq!(res.split().1, b"first chunk\n");
    let (_, error) = res.error_trailers().expect("error trailers");
    assert_eq!(error["errorMessage"], expected.as_str());
}
