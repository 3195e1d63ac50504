//! A handler in lambda-stream's own shape: a `tower::Service<Request<Bytes>>` returning a
//! `Response<StreamBody<..>>`, given to `run` (or `run_concurrent`) as it is.
//!
//! It streams the request body back one line per chunk, 100 ms apart; without a body, three
//! lines of its own. Each line is a slice of the request's buffer: nothing is copied.
//!
//! ```text
//! cargo run --example design_shape
//! # in another terminal: the lines arrive 100 ms apart
//! curl -N -d $'one\ntwo\nthree\n' http://127.0.0.1:7000/
//! ```
//!
//! With `AWS_LAMBDA_MAX_CONCURRENCY` set (Lambda Managed Instances), it serves that many
//! invocations at once with `run_concurrent`.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::{self, Stream};
use lambda_stream::http::{Request, Response};
use lambda_stream::{Bytes, Runtime, StreamBody};

/// What a request without a body hears back.
pub const DEFAULT_TEXT: &str = "Hello\nfrom\nlambda-stream\n";

/// The time between two lines.
pub const GAP: Duration = Duration::from_millis(100);

/// `text` in lines (each with its `\n`; the last may have none), slices of `text` itself: the
/// first at once, each next one [`GAP`] after the one before.
pub fn lines(text: Bytes) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    stream::unfold((text, true), |(rest, first)| async move {
        if rest.is_empty() {
            return None;
        }
        if !first {
            tokio::time::sleep(GAP).await;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = rest.slice(..end);
        Some((Ok(line), (rest.slice(end..), false)))
    })
}

/// The handler: the request's body, streamed back line by line.
pub async fn handler(
    req: Request<Bytes>,
) -> Result<Response<StreamBody<impl Stream<Item = Result<Bytes, Infallible>> + Send>>, Infallible>
{
    let body = req.into_body();
    let text = if body.is_empty() {
        Bytes::from_static(DEFAULT_TEXT.as_bytes())
    } else {
        body
    };
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .header("x-lines", text.iter().filter(|&&b| b == b'\n').count())
        .body(StreamBody::new(lines(text)))
        .expect("static parts are valid"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::Error> {
    let service = tower::service_fn(handler);
    let runtime = Runtime::from_env();
    if runtime.config().max_concurrency.is_some() {
        runtime.run_concurrent(service).await
    } else {
        runtime.run(service).await
    }
}
