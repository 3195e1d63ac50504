//! The writer handler style: an `async fn(Request<Body>, ResponseWriter)` that pushes its
//! response, adapted into a tower service by [`stream_fn`].
//!
//! Some handlers read better as a sequence of writes than as a body to return: set the status
//! and headers, write a chunk whenever one is ready, finish. [`stream_fn`] turns such a handler
//! into a [`Service`](tower_service::Service) that [`run`](crate::run) (or any tower stack)
//! serves like any other.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
//! use lambda_stream::Body;
//! use lambda_stream::writer::{self, ResponseWriter};
//!
//! async fn handler(_req: Request<Body>, mut out: ResponseWriter) -> Result<(), writer::Error> {
//!     let mut headers = HeaderMap::new();
//!     headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
//!     out.write_status_and_headers(StatusCode::OK, headers)?;
//!     for n in 1..=3 {
//!         out.write(format!("Number: {n}\n")).await?;
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!     }
//!     out.write_and_finish("Streaming complete!\n").await
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     lambda_stream::run(writer::stream_fn(handler)).await
//! }
//! ```
//!
//! # How the response follows the writer
//!
//! - The service's future resolves as soon as the head is known: when the handler calls
//!   [`write_status_and_headers`](ResponseWriter::write_status_and_headers), writes, finishes
//!   or returns. The runtime sends the prelude at once, so the caller sees the status before the
//!   first chunk is ready. Without `write_status_and_headers` the head is `200` with
//!   `content-type: application/octet-stream`.
//! - Each [`write`](ResponseWriter::write) goes through a bounded channel to the response body
//!   ([`WriterBody`]): it waits while the channel is full, so a slow reader slows the handler
//!   down instead of growing memory.
//! - Returning `Ok(())` finishes the response if the handler did not.
//! - Returning `Err` (or panicking) **before** the head was sent fails the service's future:
//!   the runtime reports the error to Lambda's `/error` endpoint. **After** the head was sent,
//!   the body ends with that error, so the runtime ends the stream with the
//!   `Lambda-Runtime-Function-Error-*` trailers (a [`Diagnostic`](crate::Diagnostic) keeps
//!   its error type; a panic is `Function.Panic`). A truncated response never looks complete.
//! - Misuse (finishing twice, writing after the end, setting the head after the first write)
//!   is an [`Error`] the handler can inspect, never a panic.
//!
//! # Where the handler runs
//!
//! Each invocation's handler runs in its own spawned tokio task (in the invocation's tracing
//! span). The response body only reads from the channel. So the handler may go on working
//! after [`finish`](ResponseWriter::finish) (flushing metrics, say) while the response is
//! already complete; returning then only logs a late error.
//!
//! Mind that Lambda freezes the execution environment once the response is complete and the
//! runtime asks for the next event: work after `finish` may be paused until the next
//! invocation thaws the environment (Lambda Managed Instances are not frozen). Keep it short,
//! or finish only when it is done.
//!
//! Why a task rather than polling the handler from the body: the body is dropped when the
//! response ends (or when a middleware such as a deadline cuts it), which would cancel any
//! work after `finish` midway; and a task lets the future resolve with the head while the
//! handler goes on, without the body having to poll two things at once. A panic in the task is
//! caught and reported like an error, and if the task disappears without a word (the tokio
//! runtime shutting down), the body ends with an error rather than cleanly.

mod body;
mod error;
mod response_writer;
mod service;

pub use body::WriterBody;
pub use error::Error;
pub use response_writer::ResponseWriter;
pub use service::{stream_fn, ResponseFuture, StreamFn};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use tokio::sync::oneshot;

use crate::BoxError;

/// The content type of a response whose handler did not choose one.
const DEFAULT_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// What the handler's task sends to the body.
#[derive(Debug)]
enum Msg {
    /// A chunk.
    Data(Bytes),
    /// The response is complete.
    Finish,
    /// The response failed after its head was sent: the body ends with this error.
    Fail(BoxError),
}

/// The status and headers of the response.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    headers: HeaderMap,
}

impl Head {
    fn new(status: StatusCode, mut headers: HeaderMap) -> Self {
        if !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(header::CONTENT_TYPE, DEFAULT_CONTENT_TYPE);
        }
        Head { status, headers }
    }

    fn default_head() -> Self {
        Head::new(StatusCode::OK, HeaderMap::new())
    }
}

type HeadResult = Result<Head, BoxError>;

/// What the writer and the handler's task share: who sends the head, and whether the
/// response was finished.
#[derive(Debug)]
struct Shared {
    head: Mutex<Option<oneshot::Sender<HeadResult>>>,
    finished: AtomicBool,
}

/// The outcome of trying to send the head.
#[derive(Debug)]
enum HeadSend<T> {
    /// The head was sent now.
    Sent,
    /// The service's future is gone: nobody will read the response.
    Closed,
    /// The head had been sent before; here is what was not sent.
    AlreadySent(T),
}

impl Shared {
    fn new(head: oneshot::Sender<HeadResult>) -> Self {
        Shared {
            head: Mutex::new(Some(head)),
            finished: AtomicBool::new(false),
        }
    }

    /// Sends the head, or an error instead of it, unless it was sent already.
    fn send_head(&self, head: HeadResult) -> HeadSend<HeadResult> {
        // A poisoned lock only means another thread panicked while holding it; the option
        // inside is still consistent.
        let sender = self.head.lock().unwrap_or_else(|p| p.into_inner()).take();
        match sender {
            Some(sender) => match sender.send(head) {
                Ok(()) => HeadSend::Sent,
                Err(_) => HeadSend::Closed,
            },
            None => HeadSend::AlreadySent(head),
        }
    }

    fn set_finished(&self) {
        self.finished.store(true, Ordering::Release);
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    use http::Request;
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;
    use tower_service::Service;

    use super::*;
    use crate::Body;

    fn request() -> Request<Body> {
        Request::new(Body::empty())
    }

    async fn call<S>(mut svc: S) -> Result<http::Response<WriterBody>, BoxError>
    where
        S: Service<Request<Body>, Response = http::Response<WriterBody>, Error = BoxError>,
    {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(request()).await
    }

    #[tokio::test(start_paused = true)]
    async fn write_waits_for_the_reader() {
        let progress = Arc::new(AtomicUsize::new(0));
        let seen = progress.clone();
        let svc = stream_fn(move |_req, mut out: ResponseWriter| {
            let progress = progress.clone();
            async move {
                for chunk in ["a", "b", "c"] {
                    out.write(chunk).await?;
                    progress.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, Error>(())
            }
        })
        .channel_capacity(1);
        let res = call(svc).await.unwrap();
        let mut body = res.into_body();
        tokio::time::sleep(Duration::from_secs(1)).await;
        // One chunk fits in the channel; the second write waits for the reader.
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "bc");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_future_resolves_with_the_head_not_the_first_chunk() {
        let svc = stream_fn(|_req, mut out: ResponseWriter| async move {
            out.write_status_and_headers(StatusCode::ACCEPTED, HeaderMap::new())?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            out.write_and_finish("late").await
        });
        let start = tokio::time::Instant::now();
        let res = call(svc).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "late");
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_dropped_body_closes_the_writer() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let svc = stream_fn(move |_req, mut out: ResponseWriter| {
            let tx = tx.clone();
            async move {
                out.write("a").await?;
                tokio::task::yield_now().await;
                let mut last = Ok(());
                for _ in 0..100 {
                    last = out.write("more").await;
                    if last.is_err() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                let _ = tx.send(last);
                Ok::<_, Error>(())
            }
        });
        let res = call(svc).await.unwrap();
        drop(res);
        let err = rx.recv().await.unwrap().unwrap_err();
        assert!(err.is_closed(), "{err:?}");
    }

    #[test]
    fn a_vanished_handler_task_fails_the_body_not_ends_it() {
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let svc = stream_fn(|_req, mut out: ResponseWriter| async move {
            out.write("partial").await?;
            pending::<()>().await;
            Ok::<_, Error>(())
        });
        let mut body = first.block_on(call(svc)).unwrap().into_body();
        // The tokio runtime goes away with the handler task still running.
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        second.block_on(async {
            let data = body.frame().await.unwrap().unwrap();
            assert_eq!(data.into_data().unwrap(), "partial");
            let err = body.frame().await.unwrap().unwrap_err();
            let err = err.downcast::<Error>().unwrap();
            assert!(err.is_abandoned());
            assert!(body.is_end_stream());
            assert!(body.frame().await.is_none());
        });
    }

    #[tokio::test]
    async fn errors_before_the_head_fail_the_future_and_keep_their_type() {
        let svc = stream_fn(|_req, _out: ResponseWriter| async move {
            Err::<(), _>(crate::Diagnostic::new("Function.Mine", "nope"))
        });
        let err = call(svc).await.unwrap_err();
        let d = err.downcast::<crate::Diagnostic>().unwrap();
        assert_eq!(d.error_type(), "Function.Mine");

        let svc = stream_fn(|_req, _out: ResponseWriter| async move {
            if true {
                panic!("before the head");
            }
            Ok::<(), Error>(())
        });
        let err = call(svc).await.unwrap_err();
        let d = err.downcast::<crate::Diagnostic>().unwrap();
        assert_eq!(d.error_type(), "Function.Panic");
        assert!(d.error_message().contains("before the head"));
    }

    #[test]
    fn the_public_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ResponseWriter>();
        send_sync::<WriterBody>();
        send_sync::<ResponseFuture>();
        send_sync::<Error>();
        send_sync::<
            StreamFn<fn(Request<Body>, ResponseWriter) -> std::future::Ready<Result<(), Error>>>,
        >();
    }

    #[tokio::test]
    async fn returning_ok_without_a_write_is_an_empty_200() {
        let svc = stream_fn(|_req, _out: ResponseWriter| async { Ok::<(), Error>(()) });
        let res = call(svc).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap();
        assert!(body.to_bytes().is_empty());
    }
}
