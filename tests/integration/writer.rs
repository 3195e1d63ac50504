//! The writer handler style (`stream_fn`) through the runtime, against the Runtime API mock;
//! when each write arrives, through the test kit under paused time.

use crate::support::{self, process};

use lambda_stream::Body;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use lambda_stream::testing::TestClient;
use lambda_stream::writer::{self, stream_fn, ResponseWriter};
use lambda_stream::{BoxError, Diagnostic, RequestExt};
use support::{MockEvent, MockRuntimeApi, Record};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::example::writer_style;

const URL_EVENT: &str = "function-url-get.json";

fn text_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert("x-custom", HeaderValue::from_static("yes"));
    h.append(header::SET_COOKIE, HeaderValue::from_static("a=1; Path=/"));
    h
}

#[tokio::test]
async fn status_headers_chunks_and_finish_on_the_wire() {
    let mock = support::serve(
        ["req-1"],
        stream_fn(|_req, mut out: ResponseWriter| async move {
            out.write_status_and_headers(StatusCode::CREATED, text_headers())?;
            out.write("hello ").await?;
            out.write(Bytes::from_static(b"writer ")).await?;
            out.write_and_finish("world").await
        }),
    )
    .await;
    let res = mock.response().await;
    assert_eq!(res.request_id, "req-1");
    let (prelude, body) = res.split();
    assert_eq!(
        prelude,
        serde_json::json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-custom": "yes"},
            "cookies": ["a=1; Path=/"],
        })
    );
    assert_eq!(body, b"hello writer world");
    assert!(res.complete && res.trailers.is_none());
}

/// Paused time (the test kit): arrival times are exact.
#[tokio::test(start_paused = true)]
async fn the_prelude_leaves_before_the_first_write_and_each_write_on_its_own() {
    const GAP: Duration = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = TestClient::new(stream_fn(move |_req, mut out: ResponseWriter| {
        let tx = tx.clone();
        async move {
            out.write_status_and_headers(StatusCode::OK, text_headers())?;
            for part in ["a", "b", "c"] {
                tokio::time::sleep(GAP).await;
                let _ = tx.send(Instant::now());
                out.write(part).await?;
            }
            out.finish().await
        }
    }));
    let res = client.event(support::fixture(URL_EVENT)).await.unwrap();
    assert_eq!(
        res.prelude_json().expect("a prelude"),
        serde_json::json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain", "x-custom": "yes"},
            "cookies": ["a=1; Path=/"],
        })
    );
    // The prelude arrived at once, 300 ms before the first write: it did not wait for body
    // bytes, and nothing of the body came with it.
    let sent = res.sent_at();
    assert_eq!(res.head_arrived_at(), Some(sent));
    // Each write is one chunk, arriving the moment it was written.
    let written: Vec<Instant> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(written, [sent + GAP, sent + GAP * 2, sent + GAP * 3]);
    let chunks: Vec<_> = res
        .chunks()
        .iter()
        .map(|c| (c.text().into_owned(), c.arrived_at()))
        .collect();
    assert_eq!(
        chunks,
        [
            ("a".to_owned(), written[0]),
            ("b".to_owned(), written[1]),
            ("c".to_owned(), written[2]),
        ],
        "one chunk per write, as it was written"
    );
    assert!(res.is_complete());
}

#[tokio::test]
async fn defaults_ok_without_finish_and_ok_without_anything() {
    let mock = support::serve(
        ["writes", "nothing"],
        stream_fn(|req: Request<Body>, mut out: ResponseWriter| async move {
            if req.lambda_context().request_id == "writes" {
                out.write("no head, ").await?;
                out.write("no finish").await?;
            }
            Ok::<_, writer::Error>(())
        }),
    )
    .await;
    let res = mock.response().await;
    assert_eq!(res.request_id, "writes");
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(
        prelude["headers"]["content-type"],
        "application/octet-stream"
    );
    assert_eq!(body, b"no head, no finish");
    assert!(res.complete && res.trailers.is_none());

    let res = mock.response().await;
    assert_eq!(res.request_id, "nothing");
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert!(body.is_empty());
    assert!(res.complete && res.trailers.is_none());
}

/// How a failing handler fails.
fn failing(req: &Request<Body>) -> Result<(), BoxError> {
    match req.lambda_context().request_id.as_str() {
        id if id.ends_with("error") => Err(std::io::Error::other("model went away").into()),
        id if id.ends_with("diagnostic") => {
            Err(Diagnostic::new("Function.QuotaExceeded", "tenant over quota").into())
        }
        id if id.ends_with("panic") => panic!("handler exploded"),
        _ => Ok(()),
    }
}

#[tokio::test]
async fn failures_after_a_write_end_the_stream_with_error_trailers() {
    let mock = support::serve(
        ["late-error", "late-diagnostic", "late-panic", "after"],
        stream_fn(|req: Request<Body>, mut out: ResponseWriter| async move {
            out.write("partial").await?;
            failing(&req)?;
            out.write_and_finish(" whole").await?;
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    for (id, ty, message) in [
        ("late-error", "Function.StreamError", "model went away"),
        (
            "late-diagnostic",
            "Function.QuotaExceeded",
            "tenant over quota",
        ),
        (
            "late-panic",
            "Function.Panic",
            "the handler panicked: handler exploded",
        ),
    ] {
        let res = mock.response().await;
        assert_eq!(res.request_id, id);
        assert_eq!(res.split().1, b"partial", "{id}");
        let (trailer_type, json) = res.error_trailers().expect("error trailers");
        assert_eq!(trailer_type, ty, "{id}");
        assert_eq!(json["errorType"], ty, "{id}");
        assert_eq!(json["errorMessage"], message, "{id}");
        assert!(res.complete, "{id}: trailers end the chunked body properly");
    }
    let res = mock.response().await;
    assert_eq!(res.request_id, "after");
    assert_eq!(res.split().1, b"partial whole");
    assert!(res.trailers.is_none());
    assert!(!mock.runtime.is_finished());
}

#[tokio::test]
async fn failures_after_the_head_but_before_a_write_also_use_trailers() {
    let mock = support::serve(
        ["head-error"],
        stream_fn(|req: Request<Body>, mut out: ResponseWriter| async move {
            out.write_status_and_headers(StatusCode::OK, HeaderMap::new())?;
            failing(&req)
        }),
    )
    .await;
    let res = mock.response().await;
    assert!(res.split().1.is_empty());
    let (ty, _) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.StreamError");
}

#[tokio::test]
async fn failures_before_the_head_go_to_the_error_endpoint() {
    let mock = support::serve(
        ["early-error", "early-diagnostic", "early-panic", "after"],
        stream_fn(|req: Request<Body>, mut out: ResponseWriter| async move {
            failing(&req)?;
            out.write_and_finish("fine").await?;
            Ok::<_, BoxError>(())
        }),
    )
    .await;
    for (id, ty, message) in [
        ("early-error", "Function.Error", "model went away"),
        (
            "early-diagnostic",
            "Function.QuotaExceeded",
            "tenant over quota",
        ),
        (
            "early-panic",
            "Function.Panic",
            "the handler panicked: handler exploded",
        ),
    ] {
        let err = mock.error().await;
        assert_eq!(err.request_id.as_deref(), Some(id));
        assert_eq!(err.error_type(), ty, "{id}");
        assert_eq!(err.message(), message, "{id}");
    }
    let res = mock.response().await;
    assert_eq!(res.request_id, "after");
    assert_eq!(res.split().1, b"fine");
}

/// What each misuse returned, reported by the handler.
#[derive(Debug)]
struct Misuse {
    what: &'static str,
    result: Result<(), writer::Error>,
}

#[tokio::test]
async fn every_misuse_is_a_typed_error_and_the_response_stays_intact() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::url("finish"));
    mock.push_event(MockEvent::url("write-and-finish"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _rt = mock.serve(stream_fn(
        move |req: Request<Body>, mut out: ResponseWriter| {
            let tx = tx.clone();
            async move {
                let report = |what, result| {
                    let _ = tx.send(Misuse { what, result });
                };
                let headers = HeaderMap::new;
                if req.lambda_context().request_id == "finish" {
                    out.write_status_and_headers(StatusCode::OK, headers())?;
                    report(
                        "head twice",
                        out.write_status_and_headers(StatusCode::OK, headers()),
                    );
                    out.write("body").await?;
                    report(
                        "head after write",
                        out.write_status_and_headers(StatusCode::IM_A_TEAPOT, headers()),
                    );
                    out.finish().await?;
                    report("finish twice", out.finish().await);
                    report("write after finish", out.write("late").await);
                    report(
                        "write_and_finish after finish",
                        out.write_and_finish("late").await,
                    );
                    report(
                        "head after finish",
                        out.write_status_and_headers(StatusCode::OK, headers()),
                    );
                } else {
                    out.write("x").await?;
                    out.write_and_finish("y").await?;
                    report("finish after write_and_finish", out.finish().await);
                    report("write after write_and_finish", out.write("z").await);
                }
                Ok::<_, writer::Error>(())
            }
        },
    ));
    let res = mock.response().await;
    assert_eq!(res.request_id, "finish");
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200, "the teapot never left");
    assert_eq!(body, b"body");
    assert!(res.complete && res.trailers.is_none());
    let res = mock.response().await;
    assert_eq!(res.split().1, b"xy");
    assert!(res.complete && res.trailers.is_none());

    let mut seen = vec![];
    while seen.len() < 8 {
        let m = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("every misuse reported")
            .unwrap();
        seen.push(m);
    }
    for m in &seen {
        let err = m.result.as_ref().expect_err(m.what);
        let expect_head_sent = m.what.starts_with("head twice") || m.what == "head after write";
        assert_eq!(err.is_head_sent(), expect_head_sent, "{}: {err}", m.what);
        assert_eq!(err.is_finished(), !expect_head_sent, "{}: {err}", m.what);
        assert!(!err.is_closed());
    }
}

/// Paused time: the mock's times are exact, and "nothing posted" means nothing was posted
/// once every task had settled.
#[tokio::test(start_paused = true)]
async fn work_goes_on_after_finish_while_the_response_is_complete() {
    const WORK: Duration = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mock = support::serve(
        ["req-1"],
        stream_fn(move |_req, mut out: ResponseWriter| {
            let tx = tx.clone();
            async move {
                out.write_and_finish("done").await?;
                tokio::time::sleep(WORK).await;
                let _ = tx.send(Instant::now());
                // A late failure is only logged: the response is complete.
                Err::<(), BoxError>("metrics flush failed".into())
            }
        }),
    )
    .await;
    let res = mock.response().await;
    let completed_at = Instant::now();
    assert_eq!(res.split().1, b"done");
    assert!(res.complete && res.trailers.is_none());
    // Complete the moment the event was taken, while the work after finish went on.
    let handed_out = res.handed_out_at.expect("the mock handed the event out");
    assert_eq!(completed_at, handed_out);
    let background_done = rx.recv().await.expect("the work after finish ran");
    assert_eq!(background_done, handed_out + WORK);
    match tokio::time::timeout(WORK, mock.record()).await {
        Err(_) => {}
        Ok(Record::Error(e)) => panic!("a late error was reported to /error: {e:?}"),
        Ok(other) => panic!("unexpected post: {other:?}"),
    }
}

/// Paused time (the test kit): the lines arrive exactly a second apart.
#[tokio::test(start_paused = true)]
async fn example_streaming_numbers_lines_arrive_a_second_apart() {
    let client = TestClient::new(stream_fn(writer_style::streaming_numbers));
    let res = client.event(support::fixture(URL_EVENT)).await.unwrap();
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    assert_eq!(
        prelude["headers"]["x-my-custom-header"],
        "streaming-example"
    );
    let sent = res.sent_at();
    assert_eq!(res.head_arrived_at(), Some(sent));
    let lines: Vec<_> = res
        .chunks()
        .iter()
        .map(|c| (c.text().into_owned(), (c.arrived_at() - sent).as_secs_f64()))
        .collect();
    assert_eq!(
        lines,
        [
            ("Number: 1\n".to_owned(), 0.0),
            ("Number: 2\n".to_owned(), 1.0),
            ("Number: 3\n".to_owned(), 2.0),
            ("Streaming complete!\n".to_owned(), 3.0),
        ]
    );
    assert!(res.is_complete());
}

#[tokio::test(start_paused = true)]
async fn example_conditional_streaming_both_ways() {
    let client = TestClient::new(stream_fn(writer_style::conditional_streaming));
    let res = client
        .request(Request::get("/?mode=error").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 400);
    assert_eq!(prelude["headers"]["content-type"], "application/json");
    assert_eq!(prelude["headers"]["x-error-type"], "client-error");
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.body(),
        &br#"{"error":"Bad request","message":"Error requested in input"}"#[..]
    );
    assert_eq!(res.chunks().len(), 1, "in one piece");

    let res = client.event(support::fixture(URL_EVENT)).await.unwrap();
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["cache-control"], "no-cache");
    let items: Vec<serde_json::Value> = res.json().expect("a JSON array");
    assert_eq!(items.len(), 5);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["id"], i as u64 + 1);
    }
    let chunks = res.chunks();
    assert!(chunks.len() >= 5, "each item on its own: {chunks:?}");
    lambda_stream_test_support::assert_apart(
        chunks[..5].iter().map(|c| c.arrived_at()),
        Duration::from_millis(500),
    );
    assert!(res.is_complete());
}

#[tokio::test]
async fn the_writer_style_binary_serves_the_handler_that_handler_names() {
    let binary = process::example_binary("writer_style");
    let mock = MockRuntimeApi::start().await;
    let with_query = String::from_utf8(support::fixture(URL_EVENT).to_vec())
        .unwrap()
        .replace(r#""rawQueryString": """#, r#""rawQueryString": "error=1""#);
    mock.push_event(MockEvent::new("bin-1", with_query));
    let _child = process::Killed(
        std::process::Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", mock.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "writer_style")
            .env("_HANDLER", "conditional_streaming")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "bin-1");
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 400);
    assert_eq!(
        body,
        br#"{"error":"Bad request","message":"Error requested in input"}"#
    );
}
