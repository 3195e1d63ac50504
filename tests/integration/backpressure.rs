//! A Runtime API that stops reading must pause the handler: memory stays bounded however
//! long the stream, because the socket's backpressure reaches the body.

use crate::support;

use lambda_stream::Body;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHUNK: usize = 64 * 1024;

#[tokio::test]
async fn a_reader_that_stops_pauses_the_handler() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = lambda_stream::Config::default();
    config.runtime_api = Some(listener.local_addr().unwrap().to_string());

    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let svc = tower::service_fn(move |_req: Request<Body>| {
        let counter = counter.clone();
        async move {
            let chunk = Bytes::from(vec![b'x'; CHUNK]);
            // An endless body: only backpressure can stop it.
            let body = stream::repeat_with(move || {
                counter.fetch_add(CHUNK, Ordering::SeqCst);
                Ok::<_, Infallible>(Frame::data(chunk.clone()))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
        }
    });
    let _rt = support::Serving::spawn(lambda_stream::Runtime::new(config).run(svc));

    // A Runtime API written by hand: answer /next, then read nothing more.
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut head = vec![0u8; 4096];
    let n = sock.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"));
    let payload = br#""raw event""#;
    let reply = format!(
        "HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: slow-1\r\ncontent-length: {}\r\n\r\n",
        payload.len()
    );
    sock.write_all(reply.as_bytes()).await.unwrap();
    sock.write_all(payload).await.unwrap();

    // The handler comes to a stop, never more than 32 MiB ahead of the unread socket. Only
    // growth fails this: a slow machine merely takes longer to fill the buffers.
    const AHEAD: usize = 32 * 1024 * 1024;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut samples = vec![];
    let stalled_at = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = produced.load(Ordering::SeqCst);
        assert!(now < AHEAD, "{now} bytes buffered");
        samples.push(now);
        // Stopped: unchanged for the last second, watched for two at least.
        if samples.len() >= 20 && samples[samples.len() - 10..].iter().all(|&s| s == now) {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the handler kept producing into an unread socket: {samples:?}"
        );
    };
    eprintln!("handler produced {stalled_at} bytes before the unread socket stopped it");

    // Reading resumes the stream.
    let mut sink = vec![0u8; 1 << 20];
    let mut read = 0;
    while read < 64 * 1024 * 1024 {
        read += sock.read(&mut sink).await.unwrap();
    }
    assert!(produced.load(Ordering::SeqCst) > stalled_at + AHEAD);
}
