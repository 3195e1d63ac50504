use http::{HeaderValue, Request};
use lambda_stream::Context;

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

impl LambdaRequestId {
    /// The request id's header value: the Lambda request id, if there is one and it is a
    /// valid header value.
    fn value<B>(request: &Request<B>) -> Option<HeaderValue> {
        let ctx = request.extensions().get::<Context>()?;
        HeaderValue::from_str(&ctx.request_id).ok()
    }
}

#[cfg(feature = "tower-http")]
impl tower_http::request_id::MakeRequestId for LambdaRequestId {
    fn make_request_id<B>(
        &mut self,
        request: &Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        Self::value(request).map(tower_http::request_id::RequestId::new)
    }
}

#[cfg(feature = "tower-http-06")]
impl tower_http_06::request_id::MakeRequestId for LambdaRequestId {
    fn make_request_id<B>(
        &mut self,
        request: &Request<B>,
    ) -> Option<tower_http_06::request_id::RequestId> {
        Self::value(request).map(tower_http_06::request_id::RequestId::new)
    }
}
