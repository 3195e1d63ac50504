//! The body posted to the Runtime API: prelude, then the handler's chunks as they come, then
//! error trailers if the handler's body fails or panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::catch_unwind::Caught;
use crate::error::types;
use crate::{BoxError, Diagnostic};

pin_project! {
    /// Wraps the handler's body for the Runtime API.
    ///
    /// - The prelude (if any) and its 8-NUL delimiter are the first two frames, so status and
    ///   headers leave at once. (Two frames, not one: the bytes on the wire differ only by a
    ///   chunk header, and emulators that read the prelude as one chunk and the delimiter as
    ///   the next, such as `cargo lambda watch`, then understand the stream.)
    /// - Each data frame of the handler is passed on as it is produced: hyper writes and
    ///   flushes it before polling for more, and polls for more only when its write buffer has
    ///   room, so a slow reader holds the handler back instead of growing memory.
    /// - An error or a panic in the handler's body ends the stream with the error trailers;
    ///   the handler's body is dropped there. It never reaches hyper as an error, which would
    ///   abort the request and lose the report.
    /// - The handler's body is dropped inside the panic boundary, as soon as it ends, fails
    ///   or panics, or when the stream is dropped unfinished: a panic in its `Drop` is logged,
    ///   and a response that was complete stays complete.
    pub(crate) struct ResponseStream<B> {
        prelude: Option<Bytes>,
        delimiter: bool,
        #[pin]
        body: Caught<B>,
        span: tracing::Span,
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
        }
    }
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
        loop {
            let Some(body) = this.body.as_mut().as_pin_mut() else {
                return Poll::Ready(None);
            };
            let diagnostic = match catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(None)) => {
                    this.body.as_mut().clear();
                    return Poll::Ready(None);
                }
                Ok(Poll::Ready(Some(Ok(frame)))) => match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    // Lambda has no use for the handler's own trailers; skip them.
                    Err(_) => continue,
                },
                Ok(Poll::Ready(Some(Err(err)))) => Diagnostic::from_error(err, types::STREAM),
                Err(panic) => Diagnostic::from_panic(&*panic),
            };
            this.body.as_mut().clear();
            tracing::error!(
                error_type = diagnostic.error_type(),
                error = diagnostic.error_message(),
                "the response body failed midway; ending the stream with error trailers"
            );
            return Poll::Ready(Some(Ok(Frame::trailers(super::error_trailers(
                &diagnostic,
            )))));
        }
    }

    fn is_end_stream(&self) -> bool {
        // Never claim the end early: the end may still bring trailers.
        self.prelude.is_none() && !self.delimiter && self.body.is_cleared()
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
        assert_eq!(data, ["{}", "\0\0\0\0\0\0\0\0", "a", "bc"]);
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
