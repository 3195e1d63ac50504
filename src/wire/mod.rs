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
mod prelude;

pub(crate) use body::ResponseStream;
pub(crate) use buffered::{buffer, Buffered};
pub(crate) use prelude::{encode_head, is_dropped, Head};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

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

/// The error type as a header value; a type that cannot be one is reported as
/// `Function.Unknown`.
pub(crate) fn error_type_header(diagnostic: &Diagnostic) -> HeaderValue {
    HeaderValue::from_str(diagnostic.error_type())
        .unwrap_or(HeaderValue::from_static("Function.Unknown"))
}

/// The trailers that end a body which failed midway.
pub(crate) fn error_trailers(diagnostic: &Diagnostic) -> HeaderMap {
    let body = base64::engine::general_purpose::STANDARD.encode(diagnostic.to_json());
    let mut trailers = HeaderMap::with_capacity(2);
    trailers.insert(ERROR_TYPE, error_type_header(diagnostic));
    // Standard base64 is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&body) {
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

/// The body of an `/error` or `/init/error` report.
pub(crate) fn error_report_body(diagnostic: &Diagnostic) -> bytes::Bytes {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Report<'a> {
        error_message: &'a str,
        error_type: &'a str,
        stack_trace: [&'a str; 0],
    }
    serde_json::to_vec(&Report {
        error_message: diagnostic.error_message(),
        error_type: diagnostic.error_type(),
        stack_trace: [],
    })
    .unwrap_or_default()
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
