//! What a request must pass before a front door serves it: the `Host` allow-list, the
//! cross-site check, the function URL's CORS settings and its `AWS_IAM` auth. See the
//! [guide](https://github.com/lambda-stream/lambda-stream/blob/main/docs/door.md).
//!
//! Each check is a few comparisons on the request head (the signature, under `AWS_IAM`, two
//! SHA-256 and six HMAC computations), on the local server only: nothing of it is on the
//! path a deployed function runs.

mod cors;
mod origin;
pub(crate) mod sigv4;

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, ORIGIN};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::allowed_hosts::AllowedHosts;
use crate::http1::Body;
use crate::options::{AuthType, Cors, Iam, Options};
use origin::Policy;
use sigv4::{Credentials, Failure};

/// Which door a request is for: they answer refusals each in their own shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefusalStyle {
    /// The function URL: refused as a function URL refuses (`{"Message":"Forbidden"}`).
    FunctionUrl,
    /// `Invoke`, `InvokeWithResponseStream` and `/invoke`: refused with AWS's API errors.
    Api,
    /// The inspector: same-origin, never signed.
    Inspector,
}

/// The checks, set up once from the options.
pub(crate) struct Guard {
    hosts: AllowedHosts,
    allow_cross_site: bool,
    cors: Option<Cors>,
    auth: AuthType,
    iam: Iam,
    /// The hosts and origins already logged as refused (a few, to log each once).
    logged: Mutex<HashSet<String>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// How many distinct refused hosts and origins are logged at `warn` (later ones at `debug`).
const LOGGED: usize = 32;

impl Guard {
    pub(crate) fn new(options: &Options) -> Self {
        Guard {
            hosts: AllowedHosts::new(Some(options.addr.ip()), &options.allowed_hosts),
            allow_cross_site: options.allow_cross_site,
            cors: options.cors.clone(),
            auth: options.auth,
            iam: options.iam.clone(),
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// The checks on the request head, before the body is read: the `Host`, the page the
    /// request comes from, and a CORS preflight (answered here). `Err` is the answer.
    pub(crate) fn check_head(
        &self,
        parts: &Parts,
        door: RefusalStyle,
    ) -> Result<(), Box<Response<Body>>> {
        if let Err(host) = self.hosts.admits(parts) {
            self.log_once(&host, || {
                tracing::warn!(
                    host = %host,
                    "refused a request for a host that is not allowed (a dns rebinding page \
                     looks like this); LOCAL_LAMBDA_ALLOWED_HOSTS allows it"
                )
            });
            return Err(Box::new(text(
                StatusCode::FORBIDDEN,
                format!(
                    "forbidden: the host {host:?} is not allowed; to serve it, add it to \
                     LOCAL_LAMBDA_ALLOWED_HOSTS\n"
                ),
            )));
        }
        let policy = match door {
            RefusalStyle::Inspector => Policy::SameOrigin,
            _ => Policy::State {
                allow_cross_site: self.allow_cross_site,
            },
        };
        if let Err(from) = origin::admits(parts, &self.hosts, self.cors.as_ref(), policy) {
            self.log_once(&from, || {
                tracing::warn!(
                    from = %from,
                    "refused a cross-site request; LOCAL_LAMBDA_CORS_ALLOW_ORIGINS allows \
                     its origin, LOCAL_LAMBDA_ALLOW_CROSS_SITE=true any"
                )
            });
            let setting = match door {
                RefusalStyle::Inspector => "the inspector is same-origin only",
                _ => {
                    "to allow it, add its origin to LOCAL_LAMBDA_CORS_ALLOW_ORIGINS, or set \
                     LOCAL_LAMBDA_ALLOW_CROSS_SITE=true"
                }
            };
            return Err(Box::new(text(
                StatusCode::FORBIDDEN,
                format!("forbidden: a cross-site request from {from}; {setting}\n"),
            )));
        }
        if door != RefusalStyle::Inspector {
            if let Some(headers) = self.cors.as_ref().and_then(|c| c.preflight(parts)) {
                let mut res = Response::new(full(Bytes::new()));
                *res.headers_mut() = headers;
                return Err(Box::new(res));
            }
        }
        Ok(())
    }

    /// Under `AWS_IAM`, checks the request's signature over its head and `body`; `Ok` carries
    /// the `requestContext.authorizer` of a signed request (`None` without `AWS_IAM`).
    pub(crate) fn authorize(
        &self,
        parts: &Parts,
        body: &[u8],
        door: RefusalStyle,
    ) -> Result<Option<Value>, Box<Response<Body>>> {
        if self.auth != AuthType::AwsIam || door == RefusalStyle::Inspector {
            return Ok(None);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let credentials = Credentials {
            access_key_id: &self.iam.access_key_id,
            secret_access_key: &self.iam.secret_access_key,
            session_token: self.iam.session_token.as_deref(),
        };
        let result = if self.iam.access_key_id.is_empty() {
            Err(Failure::UnknownKey)
        } else {
            sigv4::verify(credentials, parts, body, now)
        };
        match result {
            Ok(signed) => Ok(Some(self.authorizer(&signed.access_key_id))),
            Err(failure) => {
                tracing::info!(
                    door = ?door,
                    reason = %describe(&failure),
                    "refused a request under AWS_IAM auth"
                );
                Err(Box::new(denied(&failure, door)))
            }
        }
    }

    /// `{"iam": {...}}`, in the shape a function URL gives its events.
    fn authorizer(&self, access_key: &str) -> Value {
        json!({
            "iam": {
                "accessKey": access_key,
                "accountId": self.iam.account_id,
                "callerId": self.iam.caller_id,
                "cognitoIdentity": null,
                "principalOrgId": self.iam.principal_org_id,
                "userArn": self.iam.user_arn,
                "userId": self.iam.caller_id,
            }
        })
    }

    /// The response's CORS headers: with CORS settings, theirs in place of the function's.
    pub(crate) fn finish(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if let Some(cors) = &self.cors {
            cors.apply(request.get(ORIGIN), response);
        }
    }

    /// The original request's `Origin`, kept for [`finish`](Self::finish) (the request is
    /// consumed by its door).
    pub(crate) fn origin_of(&self, request: &HeaderMap) -> HeaderMap {
        let mut kept = HeaderMap::new();
        if self.cors.is_some() {
            if let Some(origin) = request.get(ORIGIN) {
                kept.insert(ORIGIN, origin.clone());
            }
        }
        kept
    }

    /// Warnings about the settings, once at startup.
    pub(crate) fn warn_at_startup(&self, options: &Options) {
        let ip = options.addr.ip();
        if !ip.is_loopback() {
            tracing::warn!(
                addr = %options.addr,
                "the local server listens on a non-loopback address: other machines can reach \
                 it and run the function with your credentials; it serves requests for \
                 loopback names, {ip} and LOCAL_LAMBDA_ALLOWED_HOSTS only (add the name or \
                 address the other machines use there)",
            );
        }
        if self.auth == AuthType::AwsIam && self.iam.access_key_id.is_empty() {
            tracing::warn!(
                "LOCAL_LAMBDA_AUTH=AWS_IAM without AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY: every request to the function is refused"
            );
        }
    }

    fn log_once(&self, what: &str, warn: impl FnOnce()) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() < LOGGED && logged.insert(what.to_owned()) {
            drop(logged);
            warn();
        } else {
            tracing::debug!(what, "refused a request (already logged)");
        }
    }
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Missing => "no signature (no authorization header)".to_owned(),
        Failure::Incomplete(why) => why.clone(),
        Failure::UnknownKey => {
            "the access key or session token is not the one the server has".to_owned()
        }
        Failure::Scope(service) => format!("signed for service {service:?}, not \"lambda\""),
        Failure::Expired(why) => why.clone(),
        Failure::Mismatch => {
            "the signature does not match (another secret key, or another request)".to_owned()
        }
    }
}

/// What the door answers a request that fails the signature check.
fn denied(failure: &Failure, door: RefusalStyle) -> Response<Body> {
    if door == RefusalStyle::FunctionUrl {
        let mut res = json_response(
            StatusCode::FORBIDDEN,
            Bytes::from_static(b"{\"Message\":\"Forbidden\"}"),
        );
        res.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_static("AccessDeniedException"),
        );
        return res;
    }
    let (kind, message) = match failure {
        Failure::Missing => (
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".to_owned(),
        ),
        Failure::Incomplete(why) => ("IncompleteSignatureException", why.clone()),
        Failure::UnknownKey => (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".to_owned(),
        ),
        Failure::Scope(_) => (
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'lambda'. ".to_owned(),
        ),
        Failure::Expired(why) => ("InvalidSignatureException", why.clone()),
        Failure::Mismatch => (
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
                .to_owned(),
        ),
    };
    let body = json!({"Type": "User", "message": message}).to_string();
    let mut res = json_response(StatusCode::FORBIDDEN, Bytes::from(body));
    res.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    res
}

fn full(data: Bytes) -> Body {
    Full::new(data).map_err(|never| match never {}).boxed()
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(full(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Host and signature parsing on arbitrary input: must never panic. For the fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz(host: &[u8], origin: &[u8], authorization: &[u8], date: &[u8], rest: &[u8]) {
    let hosts = AllowedHosts::new(None, &["phone.lan".to_owned(), ".example.com".to_owned()]);
    if let Ok(text) = std::str::from_utf8(host) {
        let verdict = hosts.admits_authority(text);
        if let Some((name, _)) = crate::allowed_hosts::split_authority(text) {
            assert_eq!(verdict.is_ok(), hosts.allows(name));
        }
    }
    let mut req = http::Request::post("/invoke");
    for (name, value) in [("host", host), ("origin", origin)] {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            req = req.header(name, v);
        }
    }
    if let Ok(req) = req.body(()) {
        let (parts, ()) = req.into_parts();
        let _ = hosts.admits(&parts);
        let _ = origin::admits(&parts, &hosts, None, Policy::SameOrigin);
    }
    sigv4::fuzz(authorization, date, &String::from_utf8_lossy(rest), rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_from_env_and_debug_redacts() {
        let vars = |n: &str| match n {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("s3cr3t".to_owned()),
            "AWS_SESSION_TOKEN" => Some(" ".to_owned()),
            "LOCAL_LAMBDA_IAM_ACCOUNT_ID" => Some("111122223333".to_owned()),
            _ => None,
        };
        let iam = crate::Options::from_vars(vars).unwrap().iam;
        assert_eq!(iam.access_key_id, "AKIDEXAMPLE");
        assert_eq!(iam.session_token, None);
        assert_eq!(iam.account_id, "111122223333");
        assert_eq!(iam.user_arn, "arn:aws:iam::111122223333:user/local");
        assert!(!format!("{iam:?}").contains("s3cr3t"));
    }

    #[test]
    fn refusals_have_aws_shapes() {
        let res = denied(&Failure::Mismatch, RefusalStyle::FunctionUrl);
        assert_eq!(res.status(), 403);
        let res = denied(&Failure::Mismatch, RefusalStyle::Api);
        assert_eq!(
            res.headers()["x-amzn-errortype"],
            "InvalidSignatureException"
        );
        let res = denied(&Failure::UnknownKey, RefusalStyle::Api);
        assert_eq!(
            res.headers()["x-amzn-errortype"],
            "UnrecognizedClientException"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// The fuzz target's entry point, on random input here too (`cargo fuzz` is not on
        /// every machine): never a panic.
        #[test]
        fn the_door_parses_anything(
            host in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            origin in "(https?://)?[a-z0-9.:\\[\\]-]{0,30}|null",
            auth in "AWS4-HMAC-SHA256 (Credential=[A-Z/0-9a-z_]{0,40})?,? ?(SignedHeaders=[a-z;-]{0,30})?,? ?(Signature=[0-9a-f]{0,70})?",
            date in "[0-9]{8}T[0-9]{6}Z|.{0,20}",
            rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60),
        ) {
            fuzz(&host, origin.as_bytes(), auth.as_bytes(), date.as_bytes(), &rest);
        }
    }

    #[test]
    fn fuzz_entry_point_takes_anything() {
        fuzz(b"[::1", b"http://", b"AWS4-HMAC-SHA256 ,,,", b"x", b"/../%");
        fuzz(b"localhost:7000", b"null", b"", b"", b"?a=%ff&&=");
    }
}
