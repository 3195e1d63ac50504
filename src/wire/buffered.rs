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
//! A raw invocation's payload is the body bytes as they are. In a response object the body is
//! text (`body` as is), as `lambda_http` encodes it, when it is valid UTF-8, has no
//! `content-encoding`, and its content type is textual (`text/*`, `application/json`,
//! `application/javascript`, `application/xml`, `application/yaml`, any `+json`, `+xml` or
//! `+yaml`) or absent; the `x-lambda-http-content-encoding: text` header forces text.
//! Anything else is sent base64-encoded with `isBase64Encoded: true`. A response without a
//! content type is sent without one.
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

use super::prelude::{escape_str, write_head_fields, DEFAULT_CONTENT_TYPE};
use super::MAX_PAYLOAD;
use crate::catch_unwind::Caught;
use crate::error::types;
use crate::wire::ResponseFormat;
use crate::{BoxError, Diagnostic};

/// A buffered response, ready to post.
#[derive(Debug)]
pub(crate) struct Buffered {
    pub(crate) content_type: HeaderValue,
    pub(crate) payload: Bytes,
    /// A raw response's status, when it is not a success (see `prelude::raw_status`).
    pub(crate) raw_status: Option<http::StatusCode>,
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
        types::RESPONSE_SIZE_TOO_LARGE,
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
    // Dropped inside the panic boundary, however this ends.
    let mut body = pin!(Caught::new(body, "the response body"));
    let mut out = BytesMut::new();
    loop {
        let frame = poll_fn(|cx| {
            let Some(body) = body.as_mut().as_pin_mut() else {
                return std::task::Poll::Ready(Ok(None));
            };
            match catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
                Ok(poll) => poll.map(Ok),
                Err(panic) => std::task::Poll::Ready(Err(Diagnostic::from_panic(&*panic))),
            }
        })
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
            Some(Err(e)) => return Err(Diagnostic::from_error(e, types::HANDLER)),
        }
    }
}

/// Encodes a read body for `format`.
pub(crate) fn encode(format: ResponseFormat, parts: &Parts, body: Bytes) -> Buffered {
    if format == ResponseFormat::Raw {
        return Buffered {
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(DEFAULT_CONTENT_TYPE),
            payload: body,
            raw_status: super::prelude::raw_status(parts),
        };
    }
    let text = is_text(&parts.headers).then(|| std::str::from_utf8(&body).ok());
    let text = text.flatten();
    let mut out = Vec::with_capacity(128 + parts.headers.len() * 48 + body.len() * 4 / 3);
    out.push(b'{');
    // An untyped body stays untyped: the integration decides what it is.
    write_head_fields(&mut out, format, parts.status, &parts.headers, false);
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
        raw_status: None,
    }
}

/// `x-lambda-http-content-encoding`: `text` makes a body go in the JSON as text, whatever its
/// content type (the `lambda_http` override).
const CONTENT_ENCODING_OVERRIDE: &str = "x-lambda-http-content-encoding";

/// Whether a body with these headers goes in the JSON as text, by `lambda_http`'s rule: no
/// content type at all, or a textual one (`text/*`, `application/json`, `/javascript`,
/// `/xml`, `/yaml`, any `+json`, `+xml` or `+yaml`), and no `content-encoding`; or the
/// `x-lambda-http-content-encoding: text` override. (Its bytes must also be UTF-8; the caller
/// checks.)
fn is_text(headers: &HeaderMap) -> bool {
    let forced = headers
        .get(CONTENT_ENCODING_OVERRIDE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"text"));
    if forced {
        return true;
    }
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(ct) = ct.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || (kind == "application" && matches!(sub, "json" | "javascript" | "xml" | "yaml"))
        || sub.ends_with("+json")
        || sub.ends_with("+xml")
        || sub.ends_with("+yaml")
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
    fn binary_or_compressed_bodies_are_base64() {
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

    fn with(pairs: &[(&'static str, &'static str)]) -> Parts {
        parts(|r| {
            for (k, v) in pairs {
                r.headers_mut().append(*k, HeaderValue::from_static(v));
            }
        })
    }

    #[test]
    fn text_or_base64_as_lambda_http_decides() {
        let text = [
            "text/plain",
            "text/html; charset=utf-8",
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/javascript",
            "application/xml",
            "application/yaml",
            "application/problem+json",
            "image/svg+xml",
            "application/vnd.k8s+yaml",
        ];
        for ct in text {
            let v = json_of(&encode(
                ResponseFormat::PayloadV2,
                &with(&[("content-type", ct)]),
                Bytes::from("hi"),
            ));
            assert_eq!(v["isBase64Encoded"], false, "{ct}");
            assert_eq!(v["body"], "hi", "{ct}");
        }
        let binary = [
            "application/octet-stream",
            "image/png",
            "application/x-www-form-urlencoded",
            "application/pdf",
            "application/jsonx",
        ];
        for ct in binary {
            let v = json_of(&encode(
                ResponseFormat::PayloadV1,
                &with(&[("content-type", ct)]),
                Bytes::from("hi"),
            ));
            assert_eq!(v["isBase64Encoded"], true, "{ct}");
            assert_eq!(v["body"], "aGk=", "{ct}");
        }
        // Any content-encoding makes it binary, even a textual type.
        let v = json_of(&encode(
            ResponseFormat::PayloadV2,
            &with(&[("content-type", "text/plain"), ("content-encoding", "br")]),
            Bytes::from("hi"),
        ));
        assert_eq!(v["isBase64Encoded"], true);
        // The override makes it text, even a binary type.
        let v = json_of(&encode(
            ResponseFormat::PayloadV2,
            &with(&[
                ("content-type", "application/octet-stream"),
                ("x-lambda-http-content-encoding", "text"),
            ]),
            Bytes::from("hi"),
        ));
        assert_eq!(v["isBase64Encoded"], false);
        assert_eq!(v["body"], "hi");
    }

    #[test]
    fn an_untyped_body_is_text_and_gains_no_content_type() {
        for format in [
            ResponseFormat::PayloadV2,
            ResponseFormat::PayloadV1,
            ResponseFormat::Alb {
                multi_value_headers: false,
            },
            ResponseFormat::Alb {
                multi_value_headers: true,
            },
        ] {
            let v = json_of(&encode(format, &parts(|_| {}), Bytes::from("plain words")));
            assert_eq!(v["isBase64Encoded"], false, "{format:?}");
            assert_eq!(v["body"], "plain words", "{format:?}");
            let headers = v.get("headers").or(v.get("multiValueHeaders")).unwrap();
            assert_eq!(headers, &json!({}), "{format:?}");
        }
        // A 204 too.
        let p = parts(|r| *r.status_mut() = StatusCode::NO_CONTENT);
        let v = json_of(&encode(ResponseFormat::PayloadV2, &p, Bytes::new()));
        assert_eq!(v["headers"], json!({}));
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
