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
//! - `tower-http` (off by default): hooks for tower-http 0.7's `TraceLayer` and
//!   `SetRequestIdLayer` (see [`trace`]).
//! - `tower-http-06` (off by default): the same hooks for tower-http 0.6, for a project that
//!   has not moved to 0.7 yet. Both may be on.
//!
//! Each tower-http version has traits of its own: a hook is a `MakeSpan` only of the versions
//! whose feature is on. Without the feature of the version your project uses, rustc says
//! "expected a `FnMut(&Request<Body>)` closure, found `MakeInvocationSpan`" (`cargo tree -i
//! tower-http` shows which versions you have).
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// `get_ref`, `get_mut` and `into_inner` for a middleware service whose inner service is the
/// field `inner: S`.
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Consumes the middleware, returning the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub mod deadline;
pub mod response_limit;
pub mod trace;

pub use lambda_stream;
