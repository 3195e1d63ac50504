//! A function URL of a function that answers buffered (`ResponseMode::Buffered`): the whole
//! response at once, as a `BUFFERED` function URL returns it.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::respond::{full, header_value, json, log_failure, text, too_large_response};
use crate::emulator::{ReadReplies as _, Replies, Reply};
use crate::error::ErrorReport;
use crate::http1::Body;
use crate::inspector::Recording;
use lambda_stream_protocol::MAX_PAYLOAD;

/// A whole response, up to Lambda's 6 MB for a buffered one, and how it failed, if it did;
/// its content type goes to `content_type`.
pub(super) async fn collect(
    replies: &mut Replies,
    rec: &mut Recording,
    content_type: &mut Option<HeaderValue>,
) -> (BytesMut, Option<ErrorReport>) {
    let mut payload = BytesMut::new();
    let failure = loop {
        match replies.next().await {
            Reply::Head {
                content_type: ct, ..
            } => *content_type = ct,
            Reply::Data(data) => {
                rec.chunk(&data);
                payload.extend_from_slice(&data);
                if payload.len() > MAX_PAYLOAD {
                    replies.drain().await;
                    break Some(too_large_response(MAX_PAYLOAD as u64));
                }
            }
            Reply::End => break None,
            Reply::Failed(f) | Reply::Error(f) => break Some(f),
        }
    };
    (payload, failure)
}

/// A function URL of a function that answers buffered: the whole response at once, with its
/// `content-length`, decoded from the response object as a `BUFFERED` function URL does.
pub(super) async fn buffered_function_url(
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
