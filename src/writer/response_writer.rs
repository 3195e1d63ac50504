use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

use super::{Error, Head, HeadSend, Msg, Shared};

/// Writes one invocation's response: status and headers, then chunks, then the end.
///
/// A [`stream_fn`](super::stream_fn) handler receives it by value; see the
/// [module docs](super) for how each call shows on the wire.
///
/// ```
/// use http::{HeaderMap, Request, StatusCode};
/// use http_body_util::BodyExt;
/// use lambda_stream::Body;
/// use lambda_stream::writer::{self, ResponseWriter};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lambda_stream::BoxError> {
/// let svc = writer::stream_fn(|_req: Request<Body>, mut out: ResponseWriter| async move {
///     out.write_status_and_headers(StatusCode::CREATED, HeaderMap::new())?;
///     out.write("hello ").await?;
///     out.write_and_finish("world").await
/// });
/// let res = svc.oneshot(Request::new(Body::empty())).await?;
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["content-type"], "application/octet-stream");
/// let body = res.into_body().collect().await?.to_bytes();
/// assert_eq!(body, "hello world");
/// # Ok(())
/// # }
/// ```
pub struct ResponseWriter {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Fresh,
    /// The head was sent.
    Open,
    /// The response was finished.
    Finished,
}

impl ResponseWriter {
    pub(super) fn new(tx: mpsc::Sender<Msg>, shared: Arc<Shared>) -> Self {
        ResponseWriter {
            tx,
            shared,
            state: State::Fresh,
        }
    }

    /// Sends the status and headers, before any write.
    ///
    /// Without a `content-type` header, `application/octet-stream` is added. The runtime sends
    /// them to the caller at once (as the prelude), before the first chunk.
    ///
    /// # Errors
    ///
    /// [`Error::is_head_sent`] after a write or a previous call, [`Error::is_finished`] after
    /// the response was finished, [`Error::is_closed`] when nobody reads the response any more.
    ///
    /// ```
    /// # use http::{header, HeaderMap, HeaderValue, StatusCode};
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    /// out.write_status_and_headers(StatusCode::OK, headers)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_status_and_headers(
        &mut self,
        status: StatusCode,
        headers: HeaderMap,
    ) -> Result<(), Error> {
        match self.state {
            State::Finished => Err(Error::finished()),
            State::Open => Err(Error::head_sent()),
            State::Fresh => self.send_head(Head::new(status, headers)),
        }
    }

    /// Writes a chunk; it reaches the caller as soon as the runtime has sent the ones before.
    ///
    /// Waits while the response channel is full (backpressure from the Runtime API
    /// connection). Sends the default head first if none was sent. An empty chunk sends nothing
    /// (but does send the head).
    ///
    /// # Errors
    ///
    /// [`Error::is_finished`] after the response was finished; [`Error::is_closed`] when
    /// nobody reads the response any more.
    ///
    /// ```
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// out.write("data: token\n\n").await?;
    /// out.write(bytes::Bytes::from_static(b"data: next\n\n")).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        if self.state == State::Finished {
            return Err(Error::finished());
        }
        self.ensure_head()?;
        let data = data.into();
        if data.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Msg::Data(data))
            .await
            .map_err(|_| Error::closed())
    }

    /// Ends the response: the caller sees it complete once the chunks before are sent.
    ///
    /// The handler may go on working afterwards (see the [module docs](super#where-the-handler-runs)).
    ///
    /// # Errors
    ///
    /// [`Error::is_finished`] when the response was already finished; [`Error::is_closed`]
    /// when nobody reads the response any more (it did not complete).
    ///
    /// ```
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// out.write("last words").await?;
    /// out.finish().await?;
    /// assert!(out.finish().await.unwrap_err().is_finished());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn finish(&mut self) -> Result<(), Error> {
        if self.state == State::Finished {
            return Err(Error::finished());
        }
        let head = self.ensure_head();
        self.state = State::Finished;
        self.shared.set_finished();
        head?;
        self.tx.send(Msg::Finish).await.map_err(|_| Error::closed())
    }

    /// Writes a last chunk and finishes: [`write`](Self::write) then [`finish`](Self::finish).
    ///
    /// # Errors
    ///
    /// As `write` and `finish`.
    ///
    /// ```
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// out.write_and_finish(r#"{"ok":true}"#).await?;
    /// assert!(out.is_finished());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn write_and_finish(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.write(data).await?;
        self.finish().await
    }

    /// Whether the status and headers were sent (explicitly or by a write).
    ///
    /// ```
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// assert!(!out.is_head_sent());
    /// out.write("x").await?;
    /// assert!(out.is_head_sent());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_head_sent(&self) -> bool {
        self.state != State::Fresh
    }

    /// Whether the response was finished.
    ///
    /// ```
    /// # async fn doc(mut out: lambda_stream::writer::ResponseWriter) -> Result<(), lambda_stream::writer::Error> {
    /// out.finish().await?;
    /// assert!(out.is_finished());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    fn ensure_head(&mut self) -> Result<(), Error> {
        match self.state {
            State::Fresh => self.send_head(Head::default_head()),
            State::Open | State::Finished => Ok(()),
        }
    }

    fn send_head(&mut self, head: Head) -> Result<(), Error> {
        self.state = State::Open;
        match self.shared.send_head(Ok(head)) {
            HeadSend::Sent => Ok(()),
            HeadSend::Closed => Err(Error::closed()),
            // The handler's task only sends a head once the handler returned, and it owns
            // this writer: this cannot happen, but if it does the head is not ours to send.
            HeadSend::AlreadySent(_) => Err(Error::head_sent()),
        }
    }
}

impl fmt::Debug for ResponseWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseWriter")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
