//! Buffered responses: the whole body is read, then posted as one payload.
//!
//! For an HTTP integration the payload is the JSON response object the integration expects
//! (see the [Lambda developer guide][url] and the API Gateway and ALB guides):
//!
//! ```text
//! function URL, HTTP API (2.0): {"statusCode":200,"headers":{..},"cookies":[..],"body":"..","isBase64Encoded":false}
//! API Gateway REST (1.0):       {"statusCode":200,"headers":{..},"multiValueHeaders":{..},"body":"..","isBase64Encoded":false}
//! ALB:                          {"statusCode":200,"statusDescription":"200 OK","headers":{..},"body":"..","isBase64Encoded":false}
//!                               (multiValueHeaders instead of headers when the event had them)
//! ```
//!
//! A raw invocation's payload is the body bytes as they are. The body is text (`body` as is)
//! when its content type is textual, it has no `content-encoding` and it is valid UTF-8;
//! anything else is sent base64-encoded with `isBase64Encoded: true`.
//!
//! Lambda refuses a buffered payload over 6 MB with a `413` the caller sees as a bare error:
//! the body is read up to one byte past the limit and the invocation reported to `/error` as
//! `Function.ResponseSizeTooLarge`, with a message that says what to do.
//!
//! [url]: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-response-payload

use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::response::Parts;
use http_body::Body;

use super::prelude::{
    comma, escape_str, escaped, is_dropped, string, write_head_fields, DEFAULT_CONTENT_TYPE,
};
use super::MAX_PAYLOAD;
use crate::error::types;
use crate::event::ResponseFormat;
use crate::{BoxError, Diagnostic};

/// The error type of a response over the limit, as Lambda names it.
const TOO_LARGE: &str = "Function.ResponseSizeTooLarge";

/// A buffered response, ready to post.
#[derive(Debug)]
pub(crate) struct Buffered {
    pub(crate) content_type: HeaderValue,
    pub(crate) payload: Bytes,
}

/// Reads `body` (at most [`MAX_PAYLOAD`] + 1 bytes) and encodes the payload.
///
/// Fails, with the diagnostic to report to `/error`, when the body fails or panics, or when
/// the body or the encoded payload is over the limit.
pub(crate) async fn buffer<B>(
    format: ResponseFormat,
    parts: &Parts,
    body: B,
) -> Result<Buffered, Diagnostic>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let body = collect(body, MAX_PAYLOAD).await?;
    let buffered = encode(format, parts, body);
    if buffered.payload.len() > MAX_PAYLOAD {
        return Err(too_large("the encoded response object"));
    }
    Ok(buffered)
}

fn too_large(what: &str) -> Diagnostic {
    Diagnostic::new(
        TOO_LARGE,
        format!(
            "{what} is larger than the {MAX_PAYLOAD} bytes a buffered response may \
             carry; make it smaller or stream it (response mode streamed)"
        ),
    )
}

/// The body's data, up to `limit` bytes; its trailers are ignored.
async fn collect<B>(body: B, limit: usize) -> Result<Bytes, Diagnostic>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    let mut out = BytesMut::new();
    loop {
        let frame =
            poll_fn(
                |cx| match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx))) {
                    Ok(poll) => poll.map(Ok),
                    Err(panic) => std::task::Poll::Ready(Err(Diagnostic::from_panic(&*panic))),
                },
            )
            .await?;
        match frame {
            None => return Ok(out.freeze()),
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    if out.len() + data.remaining() > limit {
                        return Err(too_large("the response body"));
                    }
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        out.extend_from_slice(chunk);
                        let n = chunk.len();
                        data.advance(n);
                    }
                }
            }
            Some(Err(e)) => return Err(Diagnostic::from_error(e.into(), types::HANDLER)),
        }
    }
}

/// Encodes a read body for `format`.
pub(crate) fn encode(format: ResponseFormat, parts: &Parts, body: Bytes) -> Buffered {
    let multi_value_alb = match format {
        ResponseFormat::Raw => {
            return Buffered {
                content_type: parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .cloned()
                    .unwrap_or(DEFAULT_CONTENT_TYPE),
                payload: body,
            }
        }
        ResponseFormat::Alb {
            multi_value_headers,
        } => Some(multi_value_headers),
        ResponseFormat::PayloadV1 | ResponseFormat::PayloadV2 => None,
    };
    let text = is_text(&parts.headers).then(|| std::str::from_utf8(&body).ok());
    let text = text.flatten();
    let mut out = Vec::with_capacity(128 + parts.headers.len() * 48 + body.len() * 4 / 3);
    out.push(b'{');
    match multi_value_alb {
        Some(multi) => write_alb_head(&mut out, parts.status, &parts.headers, multi),
        None => write_head_fields(&mut out, format, parts.status, &parts.headers),
    }
    out.extend_from_slice(b",\"body\":\"");
    match text {
        Some(text) => escape_str(&mut out, text),
        None => out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(&body)
                .as_bytes(),
        ),
    }
    out.extend_from_slice(b"\",\"isBase64Encoded\":");
    // isBase64Encoded: whether the body is *not* text.
    out.extend_from_slice(if text.is_some() { b"false" } else { b"true" });
    out.push(b'}');
    Buffered {
        content_type: HeaderValue::from_static("application/json"),
        payload: Bytes::from(out),
    }
}

/// `"statusCode":S,"statusDescription":"S Reason","headers":{..}` or `"multiValueHeaders":{..}`.
///
/// Without multi-value headers, a repeated header is joined with `, ` as HTTP allows, except
/// `set-cookie`, which cannot be joined: only its last value is kept (with a warning).
fn write_alb_head(
    out: &mut Vec<u8>,
    status: http::StatusCode,
    headers: &HeaderMap,
    multi_value: bool,
) {
    out.extend_from_slice(b"\"statusCode\":");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b",\"statusDescription\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    if let Some(reason) = status.canonical_reason() {
        out.push(b' ');
        escape_str(out, reason);
    }
    out.push(b'"');
    out.extend_from_slice(if multi_value {
        b",\"multiValueHeaders\":{"
    } else {
        b",\"headers\":{"
    });
    let mut first = true;
    for name in headers.keys() {
        if is_dropped(name.as_str()) {
            continue;
        }
        comma(out, &mut first);
        string(out, name.as_str().as_bytes());
        out.push(b':');
        let values = headers.get_all(name);
        if multi_value {
            out.push(b'[');
            let mut first_value = true;
            for v in values {
                comma(out, &mut first_value);
                string(out, v.as_bytes());
            }
            out.push(b']');
        } else if name == header::SET_COOKIE {
            if values.iter().nth(1).is_some() {
                tracing::warn!(
                    "an alb target group without multi-value headers takes one set-cookie: \
                     sending the last one only"
                );
            }
            let last = values.iter().next_back().map_or(&b""[..], |v| v.as_bytes());
            string(out, last);
        } else {
            out.push(b'"');
            let mut sep = false;
            for v in values {
                if sep {
                    out.extend_from_slice(b", ");
                }
                sep = true;
                escaped(out, v.as_bytes());
            }
            out.push(b'"');
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        comma(out, &mut first);
        string(out, b"content-type");
        out.push(b':');
        if multi_value {
            out.push(b'[');
        }
        string(out, DEFAULT_CONTENT_TYPE.as_bytes());
        if multi_value {
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// Whether a body with these headers goes in the JSON as text: a textual content type and no
/// content coding. (Its bytes must also be UTF-8; the caller checks.)
fn is_text(headers: &HeaderMap) -> bool {
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return false;
    }
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || (kind == "application"
            && matches!(
                sub,
                "json"
                    | "xml"
                    | "javascript"
                    | "ecmascript"
                    | "x-www-form-urlencoded"
                    | "graphql"
                    | "x-ndjson"
                    | "yaml"
            ))
        || sub.ends_with("+json")
        || sub.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Response, StatusCode};
    use http_body_util::{Full, StreamBody};
    use serde_json::{json, Value};

    fn parts(build: impl FnOnce(&mut Response<()>)) -> Parts {
        let mut res = Response::new(());
        build(&mut res);
        res.into_parts().0
    }

    fn json_of(b: &Buffered) -> Value {
        assert_eq!(b.content_type, "application/json");
        serde_json::from_slice(&b.payload).unwrap()
    }

    #[test]
    fn function_url_object_with_text_body_and_cookies() {
        let p = parts(|r| {
            *r.status_mut() = StatusCode::CREATED;
            let h = r.headers_mut();
            h.insert(
                "content-type",
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            h.append("set-cookie", HeaderValue::from_static("a=1"));
            h.append("set-cookie", HeaderValue::from_static("b=2"));
            h.append("vary", HeaderValue::from_static("accept"));
            h.append("vary", HeaderValue::from_static("origin"));
            h.insert("content-length", HeaderValue::from_static("5"));
        });
        let b = encode(ResponseFormat::PayloadV2, &p, Bytes::from("h\"é\n"));
        assert_eq!(
            json_of(&b),
            json!({
                "statusCode": 201,
                "headers": {"content-type": "text/plain; charset=utf-8", "vary": "accept, origin"},
                "cookies": ["a=1", "b=2"],
                "body": "h\"é\n",
                "isBase64Encoded": false,
            })
        );
    }

    #[test]
    fn binary_compressed_or_untyped_bodies_are_base64() {
        let body = Bytes::from_static(b"\x89PNG\0\x01");
        let p = parts(|r| {
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("image/png"));
        });
        let v = json_of(&encode(ResponseFormat::PayloadV2, &p, body.clone()));
        assert_eq!(v["isBase64Encoded"], true);
        assert_eq!(v["body"], "iVBORwAB");

        let p = parts(|r| {
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            h.insert("content-encoding", HeaderValue::from_static("gzip"));
        });
        let v = json_of(&encode(ResponseFormat::PayloadV1, &p, Bytes::from("{}")));
        assert_eq!(v["isBase64Encoded"], true);
        assert_eq!(v["body"], "e30=");

        // No content type: the default application/octet-stream, so base64.
        let v = json_of(&encode(
            ResponseFormat::PayloadV2,
            &parts(|_| {}),
            Bytes::from("x"),
        ));
        assert_eq!(v["isBase64Encoded"], true);
        assert_eq!(v["headers"]["content-type"], "application/octet-stream");

        // Text type but not UTF-8: base64.
        let p = parts(|r| {
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/plain"));
        });
        let v = json_of(&encode(
            ResponseFormat::PayloadV2,
            &p,
            Bytes::from_static(b"\xff"),
        ));
        assert_eq!(v["isBase64Encoded"], true);
    }

    #[test]
    fn rest_object_uses_multi_value_headers_for_repeats() {
        let p = parts(|r| {
            let h = r.headers_mut();
            h.insert(
                "content-type",
                HeaderValue::from_static("application/problem+json"),
            );
            h.append("set-cookie", HeaderValue::from_static("a=1"));
            h.append("set-cookie", HeaderValue::from_static("b=2"));
        });
        let v = json_of(&encode(ResponseFormat::PayloadV1, &p, Bytes::new()));
        assert_eq!(
            v,
            json!({
                "statusCode": 200,
                "headers": {"content-type": "application/problem+json"},
                "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
                "body": "",
                "isBase64Encoded": false,
            })
        );
    }

    #[test]
    fn alb_objects_follow_the_events_header_style() {
        let p = parts(|r| {
            *r.status_mut() = StatusCode::NOT_FOUND;
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("text/html"));
            h.append("set-cookie", HeaderValue::from_static("a=1"));
            h.append("set-cookie", HeaderValue::from_static("b=2"));
        });
        let single = ResponseFormat::Alb {
            multi_value_headers: false,
        };
        assert_eq!(
            json_of(&encode(single, &p, Bytes::from("<p>gone</p>"))),
            json!({
                "statusCode": 404,
                "statusDescription": "404 Not Found",
                "headers": {"content-type": "text/html", "set-cookie": "b=2"},
                "body": "<p>gone</p>",
                "isBase64Encoded": false,
            })
        );
        let multi = ResponseFormat::Alb {
            multi_value_headers: true,
        };
        assert_eq!(
            json_of(&encode(multi, &p, Bytes::new())),
            json!({
                "statusCode": 404,
                "statusDescription": "404 Not Found",
                "multiValueHeaders": {"content-type": ["text/html"], "set-cookie": ["a=1", "b=2"]},
                "body": "",
                "isBase64Encoded": false,
            })
        );
    }

    #[test]
    fn raw_payload_is_the_body_as_is() {
        let p = parts(|r| {
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        });
        let b = encode(ResponseFormat::Raw, &p, Bytes::from("{\"ok\":true}"));
        assert_eq!(b.payload, "{\"ok\":true}");
        assert_eq!(b.content_type, "application/json");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_without_reading_it_all() {
        // An endless body: reading it all would never end.
        let endless = StreamBody::new(futures_util::stream::repeat_with(|| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(vec![
                b'x';
                64 * 1024
            ])))
        }));
        let err = buffer(ResponseFormat::Raw, &parts(|_| {}), endless)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Function.ResponseSizeTooLarge");
        assert!(err.error_message().contains("6291456 bytes"));

        // Exactly at the limit passes, as raw bytes.
        let full = Full::new(Bytes::from(vec![b'x'; MAX_PAYLOAD]));
        let ok = buffer(ResponseFormat::Raw, &parts(|_| {}), full)
            .await
            .unwrap();
        assert_eq!(ok.payload.len(), MAX_PAYLOAD);

        // Under the limit, but over it once base64-encoded.
        let full = Full::new(Bytes::from(vec![0u8; MAX_PAYLOAD - 10]));
        let err = buffer(ResponseFormat::PayloadV2, &parts(|_| {}), full)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Function.ResponseSizeTooLarge");
    }

    #[tokio::test]
    async fn body_errors_and_panics_become_diagnostics() {
        let failing = StreamBody::new(futures_util::stream::iter([
            Ok(http_body::Frame::data(Bytes::from("a"))),
            Err::<http_body::Frame<Bytes>, BoxError>("db gone".into()),
        ]));
        let err = buffer(ResponseFormat::PayloadV2, &parts(|_| {}), failing)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Function.Error");
        assert_eq!(err.error_message(), "db gone");

        let panicking = StreamBody::new(futures_util::stream::poll_fn(
            |_| -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
                panic!("body exploded")
            },
        ));
        let err = buffer(ResponseFormat::PayloadV2, &parts(|_| {}), panicking)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Function.Panic");
    }
}
