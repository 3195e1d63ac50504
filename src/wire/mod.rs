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
pub(crate) use format::{streams, ResponseFormat};
pub(crate) use prelude::{encode_head, Head};

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

use crate::error::types;
use crate::Diagnostic;

pub(crate) use lambda_stream_protocol::{
    ERROR_BODY, ERROR_TYPE, HTTP_INTEGRATION_CONTENT_TYPE, MAX_PAYLOAD,
    PRELUDE_DELIMITER as DELIMITER, RESPONSE_MODE, TRAILER_DECLARATION,
};
/// The content type of an `/error` or `/init/error` report.
pub(crate) const ERROR_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/vnd.aws.lambda.error+json");

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
