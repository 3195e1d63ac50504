//! The benchmark function on lambda-stream.
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_stream::Error> {
    lambda_stream::run(tower::service_fn(
        |req: http::Request<lambda_stream::Body>| async move {
            Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
        },
    ))
    .await
}
