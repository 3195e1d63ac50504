//! The binary-size function on lambda_http: the same `streaming_numbers` function as
//! `size_lambda_stream`, served by `lambda_http::run_with_streaming_response`. lambda_http
//! wants an `Unpin` body, so the stream and the body are boxed and pinned.
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http::Response;
use http_body::Frame;
use http_body_util::StreamBody;

/// The body: the lines' stream, boxed, in a boxed `StreamBody`.
type Numbers =
    Pin<Box<StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>>>;

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
async fn handler(_req: lambda_http::Request) -> Result<Response<Numbers>, Infallible> {
    let lines: Pin<Box<dyn Stream<Item = _> + Send>> = Box::pin(numbers());
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(Box::pin(StreamBody::new(lines)))
        .expect("static parts are valid"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run_with_streaming_response(tower::service_fn(handler)).await
}
