use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{MakeInvocationSpan, ResponseBody, ResponseFuture, TraceLayer};

/// Runs the inner service, and its response body, in the invocation's span.
///
/// See the [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
    make_span: MakeInvocationSpan,
}

impl<S> Trace<S> {
    /// Wraps `inner`, with spans made by `make_span`.
    pub fn new(inner: S, make_span: MakeInvocationSpan) -> Self {
        Trace { inner, make_span }
    }

    /// A [`TraceLayer`] with spans made by [`MakeInvocationSpan::new`].
    pub fn layer() -> TraceLayer {
        TraceLayer::new()
    }

    define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Trace<S>
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
        let span = self.make_span.make(&req);
        let future = span.in_scope(|| self.inner.call(req));
        ResponseFuture::new(future, span)
    }
}
