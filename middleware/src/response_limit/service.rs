use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{ResponseBody, ResponseFuture, ResponseLimitLayer};

/// Ends response bodies that would grow past a limit with an error.
///
/// See the [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct ResponseLimit<S> {
    inner: S,
    limit: u64,
}

impl<S> ResponseLimit<S> {
    /// Wraps `inner`, with bodies of at most `limit` bytes.
    pub fn new(inner: S, limit: u64) -> Self {
        ResponseLimit { inner, limit }
    }

    /// A [`ResponseLimitLayer`] with this limit.
    pub fn layer(limit: u64) -> ResponseLimitLayer {
        ResponseLimitLayer::new(limit)
    }

    define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ResponseFuture::new(self.inner.call(req), self.limit)
    }
}
