use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::{Error, Msg};
use crate::BoxError;

/// The response body of a [`stream_fn`](super::stream_fn) service: the chunks its handler
/// writes, as it writes them.
///
/// Ends cleanly when the handler finishes (or returns `Ok`); fails with the handler's error
/// when it returns `Err` or panics after the head was sent, and with an [`Error`] that
/// [`is_abandoned`](Error::is_abandoned) when the handler's task vanished. Dropping it closes
/// the response: the handler's next write fails with [`Error::is_closed`].
///
/// See the [module docs](super) for an example.
pub struct WriterBody {
    rx: Option<mpsc::Receiver<Msg>>,
}

impl WriterBody {
    pub(super) fn new(rx: mpsc::Receiver<Msg>) -> Self {
        WriterBody { rx: Some(rx) }
    }
}

impl Body for WriterBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        let end = match ready!(rx.poll_recv(cx)) {
            Some(Msg::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Msg::Finish) => None,
            Some(Msg::Fail(err)) => Some(Err(err)),
            None => Some(Err(Error::abandoned().into())),
        };
        // Dropping the receiver tells the handler, at its next write, that nobody listens.
        self.rx = None;
        Poll::Ready(end)
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl fmt::Debug for WriterBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterBody")
            .field("ended", &self.rx.is_none())
            .finish()
    }
}
