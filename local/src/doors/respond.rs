//! What every door shares: reading the request's payload, the refusals (a request turned away
//! without invoking the function), and the small responses the doors make.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use base64::Engine as _;
use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::{ERROR_BODY, ERROR_TYPE, MAX_PAYLOAD};

use crate::error::ErrorReport;
use crate::http1::Body;

/// How much of a body over the payload limit is read and dropped before answering `413`.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// The request body, up to Lambda's 6 MB payload limit (`413` beyond it).
///
/// A body over the limit is still read (and dropped) up to [`DRAIN_LIMIT`], so that the
/// caller, still sending, reads the `413` rather than a connection reset.
pub(super) async fn read_payload(
    headers: &HeaderMap,
    mut body: Incoming,
) -> Result<Bytes, Refused> {
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

/// The trailers that end a response which failed midway, for an HTTP caller: the error type,
/// and the base64 of the failure's JSON, as the runtime posted them.
pub(super) fn error_trailers(failure: &ErrorReport) -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    let error_type = HeaderValue::from_str(failure.error_type())
        .unwrap_or(HeaderValue::from_static(types::UNKNOWN));
    trailers.insert(ERROR_TYPE, error_type);
    let body = base64::engine::general_purpose::STANDARD.encode(failure.to_json());
    // Standard base64 is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&body) {
        trailers.insert(ERROR_BODY, value);
    }
    trailers
}

/// Why a door answered a request without invoking the function: turned away, or (`DryRun`)
/// asked not to invoke.
#[derive(Debug)]
pub(super) enum Refused {
    /// Over Lambda's 6 MB payload limit: `413`.
    TooLarge,
    /// The request body could not be read: `400`.
    Unreadable,
    /// The runtime is gone: `503`.
    Stopped,
    /// Every concurrency slot is taken: `429`, as Lambda throttles.
    Throttled,
    /// Turned away by the guard (`AWS_IAM` auth): its answer.
    Guard(Box<Response<Body>>),
    /// An `Invoke` of type `DryRun`, authorized: `204`, and nothing invoked.
    DryRun,
}

impl From<Box<Response<Body>>> for Refused {
    fn from(answer: Box<Response<Body>>) -> Self {
        Refused::Guard(answer)
    }
}

impl Refused {
    pub(super) fn into_response(self) -> Response<Body> {
        match self {
            Refused::TooLarge => too_large(),
            Refused::Unreadable => text(StatusCode::BAD_REQUEST, "cannot read the request body\n"),
            Refused::Stopped => text(StatusCode::SERVICE_UNAVAILABLE, "the runtime has stopped\n"),
            Refused::Throttled => throttled(),
            Refused::Guard(answer) => *answer,
            Refused::DryRun => empty(StatusCode::NO_CONTENT),
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
pub(super) fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
}

pub(super) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("-"))
}

pub(super) fn full(data: Bytes) -> Body {
    Full::new(data).map_err(|never| match never {}).boxed()
}

pub(super) fn empty(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = status;
    res
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(full(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

pub(super) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Lambda's error for a response over `limit` bytes.
pub(super) fn too_large_response(limit: u64) -> ErrorReport {
    ErrorReport::new(
        types::RESPONSE_SIZE_TOO_LARGE,
        format!("response payload size exceeded maximum allowed payload size ({limit} bytes)"),
    )
}

pub(super) fn log_failure(id: &str, failure: &ErrorReport, what: &str) {
    tracing::error!(
        request_id = id,
        error_type = failure.error_type(),
        error = failure.error_message(),
        "{what}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
