//! A plain HTTP/1.1 client (hyper's), for the suites that call a server as a user's client
//! would: one request on a new connection, the response read to its end with when each chunk
//! arrived.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What a client saw of one response.
#[derive(Debug)]
pub struct Seen {
    /// When the request was sent (tokio's clock, like the arrival times).
    pub sent_at: Instant,
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Each data frame, with when it arrived.
    pub chunks: Vec<(Instant, Bytes)>,
    pub trailers: Option<HeaderMap>,
    /// `Err` when the body broke off (the connection was aborted).
    pub end: Result<(), String>,
}

impl Seen {
    pub fn body(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body()).unwrap()
    }

    /// When each data frame arrived, from when the request was sent.
    pub fn arrivals(&self) -> Vec<Duration> {
        self.chunks
            .iter()
            .map(|(at, _)| *at - self.sent_at)
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `req` on a new connection and reads the whole response.
pub async fn send<B>(addr: SocketAddr, req: Request<B>) -> Seen
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let sent_at = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = tx.send_request(req).await.unwrap();
    let (parts, mut body) = res.into_parts();
    let mut seen = Seen {
        sent_at,
        status: parts.status,
        headers: parts.headers,
        chunks: vec![],
        trailers: None,
        end: Ok(()),
    };
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => seen.chunks.push((Instant::now(), data)),
                Err(frame) => seen.trailers = frame.into_trailers().ok(),
            },
            Some(Err(e)) => {
                seen.end = Err(e.to_string());
                break;
            }
            None => break,
        }
    }
    seen
}
