//! An HTTP request → the payload 2.0 event a function URL sends.
//!
//! As AWS builds it ([function URL payload format][fmt]): header names lowercased, repeated
//! headers and query parameters comma-joined, the `Cookie` header moved to `cookies`, the body
//! base64-encoded (`isBase64Encoded`) unless it is text, `requestContext.http` from the
//! request line and the peer.
//!
//! [fmt]: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, USER_AGENT};
use http::request::Parts;
use http::{HeaderMap, Version};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use crate::civil::civil_from_days;
use crate::function::FunctionConfig;

/// The function URL domain of the event: the caller's `host` when it is one, else
/// `local.lambda-url.<AWS_REGION, or us-east-1>.on.aws`. A function URL's events always carry
/// such a domain, and the runtime tells them from API Gateway HTTP API events by it.
fn domain_name(host: &str) -> String {
    if lambda_stream_protocol::is_function_url_domain(host) {
        return host.to_owned();
    }
    let region = std::env::var("AWS_REGION")
        .ok()
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or_else(|| FunctionConfig::default().region);
    format!("local.lambda-url.{region}.on.aws")
}

/// The payload 2.0 event a function URL sends for the request `parts` with `body`, from
/// `peer`, received `now`, as the invocation `request_id`.
///
/// As AWS builds it: header names lowercased, repeated headers and query parameters
/// comma-joined, the `Cookie` header moved to `cookies`, the body base64-encoded
/// (`isBase64Encoded`) unless it is text, `requestContext.http` from the request line and the
/// peer. Its `requestContext.domainName` is the request's `Host` when that is a function URL's
/// (`<id>.lambda-url.<region>.on.aws`), else `local.lambda-url.<AWS_REGION>.on.aws`.
///
/// ```
/// use std::time::SystemTime;
///
/// let (parts, ()) = http::Request::post("/orders?id=7").body(()).unwrap().into_parts();
/// let peer = "127.0.0.1:50000".parse().unwrap();
/// let event =
///     lambda_stream_local::function_url_event(&parts, b"{}", peer, "r-1", SystemTime::now());
/// let event: serde_json::Value = serde_json::from_slice(&event).unwrap();
/// assert_eq!(event["rawPath"], "/orders");
/// assert_eq!(event["requestContext"]["http"]["method"], "POST");
/// ```
pub fn function_url_event(
    parts: &Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
    now: SystemTime,
) -> Bytes {
    function_url(parts, body, peer, request_id, now, None)
}

/// The event for the request `parts` with `body`, from `peer`, received `now`. For a
/// request that passed `AWS_IAM` auth, `authorizer` is its `requestContext.authorizer`
/// (`{"iam": {...}}`), and the context's `accountId` is the caller's.
pub(crate) fn function_url(
    parts: &Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
    now: SystemTime,
    authorizer: Option<Value>,
) -> Bytes {
    let headers = headers(&parts.headers, peer);
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let domain_name = domain_name(strip_port(host));
    let domain_prefix = domain_name.split('.').next().unwrap_or("local").to_owned();
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let epoch_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    let mut event = Map::new();
    event.insert("version".into(), "2.0".into());
    event.insert("routeKey".into(), "$default".into());
    event.insert("rawPath".into(), parts.uri.path().into());
    event.insert(
        "rawQueryString".into(),
        parts.uri.query().unwrap_or("").into(),
    );
    let cookies = cookies(&parts.headers);
    if !cookies.is_empty() {
        event.insert("cookies".into(), cookies.into());
    }
    event.insert("headers".into(), Value::Object(headers));
    if let Some(query) = query_parameters(parts.uri.query().unwrap_or("")) {
        event.insert("queryStringParameters".into(), Value::Object(query));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": "anonymous",
            "apiId": domain_prefix,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": protocol(parts.version),
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(epoch_ms / 1000),
            "timeEpoch": epoch_ms,
        }),
    );
    if let (Some(authorizer), Some(Value::Object(context))) =
        (authorizer, event.get_mut("requestContext"))
    {
        if let Some(account) = authorizer.pointer("/iam/accountId").cloned() {
            context.insert("accountId".into(), account);
        }
        context.insert("authorizer".into(), authorizer);
    }
    if !body.is_empty() {
        let text = is_text(&parts.headers)
            .then(|| std::str::from_utf8(body).ok())
            .flatten();
        let (body, encoded) = match text {
            Some(text) => (text.to_owned(), false),
            None => (base64::engine::general_purpose::STANDARD.encode(body), true),
        };
        event.insert("body".into(), body.into());
        event.insert("isBase64Encoded".into(), encoded.into());
    } else {
        event.insert("isBase64Encoded".into(), false.into());
    }
    serde_json::to_vec(&Value::Object(event))
        .unwrap_or_default()
        .into()
}

/// Headers by lowercase name, repeated values comma-joined, without `cookie` (it goes to
/// `cookies`); the `x-forwarded-*` headers a function URL adds when the caller did not.
fn headers(headers: &HeaderMap, peer: SocketAddr) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        if name == COOKIE {
            continue;
        }
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(",");
        out.insert(name.as_str().to_owned(), joined.into());
    }
    let mut default = |name: &str, value: String| {
        out.entry(name.to_owned()).or_insert(value.into());
    };
    default("x-forwarded-proto", "http".to_owned());
    default("x-forwarded-for", peer.ip().to_string());
    default("x-forwarded-port", peer.port().to_string());
    out
}

/// Every cookie of every `Cookie` header, one per entry.
fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The decoded query parameters, repeated keys comma-joined; `None` without any.
fn query_parameters(query: &str) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(key).decode_utf8_lossy().into_owned();
        let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
        match out.get_mut(&key) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                out.insert(key, value.into());
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether a body of this content type is sent as text rather than base64: `text/*` and
/// `application/json`, as function URLs do.
fn is_text(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    // What function URLs pass as text; any other body arrives base64-encoded.
    mime.starts_with("text/") || mime == "application/json"
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:7000
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `15/Jul/2025:10:36:52 +0000`, the format of `requestContext.time`.
fn clf_time(epoch_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (epoch_secs / 86_400) as i64;
    let secs = epoch_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(req: http::Request<()>, body: &[u8]) -> Value {
        let (parts, ()) = req.into_parts();
        let now = UNIX_EPOCH + Duration::from_millis(1_752_575_812_081);
        let bytes = function_url(
            &parts,
            body,
            "10.0.0.7:51234".parse().unwrap(),
            "rid-1",
            now,
            None,
        );
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_signed_request_carries_its_authorizer_as_aws_sends_it() {
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        let authorizer = json!({"iam": {
            "accessKey": "AKIDEXAMPLE", "accountId": "111122223333", "callerId": "AIDAX",
            "cognitoIdentity": null, "principalOrgId": null,
            "userArn": "arn:aws:iam::111122223333:user/local", "userId": "AIDAX"
        }});
        let peer = "127.0.0.1:1".parse().unwrap();
        let bytes = function_url(&parts, b"", peer, "r", UNIX_EPOCH, Some(authorizer));
        let event: Value = serde_json::from_slice(&bytes).unwrap();
        let sample: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/events/function-url-get.json"
        ))
        .unwrap();
        let keys = |v: &Value| {
            let mut k: Vec<String> = v["requestContext"]["authorizer"]["iam"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        assert_eq!(keys(&event), keys(&sample));
        assert_eq!(event["requestContext"]["accountId"], "111122223333");
        assert_eq!(
            event["requestContext"]["authorizer"]["iam"]["accessKey"],
            "AKIDEXAMPLE"
        );
    }

    #[test]
    fn get_with_query_cookies_and_repeated_headers() {
        let req = http::Request::get("/a/b%20c?x=1&y=a%20b&x=2&flag")
            .header("Host", "127.0.0.1:7000")
            .header("User-Agent", "curl/8.7.1")
            .header("Accept", "text/plain")
            .header("Accept", "application/json")
            .header("Cookie", "a=1; b=2")
            .header("Cookie", "c=3")
            .body(())
            .unwrap();
        let e = event(req, b"");
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/a/b%20c");
        assert_eq!(e["rawQueryString"], "x=1&y=a%20b&x=2&flag");
        assert_eq!(e["cookies"], json!(["a=1", "b=2", "c=3"]));
        assert_eq!(e["headers"]["accept"], "text/plain,application/json");
        assert_eq!(e["headers"]["host"], "127.0.0.1:7000");
        assert_eq!(e["headers"]["x-forwarded-proto"], "http");
        assert_eq!(e["headers"]["x-forwarded-for"], "10.0.0.7");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(
            e["queryStringParameters"],
            json!({"x": "1,2", "y": "a b", "flag": ""})
        );
        assert_eq!(e["isBase64Encoded"], false);
        assert!(e.get("body").is_none());
        let rc = &e["requestContext"];
        assert_eq!(rc["http"]["method"], "GET");
        assert_eq!(rc["http"]["path"], "/a/b%20c");
        assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
        assert_eq!(rc["http"]["sourceIp"], "10.0.0.7");
        assert_eq!(rc["http"]["userAgent"], "curl/8.7.1");
        assert_eq!(rc["requestId"], "rid-1");
        // Not the caller's host: a function URL's domain, which tells the runtime the event
        // came through a function URL (and can be streamed).
        assert!(
            rc["domainName"]
                .as_str()
                .is_some_and(|d| d.starts_with("local.lambda-url.") && d.ends_with(".on.aws")),
            "{}",
            rc["domainName"]
        );
        assert_eq!(rc["domainPrefix"], "local");
        assert_eq!(rc["time"], "15/Jul/2025:10:36:52 +0000");
        assert_eq!(rc["timeEpoch"], 1_752_575_812_081u64);
    }

    #[test]
    fn text_bodies_stay_text_binary_ones_are_base64() {
        let req = http::Request::post("/")
            .header("content-type", "application/json; charset=utf-8")
            .body(())
            .unwrap();
        let e = event(req, br#"{"a":1}"#);
        assert_eq!(e["body"], r#"{"a":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
        assert!(e.get("queryStringParameters").is_none());

        let req = http::Request::post("/")
            .header("content-type", "application/octet-stream")
            .body(())
            .unwrap();
        let e = event(req, &[0, 159, 146, 150]);
        assert_eq!(e["body"], "AJ+Slg==");
        assert_eq!(e["isBase64Encoded"], true);

        let req = http::Request::post("/")
            .header("content-type", "application/xml")
            .body(())
            .unwrap();
        assert_eq!(event(req, b"<a/>")["isBase64Encoded"], true);

        // Text that is not UTF-8 cannot be a JSON string.
        let req = http::Request::post("/")
            .header("content-type", "text/plain")
            .body(())
            .unwrap();
        assert_eq!(event(req, &[0xff, 0xfe])["isBase64Encoded"], true);
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(clf_time(1_795_736_400), "26/Nov/2026:23:40:00 +0000");
        assert_eq!(strip_port("[::1]:7000"), "[::1]");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}
