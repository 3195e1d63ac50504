//! The body posted to the Runtime API: prelude, then the handler's chunks as they come, then
//! error trailers if the handler's body fails or panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::catch_unwind::Caught;
use crate::error::types;
use crate::{BoxError, Diagnostic};

/// A ready chunk smaller than this is joined with the chunks that are ready right after it,
/// up to this many bytes in all, into one frame: one chunk on the wire, one write.
const COALESCE_LIMIT: usize = 16 * 1024;

pin_project! {
    /// Wraps the handler's body for the Runtime API.
    ///
    /// - The prelude (if any) and its 8-NUL delimiter are the first two frames, so status and
    ///   headers leave at once. (Two frames, not one: the bytes on the wire differ only by a
    ///   chunk header, and emulators that read the prelude as one chunk and the delimiter as
    ///   the next, such as `cargo lambda watch`, then understand the stream.)
    /// - Each data frame of the handler is passed on as soon as it is produced. Small chunks
    ///   that are ready together (the handler's body has more at once, as a channel fed by a
    ///   fast producer does) leave as one frame of up to [`COALESCE_LIMIT`] bytes: the body
    ///   is polled again only while it is ready, so no chunk ever waits for a later one.
    ///   hyper writes and flushes each frame before polling for more, and polls for more only
    ///   when its write buffer has room, so a slow reader holds the handler back instead of
    ///   growing memory.
    /// - An error or a panic in the handler's body ends the stream with the error trailers
    ///   (after the data that was ready before it); the handler's body is dropped there. It
    ///   never reaches hyper as an error, which would abort the request and lose the report.
    /// - The handler's body is dropped inside the panic boundary, as soon as it ends, fails
    ///   or panics, or when the stream is dropped unfinished: a panic in its `Drop` is logged,
    ///   and a response that was complete stays complete.
    pub(crate) struct ResponseStream<B> {
        prelude: Option<Bytes>,
        delimiter: bool,
        #[pin]
        body: Caught<B>,
        span: tracing::Span,
        // A ready chunk that did not fit in the last frame: the start of the next one.
        held: Option<Bytes>,
        // The error trailers, once the data before them has left.
        trailers: Option<HeaderMap>,
    }

    impl<B> PinnedDrop for ResponseStream<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Here rather than in `Caught`'s own drop: a log line belongs to the invocation.
            let _entered = this.span.enter();
            this.body.clear();
        }
    }
}

impl<B> ResponseStream<B> {
    pub(crate) fn new(prelude: Option<Bytes>, body: B, span: tracing::Span) -> Self {
        ResponseStream {
            delimiter: prelude.is_some(),
            prelude,
            body: Caught::new(body, "the response body"),
            span,
            held: None,
            trailers: None,
        }
    }
}

/// What the handler's body gave, its own trailers skipped.
enum Step {
    Data(Bytes),
    End,
    Failed(Diagnostic),
}

/// Polls the handler's body for its next data, catching its panics.
fn poll_data<B>(mut body: Pin<&mut B>, cx: &mut Context<'_>) -> Poll<Step>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    loop {
        return match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(None)) => Poll::Ready(Step::End),
            Ok(Poll::Ready(Some(Ok(frame)))) => match frame.into_data() {
                Ok(mut data) => Poll::Ready(Step::Data(data.copy_to_bytes(data.remaining()))),
                // Lambda has no use for the handler's own trailers; skip them.
                Err(_) => continue,
            },
            Ok(Poll::Ready(Some(Err(err)))) => {
                Poll::Ready(Step::Failed(Diagnostic::from_error(err, types::STREAM)))
            }
            Err(panic) => Poll::Ready(Step::Failed(Diagnostic::from_panic(&*panic))),
        };
    }
}

/// The error trailers that end a stream whose body failed midway.
fn failed(diagnostic: &Diagnostic) -> HeaderMap {
    tracing::error!(
        error_type = diagnostic.error_type(),
        error = diagnostic.error_message(),
        "the response body failed midway; ending the stream with error trailers"
    );
    super::error_trailers(diagnostic)
}

impl<B> Body for ResponseStream<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        // The body is polled on the connection's task: log lines of the handler's body
        // belong to its invocation (and carry its request id) all the same.
        let _entered = this.span.enter();
        if let Some(prelude) = this.prelude.take() {
            return Poll::Ready(Some(Ok(Frame::data(prelude))));
        }
        if std::mem::take(this.delimiter) {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&super::DELIMITER)))));
        }
        let first = match this.held.take() {
            Some(held) => held,
            None => {
                let Some(body) = this.body.as_mut().as_pin_mut() else {
                    return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
                };
                match ready!(poll_data(body, cx)) {
                    Step::Data(data) => data,
                    Step::End => {
                        this.body.as_mut().clear();
                        return Poll::Ready(None);
                    }
                    Step::Failed(diagnostic) => {
                        this.body.as_mut().clear();
                        return Poll::Ready(Some(Ok(Frame::trailers(failed(&diagnostic)))));
                    }
                }
            }
        };
        // Join what else is ready now; never wait for it.
        let mut joined: Option<BytesMut> = None;
        while first.len() < COALESCE_LIMIT {
            let Some(body) = this.body.as_mut().as_pin_mut() else {
                break;
            };
            match poll_data(body, cx) {
                Poll::Pending => break,
                Poll::Ready(Step::Data(data)) => {
                    let len = joined.as_ref().map_or(first.len(), BytesMut::len);
                    if len + data.len() > COALESCE_LIMIT {
                        *this.held = Some(data);
                        break;
                    }
                    joined
                        .get_or_insert_with(|| {
                            let mut buf = BytesMut::with_capacity(
                                COALESCE_LIMIT.min(8 * (first.len() + data.len())),
                            );
                            buf.extend_from_slice(&first);
                            buf
                        })
                        .extend_from_slice(&data);
                }
                Poll::Ready(Step::End) => {
                    this.body.as_mut().clear();
                    break;
                }
                Poll::Ready(Step::Failed(diagnostic)) => {
                    this.body.as_mut().clear();
                    *this.trailers = Some(failed(&diagnostic));
                    break;
                }
            }
        }
        let data = joined.map_or(first, BytesMut::freeze);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        // Never claim the end early: the end may still bring trailers.
        self.prelude.is_none()
            && !self.delimiter
            && self.body.is_cleared()
            && self.held.is_none()
            && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Deliberately inexact, so that the request is always sent chunked.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ERROR_BODY, ERROR_TYPE};
    use http_body_util::BodyExt;

    struct Script(Vec<Step>);
    enum Step {
        Data(&'static str),
        Fail(&'static str),
        Panic,
    }
    impl Body for Script {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.0.is_empty() {
                return Poll::Ready(None);
            }
            match self.0.remove(0) {
                Step::Data(s) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(s.as_bytes())))))
                }
                Step::Fail(s) => Poll::Ready(Some(Err(s.into()))),
                Step::Panic => panic!("body exploded"),
            }
        }
    }

    async fn frames(body: ResponseStream<Script>) -> Vec<Frame<Bytes>> {
        let mut body = std::pin::pin!(body);
        let mut out = vec![];
        while let Some(f) = body.frame().await {
            out.push(f.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn prelude_then_chunks_then_end() {
        let b = ResponseStream::new(
            Some(Bytes::from_static(b"{}")),
            Script(vec![Step::Data("a"), Step::Data("bc")]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        let data: Vec<_> = f.iter().map(|f| f.data_ref().unwrap().clone()).collect();
        // The two chunks were ready at once: one frame.
        assert_eq!(data, ["{}", "\0\0\0\0\0\0\0\0", "abc"]);
    }

    #[tokio::test]
    async fn a_ready_chunk_never_waits_for_the_next() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let body = http_body_util::StreamBody::new(futures_util_stream(rx));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        // Both ready: one frame, at once, although the sender is still open.
        let f = stream.frame().await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "ab");
        // Nothing ready: the next frame waits for the next chunk, then takes it alone.
        let next = stream.frame();
        tx.send(Bytes::from_static(b"c")).await.unwrap();
        let f = next.await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "c");
        drop(tx);
        assert!(stream.frame().await.is_none());
        assert!(stream.is_end_stream());
    }

    /// The receiver as a stream of data frames.
    fn futures_util_stream(
        mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> {
        futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
        })
    }

    #[tokio::test]
    async fn joined_frames_stay_under_the_limit_in_order() {
        // 1000 ready chunks of 100 bytes, each byte telling its chunk.
        let chunks: Vec<Bytes> = (0..1000u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 100]))
            .collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, BoxError>(Frame::data(c))),
        ));
        let mut stream = std::pin::pin!(ResponseStream::new(None, body, tracing::Span::none()));
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(f) = stream.frame().await {
            let data = f.unwrap().into_data().unwrap();
            assert!(data.len() <= COALESCE_LIMIT, "{}", data.len());
            got.extend_from_slice(&data);
            frames += 1;
        }
        assert_eq!(got, expected);
        // 100,000 bytes in frames of at most 16 KiB (163 whole chunks): 7 frames.
        assert_eq!(frames, 7);
    }

    #[tokio::test]
    async fn a_large_chunk_is_passed_on_as_it_is() {
        let big = Bytes::from(vec![b'x'; COALESCE_LIMIT]);
        let at = big.as_ptr();
        let b = ResponseStream::new(None, http_body_util::Full::new(big), tracing::Span::none());
        let mut b = std::pin::pin!(b);
        let data = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data.as_ptr(), at, "copied");
        assert_eq!(data.len(), COALESCE_LIMIT);
    }

    #[tokio::test]
    async fn data_ready_before_an_error_leaves_before_the_trailers() {
        let b = ResponseStream::new(
            None,
            Script(vec![
                Step::Data("a"),
                Step::Data("b"),
                Step::Fail("db gone"),
            ]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].data_ref().unwrap(), "ab");
        assert_eq!(
            f[1].trailers_ref().unwrap()[ERROR_TYPE],
            "Function.StreamError"
        );
    }

    #[tokio::test]
    async fn an_error_becomes_trailers_and_stops() {
        let b = ResponseStream::new(
            None,
            Script(vec![
                Step::Data("a"),
                Step::Fail("db gone"),
                Step::Data("never"),
            ]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f.len(), 2);
        let t = f[1].trailers_ref().unwrap();
        assert_eq!(t[ERROR_TYPE], "Function.StreamError");
        assert!(t.contains_key(ERROR_BODY));
    }

    #[tokio::test]
    async fn the_body_is_polled_inside_the_invocation_span() {
        // The connection's task polls the body outside any span: the handler's log lines
        // from its body must still belong to the invocation (and carry its request id).
        struct SeesSpan(Option<Option<tracing::span::Id>>);
        impl Body for SeesSpan {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                self.0 = Some(tracing::Span::current().id());
                Poll::Ready(None)
            }
        }
        let subscriber = tracing_subscriber::registry();
        let _default = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("invocation", request_id = "req-1");
        assert!(span.id().is_some());
        let mut inner = SeesSpan(None);
        {
            let mut stream = std::pin::pin!(ResponseStream::new(None, &mut inner, span.clone()));
            assert!(stream.frame().await.is_none());
        }
        assert_eq!(inner.0, Some(span.id()));
    }

    #[tokio::test]
    async fn a_panic_becomes_trailers() {
        let b = ResponseStream::new(
            None,
            Script(vec![Step::Data("a"), Step::Panic]),
            tracing::Span::none(),
        );
        let f = frames(b).await;
        assert_eq!(f[1].trailers_ref().unwrap()[ERROR_TYPE], "Function.Panic");
    }
}
