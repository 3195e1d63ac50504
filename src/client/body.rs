//! The one body type of every request on a worker's connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::wire::ResponseStream;
use crate::BoxError;

pin_project! {
    /// What a request to the Runtime API carries: nothing, a small buffered body (`/error`),
    /// or the streamed response. One connection type serves them all, without boxing.
    #[project = OutgoingProj]
    pub(crate) enum Outgoing<B> {
        Full { data: Option<Bytes> },
        Stream { #[pin] body: ResponseStream<B> },
    }
}

impl<B> Outgoing<B> {
    pub(crate) fn empty() -> Self {
        Outgoing::Full { data: None }
    }

    pub(crate) fn full(data: Bytes) -> Self {
        Outgoing::Full { data: Some(data) }
    }

    pub(crate) fn stream(body: ResponseStream<B>) -> Self {
        Outgoing::Stream { body }
    }
}

impl<B> Body for Outgoing<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.project() {
            OutgoingProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            OutgoingProj::Stream { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Full { data } => data.is_none(),
            Outgoing::Stream { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Outgoing::Stream { body } => body.size_hint(),
        }
    }
}
