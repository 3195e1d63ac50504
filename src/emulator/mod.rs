//! The emulated Lambda environment that the local server and the test kit share: the Runtime
//! API served in-process to the runtime's own worker, the invocations queued to it and their
//! replies, the event a function URL builds of a request, and the reader of a streamed
//! response's prelude.
//!
//! A caller (a front door of the local server, or a `TestClient`) makes a [`job`] and queues
//! it; the Runtime API hands it to the worker on `/next` and passes what the worker posts back
//! as [`Reply`]s, which the caller reads from its [`Replies`] (directly, or with
//! [`Next::chunk`] for the body alone).

pub(crate) mod civil;
pub(crate) mod event;
pub(crate) mod http1;
pub(crate) mod prelude;
pub(crate) mod runtime_api;

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
#[cfg(feature = "testing")]
use tokio::task::AbortHandle;
#[cfg(feature = "testing")]
use tokio::task::JoinSet;

use crate::error::types;
use crate::{Config, Diagnostic};

/// The default function timeout: Lambda's maximum.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

/// A running in-process Runtime API.
#[cfg(feature = "testing")]
pub(crate) struct Emulator {
    /// The function's configuration, with `runtime_api` set to this Runtime API's address.
    pub(crate) config: Config,
    /// Where invocations are queued for the worker.
    pub(crate) queue: mpsc::UnboundedSender<Job>,
    /// The Runtime API's task, and any the caller adds: aborted when dropped.
    pub(crate) tasks: JoinSet<()>,
    /// Stops the Runtime API's task.
    pub(crate) api: AbortHandle,
}

/// Starts the Runtime API on an ephemeral loopback port, on the current tokio runtime; each
/// invocation it hands out must be done within `function_timeout`.
#[cfg(feature = "testing")]
pub(crate) fn start(config: &Config, function_timeout: Duration) -> io::Result<Emulator> {
    let (queue, jobs) = mpsc::unbounded_channel();
    let (config, api) = bind(config, function_timeout, jobs, None)?;
    let mut tasks = JoinSet::new();
    let api = tasks.spawn(api);
    Ok(Emulator {
        config,
        queue,
        tasks,
        api,
    })
}

/// Binds a Runtime API that hands out the invocations of `jobs`, on an ephemeral loopback
/// port: the function's configuration pointed at it, and the future that serves it (with
/// every connection it accepted) until dropped.
pub(crate) fn bind(
    config: &Config,
    function_timeout: Duration,
    jobs: mpsc::UnboundedReceiver<Job>,
    sandbox: Option<runtime_api::Sandbox>,
) -> io::Result<(Config, impl Future<Output = ()> + Send + 'static)> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let mut config = config.clone();
    config.runtime_api = Some(addr.to_string());
    let api = runtime_api::RuntimeApi::new(jobs, function_timeout, &config, sandbox);
    Ok((config, runtime_api::serve(listener, api)))
}

/// One invocation waiting for, or held by, the runtime.
pub(crate) struct Job {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    /// `Lambda-Runtime-Client-Context`: the caller's client context, JSON.
    pub(crate) client_context: Option<String>,
    pub(crate) replies: mpsc::Sender<Signal>,
}

/// What the Runtime API sends a front door: `Started` once the runtime took the invocation,
/// then its [`Reply`]s. [`Replies`] keeps the first for itself.
#[derive(Debug)]
pub(crate) enum Signal {
    /// The runtime took the invocation; it must be done by `deadline`.
    Started { deadline: tokio::time::Instant },
    /// What the runtime made of it.
    Reply(Reply),
}

impl From<Reply> for Signal {
    fn from(reply: Reply) -> Self {
        Signal::Reply(reply)
    }
}

/// What the runtime made of an invocation, in order: `Error`, or `Head`, `Data`..., and `End`
/// or `Failed`.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The runtime started its response, with this content type; `streaming` unless it
    /// answered buffered (one payload, without the streaming mode header).
    Head {
        content_type: Option<http::HeaderValue>,
        streaming: bool,
    },
    /// A chunk of the response, as the runtime sent it.
    Data(Bytes),
    /// The response is complete.
    End,
    /// The response failed after it started (error trailers, a broken stream, the deadline).
    Failed(Diagnostic),
    /// The invocation failed before its response started (`/error`).
    Error(Diagnostic),
}

/// A response stream that broke off before its end.
pub(crate) fn truncated() -> Diagnostic {
    Diagnostic::new(
        types::TRUNCATED_RESPONSE,
        "the runtime's response stream broke off before its end",
    )
}

/// The front door's end of an invocation: its replies, with the deadline enforced.
pub(crate) struct Replies {
    rx: mpsc::Receiver<Signal>,
    timeout: Duration,
    deadline: Option<tokio::time::Instant>,
    /// A reply read ahead by [`Replies::streamed`], for `next` to return first.
    ahead: Option<Reply>,
}

impl Replies {
    /// Whether the runtime took the invocation (`Started` was seen).
    #[cfg(feature = "testing")]
    pub(crate) fn is_started(&self) -> bool {
        self.deadline.is_some()
    }

    /// Whether the response is streamed: `false` when the runtime answered buffered. Reads
    /// the first reply ahead (it is still the first that `next` returns); a failure counts as
    /// streamed, for the streaming reader to report.
    pub(crate) async fn streamed(&mut self) -> bool {
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

    /// The next reply. After `End`, `Failed` or `Error`, do not ask again.
    pub(crate) async fn next(&mut self) -> Reply {
        if let Some(ahead) = self.ahead.take() {
            return ahead;
        }
        loop {
            let reply = match self.deadline {
                Some(deadline) => tokio::select! {
                    reply = self.rx.recv() => reply,
                    () = tokio::time::sleep_until(deadline) => {
                        return Reply::Failed(Diagnostic::new(
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
                Some(Signal::Started { deadline }) => self.deadline = Some(deadline),
                Some(Signal::Reply(reply)) => return reply,
                // The runtime api dropped the invocation without an end.
                None => return Reply::Failed(truncated()),
            }
        }
    }
}

/// A reader of an invocation's replies: a front door's [`Replies`], or the test kit's, which
/// also end when its runtime stops.
pub(crate) trait Next: Send {
    /// The next reply. After `End`, `Failed` or `Error`, do not ask again.
    fn next(&mut self) -> impl Future<Output = Reply> + Send;

    /// The next chunk of the response's body, its head passed over: `Ok(None)` at its end,
    /// `Err` with the failure once it failed (reported to `/error` or broken off midway, alike
    /// to a reader of the body). After `Ok(None)` or `Err`, do not ask again.
    fn chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, Diagnostic>> + Send {
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

impl Next for Replies {
    fn next(&mut self) -> impl Future<Output = Reply> + Send {
        Replies::next(self)
    }
}

/// A new invocation of `payload`: the job for the queue and the front door's end.
pub(crate) fn job(
    request_id: String,
    payload: Bytes,
    client_context: Option<String>,
    function_timeout: Duration,
) -> (Job, Replies) {
    // Small: the runtime's stream waits for a slow caller, as over TCP on Lambda.
    let (tx, rx) = mpsc::channel(4);
    let job = Job {
        request_id,
        payload,
        client_context,
        replies: tx,
    };
    let replies = Replies {
        rx,
        timeout: function_timeout,
        deadline: None,
        ahead: None,
    };
    (job, replies)
}

/// A random UUID (version 4 layout), from std's randomly keyed hasher.
pub(crate) fn request_id() -> String {
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
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }
}
