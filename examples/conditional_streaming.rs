//! Answers 400 with a JSON error in one piece when the request asks for an error (its body or
//! query string contains "error"); otherwise streams a JSON array of five items 500 ms apart.
//!
//! ```text
//! cargo run --example conditional_streaming
//! ```

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use lambda_stream::StreamBody;

/// Whether the request asks for the error response.
pub fn wants_error(req: &Request<Body>) -> bool {
    let in_body = req.body().windows(5).any(|w| w == b"error");
    let in_query = req.uri().query().is_some_and(|q| q.contains("error"));
    in_body || in_query
}

/// The handler.
pub async fn handler(
    req: Request<Body>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let response = if wants_error(&req) {
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "application/json")
            .header("x-error-type", "client-error")
            .body(
                Full::new(Bytes::from_static(
                    br#"{"error":"Bad request","message":"Error requested in input"}"#,
                ))
                .boxed(),
            )
    } else {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("cache-control", "no-cache")
            .body(BodyExt::boxed(StreamBody::new(items())))
    };
    Ok(response.expect("static parts are valid"))
}

/// `[` + five `{"id":i,"timestamp":"<epoch ms>"}` items 500 ms apart + `]`, as they happen.
fn items() -> impl futures_util::Stream<Item = Result<String, Infallible>> + Send {
    stream::unfold(1u32, |i| async move {
        let chunk = match i {
            1..=5 => {
                if i > 1 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                let epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                let open = if i == 1 { "[" } else { "," };
                format!(r#"{open}{{"id":{i},"timestamp":"{epoch}"}}"#)
            }
            6 => "]".to_owned(),
            _ => return None,
        };
        Some((Ok(chunk), i + 1))
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    tracing_subscriber::fmt().with_ansi(false).init();
    lambda_stream::run(tower::service_fn(handler)).await?;
    Ok(())
}
