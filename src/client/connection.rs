//! The worker's connection: connected lazily with `TCP_NODELAY`, driven inside the worker's
//! own task while it awaits a call, and reconnected when it fails.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

use http::header::{HOST, USER_AGENT};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::error::classify;
use super::{ApiError, Client, Outgoing};
use crate::service::ResponseBody;

/// How much of a reply's body is kept for the logs.
pub(super) const REPLY_LIMIT: usize = 64 * 1024;
/// `User-Agent` of every Runtime API request.
pub(super) const USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("lambda-stream/", env!("CARGO_PKG_VERSION")));

/// hyper's half of a connection: the future that does its reads and writes. Boxed once per
/// connection, so that [`Client`] needs no bounds on `B` where it is named.
pub(super) type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

impl<B> Client<B>
where
    B: ResponseBody,
{
    async fn connect(&mut self) -> Result<SendRequest<Outgoing<B>>, ApiError> {
        let stream = TcpStream::connect(self.address.as_str())
            .await
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        // Small chunks must leave at once, not wait for the ACK of the previous segment.
        stream
            .set_nodelay(true)
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        let (send, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Transport(Box::new(e)))?;
        self.driver = Some(Box::pin(conn));
        Ok(send)
    }

    /// Closes the connection (one left mid-request); the next call opens another.
    pub(crate) fn disconnect(&mut self) {
        self.conn = None;
        self.driver = None;
    }

    /// Sends one request on the worker's connection, connecting first if needed.
    pub(super) async fn send(
        &mut self,
        mut req: Request<Outgoing<B>>,
    ) -> Result<Response<Incoming>, ApiError> {
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(USER_AGENT, USER_AGENT_VALUE);
        let reusable = match self.conn.take() {
            Some(mut c) => drive(&mut self.driver, c.ready())
                .await
                .is_ok()
                .then_some(c),
            None => None,
        };
        let mut conn = match reusable {
            Some(c) => c,
            None => self.connect().await?,
        };
        match drive(&mut self.driver, conn.send_request(req)).await {
            Ok(res) => {
                self.conn = Some(conn);
                Ok(res)
            }
            Err(e) => Err(ApiError::Transport(Box::new(e))),
        }
    }

    /// [`post`](Client::post) from a task of the runtime, which this client's connection is
    /// handed to for the call and taken back from.
    ///
    /// For a streamed response on the thread of a multi-thread runtime's `block_on` (a plain
    /// `#[tokio::main]` with [`run`](crate::run)): the handler's body is usually fed by tasks
    /// on the runtime's worker threads, and driving the connection here would wake this thread
    /// from theirs for every chunk they make ready. From a task, the connection runs beside
    /// them on the workers.
    pub(super) async fn post_from_a_task(
        &mut self,
        req: Request<Outgoing<B>>,
    ) -> Result<(), ApiError> {
        // `post` needs the address and host (to reconnect), not the paths.
        let mut detached = Client {
            address: self.address.clone(),
            host: self.host.clone(),
            base: String::new(),
            config: self.config.clone(),
            conn: self.conn.take(),
            driver: self.driver.take(),
            // Already echoed on `req`.
            invocation_id: None,
        };
        let call = async move {
            let reply = detached.post(req).await;
            (detached.conn, detached.driver, reply)
        };
        let mut task = AbortOnDrop(tokio::spawn(call.in_current_span()));
        match (&mut task.0).await {
            Ok((conn, driver, reply)) => {
                self.conn = conn;
                self.driver = driver;
                reply
            }
            // The same panic as if the call had been made here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(ApiError::Transport(Box::new(e))),
        }
    }

    pub(super) async fn post(&mut self, req: Request<Outgoing<B>>) -> Result<(), ApiError> {
        let res = self.send(req).await?;
        let status = res.status();
        // Read the reply to its end, so the connection can carry the next call.
        let reply = Limited::new(res.into_body(), REPLY_LIMIT).collect();
        let body = match drive(&mut self.driver, reply).await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.conn = None;
                return if status.is_success() {
                    Ok(())
                } else {
                    Err(ApiError::Transport(e))
                };
            }
        };
        if status.is_success() {
            Ok(())
        } else {
            Err(classify(status, &body))
        }
    }
}

/// Whether this code runs outside the worker threads of a multi-thread runtime: on its
/// `block_on` thread, outside any task.
pub(super) fn off_the_workers() -> bool {
    tokio::task::try_id().is_none()
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

/// A spawned call, aborted if its caller goes away first: a call never outlives its worker.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Awaits `fut` while polling the connection's `driver`, which does the I/O `fut` waits for.
/// A driver that ends (the connection closed or failed) is dropped, which fails whatever
/// `fut` still waited for on it.
pub(super) async fn drive<F: Future>(driver: &mut Option<Driver>, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Some(conn) = driver.as_mut() {
            if let Poll::Ready(end) = conn.as_mut().poll(cx) {
                if let Err(e) = end {
                    tracing::debug!(error = %e, "runtime api connection closed");
                }
                *driver = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
}
