//! Ends an invocation cleanly before Lambda's deadline: [`DeadlineLayer`].
//!
//! Lambda stops a function at its timeout (at most 900 s), mid-write if need be: the caller
//! of a streamed response then sees a connection that stops, not an error. This middleware
//! reads the invocation's deadline from the request's [`lambda_stream::Context`] extension and
//! acts a safety margin before it, at the *cutoff*. From the cutoff on, it no longer waits for
//! anything; what is ready still goes out:
//!
//! - **No response yet.** The service's future is polled before the timer, so a response it
//!   has ready is always taken. If it still has none at the cutoff, the middleware answers
//!   for it, before any head was sent: `504 Gateway Timeout` with an empty body. (A raw,
//!   non-HTTP invocation has no status to show: there the body fails at once with the error
//!   below, which the runtime reports.)
//! - **A response that comes at or past the cutoff** (the invocation arrived with less than the
//!   margin left, or the service answered just as the timer fired): a body of known length
//!   (its [`size_hint`](http_body::Body::size_hint) has an upper bound, as `Full`, `String`,
//!   `Bytes`, `Vec<u8>` and empty bodies do) is in hand and goes out whole, as below. A body of
//!   unknown length (a stream) would be cut at its first chunk and show as an empty `200`:
//!   the middleware answers `504` instead, while it still can.
//! - **A body still streaming at the cutoff** ends with a
//!   [`Diagnostic`](lambda_stream::Diagnostic) of type [`ERROR_TYPE`] (`Function.Timeout`):
//!   the runtime ends the stream with the `Lambda-Runtime-Function-Error-*` trailers, so the
//!   caller learns the response is incomplete, and the inner body is dropped. A body of
//!   unknown length is cut at the cutoff, however fast it produces. A body of known length
//!   may still pass the frames it has ready, up to the length it announced; the first time
//!   it would have to wait, it is cut.
//!
//! On Lambda Managed Instances the platform does not stop a late invocation at all: the
//! function must watch its own deadline, and this layer is how.
//!
//! The margin must cover sending the trailers and the Runtime API's reply, and any body of
//! known length answered at the cutoff: a few hundred milliseconds is plenty on Lambda for
//! bodies that fit Lambda's unthrottled first 6 MB. A request without a `Context` (or without
//! a deadline) passes through untouched.
//!
//! The layer also puts a [`Cutoff`] in the request's extensions, so a handler can wind down
//! on its own terms (say, close a JSON array or send a last SSE event) before the layer cuts it.
//!
//! # Compared with tower-http's `timeout` layers
//!
//! - tower-http's `TimeoutLayer` times the response future from when `call` is made, for every
//!   request, and answers with the status it was given and `B::default()` as the body. It
//!   polls its timer first, so a response ready after the timeout is still replaced. This
//!   layer counts to an absolute cutoff that comes from the invocation (requests without one
//!   pass through), polls the service first, answers `504` with its own body type (the inner
//!   body needs no `Default`), and keeps watching the body after the head is sent.
//! - tower-http's `ResponseBodyTimeoutLayer` is an idle timeout: it restarts with every frame,
//!   so a body that keeps producing is never stopped, and it fails with its own
//!   `TimeoutError`, which the runtime would report as a generic `Function.StreamError`. This
//!   layer has one cutoff for the whole response, whatever the body's pace, and fails with
//!   the `Function.Timeout` diagnostic the trailers carry.
//!
//! They combine: tower-http's for a per-request budget, this one for Lambda's deadline.
//! Put this layer outside layers that wrap body errors (compression, say), so its
//! `Function.Timeout` reaches the runtime as is.
//!
//! # Errors
//!
//! The body fails with a boxed [`Diagnostic`](lambda_stream::Diagnostic), not a marker type
//! of its own: the runtime takes the trailers' error type from a `Diagnostic`, also when it
//! sits under wrappers (axum's `Router::layer` wraps a body's error in `axum::Error`; the
//! runtime looks down the `source()` chain). To tell
//! that the deadline layer cut a body, downcast the error and compare its type with [`ERROR_TYPE`]:
//! `err.downcast_ref::<Diagnostic>().is_some_and(|d| d.error_type() == ERROR_TYPE)` (behind a
//! wrapper, on each error of its `source()` chain).
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use http::{Request, Response};
//! use lambda_stream::Body;
//! use lambda_stream_middleware::deadline::DeadlineLayer;
//! use tower::ServiceBuilder;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     let service = ServiceBuilder::new()
//!         .layer(DeadlineLayer::new(Duration::from_millis(500)))
//!         .service_fn(|_req: Request<Body>| async {
//!             Ok::<_, Infallible>(Response::new(String::from("on time")))
//!         });
//!     lambda_stream::run(service).await
//! }
//! ```

mod body;
mod future;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::DeadlineLayer;
pub use service::{Cutoff, Deadline};

/// The error type reported when the deadline layer cuts a streaming body.
///
/// ```
/// assert_eq!(lambda_stream_middleware::deadline::ERROR_TYPE, "Function.Timeout");
/// ```
pub const ERROR_TYPE: &str = "Function.Timeout";
