//! The runtime loop against a Runtime API mock on a real socket: what goes on the wire.
//! When a chunk arrives is asked of the test kit under paused time, which answers exactly.

use crate::support;

use lambda_stream::Body;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use lambda_stream::testing::TestClient;
use lambda_stream::{BoxError, Diagnostic, RequestExt};
use support::{contains, MockEvent, MockRuntimeApi, Next, Record};
use tower::service_fn;

const URL_EVENT: &str = "function-url-get.json";

fn chunks(
    parts: &'static [&'static str],
    gap: Duration,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send> {
    StreamBody::new(stream::unfold(0usize, move |i| async move {
        let part = parts.get(i)?;
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        Some((Ok(Frame::data(Bytes::from_static(part.as_bytes()))), i + 1))
    }))
}

#[tokio::test]
async fn streams_prelude_delimiter_and_chunks_with_the_right_head() {
    let mock = support::serve(
        ["req-1"],
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(201)
                    .header("content-type", "text/plain")
                    .header("x-custom", "yes")
                    .header("set-cookie", "a=1; Path=/")
                    .header("set-cookie", "b=2")
                    .header("content-length", "999")
                    .body(chunks(
                        &["hello ", "streaming ", "world"],
                        Duration::from_millis(20),
                    ))
                    .unwrap(),
            )
        }),
    )
    .await;
    let res = mock.response().await;
    assert_eq!(res.request_id, "req-1");
    assert_eq!(
        res.header("lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        res.header("trailer"),
        Some("Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    );
    assert_eq!(
        res.header("content-type"),
        Some("application/vnd.awslambda.http-integration-response")
    );
    assert!(res.headers.get("content-length").is_none());
    let (prelude, body) = res.split();
    assert_eq!(
        prelude,
        serde_json::json!({
            "statusCode": 201,
            "headers": {"content-type": "text/plain", "x-custom": "yes"},
            "cookies": ["a=1; Path=/", "b=2"],
        })
    );
    assert_eq!(body, b"hello streaming world");
    assert!(res.complete && res.trailers.is_none());
    // On the wire: the prelude JSON is one chunk and the 8 NULs the next, exactly 8.
    let raw = mock.raw();
    assert!(contains(&raw, br#""cookies":["a=1; Path=/","b=2"]}"#));
    assert!(contains(&raw, b"]}\r\n8\r\n\0\0\0\0\0\0\0\0\r\n"));
}

/// Paused time (the test kit): arrival times are exact, so "when it is produced" is an
/// equality, not a margin.
#[tokio::test(start_paused = true)]
async fn each_chunk_arrives_when_it_is_produced() {
    const GAP: Duration = Duration::from_millis(250);
    // Each part 250 ms after the one before, the first 250 ms after the head.
    let client = TestClient::new(service_fn(|_req: Request<Body>| async {
        let parts = stream::iter(["a", "b", "c", "d"]).then(|part| async move {
            tokio::time::sleep(GAP).await;
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(part.as_bytes())))
        });
        Ok::<_, Infallible>(Response::new(StreamBody::new(parts)))
    }));
    let res = client.event(support::fixture(URL_EVENT)).await.unwrap();
    assert_eq!(res.text(), "abcd");
    assert_eq!(res.prelude_json().expect("a prelude")["statusCode"], 200);
    // The prelude left at once: status and headers are not held back for the first chunk.
    let sent = res.sent_at();
    assert_eq!(res.head_arrived_at(), Some(sent));
    // Each chunk on its own, the moment it was produced.
    let arrivals: Vec<_> = res
        .chunks()
        .iter()
        .map(|c| (c.text().into_owned(), c.arrived_at() - sent))
        .collect();
    assert_eq!(
        arrivals,
        [
            ("a".to_owned(), GAP),
            ("b".to_owned(), GAP * 2),
            ("c".to_owned(), GAP * 3),
            ("d".to_owned(), GAP * 4),
        ]
    );
    assert!(res.is_complete());
}

#[tokio::test]
async fn a_mid_stream_error_ends_the_stream_with_real_trailers() {
    let mock = support::serve(
        ["req-1", "req-2"],
        service_fn(|req: Request<Body>| async move {
            let first = req.lambda_context().request_id == "req-1";
            let s = stream::iter(vec![
                Ok(Frame::data(Bytes::from_static(b"partial "))),
                if first {
                    Err::<_, BoxError>("upstream model disconnected".into())
                } else {
                    Ok(Frame::data(Bytes::from_static(b"whole")))
                },
                Ok(Frame::data(Bytes::from_static(b"never sent"))),
            ]);
            Ok::<_, Infallible>(Response::new(StreamBody::new(s)))
        }),
    )
    .await;
    let res = mock.response().await;
    let (_, body) = res.split();
    assert_eq!(body, b"partial ", "the stream stops at the error");
    let (ty, json) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.StreamError");
    assert_eq!(json["errorType"], "Function.StreamError");
    assert_eq!(json["errorMessage"], "upstream model disconnected");
    // The trailers are HTTP trailers after the last chunk, not body bytes.
    let raw = mock.raw();
    assert!(contains(
        &raw,
        b"\r\n0\r\nlambda-runtime-function-error-type: Function.StreamError\r\n"
    ));
    assert!(!contains(&res.bytes(), b"Function.StreamError"));
    // And the runtime serves the next invocation.
    let res = mock.response().await;
    assert_eq!(res.request_id, "req-2");
    assert_eq!(res.split().1, b"partial wholenever sent");
    assert!(res.trailers.is_none());
}

#[tokio::test]
async fn a_diagnostic_body_error_chooses_the_trailer_type() {
    let mock = support::serve(
        ["req-1"],
        service_fn(|_req: Request<Body>| async move {
            let s = stream::iter(vec![
                Ok(Frame::data(Bytes::from_static(b"x"))),
                Err::<Frame<Bytes>, _>(Diagnostic::new(
                    "Function.QuotaExceeded",
                    "tenant over quota",
                )),
            ]);
            Ok::<_, Infallible>(Response::new(StreamBody::new(s)))
        }),
    )
    .await;
    let (ty, json) = mock.response().await.error_trailers().unwrap();
    assert_eq!(ty, "Function.QuotaExceeded");
    assert_eq!(json["errorMessage"], "tenant over quota");
}

#[tokio::test]
async fn an_error_before_the_first_byte_goes_to_error_and_the_loop_goes_on() {
    let mock = support::serve(
        ["req-1", "req-2"],
        service_fn(|req: Request<Body>| async move {
            if req.lambda_context().request_id == "req-1" {
                return Err::<Response<Full<Bytes>>, _>(std::io::Error::other(
                    "database unreachable",
                ));
            }
            Ok(Response::new(Full::new(Bytes::from_static(b"fine"))))
        }),
    )
    .await;
    let err = mock.error().await;
    assert_eq!(err.request_id.as_deref(), Some("req-1"));
    assert_eq!(err.error_type(), "Function.Error");
    assert_eq!(err.message(), "database unreachable");
    assert_eq!(err.body["stackTrace"], serde_json::json!([]));
    assert_eq!(
        err.headers["content-type"],
        "application/vnd.aws.lambda.error+json"
    );
    assert_eq!(
        err.headers["lambda-runtime-function-error-type"],
        "Function.Error"
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "req-2");
    assert_eq!(res.split().1, b"fine");
}

/// Where a handler panics.
#[derive(Clone, Copy, Debug)]
enum PanicAt {
    Call,
    Future,
    Body,
}

#[allow(clippy::type_complexity)]
fn panicking(
    at: PanicAt,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<
        StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>,
    >,
    Error = Infallible,
    Future = impl std::future::Future<
        Output = Result<
            Response<
                StreamBody<
                    impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send,
                >,
            >,
            Infallible,
        >,
    > + Send,
> + Send {
    service_fn(move |req: Request<Body>| {
        let doomed = req.lambda_context().request_id == "doomed";
        if doomed && matches!(at, PanicAt::Call) {
            panic!("panic in call");
        }
        async move {
            if doomed && matches!(at, PanicAt::Future) {
                panic!("panic in the future");
            }
            let s = stream::unfold(0, move |i| async move {
                match i {
                    0 => Some((Ok(Frame::data(Bytes::from_static(b"before "))), 1)),
                    1 if doomed && matches!(at, PanicAt::Body) => panic!("panic in the body"),
                    1 => Some((Ok(Frame::data(Bytes::from_static(b"after"))), 2)),
                    _ => None,
                }
            });
            Ok(Response::new(StreamBody::new(s)))
        }
    })
}

#[tokio::test]
async fn panics_are_reported_and_the_runtime_survives() {
    for at in [PanicAt::Call, PanicAt::Future, PanicAt::Body] {
        let mock = support::serve(["doomed", "next"], panicking(at)).await;
        match (at, mock.record().await) {
            (PanicAt::Body, Record::Response(res)) => {
                assert_eq!(res.split().1, b"before ");
                let (ty, json) = res.error_trailers().expect("trailers after a body panic");
                assert_eq!(ty, "Function.Panic");
                assert_eq!(
                    json["errorMessage"],
                    "the handler panicked: panic in the body"
                );
            }
            (PanicAt::Call | PanicAt::Future, Record::Error(err)) => {
                assert_eq!(err.error_type(), "Function.Panic", "{at:?}");
                assert!(
                    err.message().contains("panic in"),
                    "{at:?}: {}",
                    err.message()
                );
            }
            (at, other) => panic!("{at:?}: unexpected {other:?}"),
        }
        let res = mock.response().await;
        assert_eq!(res.request_id, "next", "{at:?}");
        assert_eq!(res.split().1, b"before after");
        assert!(!mock.runtime.is_finished());
    }
}

#[tokio::test]
async fn an_empty_body_still_sends_prelude_and_delimiter() {
    let mock = support::serve(
        ["req-1"],
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(204)
                    .body(Empty::<Bytes>::new())
                    .unwrap(),
            )
        }),
    )
    .await;
    let res = mock.response().await;
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 204);
    // A 204 gets no default content type.
    assert_eq!(prelude["headers"], serde_json::json!({}));
    assert!(body.is_empty());
    assert!(res.complete);
}

#[tokio::test]
async fn raw_invocations_stream_without_prelude_with_the_handlers_content_type() {
    let mock = support::serve(
        [MockEvent::fixture("req-1", "raw-object.json")],
        service_fn(|req: Request<Body>| async move {
            assert_eq!(req.method(), http::Method::POST);
            assert_eq!(req.uri().path(), "/");
            assert!(req.request_context_ref().is_none());
            let echo = format!("{} bytes: ", req.body().len());
            let s = stream::iter(vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from(echo))),
                Ok(Frame::data(req.into_body().into_bytes())),
            ]);
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/x-ndjson")
                    .body(StreamBody::new(s))
                    .unwrap(),
            )
        }),
    )
    .await;
    let res = mock.response().await;
    assert_eq!(res.header("content-type"), Some("application/x-ndjson"));
    let payload = support::fixture("raw-object.json");
    let mut expected = format!("{} bytes: ", payload.len()).into_bytes();
    expected.extend_from_slice(&payload);
    assert_eq!(res.bytes(), expected);
}

/// On Lambda, a raw invocation answered with a status that is not a success is logged (its
/// caller sees only the body), and Lambda's Runtime API is sent nothing it does not document:
/// no `Lambda-Stream-Raw-Status`, which only an emulated Runtime API is told.
#[tokio::test]
async fn a_raw_invocations_failing_status_is_logged_and_not_sent_to_lambda() {
    let (logs, _guard) = lambda_stream_test_support::logs::Logs::capture();
    let mock = support::serve(
        [MockEvent::fixture("req-1", "raw-object.json")],
        service_fn(|_req: Request<Body>| async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(http::StatusCode::METHOD_NOT_ALLOWED)
                    .body(Full::new(Bytes::from_static(b"no route")))
                    .unwrap(),
            )
        }),
    )
    .await;
    let res = mock.response().await;
    assert_eq!(res.bytes(), b"no route");
    assert_eq!(res.header("lambda-stream-raw-status"), None);
    assert_eq!(
        logs.count(&["raw invocation", "405", "POST to /"]),
        1,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_malformed_event_is_reported_and_the_loop_goes_on() {
    let mock = MockRuntimeApi::start().await;
    let bad_base64 = String::from_utf8(support::fixture("function-url-post-base64.json").to_vec())
        .unwrap()
        .replace("AAECA//+/fxIZWxsbw==", "not base64!!");
    mock.push_event(MockEvent::new("bad-b64", bad_base64));
    mock.push_event(MockEvent::new("bad-json", r#"{"version":"2.0","rawPath":"#));
    mock.push_event(MockEvent::new(
        "bad-method",
        r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GE T"}}}"#,
    ));
    mock.push_event(MockEvent::url("good"));
    let _rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    for (id, needle) in [
        ("bad-b64", "not valid base64"),
        ("bad-json", "invalid json event"),
        ("bad-method", "invalid http api (payload 2.0) event"),
    ] {
        let err = mock.error().await;
        assert_eq!(err.request_id.as_deref(), Some(id));
        assert_eq!(err.error_type(), "Runtime.InvalidEvent");
        assert!(err.message().contains(needle), "{id}: {}", err.message());
    }
    assert_eq!(mock.response().await.request_id, "good");
}

#[tokio::test]
async fn an_event_without_request_id_is_skipped() {
    let mock = support::serve(
        [
            MockEvent::url("x").header("lambda-runtime-aws-request-id", None),
            MockEvent::url("good").header("lambda-runtime-deadline-ms", None),
        ],
        service_fn(|req: Request<Body>| async move {
            assert!(req.lambda_context().deadline.is_none());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }),
    )
    .await;
    assert_eq!(mock.response().await.request_id, "good");
}

#[tokio::test]
async fn a_4xx_reply_is_logged_and_the_loop_goes_on() {
    let mock = MockRuntimeApi::start().await;
    mock.reply_to_response(
        413,
        r#"{"errorType":"RequestEntityTooLarge","errorMessage":"too big"}"#,
    );
    mock.push_event(MockEvent::url("req-1"));
    mock.push_event(MockEvent::url("req-2"));
    let rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    assert_eq!(mock.response().await.request_id, "req-1");
    assert_eq!(mock.response().await.request_id, "req-2");
    assert!(!rt.is_finished());
}

#[tokio::test]
async fn a_500_reply_to_a_response_stops_the_runtime() {
    let mock = MockRuntimeApi::start().await;
    mock.reply_to_response(
        500,
        r#"{"errorType":"ContainerError","errorMessage":"broken"}"#,
    );
    mock.push_event(MockEvent::url("req-1"));
    mock.push_event(MockEvent::url("req-2"));
    let mut rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    assert_eq!(mock.response().await.request_id, "req-1");
    let err = rt.error().await;
    assert!(err.is_runtime_api(), "{err:?}");
    assert!(format!("{err:?}").contains("broken"), "{err:?}");
}

#[tokio::test]
async fn a_500_on_next_stops_the_runtime() {
    let mock = MockRuntimeApi::start().await;
    mock.push(Next::Status(
        500,
        r#"{"errorType":"Runtime.Unknown","errorMessage":"gone"}"#,
    ));
    let mut rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    }));
    let err = rt.error().await;
    assert!(err.is_runtime_api());
}

#[tokio::test]
async fn a_403_on_next_is_retried() {
    let mock = MockRuntimeApi::start().await;
    mock.push(Next::Status(
        403,
        r#"{"errorType":"InvalidStateTransition"}"#,
    ));
    mock.push(Next::Status(
        403,
        r#"{"errorType":"InvalidStateTransition"}"#,
    ));
    mock.push_event(MockEvent::url("req-1"));
    let _rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    }));
    assert_eq!(mock.response().await.request_id, "req-1");
    assert!(mock.next_calls() >= 3);
}

#[tokio::test]
async fn an_unreachable_runtime_api_is_a_connect_error() {
    // Bind then drop, so nothing listens on the port.
    let port = lambda_stream_test_support::free_port();
    let mut config = lambda_stream::Config::default();
    config.runtime_api = Some(format!("127.0.0.1:{port}"));
    let svc = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let err = lambda_stream::Runtime::new(config)
        .run(svc)
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(format!("{err:?}").contains("refused"), "{err:?}");
}

#[tokio::test]
async fn no_runtime_api_without_the_local_server_is_a_config_error() {
    let svc = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let err = lambda_stream::Runtime::new(lambda_stream::Config::default())
        .local(lambda_stream::local::Mode::Never)
        .run(svc)
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
}

#[tokio::test]
async fn an_init_failure_is_reported_to_init_error() {
    let mock = MockRuntimeApi::start().await;
    let err = lambda_stream::Runtime::new(mock.config())
        .run_with_init(async {
            Err::<
                tower::util::ServiceFn<
                    fn(
                        Request<Body>,
                    )
                        -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>>,
                >,
                _,
            >(std::io::Error::other("model file missing"))
        })
        .await
        .unwrap_err();
    assert!(err.is_init());
    match mock.record().await {
        Record::InitError(report) => {
            assert_eq!(report.error_type(), "Function.InitError");
            assert_eq!(report.message(), "model file missing");
            assert_eq!(
                report.headers["lambda-runtime-function-error-type"],
                "Function.InitError"
            );
        }
        other => panic!("expected /init/error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_lambda_context_reaches_the_handler() {
    let mock = support::serve(
        [MockEvent::url("ctx-1")
            .header("lambda-runtime-aws-tenant-id", Some("tenant-9"))
            .header(
                "lambda-runtime-cognito-identity",
                Some(r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#),
            )],
        service_fn(|req: Request<Body>| async move {
            let ctx = req.lambda_context();
            let summary = serde_json::json!({
                "id": ctx.request_id,
                "arn": ctx.invoked_function_arn,
                "trace": ctx.xray_trace_id,
                "tenant": ctx.tenant_id,
                "pool": ctx.identity.as_ref().and_then(|i| i.identity_pool_id.clone()),
                "remaining_ok": ctx.remaining().is_some_and(|r| r > Duration::from_secs(50)),
                "function": ctx.env_config.function_name,
            });
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(summary.to_string()))))
        }),
    )
    .await;
    let (_, body) = mock.response().await.split();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], "ctx-1");
    assert_eq!(
        v["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:stream"
    );
    assert!(v["trace"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(v["tenant"], "tenant-9");
    assert_eq!(v["pool"], "pool-1");
    assert_eq!(v["remaining_ok"], true);
    assert_eq!(v["function"], "stream");
}

#[tokio::test]
async fn one_connection_serves_many_invocations() {
    let ids: Vec<_> = (0..20).map(|i| format!("req-{i}")).collect();
    let mock = support::serve(
        ids.iter().map(String::as_str),
        service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")).boxed()))
        }),
    )
    .await;
    for i in 0..20 {
        assert_eq!(mock.response().await.request_id, format!("req-{i}"));
    }
    assert_eq!(
        mock.connections(),
        1,
        "keep-alive: one connection for all calls"
    );
}

/// A body fed by a producer task through a channel, the way most streaming handlers are.
fn produced(lines: usize) -> impl http_body::Body<Data = Bytes, Error = BoxError> + Send {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for i in 0..lines {
            if tx.send(Bytes::from(format!("line {i}\n"))).await.is_err() {
                return;
            }
        }
    });
    StreamBody::new(stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|c| c.map(|c| Ok::<_, BoxError>(Frame::data(c))))
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_a_multi_thread_block_on_streams_everything_and_keeps_its_connection() {
    // `run` awaited right here, on the block_on thread, as from a plain `#[tokio::main]`;
    // the service is not `Send` (it holds an `Rc`), which `run` allows.
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::fixture("req-1", URL_EVENT));
    mock.push_event(MockEvent::fixture("req-2", URL_EVENT));
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let service = service_fn(move |_req: Request<Body>| {
        calls.set(calls.get() + 1);
        let lines = if calls.get() == 1 { 20_000 } else { 3 };
        async move { Ok::<_, Infallible>(Response::new(produced(lines))) }
    });
    let runtime = lambda_stream::Runtime::new(mock.config());
    let check = async {
        for (id, lines) in [("req-1", 20_000), ("req-2", 3)] {
            let res = mock.response().await;
            assert_eq!(res.request_id, id);
            assert!(res.complete, "{id} incomplete");
            assert!(res.trailers.is_none());
            let (_, body) = res.split();
            let expected: String = (0..lines).map(|i| format!("line {i}\n")).collect();
            assert_eq!(String::from_utf8(body).unwrap(), expected);
        }
        // The connection came back from the task that streamed the first response.
        assert_eq!(mock.connections(), 1);
    };
    tokio::select! {
        end = runtime.run(service) => panic!("the runtime stopped: {end:?}"),
        () = check => {}
    }
}
