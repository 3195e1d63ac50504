//! Streaming AWS Lambda functions as tower services: every chunk on the wire as it is produced.
//!
//! A handler is a [`tower::Service`](tower_service::Service) of `http::Request<Bytes>` (or of
//! `http::Request<`[`Body`]`>`, as an axum `Router` is) whose response body is any
//! [`http_body::Body`]. [`run`] connects it to the Lambda Runtime API in response-streaming
//! mode: the status and headers go first (the JSON *prelude* and 8 NUL bytes), then each body
//! chunk the moment the body yields it, and if the body fails midway, real HTTP trailers that
//! tell Lambda the response is incomplete.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use futures_util::stream;
//! use lambda_stream::http::{Request, Response};
//! use lambda_stream::{Bytes, StreamBody};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_stream::Error> {
//!     lambda_stream::run(tower::service_fn(|_req: Request<Bytes>| async {
//!         // One chunk a second: each reaches the caller as it is produced.
//!         let chunks = stream::unfold(1, |n| async move {
//!             if n > 3 {
//!                 return None;
//!             }
//!             tokio::time::sleep(Duration::from_secs(1)).await;
//!             Some((Ok::<_, Infallible>(format!("tick {n}\n")), n + 1))
//!         });
//!         Ok::<_, Infallible>(
//!             Response::builder()
//!                 .header("content-type", "text/plain")
//!                 .body(StreamBody::new(chunks))
//!                 .expect("a valid response"),
//!         )
//!     }))
//!     .await
//! }
//! ```
//!
//! [`http`], [`http_body`] and [`Bytes`], the crates lambda-stream's API is written in, are
//! re-exported; the stream helper above (`futures-util`) is the function's own dependency.
//! [`StreamBody`] makes a body of any stream of chunks, and stays ended once it ended, which
//! some layers (tower-http's compression) rely on.
//!
//! Besides a tower service, the [`writer`] style (`async fn(Request<Body>, ResponseWriter)`,
//! adapted by [`stream_fn`]) writes a response as a sequence of writes; [`IntoLambdaService`]
//! names, in one bound, what the runtime asks of a service.
//!
//! # The guide
//!
//! Each topic is written once, in the [guide]: [handlers, events and errors][handlers] (the
//! request a service gets, [`RequestExt`], what Lambda is told when something fails,
//! [`Diagnostic`]), [the local server][local-server] that [`run`] starts outside Lambda in
//! debug builds ([`local`]), [streamed or buffered][modes] ([`Runtime::response_mode`]),
//! [Managed Instances][managed-instances] ([`Runtime::run_concurrent`]), [X-Ray, the AWS SDK
//! and shutdown][xray], [coming from `lambda_http`][from-lambda-http], [testing][testing] and
//! [deploying][deploying]. These docs are the reference of each item.
//!
//! [guide]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/README.md
//! [handlers]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/handlers.md
//! [local-server]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md
//! [modes]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/response-modes.md
//! [managed-instances]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/managed-instances.md
//! [xray]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/xray-and-shutdown.md
//! [from-lambda-http]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/from-lambda-http.md
//! [testing]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/testing.md
//! [deploying]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/deploying.md
//!
//! # Features
//!
//! - `logging`: `logging::init_default_subscriber()`, a tracing subscriber that honours
//!   `AWS_LAMBDA_LOG_FORMAT` (JSON lines with the `requestId`) and `AWS_LAMBDA_LOG_LEVEL`.
//! - `local` (on by default): the [`local`] development server, which `run` starts outside
//!   Lambda in debug builds ([release builds][release-builds] leave it out).
//! - `local-release`: `run` starts the local server in release builds too
//!   (`cargo run --release`).
//! - `testing`: `testing::TestClient`, to invoke a service through the real wire path in
//!   your own tests.
//! - `graceful-shutdown`: `shutdown::spawn_graceful_shutdown_handler`, which runs a future
//!   (flush telemetry) when Lambda sends `SIGTERM`; the runtime registers the internal
//!   extension that makes Lambda send it.
//!
//! [release-builds]: https://github.com/lambda-stream/lambda-stream/blob/main/docs/local-server.md#release-builds
#![warn(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod catch_unwind;
mod client;
mod config;
mod context;
mod error;
pub mod event;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "logging")]
pub mod logging;
mod runtime;
mod service;
#[cfg(feature = "graceful-shutdown")]
pub mod shutdown;
mod stream_body;
#[cfg(feature = "testing")]
pub mod testing;
mod wire;
pub mod writer;

/// Hooks for the micro-benchmarks in `benches/compare/`: not a public API.
#[cfg(feature = "benchmarking")]
#[doc(hidden)]
#[path = "bench.rs"]
pub mod __bench;

/// Entry points for the fuzz targets in `fuzz/`: not a public API.
#[cfg(all(feature = "local", any(test, feature = "fuzzing")))]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

pub use aws_lambda_events;
pub use aws_lambda_events::query_map::QueryMap;
pub use body::Body;
/// The `bytes` crate's buffer, the one request bodies are made of: re-exported so that a
/// handler of `Request<Bytes>` needs no `bytes` dependency of its own.
pub use bytes::Bytes;
pub use config::{Config, ResponseMode, UnknownResponseMode};
pub use context::{ClientApplication, ClientContext, CognitoIdentity, Context};
pub use error::{BoxError, Diagnostic, Error};
pub use event::{PayloadError, RequestContext, RequestExt, RequestPayloadExt};
/// The `http` crate (requests, responses, headers, status codes), the version lambda-stream's
/// API is written in: re-exported so that a function needs no `http` dependency of its own.
pub use http;
/// The `http-body` crate (the [`Body`](http_body::Body) trait, [`Frame`](http_body::Frame)),
/// the version the runtime serves: re-exported so that a function needs no `http-body`
/// dependency of its own.
pub use http_body;
pub use runtime::Runtime;
pub use service::{IntoLambdaService, LambdaService};
pub use stream_body::StreamBody;
pub use writer::{stream_fn, ResponseWriter};

// The README's and the guide's Rust blocks are doctests: they compile (or run) with
// `cargo test --doc`. (`.ci/readme-crate` checks that every guide page with Rust is here.)
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../docs/README.md")]
    mod index {}
    #[doc = include_str!("../docs/deploying.md")]
    mod deploying {}
    #[doc = include_str!("../docs/door.md")]
    mod door {}
    #[doc = include_str!("../docs/from-lambda-http.md")]
    mod from_lambda_http {}
    #[doc = include_str!("../docs/handlers.md")]
    mod handlers {}
    #[doc = include_str!("../docs/host.md")]
    mod host {}
    #[doc = include_str!("../docs/local-server.md")]
    mod local_server {}
    #[doc = include_str!("../docs/managed-instances.md")]
    mod managed_instances {}
    #[doc = include_str!("../docs/middleware.md")]
    mod middleware {}
    #[doc = include_str!("../docs/response-modes.md")]
    mod response_modes {}
    #[doc = include_str!("../docs/testing.md")]
    mod testing {}
    #[doc = include_str!("../docs/xray-and-shutdown.md")]
    mod xray_and_shutdown {}
}

/// Serves Lambda invocations with `service`, configured from the environment.
///
/// Shorthand for [`Runtime::from_env()`](Runtime::from_env)`.run(service)`; see the crate
/// docs for an example. Returns only on a fatal error; return it from `main`.
pub async fn run<S, M>(service: S) -> Result<(), Error>
where
    S: IntoLambdaService<M>,
{
    Runtime::from_env().run(service).await
}
