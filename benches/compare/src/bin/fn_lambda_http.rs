//! The benchmark function on lambda_http's `run_with_streaming_response`.
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run_with_streaming_response(tower::service_fn(
        |req: lambda_http::Request| async move {
            Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
        },
    ))
    .await
}
