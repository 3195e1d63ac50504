//! Fine chunks from a one-slot producer: what reaches the Runtime API's socket.
//!
//! A producer that is ready again within one scheduler turn (a task feeding a one-slot
//! channel, the writer style with `channel_capacity(1)`) has its chunks gathered into chunked
//! frames of up to 16 KiB; a producer that is not ready never has its chunk held back: each
//! chunk is on the wire before the producer makes the next. On a hand-written Runtime API, so
//! the test reads the chunked framing itself.

use crate::support::{self, raw};

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream::writer::{stream_fn, ResponseWriter};
use lambda_stream::{Body, Runtime};
use raw::{RawApi, RawConn};
use tokio::sync::mpsc;

/// The chunks of the tests: 100 bytes each, numbered.
fn chunk(i: usize) -> Bytes {
    let mut c = format!("chunk {i:05} ").into_bytes();
    c.resize(100, b'.');
    Bytes::from(c)
}

fn expected(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| chunk(i).to_vec()).collect()
}

/// A body fed through a one-slot channel by a task that sends `n` chunks back to back.
fn one_slot_producer(n: usize) -> StreamBody<impl futures_util::Stream<Item = FrameResult>> {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        for i in 0..n {
            if tx.send(chunk(i)).await.is_err() {
                return;
            }
        }
    });
    receiver_body(rx)
}

type FrameResult = Result<Frame<Bytes>, Infallible>;

fn receiver_body(
    mut rx: mpsc::Receiver<Bytes>,
) -> StreamBody<impl futures_util::Stream<Item = FrameResult>> {
    StreamBody::new(futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
    }))
}

/// Answers the first `/next` with an event and reads the head of the streamed response.
async fn invocation(api: &RawApi) -> RawConn {
    let mut conn = api.accept().await;
    let next = conn.head().await;
    assert!(next.line.starts_with("GET "), "{}", next.line);
    let event = support::fixture("function-url-get.json");
    conn.event("req-1", std::str::from_utf8(&event).unwrap())
        .await;
    let post = conn.head().await;
    assert!(post.line.contains("/req-1/response"), "{}", post.line);
    conn
}

/// Reads a chunked body to its end and returns its chunks as framed on the wire: one entry per
/// chunk-size line (the terminating chunk not included).
async fn wire_chunks(conn: &mut RawConn) -> Vec<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunks = Vec::new();
    let mut at = 0;
    loop {
        // Parse what has come; read more when a chunk is incomplete.
        while let Some(eol) = raw[at..].windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&raw[at..at + eol]).unwrap();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                return chunks;
            }
            let start = at + eol + 2;
            if raw.len() < start + size + 2 {
                break;
            }
            chunks.push(raw[start..start + size].to_vec());
            assert_eq!(&raw[start + size..start + size + 2], b"\r\n");
            at = start + size + 2;
        }
        raw.extend(conn.read_at_least(1).await);
    }
}

/// The data chunks after the prelude and its 8-NUL delimiter (each its own wire chunk).
fn body_chunks(mut chunks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let at = chunks
        .iter()
        .position(|c| c == &[0u8; 8])
        .expect("the delimiter is a wire chunk of its own");
    chunks.drain(..=at);
    chunks
}

const N: usize = 2000;

/// Runs `service` against a hand-written Runtime API and returns the body's wire chunks.
async fn gathered<S: support::Function + Clone>(service: S, concurrent: bool) -> Vec<Vec<u8>> {
    let api = RawApi::bind().await;
    let _rt = if concurrent {
        support::Serving::spawn(Runtime::new(api.config()).run_concurrent(service))
    } else {
        api.serve(service)
    };
    let mut conn = invocation(&api).await;
    let chunks = body_chunks(wire_chunks(&mut conn).await);
    conn.accepted().await;
    chunks
}

/// What a one-slot producer's 2,000 chunks of 100 bytes must look like on the wire: whole
/// and in order, in frames of at most 16 KiB, and gathered: with one turn per chunk, each
/// frame but the last holds 163 chunks (16,300 bytes); `min_average` chunks per frame is
/// what the test asks for (one per frame if nothing were gathered).
fn assert_gathered(chunks: &[Vec<u8>], min_average: usize) {
    let body: Vec<u8> = chunks.iter().flatten().copied().collect();
    assert!(body == expected(N), "the body arrived whole and in order");
    assert!(chunks.iter().all(|c| c.len() <= 16 * 1024));
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert!(
        chunks.len() <= N.div_ceil(min_average),
        "{} wire chunks for {N} chunks of a one-slot producer: {sizes:?}",
        chunks.len()
    );
}

fn channel_service() -> impl support::Function + Clone {
    tower::service_fn(|_req: Request<Body>| async move {
        Ok::<_, Infallible>(Response::new(one_slot_producer(N)))
    })
}

async fn write_chunks(
    _req: Request<Body>,
    mut out: ResponseWriter,
) -> Result<(), lambda_stream::writer::Error> {
    for i in 0..N {
        out.write(chunk(i)).await?;
    }
    out.finish().await
}

#[tokio::test]
async fn a_one_slot_producer_fills_frames_current_thread() {
    let chunks = gathered(channel_service(), false).await;
    // One scheduler, so one turn per chunk exactly: 12 frames of 163 chunks, then 44.
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let mut want = vec![16_300; 12];
    want.push(4_400);
    assert_eq!(sizes, want);
    assert_gathered(&chunks, 163);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_slot_producer_fills_frames_multi_thread() {
    let chunks = gathered(channel_service(), false).await;
    // Two workers may run the producer beside the connection, and a turn can end before
    // it delivers, more often the busier the machine; chunks still share their frames (one
    // chunk per frame without gathering). The exact counts are `current_thread`'s.
    assert_gathered(&chunks, 2);
}

#[tokio::test]
async fn run_concurrent_fills_frames_too() {
    let chunks = gathered(channel_service(), true).await;
    assert_gathered(&chunks, 163);
}

#[tokio::test]
async fn the_writer_style_with_one_slot_fills_frames() {
    let chunks = gathered(stream_fn(write_chunks).channel_capacity(1), false).await;
    assert_gathered(&chunks, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_style_with_one_slot_fills_frames_multi_thread() {
    let chunks = gathered(stream_fn(write_chunks).channel_capacity(1), false).await;
    // As above: on a multi-thread runtime the share depends on the load.
    assert_gathered(&chunks, 2);
}

/// A producer that makes each chunk only once the previous one is on the wire: a chunk held
/// back for the next one would never leave (the read below would time out).
async fn not_held() {
    const PACED: usize = 20;
    let api = RawApi::bind().await;
    // The test tells the producer, through `go`, that it has seen a chunk.
    let (go_tx, go_rx) = mpsc::unbounded_channel::<()>();
    let go_rx = std::sync::Arc::new(std::sync::Mutex::new(Some(go_rx)));
    let service = tower::service_fn(move |_req: Request<Body>| {
        let go_rx = go_rx.lock().unwrap().take();
        async move {
            let mut go = go_rx.expect("one invocation");
            let (tx, rx) = mpsc::channel::<Bytes>(1);
            tokio::spawn(async move {
                for i in 0..PACED {
                    if tx.send(chunk(i)).await.is_err() {
                        return;
                    }
                    // Not ready again until the test has seen this chunk on the wire.
                    if go.recv().await.is_none() {
                        return;
                    }
                }
            });
            Ok::<_, Infallible>(Response::new(receiver_body(rx)))
        }
    });
    let _rt = api.serve(service);
    let mut conn = invocation(&api).await;
    let mut raw = Vec::new();
    for i in 0..PACED {
        let want = chunk(i);
        while !support::contains(&raw, &want) {
            raw.extend(
                tokio::time::timeout(Duration::from_secs(10), conn.read_at_least(1))
                    .await
                    .unwrap_or_else(|_| panic!("chunk {i} was held back")),
            );
        }
        let _ = go_tx.send(());
    }
    // Each chunk left alone: the body is 20 wire chunks of one chunk each, then the end.
    let text = String::from_utf8_lossy(&raw).into_owned();
    for i in 0..PACED {
        assert!(
            text.contains(&format!("64\r\n{}\r\n", String::from_utf8_lossy(&chunk(i)))),
            "chunk {i} is a wire chunk of its own"
        );
    }
    conn.accepted().await;
}

#[tokio::test]
async fn a_chunk_is_not_held_for_a_producer_that_is_not_ready_current_thread() {
    not_held().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_is_not_held_for_a_producer_that_is_not_ready_multi_thread() {
    not_held().await;
}
