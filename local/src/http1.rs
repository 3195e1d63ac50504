//! The HTTP/1.1 server under both the emulated Runtime API and the local server's front doors:
//! one accept loop, and one instantiation of hyper's server, behind a type-erased handler
//! (neither is a hot path, and the server's code is then in the binary once).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::error::BoxError;

/// The body of every response the emulator's servers send.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// Answers one request from the peer at the given address.
pub(crate) type Handler = Arc<
    dyn Fn(Request<Incoming>, SocketAddr) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// Accepts connections on `listener` until the future is dropped (with the connections it
/// accepted), each served on its own task by `handler`. `name` goes in the logs; with a
/// `header_read_timeout`, a caller that takes longer to send its request head is cut off.
pub(crate) async fn serve(
    listener: TcpListener,
    name: &'static str,
    header_read_timeout: Option<Duration>,
    handler: Handler,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Reaps the connections that ended.
            Some(_) = connections.join_next() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "{name}: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each chunk leaves at once, not when the previous one is acknowledged.
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        connections.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let response = handler(req, peer);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            if let Some(timeout) = header_read_timeout {
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeout);
            }
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, %peer, "{name}: a connection ended with an error");
            }
        });
    }
}
