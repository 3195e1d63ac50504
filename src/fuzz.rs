//! Entry points for the fuzz targets in `fuzz/` and the property tests; behind the
//! non-default `fuzzing` feature. Not a public API: it changes without notice.
//!
//! Each function takes raw input, runs one parser or encoder of the crate on it, and panics
//! only when an invariant the rest of the crate relies on is broken (so the fuzzer reports it).

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use percent_encoding::percent_decode_str;

use lambda_stream_local::{function_url_event, parse_prelude};
use lambda_stream_protocol::is_dropped_from_prelude;

use crate::event;
use crate::wire;
use crate::wire::ResponseFormat;
use crate::{Context, Diagnostic};

/// Decodes `payload` as an event from `/next`. Must never panic.
pub fn decode_event(payload: &[u8]) {
    let _ = event::decode(Bytes::copy_from_slice(payload), Context::default());
}

/// Builds `Context` from arbitrary `/next` headers. Must never panic.
pub fn next_headers(headers: &[(&[u8], &[u8])]) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    let _ = Context::from_headers(&map, Default::default());
}

/// Encodes a response head (`status`, `headers`, in `format` 0 = payload 2.0, 1 = payload 1.0,
/// 2 = raw) and checks the prelude: JSON, no NUL, and read back by the local server's prelude
/// parser into the same status and the same headers (those a prelude carries).
pub fn encode_response_head(status: u16, headers: &[(&[u8], &[u8])], format: u8) {
    let Ok(status) = StatusCode::from_u16(status) else {
        return;
    };
    let format = match format % 3 {
        0 => ResponseFormat::PayloadV2,
        1 => ResponseFormat::PayloadV1,
        _ => ResponseFormat::Raw,
    };
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = map.clone();
    let (parts, ()) = response.into_parts();
    let head = wire::encode_head(format, &parts);
    let Some(prelude) = head.prelude else {
        assert_eq!(
            format,
            ResponseFormat::Raw,
            "an http response without prelude"
        );
        return;
    };
    assert!(!prelude.contains(&0), "a NUL in the prelude: {prelude:?}");
    let json: serde_json::Value = serde_json::from_slice(&prelude)
        .unwrap_or_else(|e| panic!("the prelude is not json ({e}): {prelude:?}"));
    assert_eq!(json["statusCode"], status.as_u16(), "{prelude:?}");

    let (read_status, read) = parse_prelude(&prelude)
        .unwrap_or_else(|e| panic!("the local server rejects our prelude ({e}): {prelude:?}"));
    assert_eq!(read_status, status);
    for name in map.keys() {
        let dropped = is_dropped_from_prelude(name.as_str());
        // Only values that are text survive unchanged (obs-text bytes become U+FFFD).
        if dropped || map.get_all(name).iter().any(|v| v.to_str().is_err()) {
            continue;
        }
        let sent: Vec<&[u8]> = map.get_all(name).iter().map(|v| v.as_bytes()).collect();
        let got: Vec<&[u8]> = read.get_all(name).iter().map(|v| v.as_bytes()).collect();
        if format == ResponseFormat::PayloadV2 && name != http::header::SET_COOKIE {
            // One value per name: repeated ones are joined.
            assert_eq!(got, [sent.join(&b", "[..])], "{name}: {prelude:?}");
        } else {
            assert_eq!(got, sent, "{name}: {prelude:?}");
        }
    }
}

/// Parses `json` as the local server parses a streamed response's prelude. Must never panic.
pub fn parse_local_prelude(json: &[u8]) {
    let _ = parse_prelude(json);
}

/// Builds the function URL event the local server makes of a request, then decodes it as the
/// runtime does: the event must decode, with the request's method, path and body intact.
pub fn local_event_round_trip(method: &[u8], uri: &[u8], headers: &[(&[u8], &[u8])], body: &[u8]) {
    let (Ok(method), Ok(uri)) = (Method::from_bytes(method), Uri::try_from(uri)) else {
        return;
    };
    let mut req = Request::new(());
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri.clone();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            req.headers_mut().append(n, v);
        }
    }
    let (parts, ()) = req.into_parts();
    let peer = SocketAddr::from(([127, 0, 0, 1], 50_000));
    let now = UNIX_EPOCH + Duration::from_secs(1_752_575_812);
    let event = function_url_event(&parts, body, peer, "fuzz-request", now);
    let (decoded, format) = event::decode(event.clone(), Context::default()).unwrap_or_else(|e| {
        panic!(
            "the runtime cannot decode the local server's event ({e}): {}",
            String::from_utf8_lossy(&event)
        )
    });
    assert_eq!(format, ResponseFormat::PayloadV2);
    assert_eq!(decoded.method(), method);
    let decode = |p: &str| percent_decode_str(p).collect::<Vec<u8>>();
    // A path that does not start with `/` (`*`, the asterisk form) gets one.
    let want = match uri.path() {
        p if p.starts_with('/') => p.to_owned(),
        p => format!("/{p}"),
    };
    assert_eq!(decode(decoded.uri().path()), decode(&want), "{uri}");
    assert_eq!(&decoded.body()[..], body, "the body changed on its way");
}

/// Encodes a diagnostic as `/error` body and as error trailers: both must carry the type (or
/// `Function.Unknown`) and the message intact, or its beginning and the truncation marker
/// when it is too long for the report.
pub fn encode_diagnostic(error_type: &str, message: &str) {
    use base64::Engine as _;
    let d = Diagnostic::new(error_type.to_owned(), message);
    let report: serde_json::Value =
        serde_json::from_slice(&wire::error_report_body(&d)).expect("the error report is json");
    let intact_or_cut = |got: &serde_json::Value| {
        let got = got.as_str().expect("the message is a string");
        got == message
            || got
                .rfind("… [truncated ")
                .is_some_and(|at| message.starts_with(&got[..at]))
    };
    assert!(intact_or_cut(&report["errorMessage"]), "{report}");
    let trailers = wire::error_trailers(&d);
    let body = trailers
        .get(wire::ERROR_BODY)
        .expect("the error body trailer is always there");
    let json = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .expect("the error body trailer is base64");
    let v: serde_json::Value = serde_json::from_slice(&json).expect("the error body is json");
    assert!(intact_or_cut(&v["errorMessage"]), "{v}");
    assert!(trailers.contains_key(wire::ERROR_TYPE));
}

/// The fuzz targets' properties on inputs they found or that matter, so that `cargo test`
/// keeps checking them without a fuzzer.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_events_decode_back_to_their_request() {
        let binary: Vec<u8> = (0..=255).collect();
        // The asterisk form: found by the fuzzer (the path gains a `/`).
        local_event_round_trip(b"OPTIONS", b"*", &[], b"");
        local_event_round_trip(b"GET", b"/a%20b/%FF?x=%ZZ&y", &[], b"");
        local_event_round_trip(b"PURGE", b"http://h:1/p", &[(b"host", b"h:1")], b"");
        local_event_round_trip(b"POST", b"/", &[(b"content-type", b"text/plain")], b"text");
        local_event_round_trip(b"POST", b"/", &[(b"content-type", b"text/plain")], &binary);
        local_event_round_trip(
            b"POST",
            b"/",
            &[
                (b"x-obs", b"caf\xe9"),
                (b"cookie", b"a=1; b=2"),
                (b"cookie", b"c=3"),
                (b"x-r", b"1"),
                (b"x-r", b"2"),
            ],
            &binary,
        );
    }

    #[test]
    fn preludes_read_back_as_they_were_written() {
        for format in 0..3 {
            encode_response_head(200, &[], format);
            encode_response_head(
                599,
                &[
                    (b"set-cookie", b"a=1; Path=/"),
                    (b"set-cookie", b"b=\"2\""),
                    (b"x-r", b"1"),
                    (b"x-r", b"2"),
                    (b"x-q", b"quote \" back\\slash \t tab"),
                    (b"x-obs", b"caf\xe9"),
                    (b"content-length", b"12"),
                    (b"content-type", b"text/html"),
                ],
                format,
            );
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        decode_event(b"");
        decode_event(b"{\"requestContext\":{\"http\":{}}}");
        parse_local_prelude(b"{\"statusCode\":99999,\"headers\":{\"a b\":1}}");
        next_headers(&[(b"lambda-runtime-deadline-ms", b"99999999999999999999")]);
        encode_diagnostic("Function.Bad\nType", "message with \0 and \u{1F600}");
    }
}
