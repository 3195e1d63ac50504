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
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use futures_util::stream;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full, StreamBody};
    use tower::{service_fn, Layer, ServiceExt};

    use super::super::{ResponseLimitLayer, ERROR_TYPE};
    use super::*;

    fn chunks(
        sizes: &'static [usize],
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        StreamBody::new(stream::iter(
            sizes
                .iter()
                .map(|n| Ok(Frame::data(Bytes::from(vec![b'x'; *n])))),
        ))
    }

    #[tokio::test]
    async fn whole_chunks_up_to_the_limit_then_an_error() {
        let svc = ResponseLimitLayer::new(10).layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(chunks(&[4, 6, 1, 1])))
        }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        let mut body = std::pin::pin!(res.into_body());
        let mut sent = 0;
        let err = loop {
            match body.frame().await.expect("an error, not a clean end") {
                Ok(frame) => sent += frame.into_data().unwrap().len(),
                Err(err) => break err,
            }
        };
        assert_eq!(sent, 10, "exactly the limit, in whole chunks");
        let d = err.downcast::<Diagnostic>().unwrap();
        assert_eq!(d.error_type(), ERROR_TYPE);
        assert!(d.error_message().contains("10-byte limit"), "{d}");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_untouched() {
        let svc = ResponseLimitLayer::new(10).layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"0123456789"))))
        }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.body().size_hint().exact(), Some(10));
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "0123456789");
    }
}
