//! The response's format, chosen by the kind of event that was decoded, and whether it is
//! streamed: the rule [`ResponseMode`] documents.

use std::sync::Once;

use http::Request;
use lambda_stream_protocol::is_function_url_domain;

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
            let Some(RequestContext::ApiGatewayV2(c)) = request.request_context_ref() else {
                return true;
            };
            let domain = c.domain_name.as_deref();
            let api_id = c.apiid.as_deref();
            if !is_http_api(domain, api_id) {
                return true;
            }
            static LOGGED: Once = Once::new();
            LOGGED.call_once(|| {
                tracing::info!(
                    domain,
                    api_id,
                    "answering payload 2.0 events from an api gateway http api (an apiId, and \
                     a domain that is not a function url's), which cannot stream, buffered; set \
                     a response mode to choose"
                )
            });
            false
        }
    }
}

/// Whether a payload 2.0 event with this `requestContext.domainName` and `apiId` came from an
/// API Gateway HTTP API (or an emulation of one), rather than a function URL.
///
/// An HTTP API always names itself in `apiId` and puts the domain the caller used in
/// `domainName`: `<apiId>.execute-api.<region>.amazonaws.com`, or a custom domain. A function
/// URL sends an `apiId` too (its URL id), but its domain is always `<url-id>.lambda-url.…`,
/// on AWS (`….on.aws`, even behind CloudFront) and under the emulators that give function URLs
/// their own host names (LocalStack's `….localhost.localstack.cloud`, and the like). An
/// emulator's function URL without such a host name (cargo-lambda's: `domainName:
/// "localhost"`) sends no `apiId`: it has no API. Emulators of HTTP APIs send one (SAM's
/// `start-api`: `"1234567890"`; serverless-offline: `"offlineContext_apiId"`), and read the
/// answer as an HTTP API does, whole. An event without a `domainName` was written by hand,
/// not by API Gateway: it streams.
pub(crate) fn is_http_api(domain: Option<&str>, api_id: Option<&str>) -> bool {
    let Some(domain) = domain.filter(|d| !d.is_empty()) else {
        return false;
    };
    !is_function_url_domain(domain) && api_id.is_some_and(|id| !id.is_empty())
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
    use serde_json::{json, Value};

    /// A payload 2.0 event whose request context has `context`'s fields besides `http`.
    fn v2(context: Value) -> Request<Body> {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/"}}
        });
        for (k, v) in context.as_object().unwrap() {
            event["requestContext"][k] = v.clone();
        }
        decoded(event)
    }

    fn decoded(event: Value) -> Request<Body> {
        let payload = Bytes::from(serde_json::to_vec(&event).unwrap());
        let (req, format) = decode(payload, crate::Context::default()).unwrap();
        assert_eq!(format, ResponseFormat::PayloadV2);
        req
    }

    fn auto(req: &Request<Body>) -> bool {
        streams(ResponseMode::Auto, ResponseFormat::PayloadV2, req)
    }

    #[test]
    fn function_urls_stream() {
        let aws = v2(json!({
            "accountId": "anonymous",
            "apiId": "zvnsvhpx7u5gn3l3euimg4jjou0jvbfe",
            "domainName": "zvnsvhpx7u5gn3l3euimg4jjou0jvbfe.lambda-url.us-east-1.on.aws",
            "domainPrefix": "zvnsvhpx7u5gn3l3euimg4jjou0jvbfe",
            "routeKey": "$default",
            "stage": "$default"
        }));
        assert!(auto(&aws));
        // LocalStack names function URLs after AWS's, under its own domain, port included.
        let localstack = v2(json!({
            "accountId": "anonymous",
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.lambda-url.us-east-1.localhost.localstack.cloud:4566",
            "domainPrefix": "a1b2c3"
        }));
        assert!(auto(&localstack));
    }

    #[test]
    fn cargo_lambda_function_urls_stream() {
        // What `cargo lambda watch` (1.9) sends for `GET /lambda-url/streaming-numbers/?x=1`,
        // as it sends it: no apiId, no account, `localhost`, the function in domainPrefix.
        let event = json!({
            "type": null, "methodArn": null, "httpMethod": "GET", "identitySource": null,
            "authorizationToken": null, "resource": null,
            "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "x=1",
            "headers": {"host": "127.0.0.1:9000", "user-agent": "curl/7.88.1", "accept": "*/*"},
            "queryStringParameters": {"x": "1"},
            "requestContext": {
                "routeKey": "$default", "accountId": null, "stage": "$default",
                "requestId": "d609860c-451b-4d09-8fd3-68d175c486e1", "apiId": null,
                "domainName": "localhost", "domainPrefix": "streaming-numbers",
                "time": "02/Dec/2026:18:57:42 +0000", "timeEpoch": 1796237862,
                "http": {"method": "GET", "path": "/", "protocol": "http",
                         "sourceIp": "127.0.0.1", "userAgent": "cargo-lambda"}
            },
            "stageVariables": {}, "isBase64Encoded": false
        });
        assert!(auto(&decoded(event)));
        // Any other emulator that leaves the API out, on a loopback address or its own name.
        for domain in ["127.0.0.1:9000", "[::1]", "localhost:3000", "dev.internal"] {
            assert!(auto(&v2(json!({"domainName": domain}))), "{domain}");
            assert!(
                auto(&v2(json!({"domainName": domain, "apiId": ""}))),
                "{domain}"
            );
        }
    }

    #[test]
    fn http_apis_are_buffered() {
        let execute_api = v2(json!({
            "accountId": "123456789012",
            "apiId": "r2d2",
            "domainName": "r2d2.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "r2d2",
            "routeKey": "GET /chat/{room}",
            "stage": "$default"
        }));
        assert!(!auto(&execute_api));
        let custom_domain = v2(json!({
            "accountId": "123456789012",
            "apiId": "r2d2",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "routeKey": "$default",
            "stage": "prod"
        }));
        assert!(!auto(&custom_domain));
        // Emulated HTTP APIs, which read the answer whole, as API Gateway does.
        let sam_start_api = v2(json!({
            "accountId": "123456789012",
            "apiId": "1234567890",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "routeKey": "GET /hello",
            "stage": "$default"
        }));
        assert!(!auto(&sam_start_api));
        let serverless_offline = v2(json!({
            "accountId": "offlineContext_accountId",
            "apiId": "offlineContext_apiId",
            "domainName": "offlineContext_domainName",
            "domainPrefix": "offlineContext_domainPrefix",
            "routeKey": "GET /hello",
            "stage": "$default"
        }));
        assert!(!auto(&serverless_offline));
        let localstack = v2(json!({
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.localhost.localstack.cloud:4566",
            "domainPrefix": "a1b2c3"
        }));
        assert!(!auto(&localstack));
    }

    #[test]
    fn an_event_without_a_domain_streams() {
        assert!(auto(&v2(json!({}))));
        assert!(auto(&v2(json!({"apiId": "r2d2"}))));
        assert!(auto(&v2(json!({"apiId": "r2d2", "domainName": ""}))));
    }

    #[test]
    fn an_explicit_mode_wins_and_albs_never_stream() {
        let api =
            v2(json!({"apiId": "r2d2", "domainName": "r2d2.execute-api.us-east-1.amazonaws.com"}));
        let url = v2(json!({"domainName": "localhost"}));
        let v2 = ResponseFormat::PayloadV2;
        assert!(streams(ResponseMode::Streamed, v2, &api));
        assert!(!streams(ResponseMode::Buffered, v2, &url));

        let empty = Request::new(Body::empty());
        assert!(streams(
            ResponseMode::Auto,
            ResponseFormat::PayloadV1,
            &empty
        ));
        assert!(streams(ResponseMode::Auto, ResponseFormat::Raw, &empty));
        assert!(streams(ResponseMode::Auto, v2, &empty));
        let alb = ResponseFormat::Alb {
            multi_value_headers: false,
        };
        assert!(!streams(ResponseMode::Streamed, alb, &empty));
    }
}
