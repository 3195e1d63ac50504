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
    /// or the streamed response. One connection type serves them all.
    ///
    /// The streamed response is boxed: hyper's connection keeps a channel of requests whose
    /// first block of 32 slots is allocated with the connection, so every byte of this type
    /// costs every worker 32 bytes, for as long as it lives (a box is one allocation of a
    /// few hundred bytes per streamed response).
    #[project = OutgoingProj]
    pub(crate) enum Outgoing<B> {
        Full { data: Option<Bytes> },
        Stream { body: Pin<Box<ResponseStream<B>>> },
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
        Outgoing::Stream {
            body: Box::pin(body),
        }
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
            OutgoingProj::Stream { body } => body.as_mut().poll_frame(cx),
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
