use crate::Body;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use tokio::sync::{mpsc, oneshot};
use tower_service::Service;
use tracing::Instrument;

use super::{Error, Head, HeadResult, HeadSend, Msg, ResponseWriter, Shared, WriterBody};
use crate::catch_unwind::CatchUnwind;
use crate::error::error_chain;
use crate::{BoxError, Diagnostic};

/// How many messages (chunks) the channel between a writer and its body holds by default.
const DEFAULT_CAPACITY: usize = 8;

/// Adapts a writer-style handler into a tower service.
///
/// `handler` is called with each request and a [`ResponseWriter`]; the future it returns runs
/// in its own task. The service's response has a [`WriterBody`]; its error is the handler's
/// error (boxed) when the handler fails before sending the head. See the
/// [module docs](super) for the whole story.
///
/// ```
/// use http::Request;
/// use http_body_util::BodyExt;
/// use lambda_stream::Body;
/// use lambda_stream::writer::{stream_fn, ResponseWriter};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lambda_stream::BoxError> {
/// let svc = stream_fn(|req: Request<Body>, mut out: ResponseWriter| async move {
///     out.write(req.into_body().into_bytes()).await
/// });
/// let res = svc.oneshot(Request::new(Body::from("echo"))).await?;
/// assert_eq!(res.into_body().collect().await?.to_bytes(), "echo");
/// # Ok(())
/// # }
/// ```
pub fn stream_fn<F>(handler: F) -> StreamFn<F> {
    StreamFn {
        handler,
        capacity: DEFAULT_CAPACITY,
    }
}

/// The service [`stream_fn`] returns.
///
/// See the [module docs](super) for an example.
#[derive(Clone, Copy)]
pub struct StreamFn<F> {
    handler: F,
    capacity: usize,
}

impl<F> StreamFn<F> {
    /// How many chunks may wait between the handler and the Runtime API connection before a
    /// [`write`](ResponseWriter::write) waits (default 8; at least 1).
    ///
    /// ```
    /// use lambda_stream::Body;
    /// # use lambda_stream::writer::{stream_fn, ResponseWriter};
    /// let svc = stream_fn(|_req: http::Request<Body>, mut out: ResponseWriter| async move {
    ///     out.write_and_finish("one chunk").await
    /// })
    /// .channel_capacity(1);
    /// # let _ = svc;
    /// ```
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

impl<F, Fut, E> Service<Request<Body>> for StreamFn<F>
where
    F: FnMut(Request<Body>, ResponseWriter) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Response = Response<WriterBody>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Starts the handler in a new task (in the current tracing span).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (tx, rx) = mpsc::channel(self.capacity);
        let (head_tx, head_rx) = oneshot::channel();
        let shared = Arc::new(Shared::new(head_tx));
        let writer = ResponseWriter::new(tx.clone(), shared.clone());
        let handler = (self.handler)(req, writer);
        tokio::spawn(supervise(handler, tx, shared).instrument(tracing::Span::current()));
        ResponseFuture {
            head: head_rx,
            rx: Some(rx),
        }
    }
}

/// Runs the handler, then settles the response by its outcome.
async fn supervise<Fut, E>(handler: Fut, tx: mpsc::Sender<Msg>, shared: Arc<Shared>)
where
    Fut: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    let outcome: Result<(), BoxError> = match CatchUnwind::new(handler).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.into()),
        Err(panic) => Err(Box::new(Diagnostic::from_panic(&*panic))),
    };
    match outcome {
        Ok(()) => {
            if shared.is_finished() {
                return;
            }
            // Returning is finishing; with no head yet, the default one and an empty body.
            let _ = shared.send_head(Ok(Head::default_head()));
            // Fails only when nobody reads the response any more: nothing to finish.
            let _ = tx.send(Msg::Finish).await;
        }
        Err(err) => {
            let err = match shared.send_head(Err(err)) {
                // Before the head: the service's future fails, the runtime reports to /error.
                HeadSend::Sent | HeadSend::Closed => return,
                HeadSend::AlreadySent(Err(err)) => err,
                HeadSend::AlreadySent(Ok(_)) => return,
            };
            if shared.is_finished() {
                tracing::error!(
                    error = %error_chain(&*err),
                    "the handler failed after it finished its response; the response is complete"
                );
                return;
            }
            // After the head: the body ends with the error, the runtime sends error trailers.
            if let Err(mpsc::error::SendError(Msg::Fail(err))) = tx.send(Msg::Fail(err)).await {
                tracing::error!(
                    error = %error_chain(&*err),
                    "the handler failed after its response was closed"
                );
            }
        }
    }
}

/// The future of a [`StreamFn`] call: resolves with the head as soon as the handler sends it.
///
/// See the [module docs](super) for an example.
pub struct ResponseFuture {
    head: oneshot::Receiver<HeadResult>,
    rx: Option<mpsc::Receiver<Msg>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<WriterBody>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.rx.is_none() {
            // Polled again after it resolved (a misuse of the future): fail, do not panic.
            return Poll::Ready(Err(Error::abandoned().into()));
        }
        let head = ready!(Pin::new(&mut self.head).poll(cx));
        let rx = self.rx.take();
        let head = match (head, rx) {
            (Ok(Ok(head)), Some(rx)) => (head, rx),
            (Ok(Err(err)), _) => return Poll::Ready(Err(err)),
            (Err(_), _) | (_, None) => return Poll::Ready(Err(Error::abandoned().into())),
        };
        let (head, rx) = head;
        let mut response = Response::new(WriterBody::new(rx));
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        Poll::Ready(Ok(response))
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for StreamFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFn")
            .field("handler", &std::any::type_name::<F>())
            .field("capacity", &self.capacity)
            .finish()
    }
}
