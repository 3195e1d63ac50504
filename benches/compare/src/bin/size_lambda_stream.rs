//! The binary-size function on lambda-stream: `streaming_numbers` (three lines one second
//! apart, then "Streaming complete!") served by `lambda_stream::run`, with no tracing
//! subscriber. `size_lambda_http` is the same function on lambda_http; the `compare` bench's
//! "stripped release binary" row is the size of these two (see BENCHMARKS.md).
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream::Body;

/// The lines, one second apart.
fn numbers() -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
    stream::unfold(1u32, |n| async move {
        let line = match n {
            1..=3 => format!("Number: {n}\n"),
            4 => "Streaming complete!\n".to_owned(),
            _ => return None,
        };
        if n > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Some((Ok(Frame::data(Bytes::from(line))), n + 1))
    })
}

/// Any request gets the stream.
async fn handler(
    _req: Request<Body>,
) -> Result<
    Response<StreamBody<impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>,
    Infallible,
> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(StreamBody::new(numbers()))
        .expect("static parts are valid"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    lambda_stream::run(tower::service_fn(handler)).await?;
    Ok(())
}
