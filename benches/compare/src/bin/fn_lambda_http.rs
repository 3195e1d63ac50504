//! The benchmark function on lambda_http's `run_with_streaming_response`.
//!
//! `BENCH_ENTRY` picks the entry point (see `bench_fn::entry`): `channel` has the handler
//! write its chunks into `lambda_runtime::streaming::channel` instead of returning the
//! shared body type.
use std::convert::Infallible;

use lambda_http::lambda_runtime::streaming;

/// The same chunks through lambda_runtime's own body channel, sent by a spawned task.
fn channel_response(path: &str) -> http::Response<streaming::Body> {
    let (mut tx, rx) = streaming::channel();
    let path = path.to_owned();
    tokio::spawn(async move {
        if path == "/tokens" {
            for chunk in bench_fn::tokens() {
                if tx.send_data(chunk).await.is_err() {
                    return;
                }
            }
        } else {
            let mut body = bench_fn::Chunks::for_path(&path);
            while let Some(chunk) = bench_fn::next_chunk(&mut body).await {
                if tx.send_data(chunk).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut res = http::Response::new(rx);
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    res
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    match bench_fn::entry().as_str() {
        "channel" => {
            lambda_http::run_with_streaming_response(tower::service_fn(
                |req: lambda_http::Request| async move {
                    Ok::<_, Infallible>(channel_response(req.uri().path()))
                },
            ))
            .await
        }
        _ => {
            lambda_http::run_with_streaming_response(tower::service_fn(
                |req: lambda_http::Request| async move {
                    Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
                },
            ))
            .await
        }
    }
}
