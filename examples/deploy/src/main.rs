//! streaming-numbers: streams "Number: 1" to "Number: 3" one second apart, then
//! "Streaming complete!", each line reaching the caller the moment it is written.
//!
//! - `GET /`: the four lines, with a custom header and two cookies.
//! - `GET /fail`: the same stream, failing in place of its last line. The caller sees the
//!   response end as a failure (error trailers, or an aborted transfer), never a clean end.
//! - anything else: `404`.
//!
//! `LAMBDA_STREAM_RESPONSE_MODE=buffered` answers with the whole response at once instead, as
//! a function URL in `BUFFERED` invoke mode expects.
//!
//! ```text
//! cargo run                  # serves on http://127.0.0.1:7000/
//! cargo lambda watch         # or under cargo-lambda: http://127.0.0.1:9000/lambda-url/streaming-numbers/
//! ```

use std::io;
use std::time::Duration;

use futures_util::stream::{self, Stream};
use http_body_util::{Either, Full};
use lambda_stream::http::{self, Request, Response, StatusCode};
use lambda_stream::{Body, Bytes, StreamBody};

/// The lines, one second apart; with `fail`, an error in place of the last one.
fn numbers(fail: bool) -> impl Stream<Item = Result<String, io::Error>> + Send {
    stream::unfold(1u32, move |n| async move {
        if n > 4 {
            return None;
        }
        if n > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let line = match n {
            1..=3 => Ok(format!("Number: {n}\n")),
            _ if fail => Err(io::Error::other("the numbers ran out")),
            _ => Ok("Streaming complete!\n".to_owned()),
        };
        Some((line, n + 1))
    })
}

/// The body of every response: the stream, or a whole one.
type NumbersBody<S> = Either<StreamBody<S>, Full<Bytes>>;

/// The handler.
async fn handler(
    req: Request<Body>,
) -> Result<Response<NumbersBody<impl Stream<Item = Result<String, io::Error>> + Send>>, http::Error>
{
    let response = Response::builder()
        .header("content-type", "text/plain")
        .header("x-my-custom-header", "streaming-example");
    match req.uri().path() {
        path @ ("/" | "/fail") => response
            .status(StatusCode::OK)
            .header("set-cookie", "flavour=oatmeal; Path=/")
            .header("set-cookie", "visits=1; Max-Age=60; HttpOnly")
            .body(Either::Left(StreamBody::new(numbers(path == "/fail")))),
        _ => response
            .status(StatusCode::NOT_FOUND)
            .body(Either::Right(Full::from("not found\n"))),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::Error> {
    lambda_stream::logging::init_default_subscriber();
    lambda_stream::run(tower::service_fn(handler)).await
}
