//! The inspector: a ring buffer of recent invocations, a live feed of them as server-sent
//! events, and the page that shows them, all under `/_lambda/`.
//!
//! The preview keeps the body's first bytes as they went on the wire: text as text; a body
//! with a `content-encoding` (gzip, br...) or that is not UTF-8 as base64, which the page
//! decodes itself (the browser has the decompressors; the server needs none) or labels.
//!
//! Each door records its invocation in a [`Recording`] it owns, with no lock per chunk; the
//! recording is published to the ring (and the feed) when the response starts, at most every
//! [`PUBLISH_EVERY`] while it streams, and when it ends.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::error::ErrorReport;

/// The inspector's page: one self-contained file.
pub(crate) const PAGE: &str = include_str!("inspector.html");
/// How many invocations the ring keeps.
const KEEP: usize = 64;
/// How many (time, bytes) points one invocation keeps; past it, every other one is dropped.
const MAX_POINTS: usize = 512;
/// How much of the body the preview keeps.
const PREVIEW: usize = 512;
/// How often a streaming invocation's progress is published.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// The recent invocations and the feed of their updates.
pub(crate) struct Inspector {
    ring: Mutex<VecDeque<Arc<str>>>,
    ids: Mutex<VecDeque<u64>>,
    feed: broadcast::Sender<Arc<str>>,
    next_id: AtomicU64,
}

impl Inspector {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Inspector {
            ring: Mutex::new(VecDeque::with_capacity(KEEP)),
            ids: Mutex::new(VecDeque::with_capacity(KEEP)),
            feed: broadcast::channel(256).0,
            next_id: AtomicU64::new(1),
        })
    }

    /// A new recording of an invocation through `door`.
    pub(crate) fn record(
        self: &Arc<Self>,
        door: &'static str,
        method: &str,
        path: &str,
        request_id: &str,
    ) -> Recording {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Recording {
            inspector: self.clone(),
            at: Instant::now(),
            last_publish: None,
            stride: 1,
            skipped: 0,
            record: Record {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                request_id: request_id.to_owned(),
                door,
                method: method.to_owned(),
                path: path.to_owned(),
                started_at_ms: started,
                status: None,
                headers: Vec::new(),
                cookies: Vec::new(),
                ttfb_ms: None,
                duration_ms: None,
                bytes: 0,
                chunks: 0,
                points: Vec::new(),
                error_type: None,
                error_message: None,
                preview: String::new(),
                encoding: None,
                preview_base64: None,
                done: false,
            },
            preview: Vec::new(),
        }
    }

    /// The invocations kept, oldest first, as JSON objects.
    pub(crate) fn snapshot(&self) -> Vec<Arc<str>> {
        lock(&self.ring).iter().cloned().collect()
    }

    /// The page, with the invocations kept so far in it.
    pub(crate) fn page(&self) -> String {
        // `<` escaped, so no record can end the page's script.
        let kept = format!("[{}]", self.snapshot().join(",")).replace('<', "\\u003c");
        PAGE.replacen("/*INITIAL*/[]", &kept, 1)
    }

    /// Updates as they are published.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.feed.subscribe()
    }

    fn publish(&self, id: u64, json: Arc<str>) {
        {
            let mut ring = lock(&self.ring);
            let mut ids = lock(&self.ids);
            match ids.iter().position(|&i| i == id) {
                Some(at) => ring[at] = json.clone(),
                None => {
                    if ring.len() == KEEP {
                        ring.pop_front();
                        ids.pop_front();
                    }
                    ring.push_back(json.clone());
                    ids.push_back(id);
                }
            }
        }
        // Nobody watching is fine.
        let _ = self.feed.send(json);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Serialize)]
struct Record {
    id: u64,
    request_id: String,
    door: &'static str,
    method: String,
    path: String,
    started_at_ms: u64,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    ttfb_ms: Option<f64>,
    duration_ms: Option<f64>,
    bytes: u64,
    chunks: u64,
    /// `(milliseconds since the request, bytes sent so far)`.
    points: Vec<(f64, u64)>,
    error_type: Option<String>,
    error_message: Option<String>,
    /// The preview as text, when it is text (no encoding, UTF-8).
    preview: String,
    /// The response's `content-encoding`, unless `identity`.
    encoding: Option<String>,
    /// The preview's bytes, when they are not text: encoded, or not UTF-8.
    preview_base64: Option<String>,
    done: bool,
}

/// One invocation being recorded; published when dropped, if not finished before.
pub(crate) struct Recording {
    inspector: Arc<Inspector>,
    at: Instant,
    last_publish: Option<Instant>,
    /// Every `stride`-th chunk becomes a point.
    stride: u64,
    skipped: u64,
    record: Record,
    preview: Vec<u8>,
}

impl Recording {
    fn ms(&self) -> f64 {
        self.at.elapsed().as_secs_f64() * 1000.0
    }

    /// The response started with this status and these headers.
    pub(crate) fn head(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.record.status = Some(status.as_u16());
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == http::header::CONTENT_ENCODING {
                let coding = value.trim().to_ascii_lowercase();
                if !coding.is_empty() && coding != "identity" {
                    self.record.encoding = Some(coding);
                }
            }
            if name == http::header::SET_COOKIE {
                self.record.cookies.push(value);
            } else {
                self.record.headers.push((name.as_str().to_owned(), value));
            }
        }
        self.record.ttfb_ms.get_or_insert(self.ms());
        self.publish();
    }

    /// The function answered a raw invocation with this status, which its caller cannot see:
    /// the status column shows it in place of the one the caller got.
    pub(crate) fn raw_status(&mut self, status: Option<StatusCode>) {
        if let Some(status) = status {
            self.record.status = Some(status.as_u16());
        }
    }

    /// A chunk of `data` went to the caller.
    pub(crate) fn chunk(&mut self, data: &[u8]) {
        let now = self.ms();
        self.record.ttfb_ms.get_or_insert(now);
        self.record.bytes += data.len() as u64;
        self.record.chunks += 1;
        if self.preview.len() < PREVIEW {
            let take = (PREVIEW - self.preview.len()).min(data.len());
            self.preview.extend_from_slice(&data[..take]);
        }
        self.skipped += 1;
        if self.skipped >= self.stride {
            self.skipped = 0;
            self.record.points.push((now, self.record.bytes));
            if self.record.points.len() >= MAX_POINTS {
                let kept = self.record.points.iter().copied().step_by(2).collect();
                self.record.points = kept;
                self.stride *= 2;
            }
        }
        if self
            .last_publish
            .is_none_or(|at| at.elapsed() >= PUBLISH_EVERY)
        {
            self.publish();
        }
    }

    /// The invocation failed with `failure`.
    pub(crate) fn failed(&mut self, failure: &ErrorReport) {
        self.record.error_type = Some(failure.error_type().to_owned());
        self.record.error_message = Some(failure.error_message().to_owned());
    }

    /// A door answered this status itself (throttled, refused, failed before the start).
    pub(crate) fn answered(&mut self, status: StatusCode) {
        self.record.status.get_or_insert(status.as_u16());
    }

    /// The invocation is over: published for the last time.
    pub(crate) fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.record.done {
            return;
        }
        self.record.done = true;
        self.record.duration_ms = Some(self.ms());
        if self.record.points.last().map(|p| p.1) != Some(self.record.bytes) {
            let now = self.ms();
            self.record.points.push((now, self.record.bytes));
        }
        self.publish();
    }

    fn publish(&mut self) {
        self.last_publish = Some(Instant::now());
        let text = match std::str::from_utf8(&self.preview) {
            Ok(text) => Some(text),
            // Cut inside a character at the preview's end: still text.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&self.preview[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        };
        match text.filter(|_| self.record.encoding.is_none()) {
            Some(text) => text.clone_into(&mut self.record.preview),
            None => {
                use base64::Engine as _;
                self.record.preview_base64 =
                    Some(base64::engine::general_purpose::STANDARD.encode(&self.preview));
            }
        }
        let json = serde_json::to_string(&self.record).unwrap_or_default();
        self.inspector.publish(self.record.id, json.into());
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.end();
    }
}

/// `data: {json}\n\n`, one server-sent event.
pub(crate) fn event(json: &str) -> Bytes {
    let mut out = String::with_capacity(json.len() + 8);
    out.push_str("data: ");
    out.push_str(json);
    out.push_str("\n\n");
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_keeps_points_capped_and_a_short_preview() {
        let inspector = Inspector::new();
        let mut rec = inspector.record("function-url", "GET", "/x", "id-1");
        rec.head(StatusCode::OK, &HeaderMap::new());
        let chunk = [b'a'; 100];
        for _ in 0..10_000 {
            rec.chunk(&chunk);
        }
        rec.failed(&ErrorReport::new("Sandbox.Timeout", "late"));
        rec.finish();
        let kept = inspector.snapshot();
        assert_eq!(kept.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&kept[0]).unwrap();
        assert_eq!(v["bytes"], 1_000_000);
        assert_eq!(v["chunks"], 10_000);
        assert!(v["points"].as_array().unwrap().len() <= MAX_POINTS);
        assert_eq!(v["preview"].as_str().unwrap().len(), PREVIEW);
        assert_eq!(v["error_type"], "Sandbox.Timeout");
        assert_eq!(v["done"], true);
        assert_eq!(
            v["points"].as_array().unwrap().last().unwrap()[1],
            1_000_000
        );
    }

    fn preview_of(headers: &[(&'static str, &'static str)], body: &[u8]) -> serde_json::Value {
        let inspector = Inspector::new();
        let mut rec = inspector.record("function-url", "GET", "/", "id");
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        rec.head(StatusCode::OK, &map);
        rec.chunk(body);
        rec.finish();
        serde_json::from_str(&inspector.snapshot()[0]).unwrap()
    }

    #[test]
    fn an_encoded_or_binary_preview_is_kept_as_base64_text_as_text() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // gzip's magic bytes and more: the page decodes them.
        let gz = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        let v = preview_of(&[("content-encoding", "gzip")], &gz);
        assert_eq!(v["encoding"], "gzip");
        assert_eq!(v["preview_base64"], b64(&gz));
        assert_eq!(v["preview"], "");
        // Text under an encoding is still the encoding's.
        let v = preview_of(&[("content-encoding", "BR")], b"abc");
        assert_eq!(v["encoding"], "br");
        assert_eq!(v["preview_base64"], b64(b"abc"));
        // Not UTF-8, no encoding: bytes.
        let v = preview_of(&[], &[0xff, 0xfe, b'a']);
        assert_eq!(v["encoding"], serde_json::Value::Null);
        assert_eq!(v["preview_base64"], b64(&[0xff, 0xfe, b'a']));
        // `identity` is no encoding; a character cut at the preview's end is still text.
        let mut body = vec![b'a'; PREVIEW - 1];
        body.extend_from_slice("é".as_bytes());
        let v = preview_of(&[("content-encoding", "identity")], &body);
        assert_eq!(v["encoding"], serde_json::Value::Null);
        assert_eq!(v["preview_base64"], serde_json::Value::Null);
        assert_eq!(v["preview"], "a".repeat(PREVIEW - 1));
    }

    #[test]
    fn the_ring_keeps_the_latest() {
        let inspector = Inspector::new();
        for n in 0..(KEEP + 5) {
            inspector
                .record("invoke", "POST", "/", &n.to_string())
                .finish();
        }
        let kept = inspector.snapshot();
        assert_eq!(kept.len(), KEEP);
        let first: serde_json::Value = serde_json::from_str(&kept[0]).unwrap();
        assert_eq!(first["request_id"], "5");
    }
}
