//! The benchmark function on lambda-stream.
//!
//! `BENCH_ENTRY` picks the entry point (see `bench_fn::entry`); `BENCH_FLAVOR=current_thread`
//! builds the runtime that `#[tokio::main(flavor = "current_thread")]` builds instead of the
//! multi-thread one of a plain `#[tokio::main]`. `BENCH_BODY=channel` returns the body of
//! `lambda_runtime::streaming::channel()` (`bench_fn::lambda_channel_response`) instead of the
//! shared one; `BENCH_WRITER_CHANNEL=N` sets the writer style's channel capacity.
use std::convert::Infallible;

use lambda_stream::writer::{self, ResponseWriter};
use lambda_stream::Body;

/// The writer style: the same chunks, written by the handler itself.
async fn write(req: http::Request<Body>, mut out: ResponseWriter) -> Result<(), writer::Error> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    out.write_status_and_headers(http::StatusCode::OK, headers)?;
    if req.uri().path() == "/tokens" {
        for chunk in bench_fn::tokens() {
            out.write(chunk).await?;
        }
    } else {
        let mut body = bench_fn::Chunks::for_path(req.uri().path());
        while let Some(chunk) = bench_fn::next_chunk(&mut body).await {
            out.write(chunk).await?;
        }
    }
    out.finish().await
}

/// Serves `service` with the entry point `BENCH_ENTRY` names (`writer` is served apart).
async fn serve_with<S>(service: S) -> Result<(), lambda_stream::Error>
where
    S: lambda_stream::LambdaService + Clone + Send + 'static,
    S::Future: Send,
{
    match bench_fn::entry().as_str() {
        "concurrent" => {
            lambda_stream::Runtime::from_env()
                .run_concurrent(service)
                .await
        }
        _ => lambda_stream::run(service).await,
    }
}

async fn serve() -> Result<(), lambda_stream::Error> {
    if bench_fn::entry() == "writer" {
        let service = writer::stream_fn(write);
        let service = match bench_fn::writer_channel() {
            Some(capacity) => service.channel_capacity(capacity),
            None => service,
        };
        return lambda_stream::run(service).await;
    }
    if bench_fn::lambda_channel_body() {
        serve_with(tower::service_fn(|req: http::Request<Body>| async move {
            Ok::<_, Infallible>(bench_fn::lambda_channel_response(req.uri().path()))
        }))
        .await
    } else {
        serve_with(tower::service_fn(|req: http::Request<Body>| async move {
            Ok::<_, Infallible>(bench_fn::response(req.uri().path()))
        }))
        .await
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = match std::env::var("BENCH_FLAVOR").as_deref() {
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()?.block_on(serve())?;
    Ok(())
}
