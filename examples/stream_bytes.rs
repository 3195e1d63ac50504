//! Streams `STREAM_BYTES` bytes (default 1 GiB) in 64 KiB chunks, whatever the request: a load
//! generator for memory and throughput measurements (see `tests/integration/memory.rs`).
//!
//! The runtime keeps only what is in flight: its memory does not grow with the length of the
//! stream, because the socket's backpressure paces the handler.
//!
//! ```text
//! STREAM_BYTES=104857600 cargo run --release --features local-release --example stream_bytes
//! ```

use lambda_stream::Body;
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use lambda_stream::StreamBody;

const CHUNK: usize = 64 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_stream::BoxError> {
    let total: u64 = std::env::var("STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    lambda_stream::run(tower::service_fn(move |_req: Request<Body>| async move {
        let chunks = stream::unfold(total, |left| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(CHUNK as u64);
            let chunk = Bytes::from_static(&ZEROS[..n as usize]);
            Some((Ok::<_, Infallible>(chunk), left - n))
        });
        Ok::<_, Infallible>(
            Response::builder()
                .header("content-type", "application/octet-stream")
                .body(StreamBody::new(chunks))
                .expect("a valid response"),
        )
    }))
    .await?;
    Ok(())
}
