//! Event → `http::Request<Bytes>`.

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
) -> Result<(Request<Bytes>, ResponseFormat), EventError> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // A JSON string, number, array...: a raw invocation. It must still be JSON.
        serde_json::from_slice::<IgnoredAny>(&payload)
            .map_err(|e| EventError::new("json", e))?;
        return Ok((raw(payload, context), ResponseFormat::Raw));
    }
    let probe: Probe =
        serde_json::from_slice(&payload).map_err(|e| EventError::new("json", e))?;
    match probe.request_context {
        Some(ProbeContext { http: Some(_), .. }) => {
            let event: ApiGatewayV2httpRequest = serde_json::from_slice(&payload)
                .map_err(|e| EventError::new("http api (payload 2.0)", e))?;
            Ok((from_v2(event, context)?, ResponseFormat::PayloadV2))
        }
        Some(ProbeContext { elb: Some(_), .. }) => {
            let event: AlbTargetGroupRequest = serde_json::from_slice(&payload)
                .map_err(|e| EventError::new("application load balancer", e))?;
            Ok((from_alb(event, context)?, ResponseFormat::PayloadV1))
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
fn raw(payload: Bytes, context: Context) -> Request<Bytes> {
    let mut req = Request::new(payload);
    *req.method_mut() = Method::POST;
    req.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    req.extensions_mut().insert(context);
    req
}

fn from_v2(event: ApiGatewayV2httpRequest, context: Context) -> Result<Request<Bytes>, EventError> {
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
    let uri = uri(&headers, event.request_context.domain_name.as_deref(), &raw_path, &query)
        .map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let query_map: QueryMap = query.parse().unwrap_or_default();
    let mut req = Request::new(body);
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

fn from_v1(event: ApiGatewayProxyRequest, context: Context) -> Result<Request<Bytes>, EventError> {
    const WHAT: &str = "api gateway rest (payload 1.0)";
    let path = event.path.unwrap_or_else(|| "/".to_owned());
    let query = pick(event.multi_value_query_string_parameters, event.query_string_parameters);
    let headers = pick_headers(event.multi_value_headers, event.headers);
    let query_string = query.to_query_string();
    let uri = uri(&headers, event.request_context.domain_name.as_deref(), &path, &query_string)
        .map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let mut req = Request::new(body);
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

fn from_alb(event: AlbTargetGroupRequest, context: Context) -> Result<Request<Bytes>, EventError> {
    const WHAT: &str = "application load balancer";
    let path = event.path.unwrap_or_else(|| "/".to_owned());
    let query = pick(event.multi_value_query_string_parameters, event.query_string_parameters);
    let headers = pick_headers(event.multi_value_headers, event.headers);
    // ALB passes query values as they were sent (still percent-encoded): keep them so.
    let query_string = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let uri = uri(&headers, None, &path, &query_string).map_err(|e| EventError::new(WHAT, e))?;
    let body = body(event.body, event.is_base64_encoded).map_err(|e| EventError::new(WHAT, e))?;

    let mut req = Request::new(body);
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
            .map_err(|e| format!("the body is flagged isBase64Encoded but is not valid base64: {e}")),
        Some(b) => Ok(Bytes::from(b)),
    }
}
