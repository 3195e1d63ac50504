//! The response limit layer through the runtime, against the Runtime API mock.

#[path = "../../tests/support/mod.rs"]
mod support;

use lambda_stream::Body;
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream_middleware::response_limit::ResponseLimitLayer;
use support::{MockEvent, MockRuntimeApi};
use tower::ServiceBuilder;

const URL_EVENT: &str = include_str!("../../tests/fixtures/events/function-url-get.json");

#[tokio::test]
async fn a_body_past_the_limit_ends_with_a_size_trailer_after_whole_chunks() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::new("big", URL_EVENT));
    let service = ServiceBuilder::new()
        .layer(ResponseLimitLayer::new(16))
        .service_fn(|_req: Request<Body>| async {
            let parts = ["0123456789", "abcdef", "g", "never"];
            let s = stream::iter(
                parts.map(|p| Ok::<_, Infallible>(Frame::data(Bytes::from_static(p.as_bytes())))),
            );
            Ok::<_, Infallible>(Response::new(StreamBody::new(s)))
        });
    let rt = support::spawn_runtime(&mock, service);
    let res = mock.response().await;
    assert_eq!(res.split().1, b"0123456789abcdef");
    let (ty, json) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.ResponseSizeTooLarge");
    assert!(json["errorMessage"]
        .as_str()
        .unwrap()
        .contains("16-byte limit"));
    assert!(res.complete);
    rt.abort();
}
