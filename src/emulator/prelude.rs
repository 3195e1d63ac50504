//! Reading the start of a streamed response: the prelude an HTTP integration's response opens
//! with (JSON, then 8 NUL bytes), turned into the status and headers a function URL returns.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{Failure, Replies, Reply};
use crate::wire::{DELIMITER, HTTP_INTEGRATION_CONTENT_TYPE};

/// How much prelude is read before giving up on finding its delimiter.
const PRELUDE_LIMIT: usize = 1024 * 1024;

/// The head of a response, and the body bytes that came with the prelude.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) first: Bytes,
}

/// Waits for the response to start and reads its prelude, if it has one.
///
/// `Err` when the invocation failed before its response started, or the prelude is unusable.
pub(crate) async fn open(replies: &mut Replies) -> Result<Opened, Failure> {
    let content_type = loop {
        match replies.next().await {
            Reply::Head { content_type } => break content_type,
            Reply::Error(f) | Reply::Failed(f) => return Err(f),
            Reply::End => return Err(invalid("the response ended before it started")),
            Reply::Started { .. } | Reply::Data(_) => continue,
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
            first: Bytes::new(),
        });
    }

    let mut buf = BytesMut::new();
    let at = loop {
        if let Some(at) = buf.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
            break at;
        }
        if buf.len() > PRELUDE_LIMIT {
            return Err(invalid(
                "no 8-NUL delimiter within the first 1 MiB of the response",
            ));
        }
        match replies.next().await {
            Reply::Data(data) => buf.extend_from_slice(&data),
            Reply::Failed(f) | Reply::Error(f) => return Err(f),
            Reply::End => return Err(invalid("the response ended before the prelude's delimiter")),
            Reply::Started { .. } | Reply::Head { .. } => continue,
        }
    };
    let mut buf = buf.freeze();
    let first = buf.split_off(at + DELIMITER.len());
    let (status, headers) = parse(&buf[..at])?;
    Ok(Opened {
        status,
        headers,
        first,
    })
}

fn invalid(why: &str) -> Failure {
    Failure::new("Runtime.InvalidResponse", why)
}

/// `{"statusCode": 200, "headers": {...}, "cookies": [...]}` (and `multiValueHeaders`, for
/// preludes of the payload 1.0 shape) → status and headers, cookies as `Set-Cookie`.
pub(crate) fn parse(json: &[u8]) -> Result<(StatusCode, HeaderMap), Failure> {
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
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade" => return,
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

    #[test]
    fn status_headers_cookies() {
        let (s, h) = parse(
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
            parse(br#"{"headers":{"x":"a"},"multiValueHeaders":{"x":["1","2"]}}"#).unwrap();
        assert_eq!(s, StatusCode::OK);
        let xs: Vec<_> = h.get_all("x").iter().collect();
        assert_eq!(xs, ["1", "2"]);
    }

    #[test]
    fn bad_preludes() {
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"statusCode":99999}"#).is_err());
        let (_, h) = parse(br#"{"headers":{"bad name":"x","ok":"line\nbreak"}}"#).unwrap();
        assert!(h.is_empty());
    }
}
