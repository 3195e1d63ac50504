//! Both example handlers in the writer style: `write_status_and_headers`, `write`, `finish`,
//! `write_and_finish`, adapted into a tower service by `lambda_stream::stream_fn`.
//!
//! - `streaming_numbers`: "Number: 1" to "Number: 3" one second apart, then
//!   "Streaming complete!".
//! - `conditional_streaming`: a 400 JSON error in one piece when the request asks for an error
//!   (its body or query string contains "error"), else a JSON array of five items 500 ms apart.
//!
//! The function's handler setting (`_HANDLER`) chooses which one runs:
//!
//! ```text
//! _HANDLER=conditional_streaming cargo run --example writer_style
//! ```

use lambda_stream::Body;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use lambda_stream::writer::{self, ResponseWriter};

/// `examples/streaming_numbers.rs`, writer style.
pub async fn streaming_numbers(
    _req: Request<Body>,
    mut out: ResponseWriter,
) -> Result<(), writer::Error> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(
        "x-my-custom-header",
        HeaderValue::from_static("streaming-example"),
    );
    out.write_status_and_headers(StatusCode::OK, headers)?;
    for n in 1..=3 {
        if n > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        out.write(format!("Number: {n}\n")).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    out.write_and_finish("Streaming complete!\n").await
}

/// Whether the request asks for the error response.
pub fn wants_error(req: &Request<Body>) -> bool {
    let in_body = req.body().windows(5).any(|w| w == b"error");
    let in_query = req.uri().query().is_some_and(|q| q.contains("error"));
    in_body || in_query
}

/// `examples/conditional_streaming.rs`, writer style.
pub async fn conditional_streaming(
    req: Request<Body>,
    mut out: ResponseWriter,
) -> Result<(), writer::Error> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if wants_error(&req) {
        headers.insert("x-error-type", HeaderValue::from_static("client-error"));
        out.write_status_and_headers(StatusCode::BAD_REQUEST, headers)?;
        return out
            .write_and_finish(r#"{"error":"Bad request","message":"Error requested in input"}"#)
            .await;
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.write_status_and_headers(StatusCode::OK, headers)?;
    for i in 1..=5 {
        if i > 1 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let open = if i == 1 { "[" } else { "," };
        out.write(format!(r#"{open}{{"id":{i},"timestamp":"{epoch}"}}"#))
            .await?;
    }
    out.write_and_finish("]").await
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    tracing_subscriber::fmt().with_ansi(false).init();
    match std::env::var("_HANDLER").as_deref() {
        Ok("conditional_streaming") => {
            lambda_stream::run(lambda_stream::stream_fn(conditional_streaming)).await?
        }
        _ => lambda_stream::run(lambda_stream::stream_fn(streaming_numbers)).await?,
    }
    Ok(())
}
