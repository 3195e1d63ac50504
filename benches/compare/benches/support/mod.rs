//! The benchmark's Runtime API mock: a real HTTP/1.1 server on 127.0.0.1 (hyper), like
//! `tests/integration/support/mock.rs` but built to be cheap per request and to keep no body it
//! does not need.
//!
//! - `GET /next` hands out queued events (long-polling while none is queued) and notes when
//!   each request arrived and when each event was handed out.
//! - `POST /{id}/response` is read frame by frame; the mock finds the 8-NUL delimiter after
//!   the prelude and notes when the first body byte arrived, when the body ended, how many
//!   body bytes came, and (for small bodies) the body chunks with their arrival wall-clock
//!   time; for a request id starting with `many`, each 8-byte token of the body (its
//!   scheduled Unix time in nanoseconds, little-endian) with how late it arrived.
//!
//! Function processes come and go while the mock lives: each connection belongs to the
//! *generation* current when it was accepted, and only the current generation is handed
//! events, so a killed process's pending `/next` can never swallow its successor's event.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};

/// Body bytes kept per response (the paced and small bodies fit; the large one does not).
const KEEP_LIMIT: u64 = 4096;

/// What the mock saw of one streamed response.
#[derive(Debug)]
pub struct Done {
    pub request_id: String,
    /// When the event left on `/next` (the reply was handed to hyper).
    pub handed_out: Instant,
    /// When the POST's head arrived.
    pub head: Instant,
    /// When the first byte after the delimiter arrived.
    pub first_body: Option<Instant>,
    /// When the body ended.
    pub end: Instant,
    /// Body bytes after the delimiter.
    pub body_bytes: u64,
    /// Body chunks (after the delimiter) with their wall-clock arrival, while small.
    pub kept: Vec<(SystemTime, Bytes)>,
    /// Whether the body ended with its terminating chunk.
    pub complete: bool,
    /// For `many-*` request ids: each token's schedule (Unix ns) and its arrival past it (ns;
    /// negative if early), in order.
    pub tokens: Vec<(u64, i64)>,
}

struct Shared {
    queue: Mutex<VecDeque<(String, Bytes)>>,
    queued: Notify,
    generation: AtomicU64,
    handed_out: Mutex<HashMap<String, Instant>>,
    next_arrivals: mpsc::UnboundedSender<Instant>,
    done: mpsc::UnboundedSender<Done>,
}

/// The mock.
pub struct Mock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    /// Arrival time of each `GET /next`.
    pub next_arrivals: mpsc::UnboundedReceiver<Instant>,
    /// Each response, as it ends.
    pub done: mpsc::UnboundedReceiver<Done>,
}

impl Mock {
    pub async fn start() -> std::io::Result<Mock> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (next_tx, next_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            generation: AtomicU64::new(0),
            handed_out: Mutex::new(HashMap::new()),
            next_arrivals: next_tx,
            done: done_tx,
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let generation = accepting.generation.load(Ordering::SeqCst);
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(shared.clone(), generation, req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Mock {
            addr,
            shared,
            next_arrivals: next_rx,
            done: done_rx,
        })
    }

    /// Starts a new generation: call before starting a function process. Empties the queue.
    pub fn new_generation(&mut self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared.queued.notify_waiters();
        while self.next_arrivals.try_recv().is_ok() {}
        while self.done.try_recv().is_ok() {}
    }

    /// Queues an event.
    pub fn push(&self, request_id: String, payload: Bytes) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((request_id, payload));
        self.shared.queued.notify_waiters();
    }

    /// The next `GET /next` arrival, within `limit`.
    pub async fn next_arrival(&mut self, limit: Duration) -> Option<Instant> {
        tokio::time::timeout(limit, self.next_arrivals.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next finished response, within `limit`.
    pub async fn finished(&mut self, limit: Duration) -> Option<Done> {
        tokio::time::timeout(limit, self.done.recv())
            .await
            .ok()
            .flatten()
    }
}

fn reply(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    res
}

async fn handle(
    shared: Arc<Shared>,
    generation: u64,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let _ = shared.next_arrivals.send(arrived);
        return Ok(next(&shared, generation).await);
    }
    if let Some(id) = path
        .strip_suffix("/response")
        .and_then(|p| p.rsplit('/').next())
    {
        let id = id.to_owned();
        receive(&shared, id, arrived, req.into_body()).await;
        return Ok(reply(202, r#"{"status":"OK"}"#));
    }
    // /error, /init/error: accepted and otherwise ignored (the benchmark functions never fail).
    let _ = req.into_body().collect().await;
    Ok(reply(202, r#"{"status":"OK"}"#))
}

async fn next(shared: &Shared, generation: u64) -> Response<Full<Bytes>> {
    loop {
        let queued = shared.queued.notified();
        if shared.generation.load(Ordering::SeqCst) != generation {
            // A connection of a process that is gone: never hand it anything.
            queued.await;
            continue;
        }
        let event = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some((id, payload)) = event else {
            queued.await;
            continue;
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
            + 60_000;
        let res = Response::builder()
            .header("lambda-runtime-aws-request-id", id.as_str())
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            )
            .header("content-type", "application/json")
            .body(Full::new(payload))
            .unwrap_or_else(|_| reply(500, "bad mock event"));
        shared
            .handed_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Instant::now());
        return res;
    }
}

async fn receive(shared: &Shared, request_id: String, head: Instant, mut body: Incoming) {
    let handed_out = shared
        .handed_out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&request_id)
        .unwrap_or(head);
    // Until the delimiter: how many NULs in a row were seen. The prelude is JSON (no NUL).
    let mut nuls = 0;
    let mut in_body = false;
    let mut first_body = None;
    let mut body_bytes = 0u64;
    let mut kept = Vec::new();
    let mut complete = false;
    let tokens_wanted = request_id.starts_with("many");
    let mut tokens = Vec::new();
    // The bytes of a token split across frames.
    let mut partial: Vec<u8> = Vec::with_capacity(8);
    loop {
        match body.frame().await {
            None => {
                complete = true;
                break;
            }
            Some(Err(_)) => break,
            Some(Ok(frame)) => {
                let now = Instant::now();
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let mut rest: &[u8] = &data;
                let mut offset = 0;
                if !in_body {
                    for (i, b) in data.iter().enumerate() {
                        nuls = if *b == 0 { nuls + 1 } else { 0 };
                        if nuls == 8 {
                            in_body = true;
                            offset = i + 1;
                            break;
                        }
                    }
                    rest = if in_body { &data[offset..] } else { &[] };
                }
                if tokens_wanted && !rest.is_empty() {
                    let arrived = unix_nanos_now();
                    for &b in rest {
                        partial.push(b);
                        if partial.len() == 8 {
                            let mut t = [0u8; 8];
                            t.copy_from_slice(&partial);
                            partial.clear();
                            let due = u64::from_le_bytes(t);
                            tokens.push((due, arrived as i64 - due as i64));
                        }
                    }
                }
                if !rest.is_empty() {
                    first_body.get_or_insert(now);
                    body_bytes += rest.len() as u64;
                    if body_bytes <= KEEP_LIMIT {
                        kept.push((SystemTime::now(), data.slice(offset..)));
                    }
                }
            }
        }
    }
    let _ = shared.done.send(Done {
        request_id,
        handed_out,
        head,
        first_body,
        end: Instant::now(),
        body_bytes,
        kept,
        complete: complete && partial.is_empty(),
        tokens,
    });
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
