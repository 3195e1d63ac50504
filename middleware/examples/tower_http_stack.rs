//! A streaming service behind a tower-http stack and lambda-stream's own layers:
//! `TraceLayer` (with Lambda's span fields and request id), our `DeadlineLayer`, `CorsLayer`,
//! `SetResponseHeaderLayer` and `CompressionLayer`.
//!
//! ```text
//! cargo run -p lambda-stream-middleware --example tower_http_stack
//! ```

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use lambda_stream::StreamBody;
use lambda_stream_middleware::deadline::DeadlineLayer;
use lambda_stream_middleware::trace::{LambdaRequestId, MakeInvocationSpan};
use tower::{BoxError, Service, ServiceBuilder};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// How long before Lambda's deadline the deadline layer acts.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Five lines, 200 ms apart. (Boxed: `CorsLayer` wants a body with a `Default`, for the
/// preflight answers it makes itself.)
pub async fn ticks(
    _req: Request<Body>,
) -> Result<Response<UnsyncBoxBody<Bytes, Infallible>>, Infallible> {
    let lines = stream::unfold(1u32, |n| async move {
        if n > 5 {
            return None;
        }
        if n > 1 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some((Ok(format!("tick {n}\n")), n + 1))
    });
    // `lambda_stream::StreamBody` stays ended once ended: tower-http's compression polls the
    // body once more after its end, and a bare `unfold` stream panics when polled after it
    // returned `None`.
    let mut res = Response::new(StreamBody::new(lines).boxed_unsync());
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

/// The whole stack around [`ticks`], as a service of the runtime's `Request<Body>`.
pub fn app() -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = impl Into<BoxError>> + Send>,
    Error = impl Into<BoxError>,
    Future = impl Send,
> + Send
       + Clone {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Outside the compression, so that its Function.Timeout error reaches the runtime as is.
        .layer(DeadlineLayer::new(DEADLINE_MARGIN))
        .layer(
            CorsLayer::new()
                .allow_origin(HeaderValue::from_static("https://example.com"))
                .allow_methods([Method::GET]),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(CompressionLayer::new())
        .service_fn(ticks)
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    tracing_subscriber::fmt().with_ansi(false).init();
    lambda_stream::run(app()).await?;
    Ok(())
}
