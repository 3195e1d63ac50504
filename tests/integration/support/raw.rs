//! A Runtime API written by hand over raw TCP, for faults a real HTTP server would not make:
//! garbage instead of HTTP, truncated replies, a connection reset in the middle of a request.
//!
//! The test drives it step by step: accept a connection, read a request head, write any bytes.
//! [`RawApi::serve`] runs a runtime against it, as [`super::Serving`].

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener the runtime connects to.
pub struct RawApi {
    listener: TcpListener,
}

impl RawApi {
    pub async fn bind() -> Self {
        RawApi {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    /// A runtime `Config` pointing at this listener.
    pub fn config(&self) -> lambda_stream::Config {
        let mut c = lambda_stream::Config::default();
        c.runtime_api = Some(self.listener.local_addr().unwrap().to_string());
        c
    }

    /// The next connection from the runtime, within 10 s.
    pub async fn accept(&self) -> RawConn {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .expect("the runtime connected within 10 s")
            .unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }
}

/// One connection from the runtime.
pub struct RawConn {
    pub stream: TcpStream,
    /// Bytes read past the last head returned.
    buf: Vec<u8>,
}

/// A request head as received: its request line (the header lines are checked, not kept).
#[derive(Debug)]
pub struct Head {
    pub line: String,
}

impl RawConn {
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("the runtime sent something within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads one request head.
    pub async fn head(&mut self) -> Head {
        loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8(self.buf[..at].to_vec()).unwrap();
                self.buf.drain(..at + 4);
                let mut lines = text.split("\r\n");
                let line = lines.next().unwrap().to_owned();
                for header in lines {
                    assert!(header.contains(':'), "not a header line: {header:?}");
                }
                return Head { line };
            }
            assert!(self.fill().await, "the connection closed before a head");
        }
    }

    /// Reads at least `n` raw bytes after the head (chunk framing included) and returns them.
    pub async fn read_at_least(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "the connection closed early");
        }
        std::mem::take(&mut self.buf)
    }

    /// Reads a chunked body to its end and returns the decoded bytes and the trailer lines.
    pub async fn chunked_body(&mut self) -> (Vec<u8>, Vec<String>) {
        let mut body = Vec::new();
        loop {
            let line = self.line().await;
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                let mut trailers = vec![];
                loop {
                    let l = self.line().await;
                    if l.is_empty() {
                        return (body, trailers);
                    }
                    trailers.push(l);
                }
            }
            while self.buf.len() < size + 2 {
                assert!(self.fill().await, "the connection closed inside a chunk");
            }
            body.extend_from_slice(&self.buf[..size]);
            assert_eq!(&self.buf[size..size + 2], b"\r\n");
            self.buf.drain(..size + 2);
        }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..at].to_vec()).unwrap();
                self.buf.drain(..at + 2);
                return line;
            }
            assert!(self.fill().await, "the connection closed inside a line");
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        // The peer may already have given up on a garbled reply.
        let _ = self.stream.write_all(bytes).await;
    }

    /// Answers a `/next` with an event, as Lambda does.
    pub async fn event(&mut self, request_id: &str, payload: &str) {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: {request_id}\r\n\
             lambda-runtime-deadline-ms: 4102444800000\r\ncontent-length: {}\r\n\r\n{payload}",
            payload.len()
        );
        self.write(reply.as_bytes()).await;
    }

    /// Answers a POST with `202 Accepted`.
    pub async fn accepted(&mut self) {
        self.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 15\r\n\r\n{\"status\":\"OK\"}")
            .await;
    }

    /// Closes the connection with a TCP reset instead of an orderly shutdown.
    pub fn reset(self) {
        // A zero linger does not block on drop: it sends the reset at once.
        #[allow(deprecated)]
        let _ = self.stream.set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }
}

impl RawApi {
    /// Runs `service` under a runtime pointed at this listener, until the guard is dropped.
    pub fn serve<S: crate::support::Function>(&self, service: S) -> crate::support::Serving {
        crate::support::Serving::spawn(lambda_stream::Runtime::new(self.config()).run(service))
    }
}
