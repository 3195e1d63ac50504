//! The handler logic both benchmark functions share: the same body type, the same chunks.
//!
//! The function URL path picks the scenario:
//! - `/small`: one 16-byte chunk;
//! - `/large`: 256 MiB in 64 KiB chunks (one shared buffer, no copy per chunk);
//! - `/paced`: 3 chunks 1 s apart, each carrying the Unix time in nanoseconds at which it
//!   was produced, so the receiver can tell each chunk's delay from write to arrival;
//! - `/tokens`: 10 MB in 100-byte chunks, the way an LLM-style answer is written: a spawned
//!   producer task sends each chunk through a `tokio::sync::mpsc` channel of
//!   [`TOKEN_CHANNEL`] slots (`BENCH_TOKEN_CHANNEL`), and the body is the channel's receiver;
//!   or, with `BENCH_BODY=channel`, through `lambda_runtime::streaming::channel()`
//!   ([`lambda_channel_response`]), the one-slot channel of lambda_http's own streaming example;
//! - `/fail`: one chunk, then the body fails (an I/O error), for what a caller sees of a
//!   stream that breaks midway;
//! - `/many/T/G`: `T` tokens of 8 bytes, `G` ms apart on a fixed schedule from the call
//!   (the first at once), the way a model's answer arrives; each token is its own scheduled
//!   time (Unix nanoseconds, little-endian), so the receiver can tell how late it came and
//!   whether the stream is exact. The body waits on its own timer (no task of its own), as a
//!   body fed by an upstream socket does;
//! - `/bulk/C`: `C` chunks of 64 KiB, unpaced.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body::Frame;

/// The size of the large response.
pub const LARGE_BYTES: u64 = 256 * 1024 * 1024;
/// The chunk size of the large response.
pub const LARGE_CHUNK: usize = 64 * 1024;
/// The number of chunks of the paced response.
pub const PACED_CHUNKS: u32 = 3;
/// The pause between two chunks of the paced response.
pub const PACED_GAP: Duration = Duration::from_secs(1);

/// The size of the token stream.
pub const TOKEN_BYTES: u64 = 10_000_000;
/// The chunk size of the token stream.
pub const TOKEN_CHUNK: usize = 100;
/// The capacity of the token stream's channel.
pub const TOKEN_CHANNEL: usize = 32;
/// One chunk of the token stream.
pub static TOKEN: [u8; TOKEN_CHUNK] = [b't'; TOKEN_CHUNK];

/// The chunks of the token stream, in order: what a producer sends, whatever the channel.
pub fn tokens() -> impl Iterator<Item = Bytes> {
    let alloc = std::env::var("BENCH_TOKEN_ALLOC").is_ok();
    (0..TOKEN_BYTES / TOKEN_CHUNK as u64).map(move |_| {
        if alloc {
            Bytes::from(TOKEN.to_vec())
        } else {
            Bytes::from_static(&TOKEN)
        }
    })
}

/// The response body of every scenario.
pub enum Chunks {
    /// Still to send: the one small chunk.
    Small(Option<Bytes>),
    /// `left` bytes of `chunk` repeated.
    Large { chunk: Bytes, left: u64 },
    /// `sent` of [`PACED_CHUNKS`] sent; the pause before the next.
    Paced {
        sent: u32,
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    /// `/many`: `sent` of `total` tokens sent, token `i` due at `start + i * gap` (and
    /// carrying `unix_start + i * gap` in nanoseconds); `pause` waits for the next.
    Ticks {
        sent: u32,
        total: u32,
        start: tokio::time::Instant,
        unix_start: u64,
        gap: Duration,
        pause: Pin<Box<tokio::time::Sleep>>,
    },
    /// The receiving end of the token stream's producer task.
    Tokens(tokio::sync::mpsc::Receiver<Bytes>),
    /// `sent` chunks of `/fail` so far: its one chunk, then its error, then the end (a body
    /// polled after its error ends, as a stream does).
    Fail { sent: u8 },
}

/// The first and only chunk of `/fail`, before its error.
pub const FAIL_CHUNK: &[u8] = b"partial\n";

impl Chunks {
    /// The body for a request path.
    pub fn for_path(path: &str) -> Chunks {
        match path {
            "/large" => Chunks::Large {
                chunk: Bytes::from(vec![b'x'; LARGE_CHUNK]),
                left: LARGE_BYTES,
            },
            "/fail" => Chunks::Fail { sent: 0 },
            _ if path.starts_with("/many/") => {
                let mut parts = path["/many/".len()..].split('/');
                let total = parts.next().and_then(|t| t.parse().ok()).unwrap_or(1);
                let gap = parts.next().and_then(|g| g.parse().ok()).unwrap_or(20);
                let start = tokio::time::Instant::now();
                Chunks::Ticks {
                    sent: 0,
                    total,
                    start,
                    unix_start: unix_nanos(),
                    gap: Duration::from_millis(gap),
                    pause: Box::pin(tokio::time::sleep_until(start)),
                }
            }
            _ if path.starts_with("/bulk/") => {
                let chunks: u64 = path["/bulk/".len()..].parse().unwrap_or(1);
                Chunks::Large {
                    chunk: Bytes::from(vec![b'x'; LARGE_CHUNK]),
                    left: chunks * LARGE_CHUNK as u64,
                }
            }
            "/paced" => Chunks::Paced {
                sent: 0,
                pause: None,
            },
            "/tokens" => {
                let cap = std::env::var("BENCH_TOKEN_CHANNEL")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(TOKEN_CHANNEL);
                let (tx, rx) = tokio::sync::mpsc::channel(cap);
                tokio::spawn(async move {
                    for chunk in tokens() {
                        if tx.send(chunk).await.is_err() {
                            return;
                        }
                    }
                });
                Chunks::Tokens(rx)
            }
            _ => Chunks::Small(Some(Bytes::from_static(b"0123456789abcdef"))),
        }
    }
}

/// A paced chunk: the time of its writing, `t=<unix nanos>\n`.
pub fn stamp() -> Bytes {
    Bytes::from(format!("t={}\n", unix_nanos()))
}

/// The Unix time, in nanoseconds.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match this {
            Chunks::Small(chunk) => Poll::Ready(chunk.take().map(|c| Ok(Frame::data(c)))),
            Chunks::Large { chunk, left } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let n = (*left).min(chunk.len() as u64);
                *left -= n;
                Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n as usize)))))
            }
            Chunks::Paced { sent, pause } => {
                if *sent == PACED_CHUNKS {
                    return Poll::Ready(None);
                }
                if let Some(p) = pause {
                    if p.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                *sent += 1;
                *pause = Some(Box::pin(tokio::time::sleep(PACED_GAP)));
                Poll::Ready(Some(Ok(Frame::data(stamp()))))
            }
            Chunks::Ticks {
                sent,
                total,
                start,
                unix_start,
                gap,
                pause,
            } => {
                if *sent == *total {
                    return Poll::Ready(None);
                }
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let offset = *gap * *sent;
                let token = *unix_start + offset.as_nanos() as u64;
                *sent += 1;
                // One timer per stream, reset for each token: no allocation per token.
                let next = *start + *gap * *sent;
                pause.as_mut().reset(next);
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
                    &token.to_le_bytes(),
                )))))
            }
            Chunks::Tokens(rx) => rx.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c)))),
            Chunks::Fail { sent } => {
                *sent = sent.saturating_add(1);
                match sent {
                    1 => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(FAIL_CHUNK))))),
                    2 => Poll::Ready(Some(Err(std::io::Error::other("the body failed midway")))),
                    _ => Poll::Ready(None),
                }
            }
        }
    }
}

/// The response both functions return.
pub fn response(path: &str) -> http::Response<Chunks> {
    let mut res = http::Response::new(Chunks::for_path(path));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    res
}

/// The next chunk of `body`, for the handler styles that write chunks rather than return a
/// body.
pub async fn next_chunk(body: &mut Chunks) -> Option<Bytes> {
    use http_body::Body as _;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(data);
                }
            }
            Err(_) => return None,
        }
    }
}

/// The same chunks through `lambda_runtime::streaming::channel()`, sent by a spawned task
/// with `send_data` per chunk: what lambda_http's streaming example does. Both functions
/// return this body when `BENCH_BODY=channel` (lambda_http also with `BENCH_ENTRY=channel`).
pub fn lambda_channel_response(
    path: &str,
) -> http::Response<lambda_http::lambda_runtime::streaming::Body> {
    let (mut tx, rx) = lambda_http::lambda_runtime::streaming::channel();
    let path = path.to_owned();
    tokio::spawn(async move {
        if path == "/tokens" {
            for chunk in tokens() {
                if tx.send_data(chunk).await.is_err() {
                    return;
                }
            }
        } else {
            let mut body = Chunks::for_path(&path);
            while let Some(chunk) = next_chunk(&mut body).await {
                if tx.send_data(chunk).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut res = http::Response::new(rx);
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    res
}

/// Whether the handler's body is `lambda_runtime::streaming::channel()`'s
/// (`BENCH_BODY=channel`) rather than [`Chunks`].
pub fn lambda_channel_body() -> bool {
    std::env::var("BENCH_BODY").is_ok_and(|b| b == "channel")
}

/// The capacity of the writer style's channel: `BENCH_WRITER_CHANNEL`, or the writer's
/// default (`None`).
pub fn writer_channel() -> Option<usize> {
    std::env::var("BENCH_WRITER_CHANNEL")
        .ok()
        .and_then(|c| c.parse().ok())
}

/// What the function binaries read from the environment to pick how they serve.
///
/// `BENCH_ENTRY`: `run` (the default), `concurrent` (`run_concurrent` /
/// `run_with_streaming_response_concurrent`), `writer` (lambda-stream's `stream_fn`) or
/// `channel` (lambda_http with `lambda_runtime::streaming::channel`).
pub fn entry() -> String {
    std::env::var("BENCH_ENTRY").unwrap_or_else(|_| "run".into())
}
