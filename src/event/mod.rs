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
//! [`ResponseMode`]. ALB events are always answered buffered, with
//! `multiValueHeaders` when the event came with them. By default, so are payload 2.0 events
//! from an API Gateway HTTP API: it sends the same shape as a function URL
//! (`requestContext.http`) but cannot take a stream. It is told apart by the request context:
//! an `apiId`, with a `domainName` that is not a function URL's `<id>.lambda-url.…`
//! (emulators of function URLs use such a name, or send no `apiId`).
//!
//! The `x-amzn-trace-id` header of a request from an HTTP event is the invocation's X-Ray
//! trace id when Lambda sent one.
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

pub use ext::{PayloadError, RequestContext, RequestExt, RequestPayloadExt};
pub(crate) use request::decode;

use std::fmt;

#[cfg(doc)]
use crate::ResponseMode;

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
