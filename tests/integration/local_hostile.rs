//! The local server under hostile clients: malformed HTTP, slow header tricklers, oversized
//! headers and bodies, 200 concurrent connections, abrupt disconnects. It keeps serving, and
//! the process's memory stays bounded. The server is the `stream_bytes` example binary in
//! local mode (no `AWS_LAMBDA_RUNTIME_API`), so that its memory can be read from `/proc`.
#![cfg(target_os = "linux")]

use crate::support::process;
use process::{example_binary, status_kb, Killed};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Each response: 256 KiB of zeros.
const RESPONSE_BYTES: usize = 256 * 1024;

async fn start() -> (Killed, SocketAddr) {
    // A free port: bound, then released for the server to take.
    let port = lambda_stream_test_support::free_port();
    let child = Command::new(example_binary("stream_bytes"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LOCAL_LAMBDA_PORT", port.to_string())
        // The 200 concurrent clients below are all served, none throttled.
        .env("LOCAL_LAMBDA_CONCURRENCY", "256")
        .env("STREAM_BYTES", RESPONSE_BYTES.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed and waited for on drop, whichever way the test ends.
    let child = Killed(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Up to 20 s: a debug build on a loaded machine can be slow to start.
    for _ in 0..800 {
        if TcpStream::connect(addr).await.is_ok() {
            return (child, addr);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the local server did not start");
}

/// Sends `request` and reads until the server closes or `limit` bytes arrived.
async fn exchange(addr: SocketAddr, request: &[u8], limit: usize) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let _ = sock.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while out.len() < limit {
        match tokio::time::timeout(Duration::from_secs(30), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "no answer within 30 s to {:?}",
                String::from_utf8_lossy(&request[..request.len().min(60)])
            ),
        }
    }
    out
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";

/// A well-behaved client: the whole response, byte-exact.
async fn served(addr: SocketAddr) {
    let res = exchange(addr, GET, usize::MAX).await;
    assert!(
        res.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&res[..res.len().min(200)])
    );
    let at = res.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    // Chunked: the zeros, framed; count the zeros.
    let zeros = res[at..].iter().filter(|&&b| b == 0).count();
    assert!(zeros >= RESPONSE_BYTES, "{zeros} of {RESPONSE_BYTES} bytes");
}

fn status_line(res: &[u8]) -> String {
    let end = res
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(res.len());
    String::from_utf8_lossy(&res[..end]).into_owned()
}

#[tokio::test]
async fn hostile_clients_do_not_stop_the_local_server_nor_grow_its_memory() {
    let (child, addr) = start().await;
    let pid = child.0.id();
    served(addr).await;
    let baseline = status_kb(pid, "VmHWM:");

    // Slow header tricklers: they hold their connections for the whole test.
    let mut slow = vec![];
    for _ in 0..50 {
        slow.push(tokio::spawn(async move {
            let mut sock = TcpStream::connect(addr).await.unwrap();
            sock.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
                .await
                .unwrap();
            loop {
                if sock.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...and do not block anyone.
    tokio::time::timeout(Duration::from_secs(10), served(addr))
        .await
        .expect("a client is served while 50 slow ones trickle");

    // Malformed HTTP: a 400, and the server goes on.
    for garbage in [
        &b"\x00\x01\x02GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nnot hex\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nhost: localhost\r\n\r\n",
    ] {
        let res = exchange(addr, garbage, 4096).await;
        let line = status_line(&res);
        eprintln!("{:?} -> {line:?}", String::from_utf8_lossy(garbage));
        assert!(
            line.starts_with("HTTP/1.1 400"),
            "{:?} -> {line}",
            String::from_utf8_lossy(garbage)
        );
    }
    served(addr).await;

    // Oversized headers: many, and one huge.
    let mut many = b"GET / HTTP/1.1\r\nhost: localhost\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("x-h-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut huge = b"GET / HTTP/1.1\r\nhost: localhost\r\nx-huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'h', 2 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    for req in [&many, &huge] {
        let res = exchange(addr, req, 4096).await;
        let line = status_line(&res);
        eprintln!("{} header bytes -> {line:?}", req.len());
        assert!(line.starts_with("HTTP/1.1 431"), "{line}");
    }

    // Oversized bodies: declared, and streamed without a length.
    let mut declared =
        b"POST / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: 7340032\r\n\r\n"
            .to_vec();
    declared.extend(std::iter::repeat_n(b'b', 7 << 20));
    let res = exchange(addr, &declared, 4096).await;
    assert!(
        status_line(&res).starts_with("HTTP/1.1 413"),
        "{}",
        status_line(&res)
    );
    let mut sock = TcpStream::connect(addr).await.unwrap();
    sock.write_all(b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = [
        b"100000\r\n".to_vec(),
        vec![b'c'; 1 << 20],
        b"\r\n".to_vec(),
    ]
    .concat();
    for _ in 0..8 {
        sock.write_all(&chunk).await.unwrap();
    }
    sock.write_all(b"0\r\n\r\n").await.unwrap();
    let mut res = vec![0u8; 256];
    let n = sock.read(&mut res).await.unwrap();
    assert!(
        status_line(&res[..n]).starts_with("HTTP/1.1 413"),
        "{}",
        status_line(&res[..n])
    );
    drop(sock);

    // Abrupt disconnects: before the head ends, inside the body, and mid-response.
    for _ in 0..50 {
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n")
            .await
            .unwrap();
        drop(sock);
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100000\r\n\r\nabc")
            .await
            .unwrap();
        drop(sock);
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(GET).await.unwrap();
        let mut some = [0u8; 1024];
        let _ = sock.read(&mut some).await;
        // A reset rather than an orderly close (a zero linger does not block).
        #[allow(deprecated)]
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(sock);
    }
    served(addr).await;

    // 200 concurrent clients, all served in full.
    let clients: Vec<_> = (0..200).map(|_| tokio::spawn(served(addr))).collect();
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("every concurrent client is served")
            .unwrap();
    }

    for s in slow {
        s.abort();
    }
    served(addr).await;
    let peak = status_kb(pid, "VmHWM:");
    eprintln!("local server peak RSS: {baseline} kB after one request, {peak} kB after the abuse");
    // Bounded: one 6 MB payload buffer and an oversized head at a time, not the sum of all.
    assert!(
        peak < baseline + 48 * 1024,
        "peak RSS {peak} kB (baseline {baseline} kB)"
    );
}
