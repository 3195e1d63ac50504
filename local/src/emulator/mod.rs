//! The emulated Lambda environment that the front doors, the process host and a test kit
//! share: the Runtime API served to a runtime, the invocations queued to it and their
//! replies, the event a function URL builds of a request, and the reader of a streamed
//! response's prelude.
//!
//! A caller (a front door, or a test kit) makes an [`Invocation`] and queues it; the Runtime
//! API hands it to the runtime on `/next` and passes what the runtime posts back as
//! [`Reply`]s, which the caller reads from its [`Replies`] (directly, or with
//! [`ReadReplies::chunk`] for the body alone).

pub(crate) mod event;
pub(crate) mod prelude;
pub(crate) mod runtime_api;

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lambda_stream_protocol::error_types as types;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ErrorReport;

use crate::function::FunctionConfig;

/// The default function timeout: Lambda's maximum.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

/// The emulated Runtime API alone, on an ephemeral loopback port: what a test kit runs a
/// runtime against. See [the crate docs](crate#the-emulated-runtime-api-alone).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use lambda_stream_local::{Emulator, FunctionConfig, Invocation};
/// use std::time::Duration;
///
/// let emulator = Emulator::start(&FunctionConfig::default(), Duration::from_secs(3))?;
/// let (invocation, replies) = Invocation::new("r-1".into(), "{}".into(), None);
/// emulator.queue(invocation).expect("the emulator runs");
/// // A runtime at `emulator.runtime_api()` takes it from `/next`; `replies` reads its answer.
/// # drop(replies);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Emulator {
    runtime_api: SocketAddr,
    queue: mpsc::UnboundedSender<Invocation>,
    task: JoinHandle<()>,
}

impl Emulator {
    /// Starts the Runtime API of `function` on an ephemeral loopback port, on the current
    /// tokio runtime; each invocation it hands out must be done within `function_timeout`.
    ///
    /// Fails when it cannot listen. Must be called within a tokio runtime.
    pub fn start(function: &FunctionConfig, function_timeout: Duration) -> io::Result<Emulator> {
        let (queue, invocations) = mpsc::unbounded_channel();
        let (runtime_api, api) = bind(function, function_timeout, invocations, None)?;
        Ok(Emulator {
            runtime_api,
            queue,
            task: tokio::spawn(api),
        })
    }

    /// The Runtime API's address, `AWS_LAMBDA_RUNTIME_API` for the runtime.
    pub fn runtime_api(&self) -> SocketAddr {
        self.runtime_api
    }

    /// Queues `invocation` for the runtime's next `/next`; gives it back once the emulator
    /// stopped.
    pub fn queue(&self, invocation: Invocation) -> Result<(), Invocation> {
        if self.task.is_finished() {
            return Err(invocation);
        }
        self.queue.send(invocation).map_err(|e| e.0)
    }

    /// Stops the Runtime API: the runtime's connections are closed, and each invocation
    /// queued or in flight ends, its [`Replies`] reading [`Reply::Failed`]
    /// (`Runtime.TruncatedResponse`). Dropping the emulator stops it too.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds a Runtime API that hands out the invocations of `invocations`, on an ephemeral
/// loopback port: its address, and the future that serves it (with every connection it
/// accepted) until dropped.
pub(crate) fn bind(
    function: &FunctionConfig,
    function_timeout: Duration,
    invocations: mpsc::UnboundedReceiver<Invocation>,
    host: Option<runtime_api::HostLink>,
) -> io::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let api = runtime_api::RuntimeApi::new(invocations, function_timeout, function, host);
    Ok((addr, runtime_api::serve(listener, api)))
}

/// One invocation waiting for, or held by, the runtime: its request id, its event payload and
/// its caller's client context, and where its replies go.
pub struct Invocation {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    /// `Lambda-Runtime-Client-Context`: the caller's client context, JSON.
    pub(crate) client_context: Option<String>,
    pub(crate) replies: mpsc::Sender<Progress>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("request_id", &self.request_id)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl Invocation {
    /// A new invocation `request_id` of the event `payload`, with the caller's
    /// `client_context` (JSON, `Lambda-Runtime-Client-Context`): the invocation to queue,
    /// and the caller's end, its [`Replies`].
    pub fn new(
        request_id: String,
        payload: Bytes,
        client_context: Option<String>,
    ) -> (Invocation, Replies) {
        // Small: the runtime's stream waits for a slow caller, as over TCP on Lambda.
        let (tx, rx) = mpsc::channel(4);
        let invocation = Invocation {
            request_id,
            payload,
            client_context,
            replies: tx,
        };
        let replies = Replies {
            rx,
            timeout: Duration::ZERO,
            deadline: None,
            ahead: None,
            raw_status: None,
        };
        (invocation, replies)
    }

    /// Its request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// What the Runtime API sends a front door: `Started` once the runtime took the invocation,
/// then its [`Reply`]s. [`Replies`] keeps the first for itself.
#[derive(Debug)]
pub(crate) enum Progress {
    /// The runtime took the invocation; it must be done by `deadline`, `timeout` after now.
    Started {
        deadline: tokio::time::Instant,
        timeout: Duration,
    },
    /// What the runtime made of it.
    Reply(Reply),
    /// Before the head of a raw response: the status the function answered with, not a
    /// success, which the response does not carry (`Lambda-Stream-Raw-Status`).
    RawStatus(http::StatusCode),
}

impl From<Reply> for Progress {
    fn from(reply: Reply) -> Self {
        Progress::Reply(reply)
    }
}

/// What the runtime made of an invocation, in order: `Error`, or `Head`, `Data`..., and `End`
/// or `Failed`.
#[derive(Debug)]
pub enum Reply {
    /// The runtime started its response, with this content type; `streaming` unless it
    /// answered buffered (one payload, without the streaming mode header).
    Head {
        /// The response's `Content-Type`: a prelude opens the body when it is
        /// `application/vnd.awslambda.http-integration-response`.
        content_type: Option<http::HeaderValue>,
        /// Streamed (`Lambda-Runtime-Function-Response-Mode: streaming`, or a prelude's
        /// content type), rather than one buffered payload.
        streaming: bool,
    },
    /// A chunk of the response, as the runtime sent it.
    Data(Bytes),
    /// The response is complete.
    End,
    /// The response failed after it started (error trailers, a broken stream, the deadline).
    Failed(ErrorReport),
    /// The invocation failed before its response started (`/error`).
    Error(ErrorReport),
}

/// A response stream that broke off before its end.
pub(crate) fn truncated() -> ErrorReport {
    ErrorReport::new(
        types::TRUNCATED_RESPONSE,
        "the runtime's response stream broke off before its end",
    )
}

/// The caller's end of an [`Invocation`]: its replies, with the deadline enforced (once the
/// deadline passes, [`Reply::Failed`] with `HostLink.Timeout`).
#[derive(Debug)]
pub struct Replies {
    rx: mpsc::Receiver<Progress>,
    timeout: Duration,
    deadline: Option<tokio::time::Instant>,
    /// A reply read ahead by [`Replies::streamed`], for `next` to return first.
    ahead: Option<Reply>,
    /// See [`Replies::raw_status`].
    raw_status: Option<http::StatusCode>,
}

impl Replies {
    /// Whether the runtime took the invocation (`Started` was seen).
    pub fn is_started(&self) -> bool {
        self.deadline.is_some()
    }

    /// Whether the response is streamed: `false` when the runtime answered buffered. Reads
    /// the first reply ahead (it is still the first that `next` returns); a failure counts as
    /// streamed, for the streaming reader to report.
    pub async fn streamed(&mut self) -> bool {
        let first = match self.ahead.take() {
            Some(first) => first,
            None => self.next().await,
        };
        let streamed = !matches!(
            first,
            Reply::Head {
                streaming: false,
                ..
            }
        );
        self.ahead = Some(first);
        streamed
    }

    /// The status the function answered a raw invocation with (one that is not an HTTP
    /// event, so whose response carries no status), when it is not a success: a router that
    /// answered `405` to the `POST /` a raw payload becomes, say. Known once the response's
    /// head was read; `None` for any other response.
    pub fn raw_status(&self) -> Option<http::StatusCode> {
        self.raw_status
    }

    /// The next reply. After `End`, `Failed` or `Error`, do not ask again.
    pub async fn next(&mut self) -> Reply {
        if let Some(ahead) = self.ahead.take() {
            return ahead;
        }
        loop {
            let reply = match self.deadline {
                Some(deadline) => tokio::select! {
                    reply = self.rx.recv() => reply,
                    () = tokio::time::sleep_until(deadline) => {
                        return Reply::Failed(ErrorReport::new(
                            types::SANDBOX_TIMEOUT,
                            format!(
                                "task timed out after {:.2} seconds",
                                self.timeout.as_secs_f64()
                            ),
                        ));
                    }
                },
                None => self.rx.recv().await,
            };
            match reply {
                Some(Progress::Started { deadline, timeout }) => {
                    self.deadline = Some(deadline);
                    self.timeout = timeout;
                }
                Some(Progress::Reply(reply)) => return reply,
                Some(Progress::RawStatus(status)) => self.raw_status = Some(status),
                // The runtime api dropped the invocation without an end.
                None => return Reply::Failed(truncated()),
            }
        }
    }
}

/// A reader of an invocation's replies: [`Replies`], or a caller's own reader around them
/// (a test kit's, which also ends when its runtime stops).
pub trait ReadReplies: Send {
    /// The next reply. After `End`, `Failed` or `Error`, do not ask again.
    fn next(&mut self) -> impl Future<Output = Reply> + Send;

    /// The next chunk of the response's body, its head passed over: `Ok(None)` at its end,
    /// `Err` with the failure once it failed (reported to `/error` or broken off midway, alike
    /// to a reader of the body). After `Ok(None)` or `Err`, do not ask again.
    fn chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, ErrorReport>> + Send {
        async {
            loop {
                match self.next().await {
                    Reply::Head { .. } => continue,
                    Reply::Data(data) => return Ok(Some(data)),
                    Reply::End => return Ok(None),
                    Reply::Failed(f) | Reply::Error(f) => return Err(f),
                }
            }
        }
    }

    /// Reads the rest of the replies, to their end.
    fn drain(&mut self) -> impl Future<Output = ()> + Send {
        async { while let Ok(Some(_)) = self.chunk().await {} }
    }
}

impl ReadReplies for Replies {
    fn next(&mut self) -> impl Future<Output = Reply> + Send {
        Replies::next(self)
    }
}

/// A new request id: a random UUID (version 4 layout), from std's randomly keyed hasher.
///
/// ```
/// let id = lambda_stream_local::new_request_id();
/// assert_eq!(id.len(), 36);
/// assert_ne!(id, lambda_stream_local::new_request_id());
/// ```
pub fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.finish()
    };
    let (a, b) = (random(), random());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }
}
