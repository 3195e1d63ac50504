use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::{Response, StatusCode};
use http_body::Body;
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
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let margin = *this.margin;
        // The service first: a response it has ready is taken, even past the cutoff.
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let response = result?;
            let late = this.cutoff.is_some_and(|at| Instant::now() >= at);
            if late && response.body().size_hint().upper().is_none() {
                // A stream of unknown length would be cut at its first chunk: answer while no
                // head has gone out.
                tracing::error!(
                    margin = ?margin,
                    "a streaming response came {margin:?} or less before the invocation deadline; answering 504 instead"
                );
                return Poll::Ready(Ok(timed_out(*this.raw, margin)));
            }
            let cutoff = *this.cutoff;
            return Poll::Ready(Ok(
                response.map(|body| ResponseBody::new(body, cutoff, margin))
            ));
        }
        let Some(sleep) = this.sleep.as_pin_mut() else {
            return Poll::Pending;
        };
        ready!(sleep.poll(cx));
        tracing::error!(
            margin = ?margin,
            "no response yet {margin:?} before the invocation deadline; answering 504"
        );
        Poll::Ready(Ok(timed_out(*this.raw, margin)))
    }
}

/// The answer for a service out of time: `504` with an empty body, or for a raw invocation
/// (no status to show) a body that fails at once.
fn timed_out<B>(raw: bool, margin: Duration) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::timed_out(raw, margin));
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("cutoff", &self.cutoff)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}
