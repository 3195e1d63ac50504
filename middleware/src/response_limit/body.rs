use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use lambda_stream::{BoxError, Diagnostic};
use pin_project_lite::pin_project;

use super::ERROR_TYPE;

pin_project! {
    /// The response body of [`ResponseLimit`](super::ResponseLimit): the inner body, ended
    /// with a `Function.ResponseSizeTooLarge` error instead of the chunk that would take it
    /// over the limit.
    ///
    /// See the [module docs](super) for an example.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        limit: u64,
        sent: u64,
        done: bool,
    }
}

/// An empty inner body under Lambda's cap, as layers that answer on their own make one
/// (tower-http's `CorsLayer` for a preflight request).
impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        ResponseBody::new(B::default(), super::LAMBDA_STREAMING_CAP)
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn new(inner: B, limit: u64) -> Self {
        ResponseBody {
            inner,
            limit,
            sent: 0,
            done: false,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let frame = match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => {
                *this.done = true;
                return Poll::Ready(Some(Err(err.into())));
            }
            None => {
                *this.done = true;
                return Poll::Ready(None);
            }
        };
        if let Some(data) = frame.data_ref() {
            let total = this.sent.saturating_add(data.remaining() as u64);
            if total > *this.limit {
                *this.done = true;
                tracing::error!(
                    limit = *this.limit,
                    sent = *this.sent,
                    "the response body would pass its size limit; ending it with an error"
                );
                return Poll::Ready(Some(Err(Box::new(Diagnostic::new(
                    ERROR_TYPE,
                    format!(
                        "the response body was cut at {} bytes: the next chunk would pass the {}-byte limit",
                        this.sent, this.limit
                    ),
                )))));
            }
            *this.sent = total;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            return SizeHint::with_exact(0);
        }
        let hint = self.inner.size_hint();
        let room = self.limit.saturating_sub(self.sent);
        if hint.upper().is_some_and(|upper| upper <= room) {
            return hint;
        }
        // The body may be cut, after any number of its whole chunks, but never passes the limit.
        let mut capped = SizeHint::new();
        capped.set_upper(room);
        capped
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("limit", &self.limit)
            .field("sent", &self.sent)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
