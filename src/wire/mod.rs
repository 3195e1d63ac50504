//! The response-streaming wire format, in one place.
//!
//! A streamed response to an HTTP integration (function URL, API Gateway REST) is posted to
//! `/runtime/invocation/{id}/response` as:
//!
//! ```text
//! Lambda-Runtime-Function-Response-Mode: streaming
//! Transfer-Encoding: chunked
//! Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body
//! Content-Type: application/vnd.awslambda.http-integration-response
//!
//! {"statusCode":200,"headers":{...},"cookies":[...]}  <- the prelude (prelude.rs)
//! \0\0\0\0\0\0\0\0                                    <- 8 NUL bytes
//! body chunks, each sent as the handler produces it   <- body.rs
//! [trailers: Lambda-Runtime-Function-Error-Type / -Body, only when the body fails]
//! ```
//!
//! A raw invocation (not an HTTP event) has no prelude and carries the handler's content type.
//!
//! In [buffered mode](crate::ResponseMode::Buffered), and always for ALB events, the whole
//! body is read first and posted as one JSON response object (buffered.rs).

mod body;
mod buffered;
mod format;
pub(crate) mod limits;
mod prelude;

pub(crate) use body::ResponseStream;
pub(crate) use buffered::{buffer, Buffered};
#[cfg(feature = "local")]
pub(crate) use format::is_function_url_domain;
pub(crate) use format::{streams, ResponseFormat};
#[cfg(feature = "local")]
pub(crate) use prelude::is_dropped;
pub(crate) use prelude::{encode_head, Head};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::types;
use crate::Diagnostic;

/// `Lambda-Runtime-Function-Response-Mode`.
pub(crate) const RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");
/// `Lambda-Runtime-Function-Error-Type`.
pub(crate) const ERROR_TYPE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-type");
/// `Lambda-Runtime-Function-Error-Body`.
pub(crate) const ERROR_BODY: HeaderName =
    HeaderName::from_static("lambda-runtime-function-error-body");
/// The `Trailer` declaration of a streamed response.
pub(crate) const TRAILER_DECLARATION: HeaderValue = HeaderValue::from_static(
    "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
);
/// The content type of a response to an HTTP integration.
pub(crate) const HTTP_INTEGRATION_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/vnd.awslambda.http-integration-response");
/// The content type of an `/error` or `/init/error` report.
pub(crate) const ERROR_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/vnd.aws.lambda.error+json");
/// Lambda's limit on a synchronous invocation's payload, the request's and a buffered
/// response's alike: 6 MiB.
pub(crate) const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// What separates the prelude from the body.
pub(crate) const DELIMITER: [u8; 8] = [0; 8];

/// The error type as a header value; a type that cannot be one (or is longer than
/// [`limits::MAX_ERROR_TYPE`]) is reported as `Function.Unknown`.
pub(crate) fn error_type_header(diagnostic: &Diagnostic) -> HeaderValue {
    HeaderValue::from_str(limits::error_type(diagnostic))
        .unwrap_or(HeaderValue::from_static(types::UNKNOWN))
}

/// The trailers that end a body which failed midway; the error body trailer is at most
/// [`limits::MAX_ERROR_BODY_TRAILER`] bytes, the message cut to fit.
pub(crate) fn error_trailers(diagnostic: &Diagnostic) -> HeaderMap {
    let error_type = error_type_header(diagnostic);
    // The type in the JSON is the one in the header, so that both say the same.
    let ty = error_type.to_str().unwrap_or(types::UNKNOWN);
    let body = limits::render_capped(
        diagnostic.error_message(),
        limits::MAX_ERROR_BODY_TRAILER,
        |message| {
            let json = Diagnostic::json(ty, message);
            base64::engine::general_purpose::STANDARD
                .encode(json)
                .into_bytes()
        },
    );
    let mut trailers = HeaderMap::with_capacity(2);
    trailers.insert(ERROR_TYPE, error_type);
    // Standard base64 is always a valid header value.
    if let Ok(value) = HeaderValue::from_bytes(&body) {
        trailers.insert(ERROR_BODY, value);
    }
    trailers
}

/// What the error trailers of a failed response say, if they are there: the reverse of
/// [`error_trailers`], for the local Runtime API.
#[cfg(feature = "local")]
pub(crate) fn read_error_trailers(trailers: &HeaderMap) -> Option<Diagnostic> {
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
    Some(Diagnostic::new(error_type, message))
}

/// The body of an `/error` or `/init/error` report: at most [`limits::MAX_ERROR_REPORT`]
/// bytes, the message cut to fit.
pub(crate) fn error_report_body(diagnostic: &Diagnostic) -> bytes::Bytes {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Report<'a> {
        error_message: &'a str,
        error_type: &'a str,
        stack_trace: [&'a str; 0],
    }
    let error_type = error_type_header(diagnostic);
    let ty = error_type.to_str().unwrap_or(types::UNKNOWN);
    limits::render_capped(
        diagnostic.error_message(),
        limits::MAX_ERROR_REPORT,
        |message| {
            serde_json::to_vec(&Report {
                error_message: message,
                error_type: ty,
                stack_trace: [],
            })
            .unwrap_or_default()
        },
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_carry_type_and_base64_json() {
        let d = Diagnostic::new("Function.StreamError", "upstream closed");
        let t = error_trailers(&d);
        assert_eq!(t[ERROR_TYPE], "Function.StreamError");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t[ERROR_BODY].as_bytes())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["errorType"], "Function.StreamError");
        assert_eq!(v["errorMessage"], "upstream closed");
    }

    #[cfg(feature = "local")]
    #[test]
    fn trailers_read_back() {
        let d = Diagnostic::new("Function.StreamError", "upstream closed");
        assert_eq!(read_error_trailers(&error_trailers(&d)), Some(d));
        assert_eq!(read_error_trailers(&HeaderMap::new()), None);
        let mut only_type = HeaderMap::new();
        only_type.insert(ERROR_TYPE, HeaderValue::from_static("Function.X"));
        let d = read_error_trailers(&only_type).unwrap();
        assert_eq!((d.error_type(), d.error_message()), ("Function.X", ""));
    }

    #[test]
    fn invalid_error_type_becomes_unknown() {
        let d = Diagnostic::new("Function.Bad\nType", "x");
        assert_eq!(error_type_header(&d), "Function.Unknown");
    }

    fn trailer_message(t: &HeaderMap) -> String {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t[ERROR_BODY].as_bytes())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["errorMessage"].as_str().unwrap().to_owned()
    }

    #[test]
    fn long_messages_are_cut_to_the_trailer_cap() {
        let message = "m".repeat(64 * 1024);
        let t = error_trailers(&Diagnostic::new("Function.StreamError", message.as_str()));
        assert!(t[ERROR_BODY].len() <= limits::MAX_ERROR_BODY_TRAILER);
        let got = trailer_message(&t);
        let at = got.find('…').unwrap();
        assert_eq!(
            &got[at..],
            format!("… [truncated {} bytes]", message.len() - at)
        );
        // The whole trailer block, names and line ends included, is well under hyper's 16 KiB.
        let block: usize = t
            .iter()
            .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
            .sum();
        assert!(block < 9 * 1024, "{block} bytes");
    }

    #[test]
    fn a_long_error_type_is_unknown_in_header_and_json() {
        let d = Diagnostic::new("Function.".to_owned() + &"X".repeat(20_000), "x");
        let t = error_trailers(&d);
        assert_eq!(t[ERROR_TYPE], "Function.Unknown");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t[ERROR_BODY].as_bytes())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["errorType"], "Function.Unknown");
        let v: serde_json::Value = serde_json::from_slice(&error_report_body(&d)).unwrap();
        assert_eq!(v["errorType"], "Function.Unknown");
    }

    #[test]
    fn long_messages_are_cut_to_the_report_cap() {
        let message = "r".repeat(8 << 20);
        let body = error_report_body(&Diagnostic::new("Function.Error", message.as_str()));
        assert!(body.len() <= limits::MAX_ERROR_REPORT);
        assert!(body.len() > limits::MAX_ERROR_REPORT - 64);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let got = v["errorMessage"].as_str().unwrap();
        assert!(got.ends_with(&format!(
            "… [truncated {} bytes]",
            message.len() - got.find('…').unwrap()
        )));
        assert_eq!(v["stackTrace"], serde_json::json!([]));
    }

    #[test]
    fn error_report_shape() {
        let d = Diagnostic::new("Function.Error", "boom");
        let v: serde_json::Value = serde_json::from_slice(&error_report_body(&d)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorMessage": "boom", "errorType": "Function.Error", "stackTrace": []})
        );
    }
}
