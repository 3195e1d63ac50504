//! The Runtime API's invocation routes: `/next`, `/response`, `/error` and `/init/error`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::{self as protocol, ERROR_BODY, ERROR_TYPE, RESPONSE_MODE};
use tokio::sync::mpsc;

use super::{accepted, read_failure, reply, Event, Flight, RuntimeApi};
use crate::emulator::{Progress, Reply};
use crate::error::ErrorReport;

/// `GET /runtime/invocation/next`: the next invocation whose caller is still waiting.
pub(super) async fn next(api: &RuntimeApi) -> Response<Full<Bytes>> {
    api.tell(|| Event::Polling);
    let invocation = {
        let mut queue = api.queue.lock().await;
        loop {
            match queue.recv().await {
                Some(invocation) if invocation.replies.is_closed() => {
                    let id = &invocation.request_id;
                    tracing::info!(request_id = %id, "skipping an invocation whose caller left");
                }
                Some(invocation) => break invocation,
                // The front doors are gone: the server is shutting down.
                None => {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ServiceException",
                        "shutting down",
                    )
                }
            }
        }
    };
    let timeout = api.function_timeout;
    let deadline_ms = (SystemTime::now() + timeout)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    // The channel is new and empty: there is room for this one.
    let _ = invocation.replies.try_send(Progress::Started {
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
    });
    let mut res = Response::new(Full::new(invocation.payload));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(protocol::REQUEST_ID, &invocation.request_id);
    set(protocol::DEADLINE_MS, &deadline_ms.to_string());
    set(protocol::INVOKED_FUNCTION_ARN, &api.function_arn);
    set(protocol::TRACE_ID, &trace_id(&invocation.request_id));
    if let Some(cc) = &invocation.client_context {
        set(protocol::CLIENT_CONTEXT, cc);
    }
    tracing::debug!(request_id = %invocation.request_id, "invocation handed to the runtime");
    api.tell(|| Event::Handed {
        id: invocation.request_id.clone(),
    });
    let flight = Flight {
        tx: invocation.replies,
        responding: false,
    };
    api.in_flight().insert(invocation.request_id, flight);
    res
}

/// `POST /runtime/invocation/{id}/response`: passes the stream on as it arrives.
pub(super) async fn response(
    api: &RuntimeApi,
    id: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let Some(tx) = api.respond(id) else {
        return unknown_request_id();
    };
    let (parts, mut body) = req.into_parts();
    let mode = parts.headers.get(RESPONSE_MODE);
    if mode.is_some_and(|mode| mode != "streaming") {
        let why = "lambda-runtime-function-response-mode must be streaming";
        let failure = ErrorReport::new(types::INVALID_RESPONSE_MODE, why);
        api.settle(id, Reply::Error(failure)).await;
        return reply(StatusCode::BAD_REQUEST, "InvalidFunctionResponseMode", why);
    }
    let content_type = parts.headers.get(CONTENT_TYPE).cloned();
    // Streamed as the mode header says, or as the content type of a prelude does; otherwise
    // a buffered runtime's one payload.
    let streaming =
        mode.is_some() || content_type.as_ref() == Some(&protocol::HTTP_INTEGRATION_CONTENT_TYPE);
    // `None` once the caller has left: the rest is read and dropped, as Lambda does.
    let mut caller = Some(tx);
    if let Some(status) = raw_status(id, &parts.headers) {
        if let Some(tx) = &caller {
            let _ = tx.send(Progress::RawStatus(status)).await;
        }
    }
    let head = Reply::Head {
        content_type,
        streaming,
    };
    forward(&mut caller, head, id).await;
    let mut failure = None;
    let mut warned = false;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if !data.is_empty() {
                        if !warned && trailers_as_data(&data) {
                            warned = true;
                            warn_trailers_as_data(id, &data);
                        }
                        forward(&mut caller, Reply::Data(data), id).await;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        failure = read_error_trailers(&trailers);
                    }
                }
            },
            Some(Err(e)) => {
                tracing::warn!(request_id = id, error = %e, "the runtime's response broke off");
                let failure = api.broke_off(id).await;
                api.settle(id, Reply::Failed(failure)).await;
                return reply(
                    StatusCode::BAD_REQUEST,
                    "TruncatedHTTPRequest",
                    "the response broke off",
                );
            }
            None => break,
        }
    }
    let end = match failure {
        Some(f) => Reply::Failed(f),
        None => Reply::End,
    };
    api.settle(id, end).await;
    accepted()
}

/// Whether a chunk of a response starts with what an error trailer does: a runtime that
/// writes its error "trailers" into the body, where Lambda passes them on as body bytes.
fn trailers_as_data(data: &[u8]) -> bool {
    let name = ERROR_TYPE;
    let name = name.as_str().as_bytes();
    data.len() > name.len()
        && data[..name.len()].eq_ignore_ascii_case(name)
        && data[name.len()] == b':'
}

/// Says that the runtime's error went into the body, where no caller sees it as one.
fn warn_trailers_as_data(id: &str, data: &[u8]) {
    let line = data
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(&line[..line.len().min(200)]);
    tracing::warn!(
        request_id = id,
        "the runtime wrote an error into the response body as text ({line}): \
         Lambda passes it to the caller as body bytes and ends the response as if it \
         succeeded; error trailers go after the body's last chunk"
    );
}

/// Sends `reply` to the caller, forgetting the caller once it has gone.
/// The status a lambda-stream function answered a raw invocation with, when not a success
/// (`Lambda-Stream-Raw-Status`), logged: its caller sees none.
fn raw_status(id: &str, headers: &http::HeaderMap) -> Option<StatusCode> {
    let status = headers.get(protocol::RAW_STATUS)?.to_str().ok()?;
    let status = StatusCode::from_bytes(status.trim().as_bytes()).ok()?;
    tracing::warn!(
        request_id = id,
        status = status.as_u16(),
        "the function answered this raw invocation {status}, which its caller cannot see (a \
         raw invocation's response has no status: Invoke answers 200). A payload that is not \
         an HTTP event reaches the service as `POST /` with the payload as its JSON body: \
         route `POST /` (with axum, `.route(\"/\", post(handler))`), or invoke it with an \
         HTTP event (a function URL's) to reach another route"
    );
    Some(status)
}

async fn forward(caller: &mut Option<mpsc::Sender<Progress>>, reply: Reply, id: &str) {
    if let Some(tx) = caller {
        if tx.send(reply.into()).await.is_err() {
            tracing::info!(
                request_id = id,
                "the caller left; reading the rest of the response and dropping it"
            );
            *caller = None;
        }
    }
}

/// `POST /runtime/invocation/{id}/error`.
pub(super) async fn error(
    api: &RuntimeApi,
    id: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if api.in_flight().get(id).is_none_or(|f| f.responding) {
        return unknown_request_id();
    }
    let failure = read_failure(req).await;
    if !api.settle(id, Reply::Error(failure)).await {
        return unknown_request_id();
    }
    accepted()
}

/// `400 InvalidRequestID`: a post for an invocation that is not in flight.
fn unknown_request_id() -> Response<Full<Bytes>> {
    reply(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "unknown or already answered request id",
    )
}

/// `POST /runtime/init/error`.
pub(super) async fn init_error(api: &RuntimeApi, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let failure = read_failure(req).await;
    tracing::error!(
        error_type = failure.error_type(),
        error = failure.error_message(),
        "the function's initialisation failed"
    );
    api.tell(|| Event::InitError(failure));
    accepted()
}

/// What the error trailers of a failed response say, if they are there: the type, and the
/// message of the base64 JSON body.
fn read_error_trailers(trailers: &HeaderMap) -> Option<ErrorReport> {
    let error_type = trailers.get(ERROR_TYPE)?;
    let error_type = String::from_utf8_lossy(error_type.as_bytes()).into_owned();
    let message = trailers
        .get(ERROR_BODY)
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Some(ErrorReport::new(error_type, message))
}

/// An X-Ray trace header derived from the request id.
fn trace_id(request_id: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let (root, parent) = (hex.get(..24).unwrap_or("0"), hex.get(16..32).unwrap_or("0"));
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_trailers_read_back() {
        let mut trailers = HeaderMap::new();
        trailers.insert(ERROR_TYPE, HeaderValue::from_static("Function.StreamError"));
        // base64 of {"errorType":"Function.StreamError","errorMessage":"upstream closed"}
        let body = base64::engine::general_purpose::STANDARD
            .encode(br#"{"errorType":"Function.StreamError","errorMessage":"upstream closed"}"#);
        trailers.insert(ERROR_BODY, HeaderValue::from_str(&body).unwrap());
        let report = read_error_trailers(&trailers).unwrap();
        assert_eq!(
            report,
            ErrorReport::new("Function.StreamError", "upstream closed")
        );
        assert_eq!(read_error_trailers(&HeaderMap::new()), None);
        let mut only_type = HeaderMap::new();
        only_type.insert(ERROR_TYPE, HeaderValue::from_static("Function.X"));
        let d = read_error_trailers(&only_type).unwrap();
        assert_eq!((d.error_type(), d.error_message()), ("Function.X", ""));
    }

    #[test]
    fn error_trailers_written_as_data_are_told_apart() {
        assert!(trailers_as_data(
            b"Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: eA==\r\n"
        ));
        assert!(trailers_as_data(b"lambda-runtime-function-error-type:x"));
        assert!(!trailers_as_data(b"Lambda-Runtime-Function-Error-Type"));
        assert!(!trailers_as_data(b"Lambda-Runtime-Function-Error-Typo: x"));
        assert!(!trailers_as_data(
            b"the Lambda-Runtime-Function-Error-Type: header"
        ));
        assert!(!trailers_as_data(b""));
    }
}
