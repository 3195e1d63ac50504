//! Event decoding: what arrives on `/next` becomes an `http::Request<Body>`.
//!
//! | event | detected by | request |
//! |---|---|---|
//! | function URL, API Gateway HTTP API (payload 2.0) | `requestContext.http` | method, `rawPath`, `rawQueryString`, headers, `cookies` as `Cookie` |
//! | API Gateway REST (payload 1.0) | `httpMethod` + `requestContext` | method, `path` (without the stage), `multiValueQueryStringParameters`, `multiValueHeaders` |
//! | Application Load Balancer | `requestContext.elb` | as REST |
//! | anything else | | a raw invocation: `POST /`, the payload as the body |
//!
//! An HTTP API called on a named stage through its `execute-api` endpoint puts the stage in
//! `rawPath` (`/prod/items`): the request keeps it unless
//! [`Config::strip_stage_prefix`](crate::Config::strip_stage_prefix) is on. REST's `path`
//! never has it.
//!
//! Responses take the form the event's integration expects: see
//! [`ResponseMode`](crate::ResponseMode). ALB events are always answered buffered, with
//! `multiValueHeaders` when the event came with them.
//!
//! Bodies flagged `isBase64Encoded` are decoded. The scheme and host come from
//! `x-forwarded-proto` and `host` (or the request context's `domainName`). The Lambda
//! [`Context`](crate::Context) and the event's request context go in the request's
//! extensions; [`RequestExt`] reads them.
//!
//! An event that claims to be an HTTP event but cannot be one (invalid JSON, invalid base64,
//! an invalid method, header or path) fails its invocation with `Runtime.InvalidEvent` and a
//! message that says what was wrong; the runtime goes on with the next event.

mod ext;
mod request;

pub use ext::{RequestContext, RequestExt};
pub(crate) use request::decode;

use std::fmt;

/// How the response head is encoded: chosen by the kind of event that was decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    /// Function URL and API Gateway HTTP API (payload 2.0): single-valued `headers` plus
    /// `cookies`.
    PayloadV2,
    /// API Gateway REST (payload 1.0): `headers` plus `multiValueHeaders` for repeated ones.
    PayloadV1,
    /// Application Load Balancer: always buffered (an ALB cannot stream), with `headers` or
    /// `multiValueHeaders` as the event had them.
    Alb {
        /// The target group has multi-value headers on: the event came with
        /// `multiValueHeaders`, and the response must use them too.
        multi_value_headers: bool,
    },
    /// Not an HTTP event: no prelude; the handler's content type goes to the caller.
    Raw,
}

impl ResponseFormat {
    /// Whether a response in this format can be streamed at all. An ALB invokes the function
    /// synchronously and parses the whole payload as its response object: a prelude and
    /// 8 NULs would be a malformed response (a 502 for the caller).
    pub(crate) fn can_stream(self) -> bool {
        !matches!(self, ResponseFormat::Alb { .. })
    }
}

/// Why an event could not become a request.
#[derive(Debug)]
pub(crate) struct EventError {
    what: &'static str,
    detail: String,
}

impl EventError {
    pub(crate) fn new(what: &'static str, detail: impl fmt::Display) -> Self {
        EventError {
            what,
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} event: {}", self.what, self.detail)
    }
}

impl std::error::Error for EventError {}
