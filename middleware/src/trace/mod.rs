//! A tracing span per invocation that knows what Lambda knows: the request id, the X-Ray
//! trace id, whether this is the process's cold start.
//!
//! The runtime already opens an `invocation` span with the request id and X-Ray trace id
//! around each invocation. This module adds, as tower middleware:
//!
//! - [`MakeInvocationSpan`]: builds a `lambda.request` span from a request: `request_id`,
//!   `xray_trace_id`, `cold_start`, `function_name`, `function_version`, `method`, `path`.
//!   With the `tower-http` feature it is a `tower_http::trace::MakeSpan` of tower-http 0.7
//!   (with `tower-http-06`, of 0.6), so tower-http's `TraceLayer` gets Lambda's fields (and
//!   keeps its own `on_response`/`on_failure` hooks).
//! - [`TraceLayer`] (the [`Trace`] service): the same span without tower-http: it wraps the
//!   service's future and the response body, so events logged while the body streams carry
//!   the span too. `TraceLayer::new().make_span_with(...)` takes a [`MakeInvocationSpan`] of
//!   another level.
//! - `LambdaRequestId` (feature `tower-http` or `tower-http-06`): a
//!   `tower_http::request_id::MakeRequestId`
//!   that uses the Lambda request id, so `SetRequestIdLayer`/`PropagateRequestIdLayer` give
//!   callers an `x-request-id` they can find in CloudWatch.
//!
//! The cold-start flag is `true` for the first invocation a [`MakeInvocationSpan`] (or any of
//! its clones) sees, unless the environment was initialised ahead by provisioned concurrency
//! (`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`), where nobody waited for it.
//! Build the layer once per process, as usual, and the flag is the process's.
//!
//! # Example
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use lambda_stream::Body;
//! use lambda_stream_middleware::trace::TraceLayer;
//! use tower::ServiceBuilder;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     tracing_subscriber::fmt().init();
//!     let service = ServiceBuilder::new()
//!         .layer(TraceLayer::new())
//!         .service_fn(|_req: Request<Body>| async {
//!             tracing::info!("handling"); // carries request_id, xray_trace_id, cold_start
//!             Ok::<_, Infallible>(Response::new(String::from("traced")))
//!         });
//!     lambda_stream::run(service).await
//! }
//! ```
//!
//! With tower-http (feature `tower-http` for tower-http 0.7, `tower-http-06` for 0.6), whose
//! `TraceLayer` is another type of the same name: use [`MakeInvocationSpan`] as its span maker.
//! Without the feature of your tower-http version, rustc says "expected a
//! `FnMut(&Request<Body>)` closure, found `MakeInvocationSpan`". The runtime's request body,
//! [`lambda_stream::Body`], is an [`http_body::Body`], so tower-http's layers take it as it is.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use lambda_stream::Body;
//! use lambda_stream_middleware::trace::{LambdaRequestId, MakeInvocationSpan};
//! use tower::ServiceBuilder;
//! use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
//! use tower_http::trace::TraceLayer;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     let service = ServiceBuilder::new()
//!         .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
//!         .layer(TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()))
//!         .layer(PropagateRequestIdLayer::x_request_id())
//!         .service_fn(|_req: Request<Body>| async {
//!             Ok::<_, Infallible>(Response::new(String::from("traced")))
//!         });
//!     lambda_stream::run(service).await
//! }
//! ```

mod body;
mod future;
mod layer;
mod make_span;
#[cfg(any(feature = "tower-http", feature = "tower-http-06"))]
mod request_id;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::TraceLayer;
pub use make_span::MakeInvocationSpan;
#[cfg(any(feature = "tower-http", feature = "tower-http-06"))]
pub use request_id::LambdaRequestId;
pub use service::Trace;

/// The former name of [`TraceLayer`].
#[deprecated(note = "renamed `TraceLayer`, like the other layers of this crate")]
pub type InvocationSpanLayer = TraceLayer;

/// The former name of [`Trace`].
#[deprecated(note = "renamed `Trace`, like the other services of this crate")]
pub type InvocationSpan<S> = Trace<S>;
