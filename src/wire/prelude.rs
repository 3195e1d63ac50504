//! The prelude: the JSON status/headers/cookies object that opens a streamed HTTP response.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::response::Parts;
use lambda_stream_protocol::is_dropped_from_prelude as is_dropped;

use super::HTTP_INTEGRATION_CONTENT_TYPE;
use crate::wire::ResponseFormat;

/// The content type used when a handler sets none.
pub(crate) const DEFAULT_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/octet-stream");

/// The encoded head of a response: what goes in the POST's `Content-Type`, and the prelude
/// JSON that opens the body, if any (without its delimiter, which
/// [`ResponseStream`](super::ResponseStream) sends after it).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) content_type: HeaderValue,
    pub(crate) prelude: Option<Bytes>,
    /// A raw response's status, when it is not a success: see [`raw_status`].
    pub(crate) raw_status: Option<http::StatusCode>,
}

/// The status a raw response (no HTTP integration, so no status on the wire) tells the Runtime
/// API about in `Lambda-Stream-Raw-Status`: its own, when it is not a success, which its
/// caller would otherwise never learn.
pub(crate) fn raw_status(parts: &Parts) -> Option<http::StatusCode> {
    (!parts.status.is_success()).then_some(parts.status)
}

/// Encodes a response head for `format`.
pub(crate) fn encode_head(format: ResponseFormat, parts: &Parts) -> Head {
    match format {
        ResponseFormat::Raw => Head {
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(DEFAULT_CONTENT_TYPE),
            prelude: None,
            raw_status: raw_status(parts),
        },
        ResponseFormat::PayloadV2 | ResponseFormat::PayloadV1 | ResponseFormat::Alb { .. } => {
            Head {
                content_type: HTTP_INTEGRATION_CONTENT_TYPE,
                prelude: Some(encode_prelude(format, parts.status, &parts.headers)),
                raw_status: None,
            }
        }
    }
}

/// `{"statusCode":S,"headers":{...},"cookies":[...]}` (payload 2.0) or
/// `{"statusCode":S,"headers":{...},"multiValueHeaders":{...}}` (payload 1.0).
fn encode_prelude(format: ResponseFormat, status: http::StatusCode, headers: &HeaderMap) -> Bytes {
    let mut out = Vec::with_capacity(64 + headers.len() * 48);
    out.push(b'{');
    // A response that has no body by definition gets no default content type.
    let default_content_type = !matches!(status.as_u16(), 204 | 304);
    write_head_fields(&mut out, format, status, headers, default_content_type);
    out.push(b'}');
    Bytes::from(out)
}

/// The members of a response head, without its braces, for every format: the prelude has
/// these; a buffered response object has them plus `body` and `isBase64Encoded`.
///
/// - payload 2.0: `"statusCode"`, `"headers"` (repeated ones joined with `, `), `"cookies"`;
/// - payload 1.0: `"statusCode"`, `"headers"` (single ones) and `"multiValueHeaders"`
///   (repeated ones);
/// - ALB: `"statusCode"`, `"statusDescription"`, then `"multiValueHeaders"` when the event had
///   them, else `"headers"`, joined, where a repeated `set-cookie` keeps its last value only
///   (it cannot be joined), with a warning.
///
/// With `default_content_type`, a response without a content type gets
/// `application/octet-stream`.
pub(super) fn write_head_fields(
    out: &mut Vec<u8>,
    format: ResponseFormat,
    status: http::StatusCode,
    headers: &HeaderMap,
    default_content_type: bool,
) {
    out.extend_from_slice(b"\"statusCode\":");
    out.extend_from_slice(status.as_str().as_bytes());
    let multi_value = match format {
        ResponseFormat::Alb {
            multi_value_headers,
        } => {
            out.extend_from_slice(b",\"statusDescription\":\"");
            out.extend_from_slice(status.as_str().as_bytes());
            if let Some(reason) = status.canonical_reason() {
                out.push(b' ');
                escape_str(out, reason);
            }
            out.push(b'"');
            multi_value_headers
        }
        _ => false,
    };
    out.extend_from_slice(if multi_value {
        b",\"multiValueHeaders\":{"
    } else {
        b",\"headers\":{"
    });

    let mut first = true;
    let mut repeated = false;
    for name in headers.keys() {
        if is_dropped(name.as_str())
            || (format == ResponseFormat::PayloadV2 && name == header::SET_COOKIE)
        {
            continue;
        }
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else { continue };
        let more = values.next().is_some();
        if more && format == ResponseFormat::PayloadV1 {
            // Goes to multiValueHeaders instead, so that no value is sent twice.
            repeated = true;
            continue;
        }
        comma(out, &mut first);
        string(out, name.as_str().as_bytes());
        out.push(b':');
        if multi_value {
            write_array(out, headers, name);
        } else if !more {
            string(out, value.as_bytes());
        } else if name == header::SET_COOKIE {
            // Only an ALB without multi-value headers gets here.
            tracing::warn!(
                "an alb target group without multi-value headers takes one set-cookie: \
                 sending the last one only"
            );
            let last = headers.get_all(name).iter().next_back().unwrap_or(value);
            string(out, last.as_bytes());
        } else {
            // One value per name: join them as HTTP does.
            out.push(b'"');
            let mut sep = false;
            for v in headers.get_all(name) {
                if sep {
                    out.extend_from_slice(b", ");
                }
                sep = true;
                escaped(out, v.as_bytes());
            }
            out.push(b'"');
        }
    }
    if default_content_type && !headers.contains_key(header::CONTENT_TYPE) {
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

    match format {
        ResponseFormat::PayloadV2 => {
            out.extend_from_slice(b",\"cookies\":[");
            let mut first = true;
            for cookie in headers.get_all(header::SET_COOKIE) {
                comma(out, &mut first);
                string(out, cookie.as_bytes());
            }
            out.push(b']');
        }
        ResponseFormat::PayloadV1 if repeated => {
            out.extend_from_slice(b",\"multiValueHeaders\":{");
            let mut first = true;
            for name in headers.keys() {
                if is_dropped(name.as_str()) || headers.get_all(name).iter().nth(1).is_none() {
                    continue;
                }
                comma(out, &mut first);
                string(out, name.as_str().as_bytes());
                out.push(b':');
                write_array(out, headers, name);
            }
            out.push(b'}');
        }
        _ => {}
    }
}

/// `["v1","v2",..]`: every value of `name`.
fn write_array(out: &mut Vec<u8>, headers: &HeaderMap, name: &HeaderName) {
    out.push(b'[');
    let mut first = true;
    for v in headers.get_all(name) {
        comma(out, &mut first);
        string(out, v.as_bytes());
    }
    out.push(b']');
}

pub(super) fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

pub(super) fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends `s` as the inside of a JSON string. Header values are bytes: valid UTF-8 passes
/// through, other bytes (obs-text) become U+FFFD. No NUL can reach the prelude: control
/// characters are escaped.
pub(super) fn escaped(out: &mut Vec<u8>, s: &[u8]) {
    match std::str::from_utf8(s) {
        Ok(s) => escape_str(out, s),
        Err(_) => escape_str(out, &String::from_utf8_lossy(s)),
    }
}

pub(super) fn escape_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Response, StatusCode};
    use serde_json::{json, Value};

    fn head(format: ResponseFormat, build: impl FnOnce(&mut Response<()>)) -> Head {
        let mut res = Response::new(());
        build(&mut res);
        encode_head(format, &res.into_parts().0)
    }

    fn prelude_json(head: &Head) -> Value {
        let json = head.prelude.as_ref().unwrap();
        assert!(!json.contains(&0), "no NUL inside the prelude");
        serde_json::from_slice(json).unwrap()
    }

    #[test]
    fn function_url_prelude() {
        let h = head(ResponseFormat::PayloadV2, |r| {
            *r.status_mut() = StatusCode::CREATED;
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("text/plain"));
            h.append("vary", HeaderValue::from_static("accept"));
            h.append("vary", HeaderValue::from_static("origin"));
            h.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
            h.append("set-cookie", HeaderValue::from_static("b=2; HttpOnly"));
            h.insert("content-length", HeaderValue::from_static("12"));
            h.insert("connection", HeaderValue::from_static("keep-alive"));
            h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
            h.insert("x-quote", HeaderValue::from_static(r#"say "hi" \ bye"#));
        });
        assert_eq!(h.content_type, HTTP_INTEGRATION_CONTENT_TYPE);
        assert_eq!(
            prelude_json(&h),
            json!({
                "statusCode": 201,
                "headers": {"content-type": "text/plain", "vary": "accept, origin", "x-quote": "say \"hi\" \\ bye"},
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            })
        );
    }

    #[test]
    fn empty_response_gets_default_content_type_and_empty_cookies() {
        let h = head(ResponseFormat::PayloadV2, |_| {});
        assert_eq!(
            prelude_json(&h),
            json!({"statusCode": 200, "headers": {"content-type": "application/octet-stream"}, "cookies": []})
        );
    }

    #[test]
    fn rest_prelude_puts_repeated_headers_in_multi_value_headers() {
        let h = head(ResponseFormat::PayloadV1, |r| {
            *r.status_mut() = StatusCode::NOT_FOUND;
            let h = r.headers_mut();
            h.insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            h.append("set-cookie", HeaderValue::from_static("a=1"));
            h.append("set-cookie", HeaderValue::from_static("b=2"));
            h.insert("x-one", HeaderValue::from_static("1"));
        });
        assert_eq!(
            prelude_json(&h),
            json!({
                "statusCode": 404,
                "headers": {"content-type": "text/event-stream", "x-one": "1"},
                "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            })
        );
    }

    #[test]
    fn no_content_responses_get_no_default_content_type() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let h = head(ResponseFormat::PayloadV2, |r| *r.status_mut() = status);
            let v = prelude_json(&h);
            assert_eq!(v["headers"], json!({}), "{status}");
        }
    }

    #[test]
    fn rest_prelude_single_cookie_stays_in_headers() {
        let h = head(ResponseFormat::PayloadV1, |r| {
            r.headers_mut()
                .insert("set-cookie", HeaderValue::from_static("a=1"));
        });
        let v = prelude_json(&h);
        assert_eq!(v["headers"]["set-cookie"], "a=1");
        assert!(v.get("multiValueHeaders").is_none());
    }

    #[test]
    fn control_and_non_utf8_bytes_are_escaped() {
        let h = head(ResponseFormat::PayloadV2, |r| {
            r.headers_mut()
                .insert("x-bin", HeaderValue::from_bytes(b"tab\there \xff").unwrap());
        });
        let v = prelude_json(&h);
        assert_eq!(v["headers"]["x-bin"], "tab\there \u{fffd}");
    }

    #[test]
    fn raw_has_no_prelude_and_keeps_content_type() {
        let h = head(ResponseFormat::Raw, |r| {
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-ndjson"),
            );
        });
        assert!(h.prelude.is_none());
        assert_eq!(h.content_type, "application/x-ndjson");
        let h = head(ResponseFormat::Raw, |_| {});
        assert_eq!(h.content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(h.raw_status, None);
    }

    /// A raw response's status that is not a success goes with it, for the local Lambda to
    /// report; an HTTP response's is in its prelude.
    #[test]
    fn a_raw_failure_status_is_told() {
        let not_allowed =
            |r: &mut Response<()>| *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        let h = head(ResponseFormat::Raw, not_allowed);
        assert_eq!(h.raw_status, Some(http::StatusCode::METHOD_NOT_ALLOWED));
        let h = head(ResponseFormat::PayloadV2, not_allowed);
        assert_eq!(h.raw_status, None);
        let h = head(ResponseFormat::Raw, |r| {
            *r.status_mut() = http::StatusCode::CREATED
        });
        assert_eq!(h.raw_status, None);
    }
}
