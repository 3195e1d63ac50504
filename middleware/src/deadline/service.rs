use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use http::{Request, Response};
use lambda_stream::{BoxError, Context, RequestContext};
use tokio::time::Instant;
use tower_service::Service;

use super::{DeadlineLayer, ResponseBody, ResponseFuture};

/// Answers or ends the response a safety margin before the invocation's deadline.
///
/// See the [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    margin: Duration,
}

impl<S> Deadline<S> {
    /// Wraps `inner`, acting `margin` before each invocation's deadline.
    pub fn new(inner: S, margin: Duration) -> Self {
        Deadline { inner, margin }
    }

    /// A [`DeadlineLayer`] with this margin.
    pub fn layer(margin: Duration) -> DeadlineLayer {
        DeadlineLayer::new(margin)
    }

    define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Deadline<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let cutoff = req
            .extensions()
            .get::<Context>()
            .and_then(Context::deadline_instant)
            .map(|deadline| {
                let at = deadline
                    .checked_sub(self.margin)
                    .unwrap_or_else(Instant::now);
                Cutoff { at }
            });
        // Without an HTTP request context, the invocation is a raw one: no status to show.
        let raw = req.extensions().get::<RequestContext>().is_none();
        if let Some(cutoff) = cutoff {
            req.extensions_mut().insert(cutoff);
        }
        ResponseFuture::new(self.inner.call(req), cutoff.map(|c| c.at), self.margin, raw)
    }
}

/// When the [`Deadline`] middleware will act: in the request's extensions.
///
/// A handler that streams for long can check it and wind down first (close its JSON array,
/// send a last event), rather than being cut with an error.
///
/// ```
/// use http::Request;
/// use lambda_stream::Body;
/// use lambda_stream_middleware::deadline::Cutoff;
///
/// fn time_left(req: &Request<Body>) -> Option<std::time::Duration> {
///     req.extensions().get::<Cutoff>().map(Cutoff::remaining)
/// }
/// assert!(time_left(&Request::new(Body::empty())).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    at: Instant,
}

impl Cutoff {
    /// The instant the middleware acts, on tokio's clock.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// The time left before it acts (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}
