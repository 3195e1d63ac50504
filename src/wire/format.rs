//! The response's format, chosen by the kind of event that was decoded, and whether it is
//! streamed: the rule [`ResponseMode`] documents.

use std::sync::Once;

use http::Request;

use crate::event::{RequestContext, RequestExt};
use crate::{Body, ResponseMode};

/// Whether the response to `request`, decoded as `format`, is streamed under `mode`: the
/// rule [`ResponseMode`] documents.
pub(crate) fn streams(mode: ResponseMode, format: ResponseFormat, request: &Request<Body>) -> bool {
    if !format.can_stream() {
        return false;
    }
    match mode {
        ResponseMode::Buffered => false,
        ResponseMode::Streamed => true,
        _ if format != ResponseFormat::PayloadV2 => true,
        _ => {
            let domain = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(c)) => c.domain_name.as_deref(),
                _ => None,
            };
            let Some(domain) = domain else { return true };
            if is_function_url_domain(domain) {
                return true;
            }
            static LOGGED: Once = Once::new();
            LOGGED.call_once(|| {
                tracing::info!(
                    domain,
                    "answering payload 2.0 events that did not come through a function url \
                     (an api gateway http api, which cannot stream) buffered; set a response \
                     mode to choose"
                )
            });
            false
        }
    }
}

/// `<url-id>.lambda-url.<region>.on.aws` (and the like in other partitions).
pub(crate) fn is_function_url_domain(domain: &str) -> bool {
    let mut labels = domain.split('.');
    labels.next().is_some_and(|id| !id.is_empty())
        && labels
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case("lambda-url"))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decode;
    use bytes::Bytes;

    fn v2(domain: Option<&str>) -> Request<Body> {
        let mut event = serde_json::json!({
            "version": "2.0",
            "rawPath": "/",
            "requestContext": {"http": {"method": "GET"}}
        });
        if let Some(d) = domain {
            event["requestContext"]["domainName"] = d.into();
        }
        let payload = Bytes::from(serde_json::to_vec(&event).unwrap());
        let (req, format) = decode(payload, crate::Context::default()).unwrap();
        assert_eq!(format, ResponseFormat::PayloadV2);
        req
    }

    #[test]
    fn http_api_events_are_buffered_unless_a_mode_is_set() {
        let url = v2(Some("abcdefg.lambda-url.us-east-1.on.aws"));
        let api = v2(Some("r2d2.execute-api.us-east-1.amazonaws.com"));
        let custom = v2(Some("api.example.com"));
        let none = v2(None);
        let v2 = ResponseFormat::PayloadV2;
        assert!(streams(ResponseMode::Auto, v2, &url));
        assert!(!streams(ResponseMode::Auto, v2, &api));
        assert!(!streams(ResponseMode::Auto, v2, &custom));
        assert!(streams(ResponseMode::Auto, v2, &none));
        assert!(streams(ResponseMode::Streamed, v2, &api));
        assert!(!streams(ResponseMode::Buffered, v2, &url));

        let empty = Request::new(Body::empty());
        assert!(streams(
            ResponseMode::Auto,
            ResponseFormat::PayloadV1,
            &empty
        ));
        assert!(streams(ResponseMode::Auto, ResponseFormat::Raw, &empty));
        let alb = ResponseFormat::Alb {
            multi_value_headers: false,
        };
        assert!(!streams(ResponseMode::Streamed, alb, &empty));
        assert!(!is_function_url_domain("lambda-url.us-east-1.on.aws.evil"));
        assert!(is_function_url_domain("x.LAMBDA-URL.eu-west-1.on.aws"));
    }
}
