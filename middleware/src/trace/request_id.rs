use http::{HeaderValue, Request};
use lambda_stream::Context;
use tower_http::request_id::{MakeRequestId, RequestId};

/// Uses the Lambda request id as the request id of tower-http's `SetRequestIdLayer`.
///
/// Requests without a Lambda [`Context`] (or with an id that is not a valid header value) get
/// none, and the layer leaves them alone. See the [module docs](super) for an example.
///
/// ```
/// use bytes::Bytes;
/// use http::Request;
/// use lambda_stream::{Context, RequestExt};
/// use lambda_stream_middleware::trace::LambdaRequestId;
/// use tower_http::request_id::MakeRequestId;
///
/// let mut ctx = Context::default();
/// ctx.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
/// let req = Request::new(lambda_stream::Body::empty()).with_lambda_context(ctx);
/// let id = LambdaRequestId.make_request_id(&req).unwrap();
/// assert_eq!(id.header_value(), "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaRequestId;

impl MakeRequestId for LambdaRequestId {
    fn make_request_id<B>(&mut self, request: &Request<B>) -> Option<RequestId> {
        let ctx = request.extensions().get::<Context>()?;
        let value = HeaderValue::from_str(&ctx.request_id).ok()?;
        Some(RequestId::new(value))
    }
}
