//! The deadline layer: through the runtime with the test kit (paused time, so every instant is
//! exact up to the few real milliseconds between the Runtime API handing out the deadline and
//! the layer reading it), and at the level of its body.

use crate::support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Full, StreamBody};
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::{Body, Diagnostic};
use lambda_stream_middleware::deadline::{Cutoff, Deadline, DeadlineLayer, ERROR_TYPE};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

use support::{diagnostic, request_due_in, ticking, Announced};

/// What the real clock may take between the deadline being set and read.
const SLACK: Duration = Duration::from_millis(250);

/// A test client with this function timeout, the deadline layer at `margin` around `service`.
fn client<S, B>(timeout: Duration, margin: Duration, service: S) -> TestClient
where
    S: tower::Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send,
    S::Error: Into<lambda_stream::BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<lambda_stream::BoxError>,
{
    TestClient::builder()
        .timeout(timeout)
        .build(DeadlineLayer::new(margin).layer(service))
}

async fn get(client: &TestClient) -> TestResponse {
    let req = Request::get("/").body(Body::empty()).unwrap();
    client.request(req).await.unwrap()
}

/// Asserts `at` (after the invocation was sent) is in `(expected - SLACK, expected]`.
fn assert_at(what: &str, at: Duration, expected: Duration) {
    assert!(
        at <= expected && at > expected - SLACK,
        "{what} at {at:?}, expected just before {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_with_no_answer_at_the_cutoff_gets_a_504_before_any_head() {
    let client = client(
        Duration::from_secs(10),
        Duration::from_secs(1),
        service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"too late"))))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(res.body().is_empty());
    assert!(res.error().is_none(), "{:?}", res.error());
    assert!(res.is_complete());
    let head = res.head_arrived_at().expect("a head") - res.sent_at();
    assert_at("the 504", head, Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn a_response_ready_past_the_cutoff_goes_out_whole() {
    // Two seconds left, a five-second margin: the cutoff has passed before the call.
    let client = client(
        Duration::from_secs(2),
        Duration::from_secs(5),
        service_fn(|_req: Request<Body>| async {
            Response::builder()
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from_static(b"ready at once")))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.text(), "ready at once");
    assert!(res.error().is_none(), "{:?}", res.error());
    assert!(res.is_complete());
    assert_eq!(res.ended_at(), res.sent_at(), "nothing waited");
}

#[tokio::test(start_paused = true)]
async fn a_response_ready_just_as_the_cutoff_passes_wins_over_the_timer() {
    // The service answers at the very instant the layer's timer fires.
    let client = client(
        Duration::from_secs(10),
        Duration::from_secs(1),
        service_fn(|req: Request<Body>| async move {
            let cutoff = *req.extensions().get::<Cutoff>().expect("a cutoff");
            tokio::time::sleep_until(cutoff.at()).await;
            Ok::<_, Infallible>(Response::new(String::from("just in time")))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "just in time");
    assert!(res.error().is_none(), "{:?}", res.error());
    assert_at(
        "the response",
        res.ended_at() - res.sent_at(),
        Duration::from_secs(9),
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_ready_past_the_cutoff_is_a_504_not_an_empty_200() {
    let client = client(
        Duration::from_secs(2),
        Duration::from_secs(5),
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(support::ready_chunks(&["a", "b"])))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(res.body().is_empty());
    assert!(res.error().is_none(), "{:?}", res.error());
    assert_eq!(res.ended_at(), res.sent_at());
}

#[tokio::test(start_paused = true)]
async fn a_body_still_streaming_at_the_cutoff_ends_with_a_timeout_trailer() {
    let client = client(
        Duration::from_secs(10),
        Duration::from_secs(2),
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(ticking(Duration::from_secs(1))))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Chunks at 1 s .. 7 s; the eighth would come at 8 s, after the cutoff.
    assert_eq!(res.text(), "0,1,2,3,4,5,6,");
    for (n, chunk) in res.chunks().iter().enumerate() {
        assert_eq!(
            chunk.arrived_at() - res.sent_at(),
            Duration::from_secs(n as u64 + 1)
        );
    }
    let error = res.error().expect("the trailers");
    assert_eq!(error.error_type(), ERROR_TYPE);
    assert!(error.is_mid_stream());
    assert!(
        error
            .error_message()
            .contains("before the invocation deadline"),
        "{error}"
    );
    // (A stream broken off instead would be reported with another error type.)
    assert_at(
        "the trailers",
        res.ended_at() - res.sent_at(),
        Duration::from_secs(8),
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_of_known_length_that_waits_past_the_cutoff_is_cut_there() {
    let client = client(
        Duration::from_secs(10),
        Duration::from_secs(2),
        service_fn(|_req: Request<Body>| async {
            // Ten bytes announced, five sent, the rest never comes.
            let body = Announced::new(support::then_silence(&["hello"]), 10);
            Ok::<_, Infallible>(Response::new(body))
        }),
    );
    let res = get(&client).await;
    assert_eq!(res.text(), "hello");
    assert_eq!(res.error().expect("a trailer").error_type(), ERROR_TYPE);
    assert_at(
        "the trailers",
        res.ended_at() - res.sent_at(),
        Duration::from_secs(8),
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_raw_invocation_reports_the_timeout() {
    let client = client(
        Duration::from_secs(5),
        Duration::from_secs(1),
        service_fn(|_req: Request<Body>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(String::new()))
        }),
    );
    let res = client.event(r#""a raw event""#).await.unwrap();
    let error = res.error().expect("failed");
    assert_eq!(error.error_type(), ERROR_TYPE);
    assert!(res.body().is_empty());
    assert_at(
        "the error",
        res.ended_at() - res.sent_at(),
        Duration::from_secs(4),
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_yields_is_cut_and_the_next_invocation_is_served() {
    let client = client(
        Duration::from_secs(3),
        Duration::from_millis(500),
        service_fn(|req: Request<Body>| async move {
            let body = if req.uri().path() == "/silent" {
                support::then_silence(&["started\n"])
            } else {
                support::ready_chunks(&["started\n"])
            };
            Ok::<_, Infallible>(Response::new(body))
        }),
    );
    let silent = Request::get("/silent").body(Body::empty()).unwrap();
    let res = client.request(silent).await.unwrap();
    assert_eq!(res.text(), "started\n");
    assert_eq!(res.error().expect("a trailer").error_type(), ERROR_TYPE);
    assert_at(
        "the trailers",
        res.ended_at() - res.sent_at(),
        Duration::from_millis(2500),
    );
    let res = get(&client).await;
    assert_eq!(res.text(), "started\n");
    assert!(res.error().is_none(), "{:?}", res.error());
}

#[tokio::test(start_paused = true)]
async fn a_writer_handler_is_cut_and_learns_its_response_is_closed() {
    use lambda_stream::writer::{stream_fn, ResponseWriter};

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let service = stream_fn(move |_req, mut out: ResponseWriter| {
        let tx = tx.clone();
        async move {
            let mut n = 0u32;
            let err = loop {
                if let Err(err) = out.write(format!("line {n}\n")).await {
                    break err;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let _ = tx.send(err.is_closed());
            Err::<(), _>(err)
        }
    });
    let client = TestClient::builder().timeout(Duration::from_secs(1)).build(
        ServiceBuilder::new()
            .layer(DeadlineLayer::new(Duration::from_millis(300)))
            .service(service),
    );
    let res = get(&client).await;
    assert!(res.text().starts_with("line 0\nline 1\n"), "{}", res.text());
    assert_eq!(res.error().expect("a trailer").error_type(), ERROR_TYPE);
    assert_at(
        "the trailers",
        res.ended_at() - res.sent_at(),
        Duration::from_millis(700),
    );
    let closed = rx.recv().await.expect("the handler reported");
    assert!(closed, "the write after the cut failed with is_closed");
}

#[tokio::test(start_paused = true)]
async fn the_cutoff_is_in_the_request_and_requests_without_a_deadline_pass_through() {
    let svc = DeadlineLayer::new(Duration::from_secs(1)).layer(service_fn(
        |req: Request<Body>| async move {
            let cutoff = req.extensions().get::<Cutoff>().copied();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let text = match cutoff {
                Some(c) => format!("cutoff in {}s", c.remaining().as_secs()),
                None => "no cutoff".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        },
    ));
    let res = svc
        .clone()
        .oneshot(request_due_in(Some(Duration::from_secs(10)), false))
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    // 10 s minus the margin minus the 2 s slept, rounded down.
    assert_eq!(body, "cutoff in 6s");

    let start = tokio::time::Instant::now();
    let res = svc.oneshot(request_due_in(None, false)).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "no cutoff");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_body_that_always_has_data_is_still_cut() {
    let svc =
        DeadlineLayer::new(Duration::from_secs(1)).layer(service_fn(|_req: Request<Body>| async {
            let forever = futures_util::stream::repeat_with(|| {
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x")))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(forever)))
        }));
    let res = svc
        .oneshot(request_due_in(Some(Duration::from_secs(2)), false))
        .await
        .unwrap();
    let mut body = std::pin::pin!(res.into_body());
    let mut frames = 0u64;
    let err = loop {
        match body.frame().await.unwrap() {
            Ok(_) => {
                frames += 1;
                if frames % 1000 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Err(err) => break err,
        }
    };
    assert_eq!(diagnostic(err).error_type(), ERROR_TYPE);
    assert!(body.is_end_stream());
    assert!(body.frame().await.is_none(), "nothing after the error");
}

#[tokio::test(start_paused = true)]
async fn past_the_cutoff_a_body_passes_no_more_than_it_announced() {
    let svc =
        DeadlineLayer::new(Duration::from_secs(5)).layer(service_fn(|_req: Request<Body>| async {
            // Announces 3 bytes, has 6 ready.
            let body = Announced::new(support::ready_chunks(&["abc", "def"]), 3);
            Ok::<_, Infallible>(Response::new(body))
        }));
    let res = svc
        .oneshot(request_due_in(Some(Duration::from_secs(1)), false))
        .await
        .unwrap();
    let mut body = std::pin::pin!(res.into_body());
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "abc");
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(diagnostic(err).error_type(), ERROR_TYPE);
    assert!(body.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_504_body_is_empty_and_the_raw_one_fails() {
    for raw in [false, true] {
        let svc = DeadlineLayer::new(Duration::from_secs(1)).layer(service_fn(
            |_req: Request<Body>| async {
                std::future::pending::<()>().await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            },
        ));
        let res = svc
            .oneshot(request_due_in(Some(Duration::from_secs(3)), raw))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        let mut body = std::pin::pin!(res.into_body());
        assert_eq!(body.is_end_stream(), !raw);
        if raw {
            assert_eq!(body.size_hint().upper(), None);
            let err = body.frame().await.unwrap().unwrap_err();
            assert_eq!(diagnostic(err).error_type(), ERROR_TYPE);
        } else {
            assert_eq!(body.size_hint().exact(), Some(0));
        }
        assert!(body.frame().await.is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn inner_body_errors_and_hints_pass_through() {
    let svc = DeadlineLayer::new(Duration::from_secs(1)).layer(service_fn(
        |req: Request<Body>| async move {
            let frames = if req.uri().path() == "/fail" {
                vec![Err(Diagnostic::new("Function.Mine", "inner"))]
            } else {
                vec![Ok(Frame::data(Bytes::from_static(b"ok")))]
            };
            let body = Announced::new(StreamBody::new(futures_util::stream::iter(frames)), 2);
            Ok::<_, Infallible>(Response::new(body))
        },
    ));
    let res = svc
        .clone()
        .oneshot(request_due_in(Some(Duration::from_secs(10)), false))
        .await
        .unwrap();
    assert_eq!(res.body().size_hint().exact(), Some(2));
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ok");

    let mut req = request_due_in(Some(Duration::from_secs(10)), false);
    *req.uri_mut() = "/fail".parse().unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert_eq!(diagnostic(err).error_type(), "Function.Mine");
}

#[tokio::test]
async fn poll_ready_and_the_accessors_reach_the_inner_service() {
    let mut svc = Deadline::new(
        tower::limit::ConcurrencyLimit::new(
            service_fn(|_req: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(String::new()))
            }),
            1,
        ),
        Duration::from_secs(1),
    );
    let layer = Deadline::<()>::layer(Duration::from_secs(2));
    assert_eq!(layer.margin(), Duration::from_secs(2));
    let ready = svc.ready().await.unwrap();
    let _future = ready.call(Request::new(Body::empty()));
    // The inner limit's only permit is taken by the call in flight.
    assert!(futures_util::FutureExt::now_or_never(svc.ready()).is_none());
    let _ = svc.get_ref();
    let _ = svc.get_mut();
    let _inner = svc.into_inner();
}
