//! Ends a streamed response with a clear error before it passes Lambda's size cap:
//! [`ResponseLimitLayer`].
//!
//! Lambda accepts streamed responses up to 200 MB; past that the platform cuts the stream,
//! and the caller sees a response that just stops. This middleware counts the body's bytes
//! and, when the next chunk would take the body over the limit, ends the body with a
//! [`Diagnostic`](lambda_stream::Diagnostic) of type [`ERROR_TYPE`]
//! (`Function.ResponseSizeTooLarge`) instead of that chunk: the runtime sends the
//! `Lambda-Runtime-Function-Error-*` trailers and the caller knows the response is incomplete.
//! Only whole chunks are sent. (The bytes of the prelude are not counted; leave room for
//! them with a limit a little under the cap, as [`ResponseLimitLayer::lambda`] does.)
//!
//! # Errors
//!
//! The body fails with a boxed [`Diagnostic`](lambda_stream::Diagnostic), not a marker type
//! of its own: the runtime takes the trailers' error type from a `Diagnostic`, also when it
//! sits under wrappers (axum's `Router::layer` wraps a body's error in `axum::Error`; the
//! runtime looks down the `source()` chain). To tell
//! that a body was cut at the limit, downcast the error and compare its type with [`ERROR_TYPE`]:
//! `err.downcast_ref::<Diagnostic>().is_some_and(|d| d.error_type() == ERROR_TYPE)` (behind a
//! wrapper, on each error of its `source()` chain).
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use lambda_stream::Body;
//! use lambda_stream_middleware::response_limit::ResponseLimitLayer;
//! use tower::ServiceBuilder;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     let service = ServiceBuilder::new()
//!         .layer(ResponseLimitLayer::lambda())
//!         .service_fn(|_req: Request<Body>| async {
//!             Ok::<_, Infallible>(Response::new(String::from("small enough")))
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
pub use layer::ResponseLimitLayer;
pub use service::ResponseLimit;

/// The error type reported when a response body is cut at the limit.
///
/// ```
/// use lambda_stream_middleware::response_limit::ERROR_TYPE;
/// assert_eq!(ERROR_TYPE, "Function.ResponseSizeTooLarge");
/// ```
pub const ERROR_TYPE: &str = "Function.ResponseSizeTooLarge";

/// Lambda's cap on a streamed response: 200 MB.
///
/// ```
/// assert_eq!(lambda_stream_middleware::response_limit::LAMBDA_STREAMING_CAP, 200_000_000);
/// ```
pub const LAMBDA_STREAMING_CAP: u64 = 200_000_000;
