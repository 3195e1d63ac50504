//! A response body made from a stream of chunks, that every layer can poll.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// A response body made from a [`Stream`] of chunks: each `Ok` item is a chunk of the
    /// body, sent as soon as the stream yields it; an `Err` item fails the body there (a
    /// streamed response then ends with error trailers, see [`Diagnostic`](crate::Diagnostic)).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// use futures_util::stream;
    /// use lambda_stream::http::Response;
    /// use lambda_stream::StreamBody;
    ///
    /// let lines = stream::unfold(1, |n| async move {
    ///     if n > 3 {
    ///         return None;
    ///     }
    ///     tokio::time::sleep(Duration::from_millis(300)).await;
    ///     Some((Ok::<_, Infallible>(format!("line {n}\n")), n + 1))
    /// });
    /// let response = Response::new(StreamBody::new(lines));
    /// # drop(response);
    /// ```
    ///
    /// A chunk is anything that converts into [`Bytes`] (`String`, `Vec<u8>`,
    /// `&'static str`, `Bytes`), the error anything that converts into a
    /// [`BoxError`](crate::BoxError). It takes the stream as it is, unboxed, and adds one flag.
    ///
    /// # Polled after its end
    ///
    /// Once the stream has ended (or failed), the body is ended: polled again, it answers
    /// `None` without polling the stream, and [`is_end_stream`](http_body::Body::is_end_stream)
    /// is `true`. Many streams panic when polled after their end (`futures_util`'s
    /// `stream::unfold` does: "`Unfold` must not be polled after it returned
    /// `Poll::Ready(None)`"), and some layers do poll a body again after it ended: tower-http's
    /// `CompressionLayer` does, to read trailers after the compressed data (tower-http issue
    /// #732). Behind it, a body over such a stream panics at the end of every compressed
    /// response: every gzip caller (every browser) loses the last chunk and sees the
    /// connection aborted. This body is safe behind any layer, whatever the stream.
    /// (`http_body_util::StreamBody` over a stream fused with `StreamExt::fuse` is too.)
    pub struct StreamBody<S> {
        #[pin]
        stream: S,
        ended: bool,
    }
}

impl<S> StreamBody<S> {
    /// A body of the chunks of `stream`.
    pub fn new(stream: S) -> Self {
        StreamBody {
            stream,
            ended: false,
        }
    }

    /// The stream, back.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, D, E> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<D, E>>,
    D: Into<Bytes>,
{
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        match this.stream.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(Frame::data(chunk.into())))),
            Poll::Ready(Some(Err(err))) => {
                *this.ended = true;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                *this.ended = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

impl<S> fmt::Debug for StreamBody<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::poll_fn;

    use futures_util::stream;
    use http_body::Body as _;

    use super::*;

    /// A stream that panics when polled after its end, as `stream::unfold` does.
    fn unfused(
        chunks: &'static [&'static str],
    ) -> impl Stream<Item = Result<&'static str, Infallible>> {
        stream::unfold(0, move |i| async move {
            (i < chunks.len()).then(|| (Ok(chunks[i]), i + 1))
        })
    }

    async fn next<B: http_body::Body + Unpin>(
        body: &mut B,
    ) -> Option<Result<Frame<B::Data>, B::Error>> {
        poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    #[tokio::test]
    async fn polled_after_its_end_it_stays_ended() {
        let mut body = StreamBody::new(Box::pin(unfused(&["a", "bc"])));
        assert!(!body.is_end_stream());
        let mut data = Vec::new();
        while let Some(frame) = next(&mut body).await {
            data.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(data, b"abc");
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        for _ in 0..3 {
            assert!(next(&mut body).await.is_none());
        }
    }

    #[tokio::test]
    async fn a_failed_stream_ends_the_body() {
        let failing = stream::unfold(0, |i| async move {
            match i {
                0 => Some((Ok(Bytes::from_static(b"first")), 1)),
                1 => Some((Err("gone"), 2)),
                _ => None,
            }
        });
        let mut body = StreamBody::new(Box::pin(failing));
        assert!(next(&mut body).await.unwrap().is_ok());
        assert_eq!(next(&mut body).await.unwrap().unwrap_err(), "gone");
        assert!(body.is_end_stream());
        assert!(next(&mut body).await.is_none());
    }
}
