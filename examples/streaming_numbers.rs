//! Streams "Number: 1" to "Number: 3" one second apart, then "Streaming complete!".
//!
//! Each line reaches the caller the moment it is written: watch it with
//! `curl -N` against the function URL.
//!
//! ```text
//! cargo run --example streaming_numbers
//! ```

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::{self, Stream};
use http::{Request, Response};
use lambda_stream::StreamBody;

/// The lines, one second apart.
pub fn numbers() -> impl Stream<Item = Result<String, Infallible>> + Send {
    stream::unfold(1u32, |n| async move {
        let line = match n {
            1..=3 => format!("Number: {n}\n"),
            4 => "Streaming complete!\n".to_owned(),
            _ => return None,
        };
        if n > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Some((Ok(line), n + 1))
    })
}

/// The handler: any request gets the stream.
pub async fn handler(
    _req: Request<Body>,
) -> Result<Response<StreamBody<impl Stream<Item = Result<String, Infallible>> + Send>>, Infallible>
{
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("x-my-custom-header", "streaming-example")
        .body(StreamBody::new(numbers()))
        .expect("static parts are valid"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    tracing_subscriber::fmt().with_ansi(false).init();
    lambda_stream::run(tower::service_fn(handler)).await?;
    Ok(())
}
