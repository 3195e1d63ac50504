//! Micro-benchmarks of lambda-stream's hot paths, through the hooks of the `benchmarking` feature
//! (`lambda_stream::__bench`, not an API):
//!
//! - event decoding: the function URL fixture → `http::Request` (and lambda_http's, for
//!   comparison);
//! - prelude encoding: a response head → the prelude JSON;
//! - per-chunk framing: what the runtime's response body adds to each chunk of the handler's
//!   body, against polling that body directly.
//!
//! ```text
//! cargo bench --manifest-path benches/compare/Cargo.toml --bench micro
//! ```
//!
//! A plain timing loop (no criterion): each figure is the median of 11 batches of ~0.1 s.

use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use lambda_stream::__bench;

const FIXTURE: &[u8] = include_bytes!("../../../tests/fixtures/events/function-url-get.json");

/// Nanoseconds per call of `f`: the median of 11 batches, each sized to last ~0.1 s.
fn time<R>(mut f: impl FnMut() -> R) -> f64 {
    let mut per_batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..per_batch {
            black_box(f());
        }
        if start.elapsed() > Duration::from_millis(20) {
            break;
        }
        per_batch *= 2;
    }
    per_batch *= 5;
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[5]
}

/// `n` frames of one chunk, then the end.
struct Repeat {
    chunk: Bytes,
    left: usize,
}

impl Body for Repeat {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

const CHUNKS: usize = 1000;

fn drain_direct(chunk: &Bytes) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut body = Repeat {
        chunk: chunk.clone(),
        left: CHUNKS,
    };
    let mut n = 0;
    while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut body).poll_frame(&mut cx) {
        n += f.data_ref().map_or(0, Bytes::len);
    }
    n
}

fn drain_framed(chunk: &Bytes, prelude: &Bytes) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut body = __bench::Framed::new(
        Some(prelude.clone()),
        Repeat {
            chunk: chunk.clone(),
            left: CHUNKS,
        },
    );
    let mut n = 0;
    while let Poll::Ready(Some(f)) = body.poll_frame(&mut cx) {
        n += f.data_ref().map_or(0, Bytes::len);
    }
    n
}

fn main() {
    let payload = Bytes::from_static(FIXTURE);
    match __bench::decode_event(payload.clone()) {
        Ok(req) => assert_eq!(req.uri().path(), "/"),
        Err(e) => panic!("the fixture does not decode: {e}"),
    }
    let decode = time(|| __bench::decode_event(payload.clone()));
    let text = std::str::from_utf8(FIXTURE).unwrap_or_default();
    match lambda_http::request::from_str(text) {
        Ok(req) => assert_eq!(req.uri().path(), "/"),
        Err(e) => panic!("lambda_http cannot decode the fixture: {e}"),
    }
    let decode_theirs = time(|| lambda_http::request::from_str(text));

    let (parts, ()) = http::Response::builder()
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .header("x-request-id", "f942509a-283f-4c4f-94f8-0d4ccc4a00f8")
        .header("set-cookie", "session=abc; Path=/; HttpOnly")
        .body(())
        .map(http::Response::into_parts)
        .unwrap_or_else(|e| panic!("a static response: {e}"));
    let prelude = __bench::encode_prelude(&parts).unwrap_or_default();
    let encode = time(|| __bench::encode_prelude(&parts));

    let chunk = Bytes::from_static(b"0123456789abcdef");
    assert_eq!(
        drain_framed(&chunk, &prelude),
        prelude.len() + 8 + 16 * CHUNKS
    );
    let direct = time(|| drain_direct(&chunk)) / CHUNKS as f64;
    let framed = time(|| drain_framed(&chunk, &prelude)) / CHUNKS as f64;

    println!("| hot path | time |");
    println!("|---|---:|");
    println!(
        "| decode the function URL fixture ({} bytes) into an http::Request | {:.2} µs |",
        FIXTURE.len(),
        decode / 1e3
    );
    println!(
        "| the same with lambda_http (`lambda_http::request::from_str`), for comparison | {:.2} µs |",
        decode_theirs / 1e3
    );
    println!(
        "| encode a prelude (status, 3 headers, 1 cookie → {} bytes) | {:.0} ns |",
        prelude.len(),
        encode
    );
    println!(
        "| per-chunk framing: the runtime's response body around a 16-byte chunk, minus polling the chunk directly | {:.1} ns (framed {framed:.1} ns, direct {direct:.1} ns) |",
        framed - direct
    );
}
