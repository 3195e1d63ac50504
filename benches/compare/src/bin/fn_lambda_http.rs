//! The benchmark function on lambda_http's `run_with_streaming_response`.
//!
//! `BENCH_ENTRY` picks the entry point (see `bench_fn::entry`): `channel` has the handler
//! write its chunks into `lambda_runtime::streaming::channel` instead of returning the
//! shared body type (`bench_fn::lambda_channel_response`; `BENCH_BODY=channel` does the same);
//! `concurrent` serves the shared body with `run_with_streaming_response_concurrent` (as many
//! workers as `AWS_LAMBDA_MAX_CONCURRENCY` asks for).
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    if bench_fn::entry() == "concurrent" {
        lambda_http::run_with_streaming_response_concurrent(tower::service_fn(
            |req: lambda_http::Request| async move {
                Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
            },
        ))
        .await
    } else if bench_fn::entry() == "channel" || bench_fn::lambda_channel_body() {
        lambda_http::run_with_streaming_response(tower::service_fn(
            |req: lambda_http::Request| async move {
                Ok::<_, Infallible>(bench_fn::lambda_channel_response(req.uri().path()))
            },
        ))
        .await
    } else {
        lambda_http::run_with_streaming_response(tower::service_fn(
            |req: lambda_http::Request| async move {
                Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
            },
        ))
        .await
    }
}
