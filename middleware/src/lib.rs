//! Lambda-aware tower middleware for [`lambda-stream`](lambda_stream): layers that know the
//! invocation's deadline, request id and trace id, which generic HTTP middleware cannot.
//!
//! Like tower-http beside tower, each middleware has its own module with a `FooLayer`, the
//! `Foo` service, its `ResponseFuture` and (when it wraps the body) its `ResponseBody`:
//!
//! - [`deadline`]: answers `504` or ends the stream with a `Function.Timeout` error trailer a
//!   safety margin before Lambda's deadline, instead of being killed mid-write.
//! - [`response_limit`]: ends a body that would pass Lambda's 200 MB streaming cap with a
//!   `Function.ResponseSizeTooLarge` error trailer, instead of a silent cut by the platform.
//! - [`trace`]: a span per invocation with the request id, X-Ray trace id and cold-start flag;
//!   hooks for tower-http's `TraceLayer` and `SetRequestIdLayer`.
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
//!             Ok::<_, Infallible>(Response::new(String::from("hello")))
//!         });
//!     lambda_stream::run(service).await
//! }
//! ```
//!
//! # Features
//!
//! - `tower-http` (off by default): hooks for tower-http's `TraceLayer` and `SetRequestIdLayer`
//!   (see [`trace`]).
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod deadline;
pub mod response_limit;
pub mod trace;

pub use lambda_stream;
