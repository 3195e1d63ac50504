//! Reading the start of a streamed response: the prelude an HTTP integration's response opens
//! with (JSON, then 8 NUL bytes), turned into the status and headers a function URL returns.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use lambda_stream_protocol::error_types as types;
use lambda_stream_protocol::{
    is_dropped_from_prelude, HTTP_INTEGRATION_CONTENT_TYPE, PRELUDE_DELIMITER as DELIMITER,
};

use super::{ReadReplies, Reply};
use crate::error::ErrorReport;

/// How much prelude is read before giving up on finding its delimiter.
const PRELUDE_LIMIT: usize = 1024 * 1024;

/// The head of a response, as [`open_prelude`] read it, and the body bytes that came with the
/// prelude.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The prelude's `statusCode` (`200` without a prelude).
    pub status: StatusCode,
    /// The prelude's headers, its cookies as `Set-Cookie`; without a prelude, the response's
    /// `Content-Type`.
    pub headers: HeaderMap,
    /// The prelude's JSON as the runtime sent it (without its delimiter); `None` without one.
    pub prelude: Option<Bytes>,
    /// The body bytes that came after the delimiter in the prelude's last chunk.
    pub first: Bytes,
}

/// Why a response could not be opened by [`open_prelude`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Unopened {
    /// What went wrong: the invocation's failure, or `Runtime.InvalidResponse`.
    pub failure: ErrorReport,
    /// The runtime had posted the response's head when it failed.
    pub head: bool,
    /// It failed before its head, reported to `/error`.
    pub reported: bool,
    /// The prelude's JSON, when that is what was wrong.
    pub prelude: Option<Bytes>,
}

impl Unopened {
    fn new(failure: ErrorReport, head: bool) -> Self {
        Unopened {
            failure,
            head,
            reported: false,
            prelude: None,
        }
    }
}

/// Waits for the response to start and reads its prelude, if it has one.
///
/// `Err` when the invocation failed before its response started, or the prelude is unusable.
/// Each byte is searched for the delimiter once, however the prelude is split.
pub async fn open_prelude(replies: &mut impl ReadReplies) -> Result<Opened, Unopened> {
    let content_type = loop {
        match replies.next().await {
            Reply::Head { content_type, .. } => break content_type,
            Reply::Error(f) => {
                return Err(Unopened {
                    reported: true,
                    ..Unopened::new(f, false)
                })
            }
            Reply::Failed(f) => return Err(Unopened::new(f, false)),
            Reply::End => {
                let f = invalid("the response ended before it started");
                return Err(Unopened::new(f, false));
            }
            Reply::Data(_) => continue,
        }
    };
    if content_type.as_ref() != Some(&HTTP_INTEGRATION_CONTENT_TYPE) {
        // No prelude: the function's own content type, as for a direct invocation.
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            content_type.unwrap_or(HeaderValue::from_static("application/json")),
        );
        return Ok(Opened {
            status: StatusCode::OK,
            headers,
            prelude: None,
            first: Bytes::new(),
        });
    }

    let mut buf = BytesMut::new();
    // Where the search goes on from: a delimiter may straddle two chunks.
    let mut from = 0;
    let at = loop {
        if let Some(at) = find_delimiter(&buf[from..]) {
            break from + at;
        }
        from = buf.len().saturating_sub(DELIMITER.len() - 1);
        if buf.len() > PRELUDE_LIMIT {
            let f = invalid("no 8-NUL delimiter within the first 1 MiB of the response");
            return Err(Unopened::new(f, true));
        }
        match replies.chunk().await {
            Ok(Some(data)) => buf.extend_from_slice(&data),
            Err(f) => return Err(Unopened::new(f, true)),
            Ok(None) => {
                let f = invalid("the response ended before the prelude's delimiter");
                return Err(Unopened::new(f, true));
            }
        }
    };
    let mut json = buf.freeze();
    let first = json.split_off(at + DELIMITER.len());
    json.truncate(at);
    match parse_prelude(&json) {
        Ok((status, headers)) => Ok(Opened {
            status,
            headers,
            prelude: Some(json),
            first,
        }),
        Err(f) => Err(Unopened {
            prelude: Some(json),
            ..Unopened::new(f, true)
        }),
    }
}

fn find_delimiter(bytes: &[u8]) -> Option<usize> {
    bytes.windows(DELIMITER.len()).position(|w| w == DELIMITER)
}

fn invalid(why: &str) -> ErrorReport {
    ErrorReport::new(types::INVALID_RESPONSE, why)
}

/// `{"statusCode": 200, "headers": {...}, "cookies": [...]}` (and `multiValueHeaders`, for
/// preludes of the payload 1.0 shape) → status and headers, cookies as `Set-Cookie`.
///
/// A header name or value that cannot be one is left out (and logged); `content-length`
/// becomes `x-amzn-remapped-content-length`, as a function URL remaps it.
///
/// ```
/// let (status, headers) =
///     lambda_stream_local::parse_prelude(br#"{"statusCode":201,"cookies":["a=1"]}"#).unwrap();
/// assert_eq!(status, 201);
/// assert_eq!(headers["set-cookie"], "a=1");
/// ```
pub fn parse_prelude(json: &[u8]) -> Result<(StatusCode, HeaderMap), ErrorReport> {
    let prelude: Value = serde_json::from_slice(json)
        .map_err(|e| invalid(&format!("the prelude is not json: {e}")))?;
    let status = match prelude.get("statusCode") {
        None | Some(Value::Null) => StatusCode::OK,
        Some(v) => v
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .ok_or_else(|| invalid(&format!("the prelude's statusCode is not a status: {v}")))?,
    };
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(map)) = prelude.get("headers") {
        for (name, value) in map {
            add(&mut headers, name, value);
        }
    }
    if let Some(Value::Object(map)) = prelude.get("multiValueHeaders") {
        for (name, values) in map {
            if let Value::Array(values) = values {
                headers.remove(name.as_str());
                for value in values {
                    add(&mut headers, name, value);
                }
            }
        }
    }
    if let Some(Value::Array(cookies)) = prelude.get("cookies") {
        for cookie in cookies {
            add(&mut headers, SET_COOKIE.as_str(), cookie);
        }
    }
    Ok((status, headers))
}

/// Adds one header from the prelude; a name or value that cannot be one is logged and left out.
fn add(headers: &mut HeaderMap, name: &str, value: &Value) {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => return,
        other => other.to_string(),
    };
    let lower = name.to_ascii_lowercase();
    let name = match lower.as_str() {
        // What a function URL recomputes: a content-length would be wrong for a stream.
        "content-length" => "x-amzn-remapped-content-length",
        other if is_dropped_from_prelude(other) => return,
        other => other,
    };
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(&text),
    ) {
        (Ok(n), Ok(v)) => {
            headers.append(n, v);
        }
        _ => tracing::warn!(
            header = name,
            "dropping a prelude header that is not a valid http header"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    impl ReadReplies for VecDeque<Reply> {
        async fn next(&mut self) -> Reply {
            self.pop_front().unwrap_or(Reply::End)
        }
    }

    fn data(bytes: &'static [u8]) -> Reply {
        Reply::Data(Bytes::from_static(bytes))
    }

    #[tokio::test]
    async fn a_delimiter_split_across_chunks() {
        let mut replies: VecDeque<_> = [
            Reply::Head {
                content_type: Some(HTTP_INTEGRATION_CONTENT_TYPE),
                streaming: true,
            },
            data(br#"{"statusCode":201}"#),
            data(b"\0\0"),
            data(b"\0"),
            data(b"\0\0\0\0\0body"),
        ]
        .into();
        let opened = open_prelude(&mut replies).await.unwrap();
        assert_eq!(opened.status, StatusCode::CREATED);
        assert_eq!(
            opened.prelude.as_deref(),
            Some(&br#"{"statusCode":201}"#[..])
        );
        assert_eq!(opened.first, "body");
    }

    #[tokio::test]
    async fn failures_before_and_after_the_head() {
        let failure = || ErrorReport::new("Function.Error", "x");
        let mut replies: VecDeque<_> = [Reply::Error(failure())].into();
        let u = open_prelude(&mut replies).await.unwrap_err();
        assert!(u.reported && !u.head);
        let mut replies: VecDeque<_> = [
            Reply::Head {
                content_type: Some(HTTP_INTEGRATION_CONTENT_TYPE),
                streaming: true,
            },
            data(b"{}"),
            Reply::Failed(failure()),
        ]
        .into();
        let u = open_prelude(&mut replies).await.unwrap_err();
        assert!(u.head && !u.reported);
        assert_eq!(u.failure, failure());
        let mut replies: VecDeque<_> = [
            Reply::Head {
                content_type: Some(HTTP_INTEGRATION_CONTENT_TYPE),
                streaming: true,
            },
            data(b"nope\0\0\0\0\0\0\0\0"),
        ]
        .into();
        let u = open_prelude(&mut replies).await.unwrap_err();
        assert_eq!(u.failure.error_type(), "Runtime.InvalidResponse");
        assert_eq!(u.prelude.as_deref(), Some(&b"nope"[..]));
    }

    #[test]
    fn status_headers_cookies() {
        let (s, h) = parse_prelude(
            br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","x-n":3,"content-length":"9"},
                "cookies":["a=1; Path=/","b=2"]}"#,
        )
        .unwrap();
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x-n"], "3");
        assert_eq!(h["x-amzn-remapped-content-length"], "9");
        assert!(h.get("content-length").is_none());
        let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
    }

    #[test]
    fn multi_value_headers_and_defaults() {
        let (s, h) =
            parse_prelude(br#"{"headers":{"x":"a"},"multiValueHeaders":{"x":["1","2"]}}"#).unwrap();
        assert_eq!(s, StatusCode::OK);
        let xs: Vec<_> = h.get_all("x").iter().collect();
        assert_eq!(xs, ["1", "2"]);
    }

    #[test]
    fn bad_preludes() {
        assert!(parse_prelude(b"not json").is_err());
        assert!(parse_prelude(br#"{"statusCode":99999}"#).is_err());
        let (_, h) = parse_prelude(br#"{"headers":{"bad name":"x","ok":"line\nbreak"}}"#).unwrap();
        assert!(h.is_empty());
    }
}
