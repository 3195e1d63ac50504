//! Bounded memory: the `stream_bytes` example binary streams a long response to a Runtime API
//! that reads it all; the function process's peak RSS (`VmHWM`) stays small and does not grow
//! with the stream's length. Linux only (it reads `/proc`).
//!
//! It runs 100 MB vs 1 GiB with the debug build `cargo test` makes: on loopback that takes
//! about a second, since the chunks are static and only framing is copied. For the release
//! build's figures:
//!
//! ```text
//! cargo build --release --example stream_bytes
//! LAMBDA_STREAM_MEMORY_EXE=target/release/examples/stream_bytes \
//!     cargo test --test integration memory:: -- --nocapture
//! ```
#![cfg(target_os = "linux")]

use crate::support::process;
use process::{status_kb, Killed};
use std::process::{Command, Stdio};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The ceiling the issue sets for the function process.
const PEAK_LIMIT_KB: u64 = 16 * 1024;
/// How much the peak may differ between a short and a long stream: allocator noise, not
/// a buffer that grows with the length.
const GROWTH_LIMIT_KB: u64 = 1024;

fn example_binary() -> std::path::PathBuf {
    if let Some(exe) = std::env::var_os("LAMBDA_STREAM_MEMORY_EXE") {
        return exe.into();
    }
    process::example_binary("stream_bytes")
}

async fn read_head(sock: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            sock.read(&mut byte).await.unwrap(),
            1,
            "closed inside a head"
        );
        head.push(byte[0]);
    }
    head
}

/// Streams `bytes` through the example to a reading Runtime API; returns the process's peak
/// RSS in kB, once the response is complete and the runtime is back on `/next`.
async fn peak_rss_kb(bytes: u64) -> u64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let child = Command::new(example_binary())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            listener.local_addr().unwrap().to_string(),
        )
        .env("STREAM_BYTES", bytes.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let pid = child.0.id();

    let (mut sock, _) = listener.accept().await.unwrap();
    let head = read_head(&mut sock).await;
    assert!(head.starts_with(b"GET /2018-06-01/runtime/invocation/next "));
    sock.write_all(
        b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: mem\r\ncontent-length: 4\r\n\r\n\"go\"",
    )
    .await
    .unwrap();
    let head = read_head(&mut sock).await;
    assert!(head.starts_with(b"POST /2018-06-01/runtime/invocation/mem/response "));

    let started = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    let mut tail = Vec::with_capacity(32);
    let mut read = 0u64;
    loop {
        let n = sock.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream ended early, after {read} bytes");
        read += n as u64;
        let take = n.min(16);
        tail.extend_from_slice(&buf[n - take..n]);
        if tail.len() > 16 {
            tail.drain(..tail.len() - 16);
        }
        if tail.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    let elapsed = started.elapsed();
    // Chunk framing adds a few bytes per 64 KiB chunk.
    assert!(
        read >= bytes && read < bytes + bytes / 1000 + 4096,
        "{read} bytes for {bytes}"
    );
    sock.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut sock).await;
    assert!(head.starts_with(b"GET /2018-06-01/runtime/invocation/next "));

    let peak = status_kb(pid, "VmHWM:");
    let rss = status_kb(pid, "VmRSS:");
    eprintln!(
        "{} MB streamed in {elapsed:.2?} ({:.0} MB/s): peak RSS {peak} kB, RSS now {rss} kB",
        bytes >> 20,
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64()
    );
    drop(child);
    peak
}

#[tokio::test]
async fn peak_memory_is_small_and_does_not_grow_with_the_stream() {
    let sizes: Vec<u64> = std::env::var("LAMBDA_STREAM_MEMORY_SIZES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().unwrap()).collect())
        .unwrap_or(vec![100 << 20, 1 << 30]);
    let mut peaks = vec![];
    for &bytes in &sizes {
        let peak = peak_rss_kb(bytes).await;
        assert!(peak < PEAK_LIMIT_KB, "peak RSS {peak} kB for {bytes} bytes");
        peaks.push(peak);
    }
    let (short, long) = (peaks[0], *peaks.last().unwrap());
    assert!(
        long <= short + GROWTH_LIMIT_KB,
        "peak RSS grew from {short} kB to {long} kB with the stream's length"
    );
}
