//! The facts of the Lambda Runtime API that both sides of it use, stated once: the runtime
//! (`lambda-stream`) that posts responses and the local Lambda (`lambda-stream-local`) that
//! emulates the API and reads them.
//!
//! A streamed response to an HTTP integration (function URL, API Gateway REST) is posted to
//! `/2018-06-01/runtime/invocation/{id}/response` as:
//!
//! ```text
//! Lambda-Runtime-Function-Response-Mode: streaming
//! Transfer-Encoding: chunked
//! Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body
//! Content-Type: application/vnd.awslambda.http-integration-response
//!
//! {"statusCode":200,"headers":{...},"cookies":[...]}  <- the prelude
//! \0\0\0\0\0\0\0\0                                    <- PRELUDE_DELIMITER
//! body chunks
//! [trailers: Lambda-Runtime-Function-Error-Type / -Body, only when the body fails]
//! ```
//!
//! The error body trailer is the base64 of `{"errorType":"...","errorMessage":"..."}`.
//!
//! ```
//! use lambda_stream_protocol as protocol;
//!
//! assert_eq!(protocol::PRELUDE_DELIMITER, [0u8; 8]);
//! assert_eq!(protocol::ERROR_TYPE, "lambda-runtime-function-error-type");
//! assert!(protocol::is_function_url_domain("abc.lambda-url.eu-west-1.on.aws"));
//! ```
#![warn(unreachable_pub)]

use std::time::Duration;

mod response_mode;

pub use response_mode::{ResponseMode, UnknownResponseMode, RESPONSE_MODE_VAR};

use http::{HeaderName, HeaderValue};

/// `Lambda-Runtime-Function-Response-Mode`: `streaming` on a streamed response.
pub const RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");
/// `Lambda-Stream-Raw-Status` (lambda-stream's own, not Lambda's): on the response to a raw
/// invocation (an event that is not an HTTP one), the status the function answered with when
/// it is not a success. Such a response has no status its caller could see (`Invoke` answers
/// `200`): lambda-stream's runtime sends it to an emulated Runtime API only, so that the
/// local Lambda can say so; Lambda's own Runtime API is never sent it (there the runtime logs
/// the status instead).
pub const RAW_STATUS: HeaderName = HeaderName::from_static("lambda-stream-raw-status");
/// `Lambda-Runtime-Function-Error-Type`: the trailer (or `/error` header) with the error type.
pub const ERROR_TYPE: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");
/// `Lambda-Runtime-Function-Error-Body`: the trailer with the base64 of the error's JSON.
pub const ERROR_BODY: HeaderName = HeaderName::from_static("lambda-runtime-function-error-body");
/// The `Trailer` declaration of a streamed response: the error trailers it may end with.
pub const TRAILER_DECLARATION: HeaderValue = HeaderValue::from_static(
    "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
);
/// The content type of a response to an HTTP integration: a prelude opens its body.
pub const HTTP_INTEGRATION_CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("application/vnd.awslambda.http-integration-response");
/// What separates the prelude from the body: 8 NUL bytes.
pub const PRELUDE_DELIMITER: [u8; 8] = [0; 8];

/// `Lambda-Runtime-Aws-Request-Id`, on `/next`: the invocation's request id.
pub const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// `Lambda-Runtime-Deadline-Ms`, on `/next`: the deadline, in milliseconds since the epoch.
pub const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
/// `Lambda-Runtime-Invoked-Function-Arn`, on `/next`.
pub const INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
/// `Lambda-Runtime-Trace-Id`, on `/next`: the X-Ray trace header.
pub const TRACE_ID: &str = "lambda-runtime-trace-id";
/// `Lambda-Runtime-Client-Context`, on `/next`: the caller's client context, JSON.
pub const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";

/// Lambda's limit on a synchronous invocation's payload, the request's and a buffered
/// response's alike: 6 MiB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// How long past its deadline an invocation is stopped in an emulated environment (the local
/// server, the test kit, a hosted process), as Lambda stops a timed-out function: long enough
/// for the emulated Runtime API to end the caller's response with `Sandbox.Timeout` first.
pub const STOP_AFTER_DEADLINE: Duration = Duration::from_millis(100);

/// Whether a response header is one a prelude never carries: headers that describe the
/// connection to the Runtime API rather than the response, or that the service recomputes.
/// `content-length` in particular is remapped by the service to
/// `x-amzn-remapped-content-length`, and would be wrong for a stream anyway.
///
/// `name` is lowercase, as [`HeaderName::as_str`] gives it.
///
/// ```
/// assert!(lambda_stream_protocol::is_dropped_from_prelude("content-length"));
/// assert!(!lambda_stream_protocol::is_dropped_from_prelude("content-type"));
/// ```
#[inline]
pub fn is_dropped_from_prelude(name: &str) -> bool {
    matches!(
        name,
        "content-length"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

/// Whether `domain` is a function URL's: `<url-id>.lambda-url.<region>.on.aws` (and the
/// like in other partitions, or under an emulator that gives function URLs such host names).
/// A function URL's events always carry such a `requestContext.domainName`; an API Gateway
/// HTTP API's never do.
#[inline]
pub fn is_function_url_domain(domain: &str) -> bool {
    let mut labels = domain.split('.');
    labels.next().is_some_and(|id| !id.is_empty())
        && labels
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case("lambda-url"))
}

/// The error types Lambda and the runtime report, as callers see them in `errorType`, the
/// `Lambda-Runtime-Function-Error-Type` trailer or `X-Amz-Function-Error`'s payload.
pub mod error_types {
    /// The service (or its future) returned an error before the response started.
    pub const HANDLER: &str = "Function.Error";
    /// The response body failed after the response started.
    pub const STREAM: &str = "Function.StreamError";
    /// The handler panicked, in `call`, its future or its body.
    pub const PANIC: &str = "Function.Panic";
    /// The service was not ready (`poll_ready` failed).
    pub const NOT_READY: &str = "Function.ServiceNotReady";
    /// The function's initialisation failed.
    pub const INIT: &str = "Function.InitError";
    /// The event could not be decoded into a request.
    pub const INVALID_EVENT: &str = "Runtime.InvalidEvent";
    /// What an error type that cannot be sent as it is (not a header value, too long) is sent
    /// as, and what a report without a type is read as.
    pub const UNKNOWN: &str = "Function.Unknown";
    /// The invocation ran past its deadline.
    pub const SANDBOX_TIMEOUT: &str = "Sandbox.Timeout";
    /// The response was larger than Lambda sends.
    pub const RESPONSE_SIZE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    /// The runtime's process (or, in the test kit, its task) ended during the invocation.
    pub const EXIT_ERROR: &str = "Runtime.ExitError";
    /// The function's command could not be started.
    pub const INVALID_ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";
    /// The runtime's response stream broke off before its end.
    pub const TRUNCATED_RESPONSE: &str = "Runtime.TruncatedResponse";
    /// The runtime's response could not be read as one (an unusable prelude).
    pub const INVALID_RESPONSE: &str = "Runtime.InvalidResponse";
    /// The runtime posted its response in a mode other than `streaming`.
    pub const INVALID_RESPONSE_MODE: &str = "Runtime.InvalidFunctionResponseMode";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_url_domains() {
        assert!(is_function_url_domain("x.LAMBDA-URL.eu-west-1.on.aws"));
        assert!(is_function_url_domain(
            "x.lambda-url.cn-north-1.on.amazonwebservices.com.cn"
        ));
        assert!(is_function_url_domain("x.lambda-url.localhost:4566"));
        assert!(!is_function_url_domain("lambda-url.us-east-1.on.aws.evil"));
        assert!(!is_function_url_domain(".lambda-url.us-east-1.on.aws"));
        assert!(!is_function_url_domain(
            "r2d2.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(!is_function_url_domain("localhost"));
    }

    #[test]
    fn connection_headers_are_dropped_from_preludes() {
        for name in ["content-length", "transfer-encoding", "te", "trailer"] {
            assert!(is_dropped_from_prelude(name), "{name}");
        }
        for name in [
            "content-type",
            "set-cookie",
            "x-amzn-remapped-content-length",
        ] {
            assert!(!is_dropped_from_prelude(name), "{name}");
        }
    }

    #[test]
    fn header_names_are_lowercase_as_http_compares_them() {
        for name in [
            REQUEST_ID,
            DEADLINE_MS,
            INVOKED_FUNCTION_ARN,
            TRACE_ID,
            CLIENT_CONTEXT,
        ] {
            assert_eq!(HeaderName::from_static(name).as_str(), name);
        }
    }
}
