//! The front doors: the public HTTP/1.1 server callers use; see the module docs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TE, TRAILER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::channel::{Channel, Sender};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{eventstream, Options};
use crate::emulator::{self, event, job, prelude, Job, Replies, Reply};
use crate::wire::{self, MAX_PAYLOAD};
use crate::{BoxError, Diagnostic};

type Body = BoxBody<Bytes, BoxError>;

const STREAMING_INVOKE: &str = "/response-streaming-invocations";
const INVOKE: &str = "/invocations";
/// How much of a body over the payload limit is read and dropped before answering `413`.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// What the front doors share: the queue to the runtime and the options.
pub(crate) struct Doors {
    queue: mpsc::UnboundedSender<Job>,
    options: Options,
}

impl Doors {
    pub(crate) fn new(queue: mpsc::UnboundedSender<Job>, options: Options) -> Arc<Self> {
        Arc::new(Doors { queue, options })
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
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "local server: cannot accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each chunk leaves at once, not when the previous one is acknowledged.
        let _ = stream.set_nodelay(true);
        let doors = doors.clone();
        let header_read_timeout = doors.options.header_read_timeout;
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| route(doors.clone(), peer, req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                // A caller that trickles its head (or sends none) is cut off.
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, %peer, "local server connection ended with an error");
            }
        });
    }
}

async fn route(
    doors: Arc<Doors>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let is_post = req.method() == Method::POST;
    let res = if is_post && path == "/invoke" {
        invoke_raw(&doors, req).await
    } else if is_post && is_function_path(path, "/2021-11-15/functions/", STREAMING_INVOKE) {
        invoke_with_response_stream(&doors, req).await
    } else if is_post && is_function_path(path, "/2015-03-31/functions/", INVOKE) {
        invoke(&doors, req).await
    } else {
        function_url(&doors, peer, req).await
    };
    Ok(res.unwrap_or_else(Refused::into_response))
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
    let replies = doors.submit(&id, event, None)?;
    tracing::info!(
        request_id = %id,
        method = %parts.method,
        uri = %parts.uri,
        "function url invocation"
    );
    Ok(stream_back(replies, &id, trailers, |failure| {
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
    let replies = doors.submit(&id, payload, None)?;
    tracing::info!(request_id = %id, "raw invocation");
    Ok(stream_back(replies, &id, trailers, |failure| {
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

/// Waits for the response to start, then streams it to the caller as it arrives.
async fn stream_back(
    mut replies: Replies,
    id: &str,
    trailers: bool,
    failed: impl FnOnce(&Diagnostic) -> Response<Body>,
) -> Response<Body> {
    let opened = match prelude::open(&mut replies).await {
        Ok(opened) => opened,
        Err(unopened) => return failed(&unopened.failure),
    };
    // One frame in flight: the runtime's stream waits for the caller, nothing piles up here.
    let (tx, body) = Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(pump(opened.first, replies, tx, id.to_owned(), trailers));
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
) {
    if !first.is_empty() && tx.send_data(first).await.is_err() {
        tracing::info!(request_id = %id, "the caller disconnected mid-stream");
        return;
    }
    loop {
        match replies.next().await {
            Reply::Data(data) => {
                if tx.send_data(data).await.is_err() {
                    tracing::info!(request_id = %id, "the caller disconnected mid-stream");
                    return;
                }
            }
            Reply::End => return,
            Reply::Failed(failure) | Reply::Error(failure) => {
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
                return;
            }
            Reply::Started { .. } | Reply::Head { .. } => continue,
        }
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
    let mut replies = doors.submit(&id, payload, client_context(&parts.headers))?;
    tracing::info!(request_id = %id, "invoke with response stream");
    let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
    let task_id = id.clone();
    tokio::spawn(async move {
        let id = task_id;
        let failure = loop {
            match replies.next().await {
                Reply::Data(data) => {
                    if tx
                        .send_data(eventstream::payload_chunk(&data))
                        .await
                        .is_err()
                    {
                        tracing::info!(request_id = %id, "the caller disconnected mid-stream");
                        return;
                    }
                }
                Reply::End => break None,
                Reply::Failed(f) | Reply::Error(f) => {
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
    let mut replies = doors.submit(&id, payload, client_context(&parts.headers))?;
    tracing::info!(request_id = %id, invocation_type, "invoke");
    if invocation_type == "Event" {
        // Nobody waits for the result: read it to its end in the background.
        tokio::spawn(async move {
            while let Reply::Started { .. } | Reply::Head { .. } | Reply::Data(_) =
                replies.next().await
            {}
        });
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let mut content_type = None;
    let mut payload = BytesMut::new();
    let failure = loop {
        match replies.next().await {
            Reply::Head { content_type: ct } => content_type = ct,
            Reply::Data(data) => {
                payload.extend_from_slice(&data);
                if payload.len() > MAX_PAYLOAD {
                    break Some(Diagnostic::new(
                        "Function.ResponseSizeTooLarge",
                        format!(
                            "response payload size exceeded maximum allowed payload size \
                             ({MAX_PAYLOAD} bytes)"
                        ),
                    ));
                }
            }
            Reply::End => break None,
            Reply::Failed(f) | Reply::Error(f) => break Some(f),
            Reply::Started { .. } => {}
        }
    };
    let mut res = match &failure {
        None => {
            let mut res = Response::new(full(payload.freeze()));
            let ct = content_type.unwrap_or(HeaderValue::from_static("application/json"));
            res.headers_mut().insert(CONTENT_TYPE, ct);
            res
        }
        Some(f) => {
            log_failure(&id, f, "the invocation failed");
            let mut res = json(StatusCode::OK, f.to_json().into());
            res.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            res
        }
    };
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
}

impl Refused {
    fn into_response(self) -> Response<Body> {
        match self {
            Refused::TooLarge => too_large(),
            Refused::Unreadable => text(StatusCode::BAD_REQUEST, "cannot read the request body\n"),
            Refused::Stopped => text(StatusCode::SERVICE_UNAVAILABLE, "the runtime has stopped\n"),
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
