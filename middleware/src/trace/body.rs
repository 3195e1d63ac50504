use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

pin_project! {
    /// The response body of [`Trace`](super::Trace): the inner body, polled
    /// in the span, so what the body logs while it streams is attributed to the invocation.
    ///
    /// See the [module docs](super) for an example.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        span: Span,
    }
}

/// An empty inner body outside any span, as layers that answer on their own make one
/// (tower-http's `CorsLayer` for a preflight request).
impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        ResponseBody::new(B::default(), Span::none())
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn new(inner: B, span: Span) -> Self {
        ResponseBody { inner, span }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}
