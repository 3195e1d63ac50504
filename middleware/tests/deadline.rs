//! The deadline layer through the runtime, against the Runtime API mock: the stream ends with
//! error trailers before the invocation's deadline.

#[path = "../../tests/support/mod.rs"]
mod support;

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream_middleware::deadline::DeadlineLayer;
use support::{MockEvent, MockRuntimeApi};
use tower::ServiceBuilder;

const URL_EVENT: &str = include_str!("../../tests/fixtures/events/function-url-get.json");

/// An event whose deadline is `left` from now; returns the deadline on the test's clock too.
fn event_due_in(id: &str, left: Duration) -> (MockEvent, Instant) {
    let due = SystemTime::now() + left;
    let ms = due.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let event =
        MockEvent::new(id, URL_EVENT).header("lambda-runtime-deadline-ms", Some(&ms.to_string()));
    (event, Instant::now() + left)
}

#[tokio::test]
async fn a_stream_still_running_ends_with_trailers_before_the_deadline() {
    let mock = MockRuntimeApi::start().await;
    let margin = Duration::from_millis(400);
    let (event, deadline) = event_due_in("slow", Duration::from_millis(1500));
    mock.push_event(event);
    let service = ServiceBuilder::new()
        .layer(DeadlineLayer::new(margin))
        .service_fn(|_req: Request<Body>| async {
            let ticks = stream::unfold(0u32, |n| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from(format!("tick {n}\n")))),
                    n + 1,
                ))
            });
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/plain")
                    .body(StreamBody::new(ticks))
                    .unwrap(),
            )
        });
    let rt = support::spawn_runtime(&mock, service);
    let res = mock.response().await;
    let ended_at = Instant::now();
    assert!(
        ended_at < deadline,
        "the stream ended {:?} after the deadline",
        ended_at - deadline
    );
    assert!(
        deadline - ended_at < margin + Duration::from_millis(200),
        "the stream ended {:?} before the deadline: too early",
        deadline - ended_at
    );
    eprintln!(
        "trailers arrived {:?} before the deadline (margin {margin:?})",
        deadline - ended_at
    );
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("tick 0\ntick 1\n"), "{text}");
    assert!(text.ends_with('\n'), "whole chunks only: {text:?}");
    let (ty, json) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.Timeout");
    assert!(json["errorMessage"]
        .as_str()
        .unwrap()
        .contains("before the invocation deadline"));
    assert!(
        res.complete,
        "the chunked body ended properly, with trailers"
    );
    rt.abort();
}

#[tokio::test]
async fn no_answer_in_time_is_a_504_prelude_before_the_deadline() {
    let mock = MockRuntimeApi::start().await;
    let margin = Duration::from_millis(300);
    let (event, deadline) = event_due_in("stuck", Duration::from_millis(800));
    mock.push_event(event);
    let service = ServiceBuilder::new()
        .layer(DeadlineLayer::new(margin))
        .service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Infallible>(Response::new(String::from("too late")))
        });
    let rt = support::spawn_runtime(&mock, service);
    let res = mock.response().await;
    assert!(Instant::now() < deadline);
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 504);
    assert!(body.is_empty());
    assert!(res.complete && res.trailers.is_none());
    rt.abort();
}

#[tokio::test]
async fn a_writer_handler_is_cut_with_trailers_and_told_its_response_is_closed() {
    use lambda_stream::writer::{stream_fn, ResponseWriter};

    let mock = MockRuntimeApi::start().await;
    let margin = Duration::from_millis(300);
    let (event, deadline) = event_due_in("writer", Duration::from_millis(1000));
    mock.push_event(event);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let service = ServiceBuilder::new()
        .layer(DeadlineLayer::new(margin))
        .service(stream_fn(move |_req, mut out: ResponseWriter| {
            let tx = tx.clone();
            async move {
                let mut n = 0u32;
                let err = loop {
                    if let Err(err) = out.write(format!("line {n}\n")).await {
                        break err;
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                let _ = tx.send(err.is_closed());
                Err::<(), _>(err)
            }
        }));
    let rt = support::spawn_runtime(&mock, service);
    let res = mock.response().await;
    assert!(Instant::now() < deadline);
    let (ty, _) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.Timeout");
    assert!(res.split().1.starts_with(b"line 0\nline 1\n"));
    let closed = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the handler learnt its response was closed")
        .unwrap();
    assert!(closed, "the write after the cut failed with is_closed");
    rt.abort();
}

#[tokio::test]
async fn a_body_that_never_yields_is_cut_by_the_deadline_and_the_next_event_is_served() {
    let mock = MockRuntimeApi::start().await;
    let margin = Duration::from_millis(300);
    let (event, deadline) = event_due_in("silent", Duration::from_millis(900));
    mock.push_event(event);
    mock.push_event(MockEvent::new("next", URL_EVENT));
    let service = ServiceBuilder::new()
        .layer(DeadlineLayer::new(margin))
        .service_fn(|req: Request<Body>| async move {
            let silent = support_request_id(&req) == "silent";
            // One chunk, then nothing ever again (for the first event).
            let body = stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(
                b"started\n",
            )))])
            .chain(stream::poll_fn(move |_| {
                if silent {
                    std::task::Poll::Pending
                } else {
                    std::task::Poll::Ready(None)
                }
            }));
            Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
        });
    let rt = support::spawn_runtime(&mock, service);
    let res = mock.response().await;
    assert_eq!(res.request_id, "silent");
    assert!(Instant::now() < deadline, "cut before the deadline");
    assert_eq!(res.split().1, b"started\n");
    let (ty, _) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.Timeout");
    assert!(res.complete);
    let res = mock.response().await;
    assert_eq!(res.request_id, "next");
    assert_eq!(res.split().1, b"started\n");
    assert!(res.error_trailers().is_none());
    assert!(!rt.is_finished());
    rt.abort();
}

fn support_request_id(req: &Request<Body>) -> String {
    use lambda_stream::RequestExt;
    req.lambda_context().request_id.clone()
}
