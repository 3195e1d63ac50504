use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;

pin_project! {
    /// The response future of [`ResponseLimit`](super::ResponseLimit).
    ///
    /// See the [module docs](super) for an example.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        limit: u64,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, limit: u64) -> Self {
        ResponseFuture { inner, limit }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let limit = *this.limit;
        Poll::Ready(Ok(response.map(|body| ResponseBody::new(body, limit))))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
