//! Reading what the event carried from a request: [`RequestExt`].

use aws_lambda_events::alb::AlbTargetGroupRequestContext;
use aws_lambda_events::apigw::{ApiGatewayProxyRequestContext, ApiGatewayV2httpRequestContext};
use aws_lambda_events::query_map::QueryMap;
use http::Request;

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
/// ```
pub trait RequestExt {
    /// The path as the event gave it (`rawPath`, or `path` for REST, which leaves out the
    /// stage); the URI's path when the request did not come from an HTTP event.
    fn raw_http_path(&self) -> &str;

    /// The query string parameters, repeated keys kept (`?tag=a&tag=b` gives two values).
    /// Parsed from the URI when the request did not come from an HTTP event.
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

    /// The Lambda context; a default one when the request did not come from the runtime.
    fn lambda_context(&self) -> Context;

    /// The Lambda context, by reference.
    fn lambda_context_ref(&self) -> Option<&Context>;

    /// Replaces the Lambda context (for tests).
    fn with_lambda_context(self, context: Context) -> Self;
}

impl<B> RequestExt for Request<B> {
    fn raw_http_path(&self) -> &str {
        self.extensions()
            .get::<RawHttpPath>()
            .map(|p| p.0.as_str())
            .unwrap_or_else(|| self.uri().path())
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
        self.extensions()
            .get::<QueryStringParameters>()
            .map(|q| &q.0)
    }

    fn with_query_string_parameters<Q: Into<QueryMap>>(mut self, parameters: Q) -> Self {
        self.extensions_mut()
            .insert(QueryStringParameters(parameters.into()));
        self
    }

    fn path_parameters(&self) -> QueryMap {
        self.path_parameters_ref().cloned().unwrap_or_default()
    }

    fn path_parameters_ref(&self) -> Option<&QueryMap> {
        self.extensions().get::<PathParameters>().map(|p| &p.0)
    }

    fn with_path_parameters<P: Into<QueryMap>>(mut self, parameters: P) -> Self {
        self.extensions_mut()
            .insert(PathParameters(parameters.into()));
        self
    }

    fn stage_variables(&self) -> QueryMap {
        self.stage_variables_ref().cloned().unwrap_or_default()
    }

    fn stage_variables_ref(&self) -> Option<&QueryMap> {
        self.extensions().get::<StageVariables>().map(|v| &v.0)
    }

    fn with_stage_variables<V: Into<QueryMap>>(mut self, variables: V) -> Self {
        self.extensions_mut()
            .insert(StageVariables(variables.into()));
        self
    }

    fn request_context(&self) -> Option<RequestContext> {
        self.request_context_ref().cloned()
    }

    fn request_context_ref(&self) -> Option<&RequestContext> {
        self.extensions().get::<RequestContext>()
    }

    fn with_request_context(mut self, context: RequestContext) -> Self {
        self.extensions_mut().insert(context);
        self
    }

    fn lambda_context(&self) -> Context {
        self.lambda_context_ref().cloned().unwrap_or_default()
    }

    fn lambda_context_ref(&self) -> Option<&Context> {
        self.extensions().get::<Context>()
    }

    fn with_lambda_context(mut self, context: Context) -> Self {
        self.extensions_mut().insert(context);
        self
    }
}
