use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::{Response, StatusCode};
use lambda_stream::BoxError;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::ResponseBody;

pin_project! {
    /// The response future of [`Deadline`](super::Deadline).
    ///
    /// See the [module docs](super) for an example.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        cutoff: Option<Instant>,
        margin: Duration,
        raw: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, cutoff: Option<Instant>, margin: Duration, raw: bool) -> Self {
        ResponseFuture {
            inner,
            sleep: cutoff.map(tokio::time::sleep_until),
            cutoff,
            margin,
            raw,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let response = result?;
            return Poll::Ready(Ok(
                response.map(|body| ResponseBody::new(body, *this.cutoff, *this.margin))
            ));
        }
        let Some(sleep) = this.sleep.as_pin_mut() else {
            return Poll::Pending;
        };
        ready!(sleep.poll(cx));
        tracing::error!(
            margin = ?this.margin,
            "no response yet {:?} before the invocation deadline; answering 504",
            this.margin,
        );
        let mut response = Response::new(ResponseBody::timed_out(*this.raw, *this.margin));
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        Poll::Ready(Ok(response))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("cutoff", &self.cutoff)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}
