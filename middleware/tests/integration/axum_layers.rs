//! The layers applied the axum way, `Router::layer`, where axum wraps a body's error in
//! `axum::Error`, and around the router with `ServiceBuilder`: the error type a layer chose
//! reaches the error trailers on the wire either way.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::Request;
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::Body;
use lambda_stream_middleware::deadline::{self, DeadlineLayer};
use lambda_stream_middleware::response_limit::{self, ResponseLimitLayer};
use lambda_stream_middleware::trace::TraceLayer;
use tower::ServiceBuilder;
use tower_http::cors::CorsLayer;

use crate::support::ticking;

/// `/` streams `"0,"`, `"1,"`, ... 100 ms apart, for ever.
fn ticking_router() -> Router {
    Router::new().route(
        "/",
        get(|| async { axum::body::Body::new(ticking(Duration::from_millis(100))) }),
    )
}

async fn get_root(client: &TestClient) -> TestResponse {
    let req = Request::get("/").body(Body::empty()).unwrap();
    client.request(req).await.unwrap()
}

/// Asserts the stream carried some ticks, then ended with error trailers of `error_type`
/// (the type itself, not `Function.StreamError` with the type in its message).
fn assert_cut_with(res: &TestResponse, error_type: &str) {
    assert!(res.text().starts_with("0,1,"), "{:?}", res.text());
    let error = res.error().expect("error trailers");
    assert_eq!(error.error_type(), error_type, "{error:?}");
    assert!(
        !error.error_message().starts_with(error_type),
        "the message repeats the type: {error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn router_layer_deadline_reports_function_timeout() {
    let client = TestClient::builder()
        .timeout(Duration::from_secs(1))
        .build(ticking_router().layer(DeadlineLayer::new(Duration::from_millis(300))));
    assert_cut_with(&get_root(&client).await, deadline::ERROR_TYPE);
}

#[tokio::test(start_paused = true)]
async fn service_builder_deadline_around_the_router_reports_function_timeout() {
    let client = TestClient::builder().timeout(Duration::from_secs(1)).build(
        ServiceBuilder::new()
            .layer(DeadlineLayer::new(Duration::from_millis(300)))
            .service(ticking_router()),
    );
    assert_cut_with(&get_root(&client).await, deadline::ERROR_TYPE);
}

#[tokio::test(start_paused = true)]
async fn router_layer_response_limit_reports_response_size_too_large() {
    // Eight ticks of two bytes each fit, the ninth passes the limit.
    let client = TestClient::builder()
        .timeout(Duration::from_secs(10))
        .build(ticking_router().layer(ResponseLimitLayer::new(17)));
    assert_cut_with(&get_root(&client).await, response_limit::ERROR_TYPE);
}

#[tokio::test(start_paused = true)]
async fn service_builder_response_limit_around_the_router_reports_response_size_too_large() {
    let client = TestClient::builder()
        .timeout(Duration::from_secs(10))
        .build(
            ServiceBuilder::new()
                .layer(ResponseLimitLayer::new(17))
                .service(ticking_router()),
        );
    assert_cut_with(&get_root(&client).await, response_limit::ERROR_TYPE);
}

/// tower-http's `CorsLayer` answers preflight requests itself with a default body of the
/// inner service's body type: every layer of this crate has one, so CORS goes anywhere in
/// the stack.
#[tokio::test(start_paused = true)]
async fn cors_answers_a_preflight_around_every_layer_of_this_crate() {
    let client = TestClient::new(
        ticking_router().layer(
            ServiceBuilder::new()
                .layer(CorsLayer::permissive())
                .layer(TraceLayer::new())
                .layer(DeadlineLayer::new(Duration::from_millis(300)))
                .layer(ResponseLimitLayer::lambda()),
        ),
    );
    let req = Request::options("/")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert!(res.body().is_empty());
    assert!(res.error().is_none(), "{:?}", res.error());
}
