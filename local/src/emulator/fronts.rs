//! The events the other front ends send for an HTTP request: an API Gateway REST API's
//! (payload 1.0), an HTTP API's (payload 2.0 from an `execute-api` domain) and an Application
//! Load Balancer's.
//!
//! As AWS documents them: [REST proxy input][rest], [HTTP API payload 2.0][http],
//! [ALB events][alb].
//!
//! [rest]: https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
//! [http]: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
//! [alb]: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::USER_AGENT;
use http::request::Parts;
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::event::{clf_time, is_text, payload_v2, protocol};
use super::rest_route::Route;

/// The API id of the APIs the doors play: `<apiId>.execute-api.<region>.amazonaws.com`.
pub(crate) const API_ID: &str = "local";

/// Where the emulated API or load balancer lives: the function's region and account.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) function_name: String,
}

impl Place {
    fn domain_name(&self) -> String {
        format!("{API_ID}.execute-api.{}.amazonaws.com", self.region)
    }

    /// The ARN of the ALB target group in front of the function, named after it.
    pub(crate) fn target_group_arn(&self) -> String {
        let name: String = self
            .function_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(32)
            .collect();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write(self.function_name.as_bytes());
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}/{:016x}",
            self.region,
            self.account_id,
            name.trim_matches('-'),
            h.finish()
        )
    }
}

/// The request, as an event is made of it.
pub(crate) struct Caller<'a> {
    pub(crate) parts: &'a Parts,
    pub(crate) body: &'a [u8],
    pub(crate) peer: SocketAddr,
    pub(crate) request_id: &'a str,
    pub(crate) now: SystemTime,
}

impl Caller<'_> {
    fn epoch_ms(&self) -> u64 {
        self.now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn user_agent(&self) -> Value {
        self.parts
            .headers
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .unwrap_or(Value::Null)
    }

    /// The headers by (lowercase) name, each with all its values, and the ones the front end
    /// adds when the caller did not send them.
    fn header_values(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = header_lists(&self.parts.headers);
        let mut default = |name: &str, value: String| {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_owned(), vec![value]));
            }
        };
        default("x-forwarded-for", self.peer.ip().to_string());
        default("x-forwarded-port", self.peer.port().to_string());
        default("x-forwarded-proto", "http".to_owned());
        default("x-amzn-trace-id", trace_id(self.now));
        out
    }

    /// The body as a front end passes it: text when it is UTF-8 (and `text` says so), else
    /// base64; and whether it is base64.
    fn body(&self, text: bool) -> (String, bool) {
        match std::str::from_utf8(self.body).ok().filter(|_| text) {
            Some(text) => (text.to_owned(), false),
            None => (
                base64::engine::general_purpose::STANDARD.encode(self.body),
                true,
            ),
        }
    }
}

/// The payload 1.0 event an API Gateway REST API's Lambda proxy integration sends, in stage
/// `stage`, for the request routed to `route`.
pub(crate) fn rest_event(caller: &Caller<'_>, place: &Place, stage: &str, route: &Route) -> Bytes {
    let parts = caller.parts;
    let headers = caller.header_values();
    let single: Map<String, Value> = headers
        .iter()
        .filter_map(|(n, vs)| Some((n.clone(), vs.last()?.clone().into())))
        .collect();
    let multi: Map<String, Value> = headers
        .iter()
        .map(|(n, vs)| (n.clone(), vs.clone().into()))
        .collect();
    let query = query_lists(parts.uri.query().unwrap_or(""), true);
    let (query_single, query_multi) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (
            query
                .iter()
                .filter_map(|(k, vs)| Some((k.clone(), Value::from(vs.last()?.clone()))))
                .collect::<Map<_, _>>()
                .into(),
            query
                .iter()
                .map(|(k, vs)| (k.clone(), Value::from(vs.clone())))
                .collect::<Map<_, _>>()
                .into(),
        )
    };
    let parameters = match &route.parameters {
        Some(ps) => ps
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect::<Map<_, _>>()
            .into(),
        None => Value::Null,
    };
    let (body, encoded) = if caller.body.is_empty() {
        (Value::Null, false)
    } else {
        let (body, encoded) = caller.body(true);
        (body.into(), encoded)
    };
    let epoch_ms = caller.epoch_ms();
    let stage_path = if route.path == "/" {
        format!("/{stage}/")
    } else {
        format!("/{stage}{}", route.path)
    };
    let event = json!({
        "resource": route.resource,
        "path": route.path,
        "httpMethod": parts.method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "pathParameters": parameters,
        "stageVariables": Value::Null,
        "requestContext": {
            "accountId": place.account_id,
            "apiId": API_ID,
            "domainName": place.domain_name(),
            "domainPrefix": API_ID,
            "extendedRequestId": short_id(caller.now),
            "httpMethod": parts.method.as_str(),
            "identity": {
                "accessKey": null, "accountId": null, "caller": null,
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "sourceIp": caller.peer.ip().to_string(),
                "user": null, "userAgent": caller.user_agent(), "userArn": null,
            },
            "path": stage_path,
            "protocol": protocol(parts.version),
            "requestId": caller.request_id,
            "requestTime": clf_time(epoch_ms / 1000),
            "requestTimeEpoch": epoch_ms,
            "resourceId": "local0",
            "resourcePath": route.resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": encoded,
    });
    serde_json::to_vec(&event).unwrap_or_default().into()
}

/// The payload 2.0 event an API Gateway HTTP API sends through its `$default` route and stage:
/// a function URL's, from the API's `execute-api` domain and account.
pub(crate) fn http_api_event(caller: &Caller<'_>, place: &Place) -> Bytes {
    let mut event = payload_v2(
        caller.parts,
        caller.body,
        caller.peer,
        caller.request_id,
        caller.now,
        None,
    );
    if let Some(Value::Object(headers)) = event.get_mut("headers") {
        headers
            .entry("x-amzn-trace-id")
            .or_insert_with(|| trace_id(caller.now).into());
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        context.insert("accountId".into(), place.account_id.clone().into());
        context.insert("apiId".into(), API_ID.into());
        context.insert("domainName".into(), place.domain_name().into());
        context.insert("domainPrefix".into(), API_ID.into());
    }
    serde_json::to_vec(&Value::Object(event))
        .unwrap_or_default()
        .into()
}

/// The event an Application Load Balancer sends to a Lambda target group, with multi-value
/// headers on or off. The query string's keys and values are passed as the caller sent them:
/// an ALB does not decode them.
pub(crate) fn alb_event(caller: &Caller<'_>, place: &Place, multi_value: bool) -> Bytes {
    let parts = caller.parts;
    let headers = caller.header_values();
    let query = query_lists(parts.uri.query().unwrap_or(""), false);
    let mut event = Map::new();
    event.insert(
        "requestContext".into(),
        json!({"elb": {"targetGroupArn": place.target_group_arn()}}),
    );
    event.insert("httpMethod".into(), parts.method.as_str().into());
    event.insert("path".into(), parts.uri.path().into());
    // Without multi-value headers, a repeated header or parameter is its last value.
    if multi_value {
        let map = |list: Vec<(String, Vec<String>)>| -> Map<String, Value> {
            list.into_iter().map(|(k, vs)| (k, vs.into())).collect()
        };
        event.insert("multiValueQueryStringParameters".into(), map(query).into());
        event.insert("multiValueHeaders".into(), map(headers).into());
    } else {
        let map = |list: Vec<(String, Vec<String>)>| -> Map<String, Value> {
            list.into_iter()
                .filter_map(|(k, mut vs)| Some((k, vs.pop()?.into())))
                .collect()
        };
        event.insert("queryStringParameters".into(), map(query).into());
        event.insert("headers".into(), map(headers).into());
    }
    let (body, encoded) = if caller.body.is_empty() {
        (String::new(), false)
    } else {
        caller.body(is_text(&parts.headers))
    };
    event.insert("body".into(), body.into());
    event.insert("isBase64Encoded".into(), encoded.into());
    serde_json::to_vec(&Value::Object(event))
        .unwrap_or_default()
        .into()
}

/// Each header name (lowercase), with all its values in order.
fn header_lists(headers: &HeaderMap) -> Vec<(String, Vec<String>)> {
    headers
        .keys()
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.as_str().to_owned(), values)
        })
        .collect()
}

/// Each query parameter, with all its values in order; percent-decoded when `decode`.
fn query_lists(query: &str, decoded: bool) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = if decoded {
            (
                decode(&key.replace('+', " ")),
                decode(&value.replace('+', " ")),
            )
        } else {
            (key.to_owned(), value.to_owned())
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => out.push((key, vec![value])),
        }
    }
    out
}

pub(super) fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// An X-Ray trace id, `Root=1-<time, 8 hex>-<24 hex>`, as the front ends add.
fn trace_id(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("Root=1-{secs:08x}-{:016x}{:08x}", random(), random() as u32)
}

/// An `extendedRequestId`-like id.
fn short_id(now: SystemTime) -> String {
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:08x}", random() & 0xffff_ffff, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_every_value_decoded_or_not() {
        assert_eq!(
            query_lists("a=1&b=x%20y&a=2&flag", true),
            [
                ("a".to_owned(), vec!["1".to_owned(), "2".to_owned()]),
                ("b".to_owned(), vec!["x y".to_owned()]),
                ("flag".to_owned(), vec![String::new()]),
            ]
        );
        assert_eq!(
            query_lists("b=x%20y", false),
            [("b".to_owned(), vec!["x%20y".to_owned()])]
        );
    }

    #[test]
    fn target_groups_are_named_after_the_function() {
        let place = Place {
            region: "eu-west-1".into(),
            account_id: "111122223333".into(),
            function_name: "my_fn".into(),
        };
        let arn = place.target_group_arn();
        assert!(
            arn.starts_with(
                "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/my-fn/"
            ),
            "{arn}"
        );
        assert_eq!(arn.rsplit('/').next().map(str::len), Some(16));
    }
}
