//! Reading what the event carried from a request: [`RequestExt`], [`RequestPayloadExt`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::alb::AlbTargetGroupRequestContext;
use aws_lambda_events::apigw::{ApiGatewayProxyRequestContext, ApiGatewayV2httpRequestContext};
use aws_lambda_events::query_map::QueryMap;
use http::header::CONTENT_TYPE;
use http::{Extensions, Request};
use serde::de::DeserializeOwned;

use crate::Context;

/// The request context of the event a request came from.
///
/// The types are those of [`aws_lambda_events`], as in `lambda_http`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RequestContext {
    /// A function URL or an API Gateway HTTP API (payload 2.0).
    ApiGatewayV2(ApiGatewayV2httpRequestContext),
    /// An API Gateway REST API (payload 1.0).
    ApiGatewayV1(ApiGatewayProxyRequestContext),
    /// An Application Load Balancer.
    Alb(AlbTargetGroupRequestContext),
}

#[derive(Clone, Debug)]
pub(crate) struct QueryStringParameters(pub(crate) QueryMap);
#[derive(Clone, Debug)]
pub(crate) struct PathParameters(pub(crate) QueryMap);
#[derive(Clone, Debug)]
pub(crate) struct StageVariables(pub(crate) QueryMap);
#[derive(Clone, Debug)]
pub(crate) struct RawHttpPath(pub(crate) String);

/// Reads what the event carried from a request's extensions.
///
/// The names match `lambda_http`'s `RequestExt`, so code ports over; the accessors that
/// `lambda_http` makes panic when a value is missing return an `Option` or an empty map here.
/// It is implemented for `http::Request` and for `http::Extensions`, which is what axum's
/// extractors and tower middleware get (`parts.extensions.lambda_context_ref()`).
///
/// ```
/// use lambda_stream::Body;
/// use lambda_stream::{Context, RequestExt};
///
/// fn greet(req: &http::Request<Body>) -> String {
///     let name = req
///         .query_string_parameters_ref()
///         .and_then(|q| q.first("name"))
///         .unwrap_or("world");
///     let request_id = req.lambda_context_ref().map(|c| c.request_id.as_str()).unwrap_or("-");
///     format!("hello {name} ({request_id})")
/// }
///
/// let req = http::Request::new(Body::empty())
///     .with_query_string_parameters([("name".to_string(), "ada".to_string())]
///         .into_iter()
///         .collect::<std::collections::HashMap<_, _>>());
/// assert_eq!(greet(&req), "hello ada (-)");
/// assert!(req.extensions().query_string_parameters_ref().is_some());
/// ```
pub trait RequestExt {
    /// The path as the event gave it (`rawPath`, or `path` for REST, which leaves out the
    /// stage), before any percent-encoding or stage stripping; for a request that did not
    /// come from an HTTP event, the URI's path (`""` on bare `Extensions`).
    fn raw_http_path(&self) -> &str;

    /// Replaces the raw path (for tests), like `lambda_http`'s `with_raw_http_path`.
    fn with_raw_http_path<P: Into<String>>(self, path: P) -> Self;

    /// The query string parameters, decoded, repeated keys kept (`?tag=a&tag=b` gives two
    /// values). Parsed from the URI when the request did not come from an HTTP event.
    fn query_string_parameters(&self) -> QueryMap;

    /// The query string parameters the event carried, if any.
    fn query_string_parameters_ref(&self) -> Option<&QueryMap>;

    /// Replaces the query string parameters (for tests).
    fn with_query_string_parameters<Q: Into<QueryMap>>(self, parameters: Q) -> Self;

    /// The path parameters of API Gateway routes (`/items/{id}`); empty otherwise.
    fn path_parameters(&self) -> QueryMap;

    /// The path parameters the event carried, if any.
    fn path_parameters_ref(&self) -> Option<&QueryMap>;

    /// Replaces the path parameters (for tests).
    fn with_path_parameters<P: Into<QueryMap>>(self, parameters: P) -> Self;

    /// The API Gateway stage variables; empty otherwise.
    fn stage_variables(&self) -> QueryMap;

    /// The stage variables the event carried, if any.
    fn stage_variables_ref(&self) -> Option<&QueryMap>;

    /// Replaces the stage variables (for tests).
    fn with_stage_variables<V: Into<QueryMap>>(self, variables: V) -> Self;

    /// The event's request context; `None` for raw invocations.
    fn request_context(&self) -> Option<RequestContext>;

    /// The event's request context, by reference.
    fn request_context_ref(&self) -> Option<&RequestContext>;

    /// Replaces the request context (for tests).
    fn with_request_context(self, context: RequestContext) -> Self;

    /// The Lambda context, cloned.
    ///
    /// Every request from the runtime has one. Without one (a request built by hand, in a
    /// test), this logs a warning, once, and returns an empty context (where `lambda_http`
    /// panics): prefer [`lambda_context_ref`](RequestExt::lambda_context_ref), which says so
    /// with `None`.
    fn lambda_context(&self) -> Context;

    /// The Lambda context, by reference; `None` when the request did not come from the
    /// runtime.
    fn lambda_context_ref(&self) -> Option<&Context>;

    /// Replaces the Lambda context (for tests).
    fn with_lambda_context(self, context: Context) -> Self;
}

impl RequestExt for Extensions {
    fn raw_http_path(&self) -> &str {
        self.get::<RawHttpPath>().map_or("", |p| p.0.as_str())
    }

    fn with_raw_http_path<P: Into<String>>(mut self, path: P) -> Self {
        self.insert(RawHttpPath(path.into()));
        self
    }

    fn query_string_parameters(&self) -> QueryMap {
        self.query_string_parameters_ref()
            .cloned()
            .unwrap_or_default()
    }

    fn query_string_parameters_ref(&self) -> Option<&QueryMap> {
        self.get::<QueryStringParameters>().map(|q| &q.0)
    }

    fn with_query_string_parameters<Q: Into<QueryMap>>(mut self, parameters: Q) -> Self {
        self.insert(QueryStringParameters(parameters.into()));
        self
    }

    fn path_parameters(&self) -> QueryMap {
        self.path_parameters_ref().cloned().unwrap_or_default()
    }

    fn path_parameters_ref(&self) -> Option<&QueryMap> {
        self.get::<PathParameters>().map(|p| &p.0)
    }

    fn with_path_parameters<P: Into<QueryMap>>(mut self, parameters: P) -> Self {
        self.insert(PathParameters(parameters.into()));
        self
    }

    fn stage_variables(&self) -> QueryMap {
        self.stage_variables_ref().cloned().unwrap_or_default()
    }

    fn stage_variables_ref(&self) -> Option<&QueryMap> {
        self.get::<StageVariables>().map(|v| &v.0)
    }

    fn with_stage_variables<V: Into<QueryMap>>(mut self, variables: V) -> Self {
        self.insert(StageVariables(variables.into()));
        self
    }

    fn request_context(&self) -> Option<RequestContext> {
        self.request_context_ref().cloned()
    }

    fn request_context_ref(&self) -> Option<&RequestContext> {
        self.get::<RequestContext>()
    }

    fn with_request_context(mut self, context: RequestContext) -> Self {
        self.insert(context);
        self
    }

    fn lambda_context(&self) -> Context {
        match self.lambda_context_ref() {
            Some(context) => context.clone(),
            None => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "lambda_context(): this request has no Lambda context (it did not come \
                         from the runtime); returning an empty one"
                    );
                }
                Context::default()
            }
        }
    }

    fn lambda_context_ref(&self) -> Option<&Context> {
        self.get::<Context>()
    }

    fn with_lambda_context(mut self, context: Context) -> Self {
        self.insert(context);
        self
    }
}

impl<B> RequestExt for Request<B> {
    fn raw_http_path(&self) -> &str {
        self.extensions()
            .get::<RawHttpPath>()
            .map(|p| p.0.as_str())
            .unwrap_or_else(|| self.uri().path())
    }

    fn with_raw_http_path<P: Into<String>>(mut self, path: P) -> Self {
        self.extensions_mut().insert(RawHttpPath(path.into()));
        self
    }

    fn query_string_parameters(&self) -> QueryMap {
        match self.query_string_parameters_ref() {
            Some(q) => q.clone(),
            None => self
                .uri()
                .query()
                .and_then(|q| q.parse().ok())
                .unwrap_or_default(),
        }
    }

    fn query_string_parameters_ref(&self) -> Option<&QueryMap> {
        self.extensions().query_string_parameters_ref()
    }

    fn with_query_string_parameters<Q: Into<QueryMap>>(self, parameters: Q) -> Self {
        self.map_extensions(|e| e.with_query_string_parameters(parameters))
    }

    fn path_parameters(&self) -> QueryMap {
        self.extensions().path_parameters()
    }

    fn path_parameters_ref(&self) -> Option<&QueryMap> {
        self.extensions().path_parameters_ref()
    }

    fn with_path_parameters<P: Into<QueryMap>>(self, parameters: P) -> Self {
        self.map_extensions(|e| e.with_path_parameters(parameters))
    }

    fn stage_variables(&self) -> QueryMap {
        self.extensions().stage_variables()
    }

    fn stage_variables_ref(&self) -> Option<&QueryMap> {
        self.extensions().stage_variables_ref()
    }

    fn with_stage_variables<V: Into<QueryMap>>(self, variables: V) -> Self {
        self.map_extensions(|e| e.with_stage_variables(variables))
    }

    fn request_context(&self) -> Option<RequestContext> {
        self.extensions().request_context()
    }

    fn request_context_ref(&self) -> Option<&RequestContext> {
        self.extensions().request_context_ref()
    }

    fn with_request_context(self, context: RequestContext) -> Self {
        self.map_extensions(|e| e.with_request_context(context))
    }

    fn lambda_context(&self) -> Context {
        self.extensions().lambda_context()
    }

    fn lambda_context_ref(&self) -> Option<&Context> {
        self.extensions().lambda_context_ref()
    }

    fn with_lambda_context(self, context: Context) -> Self {
        self.map_extensions(|e| e.with_lambda_context(context))
    }
}

/// Runs `f` on a request's extensions, by value.
trait MapExtensions {
    fn map_extensions(self, f: impl FnOnce(Extensions) -> Extensions) -> Self;
}

impl<B> MapExtensions for Request<B> {
    fn map_extensions(mut self, f: impl FnOnce(Extensions) -> Extensions) -> Self {
        let taken = std::mem::take(self.extensions_mut());
        *self.extensions_mut() = f(taken);
        self
    }
}

/// Deserialises a request's body by its content type, like `lambda_http`'s
/// `RequestPayloadExt`.
///
/// ```
/// use lambda_stream::{Body, RequestPayloadExt};
///
/// #[derive(serde::Deserialize)]
/// struct Greeting { name: String, times: u32 }
///
/// let req = http::Request::post("/")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(Body::from("name=ada+l&times=3"))
///     .unwrap();
/// let g: Greeting = req.payload()?.expect("a body");
/// assert_eq!((g.name.as_str(), g.times), ("ada l", 3));
/// # Ok::<(), lambda_stream::PayloadError>(())
/// ```
pub trait RequestPayloadExt {
    /// The body as a `T`: JSON for `application/json` (and any `+json` type), form fields for
    /// `application/x-www-form-urlencoded`. `Ok(None)` for an empty body, a missing content
    /// type or any other one; an error when the body does not decode.
    fn payload<T: DeserializeOwned>(&self) -> Result<Option<T>, PayloadError>;
}

impl<B: AsRef<[u8]>> RequestPayloadExt for Request<B> {
    fn payload<T: DeserializeOwned>(&self) -> Result<Option<T>, PayloadError> {
        let body = self.body().as_ref();
        if body.is_empty() {
            return Ok(None);
        }
        let Some(content_type) = self
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(None);
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "application/x-www-form-urlencoded" {
            return serde_urlencoded::from_bytes(body)
                .map(Some)
                .map_err(|e| PayloadError::new(PayloadKind::Form, e));
        }
        let json = essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"));
        if json {
            return serde_json::from_slice(body)
                .map(Some)
                .map_err(|e| PayloadError::new(PayloadKind::Json, e));
        }
        Ok(None)
    }
}

/// The error of [`RequestPayloadExt::payload`]: the body did not decode as its content type
/// says. The cause is its `source()`.
#[derive(Debug)]
pub struct PayloadError {
    kind: PayloadKind,
    source: Box<dyn std::error::Error + Send + Sync>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayloadKind {
    Json,
    Form,
}

impl PayloadError {
    fn new(kind: PayloadKind, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        PayloadError {
            kind,
            source: Box::new(source),
        }
    }

    /// The body was declared JSON.
    pub fn is_json(&self) -> bool {
        self.kind == PayloadKind::Json
    }

    /// The body was declared `application/x-www-form-urlencoded`.
    pub fn is_form(&self) -> bool {
        self.kind == PayloadKind::Form
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            PayloadKind::Json => "cannot decode the json body",
            PayloadKind::Form => "cannot decode the form body",
        })
    }
}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use std::collections::HashMap;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Item {
        name: String,
        n: u32,
    }

    fn req(content_type: Option<&str>, body: &'static str) -> Request<Body> {
        let mut b = Request::post("/");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    }

    #[test]
    fn payload_by_content_type() {
        let want = Item {
            name: "a b".into(),
            n: 2,
        };
        let json = req(
            Some("application/json; charset=utf-8"),
            r#"{"name":"a b","n":2}"#,
        );
        assert_eq!(json.payload::<Item>().unwrap(), Some(want));
        let form = req(Some("application/x-www-form-urlencoded"), "name=a+b&n=2");
        assert_eq!(form.payload::<Item>().unwrap().unwrap().name, "a b");
        let vendor = req(Some("application/vnd.api+json"), r#"{"name":"x","n":1}"#);
        assert!(vendor.payload::<Item>().unwrap().is_some());

        assert_eq!(
            req(Some("application/json"), "").payload::<Item>().unwrap(),
            None
        );
        assert_eq!(
            req(None, r#"{"name":"x","n":1}"#)
                .payload::<Item>()
                .unwrap(),
            None
        );
        assert_eq!(
            req(Some("text/plain"), "x").payload::<Item>().unwrap(),
            None
        );

        let err = req(Some("application/json"), "{")
            .payload::<Item>()
            .unwrap_err();
        assert!(err.is_json() && !err.is_form());
        assert_eq!(err.to_string(), "cannot decode the json body");
        assert!(std::error::Error::source(&err).is_some());
        let err = req(Some("application/x-www-form-urlencoded"), "n=x")
            .payload::<Item>()
            .unwrap_err();
        assert!(err.is_form());
    }

    #[test]
    fn extensions_read_what_the_request_reads() {
        let q: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let req = Request::new(Body::empty())
            .with_query_string_parameters(q)
            .with_raw_http_path("/prod/a b")
            .with_lambda_context(Context {
                request_id: "r-1".into(),
                ..Context::default()
            });
        assert_eq!(req.raw_http_path(), "/prod/a b");
        let (parts, _) = req.into_parts();
        let ext = &parts.extensions;
        assert_eq!(ext.raw_http_path(), "/prod/a b");
        assert_eq!(ext.query_string_parameters().first("a"), Some("1"));
        assert_eq!(ext.lambda_context_ref().unwrap().request_id, "r-1");
        assert_eq!(ext.lambda_context().request_id, "r-1");
        assert!(ext.request_context_ref().is_none());
        assert!(ext.path_parameters().is_empty());

        let bare = Extensions::new();
        assert_eq!(bare.raw_http_path(), "");
        assert!(bare.lambda_context_ref().is_none());
        assert!(bare.lambda_context().request_id.is_empty());
    }
}
