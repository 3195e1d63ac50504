//! The response limit layer: through the runtime with the test kit, and at the level of its
//! body.

use crate::support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use lambda_stream::testing::TestClient;
use lambda_stream::Body;
use lambda_stream_middleware::response_limit::{ResponseLimit, ResponseLimitLayer, ERROR_TYPE};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

use support::{diagnostic, ready_chunks, Announced};

#[tokio::test(start_paused = true)]
async fn a_body_past_the_limit_ends_with_a_size_trailer_after_whole_chunks() {
    let client = TestClient::new(
        ServiceBuilder::new()
            .layer(ResponseLimitLayer::new(16))
            .service_fn(|_req: Request<Body>| async {
                let body = ready_chunks(&["0123456789", "abcdef", "g", "never"]);
                Ok::<_, Infallible>(Response::new(body))
            }),
    );
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text(), "0123456789abcdef");
    let error = res.error().expect("the trailers");
    assert_eq!(error.error_type(), ERROR_TYPE);
    assert!(error.is_mid_stream());
    assert!(error.error_message().contains("16-byte limit"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_body_within_the_limit_is_untouched() {
    let client = TestClient::new(ResponseLimit::new(
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"0123456789"))))
        }),
        10,
    ));
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.text(), "0123456789");
    assert!(res.error().is_none(), "{:?}", res.error());
}

#[tokio::test]
async fn the_body_ends_at_its_error_and_never_promises_more_than_the_limit() {
    let svc = ResponseLimitLayer::new(10).layer(service_fn(|req: Request<()>| async move {
        let body = match req.uri().path() {
            // Within the limit: its own hint.
            "/small" => Announced::new(ready_chunks(&["0123456789"]), 10),
            // Announces more than the limit leaves.
            _ => Announced::new(ready_chunks(&["0123", "456789", "x"]), 11),
        };
        Ok::<_, Infallible>(Response::new(body))
    }));
    let res = svc
        .clone()
        .oneshot(Request::get("/small").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.body().size_hint().exact(), Some(10));

    let res = svc
        .oneshot(Request::get("/big").body(()).unwrap())
        .await
        .unwrap();
    let hint = res.body().size_hint();
    assert_eq!((hint.lower(), hint.upper()), (0, Some(10)));
    let mut body = std::pin::pin!(res.into_body());
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "0123");
    assert_eq!(body.size_hint().upper(), Some(6));
    let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(second, "456789");
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(diagnostic(err).error_type(), ERROR_TYPE);
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(body.frame().await.is_none());
}
