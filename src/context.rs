//! The Lambda context of one invocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use lambda_stream_protocol as protocol;
use serde::Deserialize;

use crate::Config;

/// The Lambda context of one invocation, from the headers of the Runtime API's
/// `/next` reply, plus the function's [`Config`].
///
/// The runtime puts it in every request's extensions; read it with
/// [`RequestExt::lambda_context_ref`](crate::RequestExt::lambda_context_ref), or with axum's
/// `Extension<Context>` extractor. Every field but the request id may be absent (emulators
/// omit them); nothing here panics on a missing or garbled header.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use lambda_stream::Context;
///
/// let mut ctx = Context::default();
/// ctx.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
/// ctx.deadline = Some(SystemTime::now() + Duration::from_secs(30));
/// assert!(ctx.remaining().unwrap() > Duration::from_secs(29));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Context {
    /// `Lambda-Runtime-Aws-Request-Id`: the invocation's request id.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: when Lambda stops the invocation.
    pub deadline: Option<SystemTime>,
    /// `Lambda-Runtime-Invoked-Function-Arn`: the ARN the caller invoked (it may name an alias).
    pub invoked_function_arn: Option<String>,
    /// `Lambda-Runtime-Trace-Id`: the AWS X-Ray trace header of this invocation.
    ///
    /// Also in the request's `x-amzn-trace-id` header. While one invocation runs at a time,
    /// the runtime also sets the process-wide `_X_AMZN_TRACE_ID` variable from it (see
    /// [`Runtime::trace_id_env`](crate::Runtime::trace_id_env)); with concurrent workers it
    /// does not, and this field (or the header) is the way to read it.
    pub xray_trace_id: Option<String>,
    /// `Lambda-Runtime-Invocation-Id`: the id Lambda gives this one attempt of the
    /// invocation, when it sends one. The runtime echoes it on the invocation's response and
    /// error report, so that a late answer to a timed-out invocation cannot be taken for the
    /// answer to a new one with the same request id.
    pub invocation_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`: what a mobile SDK caller sent.
    pub client_context: Option<ClientContext>,
    /// `Lambda-Runtime-Cognito-Identity`: the caller's Amazon Cognito identity.
    pub identity: Option<CognitoIdentity>,
    /// `Lambda-Runtime-Aws-Tenant-Id`: the tenant of a tenant-isolated function.
    pub tenant_id: Option<String>,
    /// The function's configuration.
    pub env_config: Arc<Config>,
}

impl Context {
    /// The time left before the deadline (zero once it has passed), or `None` without a
    /// deadline.
    pub fn remaining(&self) -> Option<Duration> {
        let deadline = self.deadline?;
        Some(
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }

    /// The deadline on tokio's clock, for `tokio::time::sleep_until` and friends.
    ///
    /// Computed from the time left now, so it follows tokio's paused clock in tests.
    pub fn deadline_instant(&self) -> Option<tokio::time::Instant> {
        self.remaining()
            .map(|left| tokio::time::Instant::now() + left)
    }

    /// Builds the context from the headers of a `/next` reply.
    ///
    /// Fails only without a usable request id; any other header that is missing or garbled
    /// is left out, with a warning for the garbled ones.
    pub(crate) fn from_headers(
        headers: &HeaderMap,
        config: Arc<Config>,
    ) -> Result<Self, &'static str> {
        let text = |name: &'static str| -> Option<String> {
            let value = headers.get(name)?;
            match value.to_str() {
                Ok(s) if !s.is_empty() => Some(s.to_owned()),
                Ok(_) => None,
                Err(_) => {
                    tracing::warn!(header = name, "ignoring a non-ascii runtime api header");
                    None
                }
            }
        };
        let request_id = text(protocol::REQUEST_ID)
            .ok_or("the runtime api sent an event without a lambda-runtime-aws-request-id")?;

        let deadline = text(protocol::DEADLINE_MS).and_then(|v| match v.parse::<u64>() {
            Ok(ms) => UNIX_EPOCH.checked_add(Duration::from_millis(ms)),
            Err(_) => {
                tracing::warn!(value = %v, "ignoring an unparsable lambda-runtime-deadline-ms");
                None
            }
        });
        fn json<T: for<'de> Deserialize<'de>>(name: &'static str, v: String) -> Option<T> {
            match serde_json::from_str(&v) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(header = name, error = %e, "ignoring an unparsable runtime api header");
                    None
                }
            }
        }
        Ok(Context {
            request_id,
            deadline,
            invoked_function_arn: text(protocol::INVOKED_FUNCTION_ARN),
            xray_trace_id: text(protocol::TRACE_ID),
            invocation_id: text("lambda-runtime-invocation-id"),
            client_context: text(protocol::CLIENT_CONTEXT)
                .and_then(|v| json(protocol::CLIENT_CONTEXT, v)),
            identity: text("lambda-runtime-cognito-identity")
                .and_then(|v| json("lambda-runtime-cognito-identity", v)),
            tenant_id: text("lambda-runtime-aws-tenant-id"),
            env_config: config,
        })
    }
}

/// The client context a mobile SDK caller sent (`Lambda-Runtime-Client-Context`).
///
/// The keys are those the AWS SDKs send (`client.installation_id`, `client.app_title`, ...,
/// `custom`, `env`); the camelCase spellings are accepted too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientContext {
    /// The calling application.
    #[serde(default)]
    pub client: ClientApplication,
    /// Custom values the caller set: any JSON, not only strings.
    #[serde(default)]
    pub custom: HashMap<String, serde_json::Value>,
    /// Environment values the SDK set.
    #[serde(default, rename = "env")]
    pub environment: HashMap<String, String>,
}

/// The application of a [`ClientContext`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientApplication {
    /// `installation_id`.
    #[serde(default, alias = "installationId")]
    pub installation_id: Option<String>,
    /// `app_title`: the application's title.
    #[serde(default, alias = "appTitle")]
    pub app_title: Option<String>,
    /// `app_version_name`: the application's version name.
    #[serde(default, alias = "appVersionName")]
    pub app_version_name: Option<String>,
    /// `app_version_code`: the application's version code.
    #[serde(default, alias = "appVersionCode")]
    pub app_version_code: Option<String>,
    /// `app_package_name`: the application's package name.
    #[serde(default, alias = "appPackageName")]
    pub app_package_name: Option<String>,
}

/// The caller's Amazon Cognito identity (`Lambda-Runtime-Cognito-Identity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CognitoIdentity {
    /// The Cognito identity id.
    #[serde(default, rename = "cognitoIdentityId")]
    pub identity_id: Option<String>,
    /// The Cognito identity pool id.
    #[serde(default, rename = "cognitoIdentityPoolId")]
    pub identity_pool_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_every_header() {
        let h = headers(&[
            ("lambda-runtime-aws-request-id", b"8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            ("lambda-runtime-deadline-ms", b"1542409706888"),
            ("lambda-runtime-invoked-function-arn", b"arn:aws:lambda:us-east-2:123456789012:function:custom-runtime"),
            ("lambda-runtime-trace-id", b"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
            ("lambda-runtime-client-context", br#"{"client":{"installation_id":"i-1","app_title":"demo","app_version_name":"1.0","app_version_code":"7","app_package_name":"com.example"},"custom":{"k":"v","n":3,"deep":{"a":[true]}},"env":{"platform":"ios"}}"#),
            ("lambda-runtime-invocation-id", b"inv-1"),
            ("lambda-runtime-cognito-identity", br#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#),
            ("lambda-runtime-aws-tenant-id", b"tenant-7"),
        ]);
        let ctx = Context::from_headers(&h, Arc::default()).unwrap();
        assert_eq!(ctx.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(
            ctx.deadline,
            Some(UNIX_EPOCH + Duration::from_millis(1542409706888))
        );
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
        assert!(ctx
            .invoked_function_arn
            .unwrap()
            .ends_with("custom-runtime"));
        assert!(ctx.xray_trace_id.unwrap().starts_with("Root=1-5bef4de7"));
        let cc = ctx.client_context.unwrap();
        assert_eq!(cc.client.installation_id.as_deref(), Some("i-1"));
        assert_eq!(cc.client.app_title.as_deref(), Some("demo"));
        assert_eq!(cc.client.app_version_name.as_deref(), Some("1.0"));
        assert_eq!(cc.client.app_version_code.as_deref(), Some("7"));
        assert_eq!(cc.client.app_package_name.as_deref(), Some("com.example"));
        assert_eq!(cc.custom["k"], "v");
        assert_eq!(cc.custom["n"], 3);
        assert_eq!(cc.custom["deep"]["a"][0], true);
        assert_eq!(ctx.invocation_id.as_deref(), Some("inv-1"));
        assert_eq!(cc.environment["platform"], "ios");
        let id = ctx.identity.unwrap();
        assert_eq!(id.identity_pool_id.as_deref(), Some("pool-1"));
        assert_eq!(ctx.tenant_id.as_deref(), Some("tenant-7"));
    }

    #[test]
    fn camel_case_client_context_keys_are_accepted_too() {
        let h = headers(&[
            ("lambda-runtime-aws-request-id", b"abc"),
            (
                "lambda-runtime-client-context",
                br#"{"client":{"installationId":"i-2","appTitle":"t"}}"#,
            ),
        ]);
        let cc = Context::from_headers(&h, Arc::default())
            .unwrap()
            .client_context
            .unwrap();
        assert_eq!(cc.client.installation_id.as_deref(), Some("i-2"));
        assert_eq!(cc.client.app_title.as_deref(), Some("t"));
        assert!(cc.custom.is_empty());
    }

    #[test]
    fn garbled_headers_are_left_out() {
        let h = headers(&[
            ("lambda-runtime-aws-request-id", b"abc"),
            ("lambda-runtime-deadline-ms", b"soon"),
            ("lambda-runtime-client-context", b"{not json"),
            ("lambda-runtime-cognito-identity", b"\"not an object\""),
            ("lambda-runtime-trace-id", b"\xff\xfe"),
        ]);
        let ctx = Context::from_headers(&h, Arc::default()).unwrap();
        assert_eq!(ctx.request_id, "abc");
        assert!(ctx.deadline.is_none() && ctx.remaining().is_none());
        assert!(ctx.client_context.is_none() && ctx.identity.is_none());
        assert!(ctx.xray_trace_id.is_none());
    }

    #[test]
    fn a_missing_request_id_is_an_error() {
        assert!(Context::from_headers(&HeaderMap::new(), Arc::default()).is_err());
        let h = headers(&[("lambda-runtime-aws-request-id", b"")]);
        assert!(Context::from_headers(&h, Arc::default()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_instant_follows_the_paused_clock() {
        let ctx = Context {
            deadline: Some(SystemTime::now() + Duration::from_secs(10)),
            ..Context::default()
        };
        let at = ctx.deadline_instant().unwrap();
        let left = at - tokio::time::Instant::now();
        assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(9));
    }
}
