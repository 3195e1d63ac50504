//! A test kit: invoke your service in-process, through the real wire path, and assert what a
//! caller would see. Behind the `testing` feature.
//!
//! A [`TestClient`] runs your service on the runtime's own worker loop against a Lambda
//! Runtime API served in-process on a loopback port: the same Runtime API client, the same
//! response stream, the same prelude and trailer encoding as on Lambda. Each invocation
//! gives back a [`TestResponse`] recorded as the caller received it: the status, headers and
//! cookies a function URL returns (cookies as `Set-Cookie`), each body chunk with the time it
//! arrived (tokio's clock, so paused time works), the whole body, the raw prelude, and why it
//! failed ([`FunctionError`]: the decoded error trailers, or the `/error` report when the
//! handler failed before its response started).
//!
//! Invoke with an `http::Request`, turned into the payload 2.0 event a function URL sends
//! ([`TestClient::request`]), or with any event as is: a fixture of a function URL, API
//! Gateway REST or ALB event, or a raw payload ([`TestClient::event`], or
//! [`TestClient::json`] for a value to serialize). An ALB cannot stream, so an ALB event is
//! answered buffered, as on Lambda: the response's body is then the ALB response object
//! (`statusCode`, `headers`, `body`...), which [`TestResponse::json`] reads.
//! [`TestClient::invocation`] sets an invocation's request id or client context;
//! [`TestClient::builder`] the function's name, configuration and timeout.
//!
//! ```toml
//! [dev-dependencies]
//! lambda-stream = { version = "0.1", features = ["testing"] }
//! ```
//!
//! # Example
//!
//! ```
//! use lambda_stream::testing::TestClient;
//! use lambda_stream::Body;
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use futures_util::{stream, StreamExt};
//! use http::{Request, Response};
//! use http_body::Frame;
//! use http_body_util::StreamBody;
//!
//! // In your tests: #[tokio::test(start_paused = true)]. Paused time: the one-second sleep
//! // takes no time, and arrival times are exact.
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
//!     let name = req.uri().query().unwrap_or("you").to_owned();
//!     let lines = stream::iter(0..2).then(move |n| {
//!         let line = format!("hello {name}\n");
//!         async move {
//!             if n > 0 {
//!                 tokio::time::sleep(Duration::from_secs(1)).await;
//!             }
//!             Ok::<_, Infallible>(Frame::data(Bytes::from(line)))
//!         }
//!     });
//!     Response::builder()
//!         .header("content-type", "text/plain")
//!         .header("set-cookie", "seen=1; Path=/")
//!         .body(StreamBody::new(lines))
//! }));
//!
//! let res = client.request(Request::get("/greet?ada").body(Body::empty())?).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.header("content-type"), Some("text/plain"));
//! assert_eq!(res.cookies(), ["seen=1; Path=/"]);
//! assert_eq!(res.text(), "hello ada\nhello ada\n");
//! let chunks = res.chunks();
//! assert_eq!(chunks.len(), 2);
//! assert_eq!(chunks[0].text(), "hello ada\n");
//! assert_eq!(chunks[1].arrived_at() - chunks[0].arrived_at(), Duration::from_secs(1));
//! assert!(res.is_complete());
//! assert_eq!(
//!     res.prelude_json().expect("a prelude")["cookies"][0],
//!     "seen=1; Path=/"
//! );
//!
//! // Any event, as is: e.g. `include_bytes!("fixtures/alb.json")`. This raw one arrives as
//! // `POST /` with the payload as body; without a prelude the response has no status of its
//! // own (200) and only its content type.
//! let res = client.event(r#""a raw event""#).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.header("content-type"), Some("text/plain"));
//! assert!(res.prelude().is_none());
//! assert_eq!(res.text(), "hello you\nhello you\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Failures
//!
//! A failing function is not an `Err`: its response says how it failed, as a caller on AWS
//! would see it. An [`Error`] means the invocation could not be made at all (an event over
//! the 6 MB payload limit, or a runtime that could not start).
//!
//! ```
//! # use lambda_stream::testing::TestClient;
//! # use lambda_stream::{Body, BoxError};
//! # use bytes::Bytes;
//! # use http::{Request, Response};
//! # use http_body::Frame;
//! # use http_body_util::StreamBody;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
//!     if req.uri().path() == "/early" {
//!         return Err::<Response<_>, BoxError>("no such item".into());
//!     }
//!     // One chunk, then the body fails.
//!     let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
//!         Ok(Frame::data(Bytes::from("partial"))),
//!         Err("the database went away".into()),
//!     ];
//!     Ok(Response::new(StreamBody::new(futures_util::stream::iter(frames))))
//! }));
//!
//! // Before the response started: reported to /error; a function URL answers 502.
//! let res = client.request(Request::get("/early").body(Body::empty())?).await?;
//! assert_eq!(res.status(), 502);
//! let error = res.error().expect("failed");
//! assert_eq!(error.error_type(), "Function.Error");
//! assert_eq!(error.error_message(), "no such item");
//! assert!(!error.is_mid_stream());
//!
//! // Mid-stream: what was sent stays, and the error trailers end the stream.
//! let res = client.request(Request::get("/late").body(Body::empty())?).await?;
//! assert_eq!(res.status(), 200);
//! assert_eq!(res.text(), "partial");
//! let error = res.error().expect("failed");
//! assert_eq!(error.error_type(), "Function.StreamError");
//! assert_eq!(error.error_message(), "the database went away");
//! assert!(error.is_mid_stream());
//! # Ok(())
//! # }
//! ```
//!
//! # Notes
//!
//! - Chunks are recorded as they reach the in-process Runtime API: a chunk the service yields
//!   is one [`Chunk`] unless it is large (HTTP chunks may be split as they are read).
//! - Invocations run one at a time, as in one Lambda execution environment; an invocation
//!   whose handler never ends holds up the next ones (on Lambda the environment would be
//!   stopped).
//! - With `#[tokio::test(start_paused = true)]` (current-thread runtime) time advances only
//!   while every task waits, so timers fire at once and arrival times are exact. The
//!   deadline the handler sees (`Context::deadline`) is on the system clock;
//!   [`Context::deadline_instant`](crate::Context::deadline_instant) follows tokio's.
//! - The runtime starts on the first invocation, on the tokio runtime that makes it; use one
//!   client within one tokio runtime.

mod builder;
mod client;
mod error;
mod invocation;
mod record;
mod response;

pub use builder::Builder;
pub use client::TestClient;
pub use error::Error;
pub use invocation::Invocation;
pub use response::{Chunk, FunctionError, TestResponse};

#[cfg(test)]
mod tests;
