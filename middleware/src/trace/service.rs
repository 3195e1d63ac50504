use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{MakeInvocationSpan, ResponseBody, ResponseFuture};

/// Runs the inner service, and its response body, in the invocation's span.
///
/// See the [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct InvocationSpan<S> {
    inner: S,
    make: MakeInvocationSpan,
}

impl<S> InvocationSpan<S> {
    /// Wraps `inner`, with spans made by `make`.
    pub fn new(inner: S, make: MakeInvocationSpan) -> Self {
        InvocationSpan { inner, make }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for InvocationSpan<S>
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
        let span = self.make.make(&req);
        let future = span.in_scope(|| self.inner.call(req));
        ResponseFuture::new(future, span)
    }
}
