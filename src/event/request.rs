//! Event → `http::Request<Body>`.

use crate::Body;
use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderMap, Method, Request, Uri};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::ext::{PathParameters, QueryStringParameters, RawHttpPath, StageVariables};
use super::{EventError, RequestContext};
use crate::wire::ResponseFormat;
use crate::Context;

/// Which kind of event a payload is, found by looking at a few keys only.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "httpMethod", default)]
    http_method: Option<IgnoredAny>,
    #[serde(rename = "requestContext", default)]
    request_context: Option<ProbeContext>,
    /// Present in ALB events when the target group has multi-value headers on.
    #[serde(rename = "multiValueHeaders", default)]
    multi_value_headers: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ProbeContext {
    #[serde(default)]
    http: Option<IgnoredAny>,
    #[serde(default)]
    elb: Option<IgnoredAny>,
}

/// Decodes a `/next` payload into the request the service sees, and the format its response
/// must take.
pub(crate) fn decode(
    payload: Bytes,
    context: Context,
) -> Result<(Request<Body>, ResponseFormat), EventError> {
    let (mut req, format) = decode_event(payload, context)?;
    if format != ResponseFormat::Raw {
        set_trace_header(&mut req);
    }
    Ok((req, format))
}

/// The request header `x-amzn-trace-id` of an HTTP event's request from the invocation's
/// X-Ray trace id (as `lambda_http` sets it), replacing what the event carried.
fn set_trace_header(req: &mut Request<Body>) {
    let trace = req
        .extensions()
        .get::<Context>()
        .and_then(|c| c.xray_trace_id.as_deref())
        .and_then(|t| HeaderValue::from_str(t).ok());
    if let Some(trace) = trace {
        req.headers_mut().insert(TRACE_HEADER, trace);
    }
}

const TRACE_HEADER: http::HeaderName = http::HeaderName::from_static("x-amzn-trace-id");

fn decode_event(
    payload: Bytes,
    context: Context,
) -> Result<(Request<Body>, ResponseFormat), EventError> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // A JSON string, number, array...: a raw invocation. It must still be JSON.
        serde_json::from_slice::<IgnoredAny>(&payload).map_err(|e| EventError::new("json", e))?;
        return Ok((raw(payload, context), ResponseFormat::Raw));
    }
    let probe: Probe = serde_json::from_slice(&payload).map_err(|e| EventError::new("json", e))?;
    match probe.request_context {
        Some(ProbeContext { http: Some(_), .. }) => {
            let event: ApiGatewayV2httpRequest = serde_json::from_slice(&payload)
                .map_err(|e| EventError::new("http api (payload 2.0)", e))?;
            Ok((from_v2(event, context)?, ResponseFormat::PayloadV2))
        }
        Some(ProbeContext { elb: Some(_), .. }) => {
            let event: AlbTargetGroupRequest = serde_json::from_slice(&payload)
                .map_err(|e| EventError::new("application load balancer", e))?;
            let format = ResponseFormat::Alb {
                multi_value_headers: probe.multi_value_headers.is_some(),
            };
            Ok((from_alb(event, context)?, format))
        }
        Some(_) if probe.http_method.is_some() => {
            let event: ApiGatewayProxyRequest = serde_json::from_slice(&payload)
                .map_err(|e| EventError::new("api gateway rest (payload 1.0)", e))?;
            Ok((from_v1(event, context)?, ResponseFormat::PayloadV1))
        }
        _ => Ok((raw(payload, context), ResponseFormat::Raw)),
    }
}

/// A raw invocation: `POST /` with the JSON payload as the body.
fn raw(payload: Bytes, context: Context) -> Request<Body> {
    let mut req = Request::new(Body::from(payload));
    *req.method_mut() = Method::POST;
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    req.extensions_mut().insert(context);
    req
}

fn from_v2(event: ApiGatewayV2httpRequest, context: Context) -> Result<Request<Body>, EventError> {
    const WHAT: &str = "http api (payload 2.0)";
    let raw_path = event
        .raw_path
        .or(event.request_context.http.path.clone())
        .unwrap_or_else(|| "/".to_owned());
    let query = event.raw_query_string.unwrap_or_default();
    let mut headers = event.headers;
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
        let joined = HeaderValue::from_str(&cookies.join("; "))
            .map_err(|_| EventError::new(WHAT, "a cookie is not a valid header value"))?;
        headers.insert(COOKIE, joined);
    }
    let path = if context.env_config.strip_stage_prefix {
        without_stage(&raw_path, event.request_context.stage.as_deref())
    } else {
        &raw_path
    };
    let uri = uri(
        &headers,
        event.request_context.domain_name.as_deref(),
        path,
        &query,
    )
    .map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let query_map: QueryMap = query.parse().unwrap_or_default();
    let mut req = Request::new(Body::from(body));
    *req.method_mut() = event.request_context.http.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let ext = req.extensions_mut();
    ext.insert(QueryStringParameters(query_map));
    ext.insert(PathParameters(event.path_parameters.into()));
    ext.insert(StageVariables(event.stage_variables.into()));
    ext.insert(RawHttpPath(raw_path));
    ext.insert(RequestContext::ApiGatewayV2(event.request_context));
    ext.insert(context);
    Ok(req)
}

fn from_v1(event: ApiGatewayProxyRequest, context: Context) -> Result<Request<Body>, EventError> {
    const WHAT: &str = "api gateway rest (payload 1.0)";
    let path = event.path.unwrap_or_else(|| "/".to_owned());
    let query = pick(
        event.multi_value_query_string_parameters,
        event.query_string_parameters,
    );
    let headers = pick_headers(event.multi_value_headers, event.headers);
    let query_string = query.to_query_string();
    let uri = uri(
        &headers,
        event.request_context.domain_name.as_deref(),
        &path,
        &query_string,
    )
    .map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let mut req = Request::new(Body::from(body));
    *req.method_mut() = event.http_method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let ext = req.extensions_mut();
    ext.insert(QueryStringParameters(query));
    ext.insert(PathParameters(event.path_parameters.into()));
    ext.insert(StageVariables(event.stage_variables.into()));
    ext.insert(RawHttpPath(path));
    ext.insert(RequestContext::ApiGatewayV1(event.request_context));
    ext.insert(context);
    Ok(req)
}

fn from_alb(event: AlbTargetGroupRequest, context: Context) -> Result<Request<Body>, EventError> {
    const WHAT: &str = "application load balancer";
    let path = event.path.unwrap_or_else(|| "/".to_owned());
    let query = pick(
        event.multi_value_query_string_parameters,
        event.query_string_parameters,
    );
    let headers = pick_headers(event.multi_value_headers, event.headers);
    // ALB passes query keys and values as they were sent (still percent-encoded): the URI
    // keeps them so, the parameters are decoded (`+` as a space), as for other events.
    let query_string = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let query: QueryMap = query_string.parse().unwrap_or_default();
    let uri = uri(&headers, None, &path, &query_string).map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let mut req = Request::new(Body::from(body));
    *req.method_mut() = event.http_method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let ext = req.extensions_mut();
    ext.insert(QueryStringParameters(query));
    ext.insert(RawHttpPath(path));
    ext.insert(RequestContext::Alb(event.request_context));
    ext.insert(context);
    Ok(req)
}

/// `path` without its leading `/{stage}` segment, for a named stage (not `$default`).
fn without_stage<'p>(path: &'p str, stage: Option<&str>) -> &'p str {
    let Some(stage) = stage.filter(|s| !s.is_empty() && *s != "$default") else {
        return path;
    };
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// The multi-value form when the event has it, else the single-value one.
fn pick(multi: QueryMap, single: QueryMap) -> QueryMap {
    if multi.is_empty() {
        single
    } else {
        multi
    }
}

fn pick_headers(multi: HeaderMap, single: HeaderMap) -> HeaderMap {
    if multi.is_empty() {
        single
    } else {
        multi
    }
}

/// Characters that cannot stand in a URI path as they are.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'#')
    .add(b'?');

/// Characters that cannot stand in a query string as they are.
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');

/// `scheme://host/path?query`: the scheme from `x-forwarded-proto` (default https), the host
/// from the `host` header or the event's domain name. Characters a path cannot hold are
/// percent-encoded.
fn uri(headers: &HeaderMap, domain: Option<&str>, path: &str, query: &str) -> Result<Uri, String> {
    let scheme = match headers.get("x-forwarded-proto").map(HeaderValue::as_bytes) {
        Some(b"http") => "http",
        _ => "https",
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(domain)
        .filter(|h| !h.is_empty());
    let path = utf8_percent_encode(path, PATH).to_string();
    let mut path_and_query = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    if !query.is_empty() {
        path_and_query.push('?');
        path_and_query.extend(utf8_percent_encode(query, QUERY));
    }
    let mut builder = Uri::builder().path_and_query(path_and_query.as_str());
    if let Some(host) = host {
        builder = builder.scheme(scheme).authority(host);
    }
    match builder.build() {
        Ok(uri) => Ok(uri),
        // An unusable host header must not cost the request: fall back to the path alone.
        Err(_) if host.is_some() => Uri::builder()
            .path_and_query(path_and_query.as_str())
            .build()
            .map_err(|e| format!("the path is not a valid uri path: {e}")),
        Err(e) => Err(format!("the path is not a valid uri path: {e}")),
    }
}

fn body(body: Option<String>, is_base64: bool) -> Result<Bytes, String> {
    match body {
        None => Ok(Bytes::new()),
        Some(b) if is_base64 => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map(Bytes::from)
            .map_err(|e| {
                format!("the body is flagged isBase64Encoded but is not valid base64: {e}")
            }),
        Some(b) => Ok(Bytes::from(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestExt;

    fn fixture(name: &str) -> Bytes {
        let path = format!(
            "{}/tests/fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into()
    }

    fn decode_fixture(name: &str) -> (Request<Body>, ResponseFormat) {
        decode(fixture(name), Context::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn function_url_get() {
        let (req, format) = decode_fixture("function-url-get.json");
        assert_eq!(format, ResponseFormat::PayloadV2);
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri().to_string(),
            "https://zvnsvhpx7u5gn3l3euimg4jjou0jvbfe.lambda-url.us-east-1.on.aws/"
        );
        assert_eq!(req.headers()["user-agent"], "curl/8.7.1");
        assert_eq!(
            req.headers()["x-amzn-trace-id"],
            "Root=1-68762f44-4f6a87d1639e7fc356aa6f96"
        );
        assert!(req.headers().get(COOKIE).is_none());
        assert!(req.body().is_empty());
        assert!(req.query_string_parameters().is_empty());
        let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
            panic!("payload 2.0 context expected");
        };
        assert_eq!(
            ctx.request_id.as_deref(),
            Some("f942509a-283f-4c4f-94f8-0d4ccc4a00f8")
        );
        let iam = ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .unwrap();
        assert_eq!(
            iam.user_arn.as_deref(),
            Some("arn:aws:iam::0123456789:user/sst")
        );
        assert!(req.lambda_context_ref().is_some());
    }

    #[test]
    fn function_url_post_base64_with_cookies_and_repeated_query() {
        let (req, _) = decode_fixture("function-url-post-base64.json");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/upload/report");
        assert_eq!(req.uri().query(), Some("tag=a&tag=b&mode=fast%20lane"));
        assert_eq!(
            req.uri().host(),
            Some("abcdefghijklmnop.lambda-url.eu-west-1.on.aws")
        );
        assert_eq!(req.headers()[COOKIE], "session=abc123; theme=dark");
        assert_eq!(req.headers()[CONTENT_TYPE], "application/octet-stream");
        assert_eq!(
            req.body().as_ref(),
            b"\x00\x01\x02\x03\xff\xfe\xfd\xfcHello"
        );
        let q = req.query_string_parameters();
        assert_eq!(q.all("tag"), Some(vec!["a", "b"]));
        assert_eq!(q.first("mode"), Some("fast lane"));
        assert_eq!(req.raw_http_path(), "/upload/report");
    }

    #[test]
    fn http_api_with_path_parameters() {
        let (req, format) = decode_fixture("apigw-http-v2.json");
        assert_eq!(format, ResponseFormat::PayloadV2);
        assert_eq!(
            req.uri().to_string(),
            "https://r2d2.execute-api.us-east-1.amazonaws.com/chat/lobby?since=10"
        );
        assert_eq!(req.headers()["accept"], "text/event-stream");
        assert_eq!(req.path_parameters().first("room"), Some("lobby"));
        assert_eq!(req.query_string_parameters().first("since"), Some("10"));
    }

    #[test]
    fn rest_api_v1() {
        let (req, format) = decode_fixture("apigw-rest-v1.json");
        assert_eq!(format, ResponseFormat::PayloadV1);
        assert_eq!(req.method(), Method::GET);
        // The stage is not part of the path the routes see.
        assert_eq!(
            req.uri().to_string(),
            "https://abc123.execute-api.us-east-1.amazonaws.com/items/42?verbose=1"
        );
        assert_eq!(req.headers()["accept"], "text/event-stream");
        assert_eq!(req.path_parameters().first("id"), Some("42"));
        assert!(req.stage_variables().is_empty());
        let Some(RequestContext::ApiGatewayV1(ctx)) = req.request_context_ref() else {
            panic!("payload 1.0 context expected");
        };
        assert_eq!(ctx.stage.as_deref(), Some("prod"));
    }

    #[test]
    fn a_named_stage_stays_in_the_path_unless_stripping_is_asked_for() {
        let mut event: serde_json::Value =
            serde_json::from_slice(&fixture("apigw-http-v2.json")).unwrap();
        event["rawPath"] = "/prod/chat/lobby".into();
        event["requestContext"]["stage"] = "prod".into();
        let payload = Bytes::from(serde_json::to_vec(&event).unwrap());

        let (req, _) = decode(payload.clone(), Context::default()).unwrap();
        assert_eq!(req.uri().path(), "/prod/chat/lobby");

        let context = Context {
            env_config: std::sync::Arc::new(crate::Config {
                strip_stage_prefix: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let (req, _) = decode(payload, context).unwrap();
        assert_eq!(req.uri().path(), "/chat/lobby");
        assert_eq!(req.uri().query(), Some("since=10"));
        assert_eq!(req.raw_http_path(), "/prod/chat/lobby");
    }

    #[test]
    fn stage_stripping_only_takes_a_whole_leading_segment() {
        assert_eq!(without_stage("/prod/a", Some("prod")), "/a");
        assert_eq!(without_stage("/prod", Some("prod")), "/");
        assert_eq!(
            without_stage("/production/a", Some("prod")),
            "/production/a"
        );
        assert_eq!(without_stage("/a/prod", Some("prod")), "/a/prod");
        assert_eq!(
            without_stage("/$default/a", Some("$default")),
            "/$default/a"
        );
        assert_eq!(without_stage("/a", None), "/a");
    }

    #[test]
    fn alb() {
        let (req, format) = decode_fixture("alb.json");
        assert_eq!(
            format,
            ResponseFormat::Alb {
                multi_value_headers: false
            }
        );
        assert_eq!(
            req.uri().to_string(),
            "http://lambda-alb-123578498.us-east-1.elb.amazonaws.com/health"
        );
        assert!(matches!(
            req.request_context_ref(),
            Some(RequestContext::Alb(_))
        ));
    }

    #[test]
    fn raw_payloads() {
        for name in ["raw-string.json", "raw-object.json"] {
            let payload = fixture(name);
            let (req, format) = decode_fixture(name);
            assert_eq!(format, ResponseFormat::Raw, "{name}");
            assert_eq!(req.method(), Method::POST);
            assert_eq!(req.uri(), "/");
            assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(*req.body(), payload);
            assert!(req.request_context_ref().is_none());
        }
        // An object that is not an HTTP event is raw too, even with an httpMethod key.
        let (_, format) = decode(
            Bytes::from_static(br#"{"httpMethod":"GET"}"#),
            Context::default(),
        )
        .unwrap();
        assert_eq!(format, ResponseFormat::Raw);
    }

    #[test]
    fn bad_events_are_clear_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "invalid json event"),
            (b"not json", "invalid json event"),
            (b"{\"version\":\"2.0\",", "invalid json event"),
            (
                br#"{"requestContext":{"http":{"method":"GET"}},"rawPath":"/","body":"@@@","isBase64Encoded":true}"#,
                "not valid base64",
            ),
            (
                br#"{"requestContext":{"http":{"method":"G(T"}},"rawPath":"/"}"#,
                "invalid http api (payload 2.0) event",
            ),
            (
                br#"{"requestContext":{"http":{"method":"GET"}},"rawPath":"/","headers":{"bad name":"x"}}"#,
                "invalid http api (payload 2.0) event",
            ),
            (
                br#"{"httpMethod":"GET","requestContext":{},"path":"/","headers":{"x":"a\nb"}}"#,
                "invalid api gateway rest (payload 1.0) event",
            ),
        ];
        for (payload, needle) in cases {
            let err = decode(Bytes::from_static(payload), Context::default())
                .expect_err(&String::from_utf8_lossy(payload));
            assert!(
                err.to_string().contains(needle),
                "{err} should contain {needle}"
            );
        }
    }

    #[test]
    fn paths_that_need_encoding_are_encoded() {
        let (req, _) = decode(
            Bytes::from_static(
                br#"{"requestContext":{"http":{"method":"GET"}},"rawPath":"/a b/{x}|\u00e9"}"#,
            ),
            Context::default(),
        )
        .unwrap();
        assert_eq!(req.uri().path(), "/a%20b/%7Bx%7D%7C%C3%A9");
        assert_eq!(req.raw_http_path(), "/a b/{x}|\u{e9}");
    }

    #[test]
    fn an_overlong_path_is_an_error_not_a_panic() {
        let long = "a".repeat(70_000);
        let event =
            format!(r#"{{"requestContext":{{"http":{{"method":"GET"}}}},"rawPath":"/{long}"}}"#);
        let err = decode(Bytes::from(event), Context::default()).unwrap_err();
        assert!(err.to_string().contains("not a valid uri path"), "{err}");
    }
}
