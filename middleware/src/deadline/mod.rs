//! Ends an invocation cleanly before Lambda's deadline: [`DeadlineLayer`].
//!
//! Lambda stops a function at its timeout (at most 900 s), mid-write if need be: the caller
//! of a streamed response then sees a connection that stops, not an error. This middleware
//! reads the invocation's deadline from the request's [`lambda_stream::Context`] extension and
//! acts a safety margin before it:
//!
//! - If the inner service has not answered yet, it answers for it: `504 Gateway Timeout`
//!   with an empty body. (A raw, non-HTTP invocation has no status to show, so there the body
//!   fails at once and the runtime reports the error, as below.)
//! - If the response body is still streaming, it ends the body with a
//!   [`Diagnostic`](lambda_stream::Diagnostic) of type [`ERROR_TYPE`]
//!   (`Function.Timeout`): the runtime ends the stream with the
//!   `Lambda-Runtime-Function-Error-*` trailers, so the caller learns the response is
//!   incomplete, and the inner body is dropped.
//!
//! On Lambda Managed Instances the platform does not stop a late invocation at all: the
//! function must watch its own deadline, and this layer is how.
//!
//! The margin must cover sending the trailers and the Runtime API's reply: a few hundred
//! milliseconds is plenty on Lambda. A request without a `Context` (or without a deadline)
//! passes through untouched.
//!
//! The layer also puts a [`Cutoff`] in the request's extensions, so a handler can wind down
//! on its own terms (say, close a JSON array or send a last SSE event) before the layer cuts it.
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use futures_util::stream;
    use http::{Request, Response, StatusCode};
    use http_body::{Body as _, Frame};
    use http_body_util::{BodyExt, Full, StreamBody};
    use lambda_stream::{Body, Context, Diagnostic, RequestContext, RequestExt};
    use tokio::time::Instant;
    use tower::{service_fn, Layer, ServiceExt};

    use super::*;

    const MARGIN: Duration = Duration::from_secs(1);

    /// A request whose deadline is `left` away, from an HTTP event unless `raw`.
    fn request(left: Option<Duration>, raw: bool) -> Request<Body> {
        let mut ctx = Context::default();
        ctx.request_id = "req-1".into();
        ctx.deadline = left.map(|l| SystemTime::now() + l);
        let req = Request::new(Body::empty()).with_lambda_context(ctx);
        if raw {
            return req;
        }
        req.with_request_context(RequestContext::ApiGatewayV2(Default::default()))
    }

    fn ticking(
        gap: Duration,
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        StreamBody::new(stream::unfold(0u32, move |n| async move {
            tokio::time::sleep(gap).await;
            Some((Ok(Frame::data(Bytes::from(format!("{n},")))), n + 1))
        }))
    }

    fn diagnostic(err: lambda_stream::BoxError) -> Diagnostic {
        *err.downcast::<Diagnostic>().expect("a Diagnostic")
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_becomes_a_504_at_the_margin() {
        let start = Instant::now();
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"too late"))))
        }));
        let res = svc
            .oneshot(request(Some(Duration::from_secs(10)), false))
            .await
            .unwrap();
        let waited = start.elapsed();
        assert!(
            waited > Duration::from_secs(8) && waited <= Duration::from_secs(9),
            "{waited:?}"
        );
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = res.into_body();
        assert!(body.is_end_stream());
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_raw_invocation_fails_its_body() {
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|_req: Request<Body>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
        let res = svc
            .oneshot(request(Some(Duration::from_secs(5)), true))
            .await
            .unwrap();
        let mut body = std::pin::pin!(res.into_body());
        assert!(!body.is_end_stream());
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(diagnostic(err).error_type(), "Function.Timeout");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_streaming_ends_with_a_timeout_error_at_the_margin() {
        let start = Instant::now();
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(ticking(Duration::from_millis(400))))
        }));
        let res = svc
            .oneshot(request(Some(Duration::from_secs(5)), false))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = std::pin::pin!(res.into_body());
        let mut data = vec![];
        let err = loop {
            match body
                .frame()
                .await
                .expect("the body ends with an error, not cleanly")
            {
                Ok(frame) => data.push(frame.into_data().unwrap()),
                Err(err) => break err,
            }
        };
        let at = start.elapsed();
        assert!(
            at > Duration::from_millis(3900) && at <= Duration::from_secs(4),
            "{at:?}"
        );
        // Chunks at 0.4 s .. 3.6 s; the tenth would land on the cutoff at 4 s, which wins.
        assert_eq!(data.len(), 9, "{data:?}");
        let d = diagnostic(err);
        assert_eq!(d.error_type(), ERROR_TYPE);
        assert!(d.error_message().contains("before the invocation deadline"));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none(), "nothing after the error");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_always_has_data_is_still_cut() {
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|_req: Request<Body>| async {
            let forever =
                stream::repeat_with(|| Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))));
            Ok::<_, Infallible>(Response::new(StreamBody::new(forever)))
        }));
        let res = svc
            .oneshot(request(Some(Duration::from_secs(2)), false))
            .await
            .unwrap();
        let mut body = std::pin::pin!(res.into_body());
        let mut frames = 0u64;
        let err = loop {
            match body.frame().await.unwrap() {
                Ok(_) => {
                    frames += 1;
                    if frames % 1000 == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                Err(err) => break err,
            }
        };
        assert_eq!(diagnostic(err).error_type(), ERROR_TYPE);
    }

    #[tokio::test(start_paused = true)]
    async fn on_time_responses_and_requests_without_deadline_pass_through() {
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|req: Request<Body>| async move {
            let cutoff = req.extensions().get::<Cutoff>().copied();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let text = match cutoff {
                Some(c) => format!("cutoff in {}s", c.remaining().as_secs()),
                None => "no cutoff".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        }));
        let res = svc
            .clone()
            .oneshot(request(Some(Duration::from_secs(10)), false))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        // 10 s minus the margin minus the 2 s slept, rounded down.
        assert_eq!(body, "cutoff in 6s");

        let start = Instant::now();
        let res = svc.oneshot(request(None, false)).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "no cutoff");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_inside_the_margin_answers_at_once() {
        let svc = DeadlineLayer::new(Duration::from_secs(5)).layer(service_fn(
            |_req: Request<Body>| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            },
        ));
        let start = Instant::now();
        let res = svc
            .oneshot(request(Some(Duration::from_secs(2)), false))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn inner_body_errors_pass_through() {
        let svc = DeadlineLayer::new(MARGIN).layer(service_fn(|_req: Request<Body>| async {
            let s = stream::iter(vec![Err::<Frame<Bytes>, _>(Diagnostic::new(
                "Function.Mine",
                "inner",
            ))]);
            Ok::<_, Infallible>(Response::new(StreamBody::new(s)))
        }));
        let res = svc
            .oneshot(request(Some(Duration::from_secs(10)), false))
            .await
            .unwrap();
        let err = res.into_body().collect().await.unwrap_err();
        assert_eq!(diagnostic(err).error_type(), "Function.Mine");
    }
}
