//! The front doors: the public HTTP/1.1 server callers use; see the module docs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TE, TRAILER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::inspector::{self, Inspector, Recording};
use super::{eventstream, Bandwidth, Options};
use crate::emulator::http1::{self, Body};
use crate::emulator::{self, event, job, prelude, Job, Replies, Reply};
use crate::wire::{self, MAX_PAYLOAD};
use crate::{BoxError, Diagnostic, ResponseMode};

const STREAMING_INVOKE: &str = "/response-streaming-invocations";
const INVOKE: &str = "/invocations";
/// How much of a body over the payload limit is read and dropped before answering `413`.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// Where the inspector lives: a path no function URL route is expected to use.
pub(crate) const INSPECTOR: &str = "/_lambda/";
/// The largest streamed response Lambda sends: 200 MB.
const MAX_STREAMED: u64 = 200 * 1024 * 1024;
/// How much of a streamed response Lambda sends at full speed before pacing it.
const BURST: u64 = 6 * 1024 * 1024;
/// The rate Lambda streams at after the burst: 2 MB/s.
const PACED_BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;

/// What the front doors share: the queue to the runtime, the options, the concurrency
/// permits and the inspector.
pub(crate) struct Doors {
    queue: mpsc::UnboundedSender<Job>,
    options: Options,
    permits: Arc<Semaphore>,
    inspector: Arc<Inspector>,
    buffered: bool,
}

impl Doors {
    pub(crate) fn new(
        queue: mpsc::UnboundedSender<Job>,
        options: Options,
        mode: ResponseMode,
    ) -> Arc<Self> {
        Arc::new(Doors {
            queue,
            permits: Arc::new(Semaphore::new(options.concurrency.get())),
            options,
            inspector: Inspector::new(),
            buffered: mode == ResponseMode::Buffered,
        })
    }

    /// A slot for one more invocation, or `429` when all are taken.
    fn permit(&self) -> Result<OwnedSemaphorePermit, Refused> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Throttled)
    }

    /// Queues the invocation `id` of `payload`; its replies come back on the returned end.
    fn submit(
        &self,
        id: &str,
        payload: Bytes,
        client_context: Option<String>,
    ) -> Result<Replies, Refused> {
        let timeout = self.options.function_timeout;
        let (job, replies) = job(id.to_owned(), payload, client_context, timeout);
        match self.queue.send(job) {
            Ok(()) => Ok(replies),
            Err(_) => Err(Refused::Stopped),
        }
    }
}

/// Accepts callers until the task is aborted; each connection is served on its own task.
pub(crate) async fn serve(listener: TcpListener, doors: Arc<Doors>) {
    // A caller that trickles its head (or sends none) is cut off.
    let header_read_timeout = Some(doors.options.header_read_timeout);
    let handler: http1::Handler =
        Arc::new(move |req, peer| Box::pin(route(doors.clone(), peer, req)));
    http1::serve(listener, "local server", header_read_timeout, handler).await;
}

async fn route(doors: Arc<Doors>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let is_post = req.method() == Method::POST;
    if path.starts_with(INSPECTOR) || path == INSPECTOR.trim_end_matches('/') {
        return inspect(&doors, path);
    }
    let res = if is_post && path == "/invoke" {
        invoke_raw(&doors, req).await
    } else if is_post && is_function_path(path, "/2021-11-15/functions/", STREAMING_INVOKE) {
        invoke_with_response_stream(&doors, req).await
    } else if is_post && is_function_path(path, "/2015-03-31/functions/", INVOKE) {
        invoke(&doors, req).await
    } else {
        function_url(&doors, peer, req).await
    };
    res.unwrap_or_else(Refused::into_response)
}

/// `{prefix}{function name}{suffix}`.
fn is_function_path(path: &str, prefix: &str, suffix: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|p| p.strip_suffix(suffix))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// A function URL: the request becomes a payload 2.0 event; the response streams back with
/// the prelude's status, headers and cookies.
async fn function_url(
    doors: &Doors,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let trailers = accepts_trailers(req.headers());
    let (parts, body) = req.into_parts();
    let body = read_payload(&parts.headers, body).await?;
    let id = emulator::request_id();
    let event = event::function_url(&parts, &body, peer, &id, SystemTime::now());
    if event.len() > MAX_PAYLOAD {
        return Err(Refused::TooLarge);
    }
    let permit = doors.permit()?;
    let rec = doors
        .inspector
        .record("function url", parts.method.as_str(), parts.uri.path(), &id);
    let replies = doors.submit(&id, event, None)?;
    tracing::info!(
        request_id = %id,
        method = %parts.method,
        uri = %parts.uri,
        "function url invocation"
    );
    if doors.buffered {
        return Ok(buffered_function_url(replies, &id, rec).await);
    }
    let flow = Flow::new(doors, permit, rec);
    Ok(stream_back(replies, &id, trailers, flow, |failure| {
        log_failure(
            &id,
            failure,
            "the invocation failed before its response started; answering 502",
        );
        text(StatusCode::BAD_GATEWAY, "Internal Server Error")
    })
    .await)
}

/// `POST /invoke`: the body is the event, as is.
async fn invoke_raw(doors: &Doors, req: Request<Incoming>) -> Result<Response<Body>, Refused> {
    let trailers = accepts_trailers(req.headers());
    let (parts, body) = req.into_parts();
    let payload = read_payload(&parts.headers, body).await?;
    let id = emulator::request_id();
    let permit = doors.permit()?;
    let rec = doors.inspector.record("invoke", "POST", "/invoke", &id);
    let replies = doors.submit(&id, payload, None)?;
    tracing::info!(request_id = %id, "raw invocation");
    let flow = Flow::new(doors, permit, rec);
    Ok(stream_back(replies, &id, trailers, flow, |failure| {
        log_failure(
            &id,
            failure,
            "the invocation failed before its response started; answering 502",
        );
        let mut res = json(StatusCode::BAD_GATEWAY, failure.to_json().into());
        res.headers_mut().insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
        res
    })
    .await)
}

/// What goes with a streamed response to its end: its concurrency slot, its recording, and
/// Lambda's limits on its size and pace.
struct Flow {
    _permit: OwnedSemaphorePermit,
    rec: Recording,
    pace: bool,
    sent: u64,
    /// When the response passed the burst, with pacing on.
    paced_from: Option<tokio::time::Instant>,
}

impl Flow {
    fn new(doors: &Doors, permit: OwnedSemaphorePermit, rec: Recording) -> Self {
        Flow {
            _permit: permit,
            rec,
            pace: doors.options.bandwidth == Bandwidth::Lambda,
            sent: 0,
            paced_from: None,
        }
    }

    /// `data`, trimmed to what fits in Lambda's 200 MB; waits first when paced. `Err` once
    /// the response is over the limit (after the part that fits is returned once).
    async fn admit(&mut self, mut data: Bytes) -> Result<Bytes, Diagnostic> {
        let room = MAX_STREAMED - self.sent;
        if room == 0 {
            return Err(too_large_response(MAX_STREAMED));
        }
        if data.len() as u64 > room {
            data.truncate(room as usize);
        }
        if self.pace && self.sent + data.len() as u64 > BURST {
            let from = *self
                .paced_from
                .get_or_insert_with(tokio::time::Instant::now);
            let beyond = (self.sent + data.len() as u64).saturating_sub(BURST);
            let due = std::time::Duration::from_secs_f64(beyond as f64 / PACED_BYTES_PER_SEC);
            tokio::time::sleep_until(from + due).await;
        }
        self.sent += data.len() as u64;
        self.rec.chunk(&data);
        Ok(data)
    }
}

/// Waits for the response to start, then streams it to the caller as it arrives.
async fn stream_back(
    mut replies: Replies,
    id: &str,
    trailers: bool,
    mut flow: Flow,
    failed: impl FnOnce(&Diagnostic) -> Response<Body>,
) -> Response<Body> {
    let opened = match prelude::open(&mut replies).await {
        Ok(opened) => opened,
        Err(unopened) => {
            let failure = unopened.failure;
            flow.rec.failed(&failure);
            let res = failed(&failure);
            flow.rec.answered(res.status());
            return res;
        }
    };
    flow.rec.head(opened.status, &opened.headers);
    // One frame in flight: the runtime's stream waits for the caller, nothing piles up here.
    let (tx, body) = Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(pump(
        opened.first,
        replies,
        tx,
        id.to_owned(),
        trailers,
        flow,
    ));
    let mut res = Response::new(body.boxed());
    *res.status_mut() = opened.status;
    *res.headers_mut() = opened.headers;
    res.headers_mut()
        .insert("x-amzn-requestid", header_value(id));
    if trailers {
        // hyper sends only the trailers declared up front.
        res.headers_mut().insert(TRAILER, wire::TRAILER_DECLARATION);
    }
    res
}

/// Moves the response's chunks to the caller; ends it with error trailers (or an abort) when
/// it failed, cleanly only when it completed.
async fn pump(
    first: Bytes,
    mut replies: Replies,
    mut tx: Sender<Bytes, BoxError>,
    id: String,
    trailers: bool,
    mut flow: Flow,
) {
    let mut next = if first.is_empty() {
        None
    } else {
        Some(Reply::Data(first))
    };
    loop {
        let reply = match next.take() {
            Some(reply) => reply,
            None => replies.next().await,
        };
        let reply = match reply {
            Reply::Data(data) => match flow.admit(data).await {
                Ok(data) => Reply::Data(data),
                Err(failure) => Reply::Failed(failure),
            },
            other => other,
        };
        match reply {
            Reply::Data(data) => {
                if tx.send_data(data).await.is_err() {
                    tracing::info!(request_id = %id, "the caller disconnected mid-stream");
                    // The invocation goes on (as on Lambda) and keeps its slot until it ends.
                    drain(&mut replies).await;
                    flow.rec.finish();
                    return;
                }
            }
            Reply::End => {
                flow.rec.finish();
                return;
            }
            Reply::Failed(failure) | Reply::Error(failure) => {
                flow.rec.failed(&failure);
                flow.rec.finish();
                if trailers {
                    log_failure(
                        &id,
                        &failure,
                        "the response failed midway; ending it with error trailers",
                    );
                    let _ = tx.send_trailers(wire::error_trailers(&failure)).await;
                } else {
                    log_failure(
                        &id,
                        &failure,
                        "the response failed midway; aborting the connection \
                         (send `TE: trailers` to get error trailers instead)",
                    );
                    tx.abort(Box::new(failure));
                }
                drain(&mut replies).await;
                return;
            }
            Reply::Started { .. } | Reply::Head { .. } => continue,
        }
    }
}

/// A whole response, up to Lambda's 6 MB for a buffered one, and how it failed, if it did;
/// its content type goes to `content_type`.
async fn collect(
    replies: &mut Replies,
    rec: &mut Recording,
    content_type: &mut Option<HeaderValue>,
) -> (BytesMut, Option<Diagnostic>) {
    let mut payload = BytesMut::new();
    let failure = loop {
        match replies.next().await {
            Reply::Head { content_type: ct } => *content_type = ct,
            Reply::Data(data) => {
                rec.chunk(&data);
                payload.extend_from_slice(&data);
                if payload.len() > MAX_PAYLOAD {
                    drain(replies).await;
                    break Some(too_large_response(MAX_PAYLOAD as u64));
                }
            }
            Reply::End => break None,
            Reply::Failed(f) | Reply::Error(f) => break Some(f),
            Reply::Started { .. } => {}
        }
    };
    (payload, failure)
}

/// Lambda's error for a response over `limit` bytes.
fn too_large_response(limit: u64) -> Diagnostic {
    Diagnostic::new(
        "Function.ResponseSizeTooLarge",
        format!("response payload size exceeded maximum allowed payload size ({limit} bytes)"),
    )
}

/// Reads the rest of an invocation's replies, to its end.
async fn drain(replies: &mut Replies) {
    while let Reply::Started { .. } | Reply::Head { .. } | Reply::Data(_) = replies.next().await {}
}

/// A function URL of a function that answers buffered: the whole response at once, with its
/// `content-length`, decoded from the response object as a `BUFFERED` function URL does.
async fn buffered_function_url(
    mut replies: Replies,
    id: &str,
    mut rec: Recording,
) -> Response<Body> {
    let (payload, failure) = collect(&mut replies, &mut rec, &mut None).await;
    let mut res = match failure {
        None => buffered_response(&payload),
        Some(f) => {
            log_failure(id, &f, "the invocation failed; answering 502");
            rec.failed(&f);
            text(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
    };
    rec.head(res.status(), res.headers());
    rec.finish();
    res.headers_mut()
        .insert("x-amzn-requestid", header_value(id));
    res
}

/// The response a function URL makes of a buffered response object: `statusCode`, `headers`,
/// `cookies` and `body` (base64-decoded when `isBase64Encoded`), or, when the payload is not
/// such an object, the payload itself as a `200` JSON body.
fn buffered_response(payload: &[u8]) -> Response<Body> {
    let object = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .filter(|v| v.get("statusCode").is_some());
    let Some(object) = object else {
        let mut res = json(StatusCode::OK, Bytes::copy_from_slice(payload));
        res.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(payload.len()));
        return res;
    };
    let status = object["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let text_body = object["body"].as_str().unwrap_or("");
    let body = if object["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text_body)
            .unwrap_or_default()
            .into()
    } else {
        Bytes::copy_from_slice(text_body.as_bytes())
    };
    let mut headers = HeaderMap::new();
    if let Some(map) = object["headers"].as_object() {
        for (name, value) in map {
            let (Ok(name), Some(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().and_then(|v| HeaderValue::from_str(v).ok()),
            ) else {
                continue;
            };
            headers.insert(name, value);
        }
    }
    for cookie in object["cookies"].as_array().into_iter().flatten() {
        if let Some(v) = cookie.as_str().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

/// The inspector's routes: the page, its live feed, and the invocations as JSON.
fn inspect(doors: &Doors, path: &str) -> Response<Body> {
    match path.strip_prefix(INSPECTOR).unwrap_or("") {
        "" => {
            let mut res = Response::new(full(Bytes::from(doors.inspector.page())));
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res
        }
        "invocations" => {
            let all = doors.inspector.snapshot();
            let list = format!("[{}]", all.join(","));
            json(StatusCode::OK, Bytes::from(list))
        }
        "events" => {
            let (mut tx, body) = Channel::<Bytes, BoxError>::new(16);
            let mut feed = doors.inspector.subscribe();
            let kept = doors.inspector.snapshot();
            tokio::spawn(async move {
                for json in kept {
                    if tx.send_data(inspector::event(&json)).await.is_err() {
                        return;
                    }
                }
                loop {
                    let json = match feed.recv().await {
                        Ok(json) => json,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    if tx.send_data(inspector::event(&json)).await.is_err() {
                        return;
                    }
                }
            });
            let mut res = Response::new(body.boxed());
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert("cache-control", HeaderValue::from_static("no-cache"));
            res
        }
        _ => text(StatusCode::NOT_FOUND, "no such inspector page\n"),
    }
}

fn log_failure(id: &str, failure: &Diagnostic, what: &str) {
    tracing::error!(
        request_id = id,
        error_type = failure.error_type(),
        error = failure.error_message(),
        "{what}"
    );
}

/// `InvokeWithResponseStream`: an event stream of `PayloadChunk`s, then `InvokeComplete`.
async fn invoke_with_response_stream(
    doors: &Doors,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let (parts, body) = req.into_parts();
    let payload = read_payload(&parts.headers, body).await?;
    let id = emulator::request_id();
    let permit = doors.permit()?;
    let mut rec = doors
        .inspector
        .record("InvokeWithResponseStream", "POST", parts.uri.path(), &id);
    let mut replies = doors.submit(&id, payload, client_context(&parts.headers))?;
    tracing::info!(request_id = %id, "invoke with response stream");
    let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
    let task_id = id.clone();
    rec.head(StatusCode::OK, &HeaderMap::new());
    tokio::spawn(async move {
        let _permit = permit;
        let id = task_id;
        let failure = loop {
            match replies.next().await {
                Reply::Data(data) => {
                    rec.chunk(&data);
                    if tx
                        .send_data(eventstream::payload_chunk(&data))
                        .await
                        .is_err()
                    {
                        tracing::info!(request_id = %id, "the caller disconnected mid-stream");
                        drain(&mut replies).await;
                        return;
                    }
                }
                Reply::End => break None,
                Reply::Failed(f) | Reply::Error(f) => {
                    rec.failed(&f);
                    log_failure(
                        &id,
                        &f,
                        "the invocation failed; reporting it in InvokeComplete",
                    );
                    break Some(f);
                }
                Reply::Started { .. } | Reply::Head { .. } => continue,
            }
        };
        let _ = tx
            .send_data(eventstream::invoke_complete(failure.as_ref()))
            .await;
    });
    let mut res = Response::new(body.boxed());
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(eventstream::CONTENT_TYPE),
    );
    h.insert("x-amzn-requestid", header_value(&id));
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    Ok(res)
}

/// `Invoke`: the whole payload once the invocation is over.
async fn invoke(doors: &Doors, req: Request<Incoming>) -> Result<Response<Body>, Refused> {
    let (parts, body) = req.into_parts();
    let invocation_type = parts
        .headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let payload = read_payload(&parts.headers, body).await?;
    if invocation_type == "DryRun" {
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let id = emulator::request_id();
    let permit = doors.permit()?;
    let mut rec = doors
        .inspector
        .record("Invoke", "POST", parts.uri.path(), &id);
    let mut replies = doors.submit(&id, payload, client_context(&parts.headers))?;
    tracing::info!(request_id = %id, invocation_type, "invoke");
    if invocation_type == "Event" {
        rec.answered(StatusCode::ACCEPTED);
        // Nobody waits for the result: read it to its end in the background.
        tokio::spawn(async move {
            let _permit = permit;
            drain(&mut replies).await;
            rec.finish();
        });
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let mut content_type = None;
    let (payload, failure) = collect(&mut replies, &mut rec, &mut content_type).await;
    let mut res = match &failure {
        None => {
            let mut res = Response::new(full(payload.freeze()));
            let ct = content_type.unwrap_or(HeaderValue::from_static("application/json"));
            res.headers_mut().insert(CONTENT_TYPE, ct);
            res
        }
        Some(f) => {
            rec.failed(f);
            log_failure(&id, f, "the invocation failed");
            let mut res = json(StatusCode::OK, f.to_json().into());
            res.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            res
        }
    };
    rec.head(res.status(), res.headers());
    rec.finish();
    drop(permit);
    let h = res.headers_mut();
    h.insert("x-amzn-requestid", header_value(&id));
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    Ok(res)
}

/// `X-Amz-Client-Context` (base64 JSON) → the JSON the Runtime API hands on.
fn client_context(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-amz-client-context")?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .ok()?;
    String::from_utf8(json).ok()
}

/// The request body, up to Lambda's 6 MB payload limit (`413` beyond it).
///
/// A body over the limit is still read (and dropped) up to [`DRAIN_LIMIT`], so that the
/// caller, still sending, reads the `413` rather than a connection reset.
async fn read_payload(headers: &HeaderMap, mut body: Incoming) -> Result<Bytes, Refused> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(Refused::TooLarge);
    }
    let mut payload = BytesMut::new();
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            tracing::info!(error = %e, "cannot read a request body");
            Refused::Unreadable
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= MAX_PAYLOAD as u64 {
            payload.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_PAYLOAD as u64 {
        return Err(Refused::TooLarge);
    }
    Ok(payload.freeze())
}

/// Why a door turned a request away without invoking the function.
#[derive(Debug)]
enum Refused {
    /// Over Lambda's 6 MB payload limit: `413`.
    TooLarge,
    /// The request body could not be read: `400`.
    Unreadable,
    /// The runtime is gone: `503`.
    Stopped,
    /// Every concurrency slot is taken: `429`, as Lambda throttles.
    Throttled,
}

impl Refused {
    fn into_response(self) -> Response<Body> {
        match self {
            Refused::TooLarge => too_large(),
            Refused::Unreadable => text(StatusCode::BAD_REQUEST, "cannot read the request body\n"),
            Refused::Stopped => text(StatusCode::SERVICE_UNAVAILABLE, "the runtime has stopped\n"),
            Refused::Throttled => throttled(),
        }
    }
}

fn too_large() -> Response<Body> {
    let mut res = json(
        StatusCode::PAYLOAD_TOO_LARGE,
        Bytes::from(format!(
            "{{\"Type\":\"User\",\"message\":\"Request must be smaller than {MAX_PAYLOAD} bytes \
             for the InvokeFunction operation\"}}"
        )),
    );
    res.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("RequestTooLargeException"),
    );
    res
}

/// What Lambda answers when a function is at its concurrency limit: `TooManyRequestsException`.
fn throttled() -> Response<Body> {
    let mut res = json(
        StatusCode::TOO_MANY_REQUESTS,
        Bytes::from_static(
            b"{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\",\"Type\":\"User\",\
              \"message\":\"Rate Exceeded.\"}",
        ),
    );
    res.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("TooManyRequestsException"),
    );
    res
}

/// Whether the caller accepts trailers (`TE: trailers`), the condition hyper sends them on.
fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"))
}

fn full(data: Bytes) -> Body {
    Full::new(data).map_err(|never| match never {}).boxed()
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = status;
    res
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(full(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(is_function_path(
            "/2021-11-15/functions/my-fn/response-streaming-invocations",
            "/2021-11-15/functions/",
            STREAMING_INVOKE
        ));
        assert!(is_function_path(
            "/2015-03-31/functions/arn%3Aaws/invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
        assert!(!is_function_path(
            "/2015-03-31/functions//invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
        assert!(!is_function_path(
            "/2015-03-31/functions/a/b/invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
    }

    #[test]
    fn te_trailers() {
        let mut h = HeaderMap::new();
        assert!(!accepts_trailers(&h));
        h.append(TE, HeaderValue::from_static("gzip"));
        assert!(!accepts_trailers(&h));
        h.append(TE, HeaderValue::from_static("deflate, Trailers"));
        assert!(accepts_trailers(&h));
    }
}
