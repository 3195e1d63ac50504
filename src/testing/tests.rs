use super::*;
use crate::{Body, BoxError, RequestContext, RequestExt};
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use serde_json::{json, Value};

type Frames = Vec<Result<Frame<Bytes>, BoxError>>;

fn frames(frames: Frames) -> StreamBody<stream::Iter<<Frames as IntoIterator>::IntoIter>> {
    StreamBody::new(stream::iter(frames))
}

/// Echoes what the handler saw of the request as JSON.
async fn echo(req: Request<Body>) -> Result<Response<String>, Infallible> {
    let ctx = req.lambda_context_ref().cloned();
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(rc)) => rc.http.source_ip.clone(),
        _ => None,
    };
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let body = json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(req.body()),
        "sourceIp": source_ip,
        "requestId": ctx.as_ref().map(|c| c.request_id.clone()),
        "arn": ctx.as_ref().and_then(|c| c.invoked_function_arn.clone()),
        "functionName": ctx.as_ref().map(|c| c.env_config.function_name.clone()),
        "remainingMs": ctx.as_ref().and_then(|c| c.remaining()).map(|d| d.as_millis() as u64),
        "appTitle": ctx.as_ref()
            .and_then(|c| c.client_context.as_ref())
            .and_then(|cc| cc.client.app_title.clone()),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("a valid response"))
}

#[tokio::test]
async fn a_request_arrives_as_a_function_url_event() {
    let client = TestClient::new(tower::service_fn(echo));
    let req = Request::post("http://api.example.com/items/a%20b?x=1&x=2&y=z")
        .header("content-type", "application/json")
        .header("accept", "text/plain")
        .header("accept", "application/json")
        .header("cookie", "a=1; b=2")
        .body(r#"{"n":1}"#)
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.is_complete(), "{res:?}");
    let seen: Value = res.json().unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(
        seen["uri"],
        "http://api.example.com/items/a%20b?x=1&x=2&y=z"
    );
    assert_eq!(seen["headers"]["host"], "api.example.com");
    assert_eq!(seen["headers"]["accept"], "text/plain,application/json");
    assert_eq!(seen["headers"]["cookie"], "a=1; b=2");
    assert_eq!(seen["body"], r#"{"n":1}"#);
    assert_eq!(seen["sourceIp"], "127.0.0.1");
    assert_eq!(seen["requestId"], res.request_id());
    assert_eq!(seen["functionName"], "test");
    assert_eq!(
        seen["arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:test"
    );
}

#[tokio::test]
async fn invocation_and_builder_settings_reach_the_context() {
    let client = TestClient::builder()
        .function_name("orders")
        .timeout(Duration::from_secs(3))
        .build(tower::service_fn(echo));
    assert_eq!(client.config().function_name, "orders");
    let res = client
        .invocation()
        .request_id("req-42")
        .client_context(r#"{"client":{"appTitle":"demo"},"custom":{},"env":{}}"#)
        .peer_addr("10.1.2.3:4567".parse().unwrap())
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.request_id(), "req-42");
    let seen: Value = res.json().unwrap();
    assert_eq!(seen["requestId"], "req-42");
    assert_eq!(seen["functionName"], "orders");
    assert_eq!(seen["appTitle"], "demo");
    assert_eq!(seen["sourceIp"], "10.1.2.3");
    let left = seen["remainingMs"].as_u64().unwrap();
    assert!(left <= 3000 && left > 1000, "{left} ms left of 3 s");
}

#[tokio::test]
async fn status_headers_and_cookies_as_a_function_url_returns_them() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        Response::builder()
            .status(201)
            .header("content-type", "text/plain")
            .header("x-many", "1")
            .header("set-cookie", "a=1; Path=/")
            .header("set-cookie", "b=2; HttpOnly")
            .body("made".to_owned())
    }));
    let res = client
        .request(Request::put("/things").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.header("x-many"), Some("1"));
    assert_eq!(res.cookies(), ["a=1; Path=/", "b=2; HttpOnly"]);
    assert_eq!(res.headers().get_all("set-cookie").iter().count(), 2);
    assert_eq!(res.text(), "made");
    assert_eq!(res.chunks().len(), 1);
    let prelude = res.prelude_json().unwrap();
    assert_eq!(prelude["statusCode"], 201);
    assert_eq!(prelude["cookies"], json!(["a=1; Path=/", "b=2; HttpOnly"]));
    assert!(prelude["headers"].get("set-cookie").is_none());
    assert_eq!(
        serde_json::from_slice::<Value>(res.prelude().unwrap()).unwrap(),
        prelude
    );
}

#[tokio::test(start_paused = true)]
async fn each_chunk_with_its_arrival_time_on_paused_time() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        let body = stream::iter([0u64, 250, 1000]).then(|ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Infallible>(Frame::data(Bytes::from(format!("after {ms}\n"))))
        });
        Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
    }));
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let chunks = res.chunks();
    let texts: Vec<_> = chunks.iter().map(|c| c.text().into_owned()).collect();
    assert_eq!(texts, ["after 0\n", "after 250\n", "after 1000\n"]);
    let head = res.head_arrived_at().unwrap();
    assert!(head >= res.sent_at());
    let offsets: Vec<_> = chunks.iter().map(|c| c.arrived_at() - head).collect();
    assert_eq!(
        offsets,
        [
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_millis(1250)
        ]
    );
    assert_eq!(res.ended_at(), chunks[2].arrived_at());
    assert_eq!(res.body(), "after 0\nafter 250\nafter 1000\n");
}

#[tokio::test]
async fn a_failure_mid_stream_is_decoded_from_the_trailers() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        let body = frames(vec![
            Ok(Frame::data(Bytes::from("one\n"))),
            Ok(Frame::data(Bytes::from("two\n"))),
            Err("disk on fire".into()),
        ]);
        Response::builder()
            .header("content-type", "text/plain")
            .body(body)
    }));
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.text(), "one\ntwo\n");
    assert!(!res.is_complete());
    let err = res.error().unwrap();
    assert_eq!(err.error_type(), "Function.StreamError");
    assert_eq!(err.error_message(), "disk on fire");
    assert!(err.is_mid_stream());
    assert_eq!(err.to_string(), "Function.StreamError: disk on fire");
}

#[tokio::test]
async fn failures_before_the_response_are_the_error_report() {
    let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
        match req.uri().path() {
            "/panic" => panic!("boom"),
            "/error" => Err::<Response<String>, BoxError>("no such thing".into()),
            _ => Ok(Response::new("fine".to_owned())),
        }
    }));
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();

    let res = client.request(get("/error")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.prelude().is_none() && res.chunks().is_empty() && res.body().is_empty());
    assert!(res.head_arrived_at().is_none());
    let err = res.error().unwrap();
    assert_eq!(
        (err.error_type(), err.error_message()),
        ("Function.Error", "no such thing")
    );
    assert!(!err.is_mid_stream());

    let res = client.request(get("/panic")).await.unwrap();
    let err = res.error().unwrap();
    assert_eq!(err.error_type(), "Function.Panic");
    assert!(err.error_message().contains("boom"), "{err}");

    // An event the runtime cannot decode.
    let res = client.event("{not json").await.unwrap();
    assert_eq!(res.error().unwrap().error_type(), "Runtime.InvalidEvent");

    // The runtime goes on.
    let res = client.request(get("/")).await.unwrap();
    assert!(res.is_complete());
    assert_eq!(res.text(), "fine");
}

#[tokio::test(start_paused = true)]
async fn a_response_past_the_function_timeout_ends_with_sandbox_timeout() {
    let client = TestClient::builder()
        .timeout(Duration::from_millis(2500))
        .build(tower::service_fn(|req: Request<Body>| async move {
            let slow = req.uri().path() == "/slow";
            let body = stream::iter([0u64, 1, 2, 3]).then(move |n| async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok::<_, Infallible>(Frame::data(Bytes::from(n.to_string())))
            });
            Ok::<_, Infallible>(Response::new(StreamBody::new(body)))
        }));
    let res = client
        .request(Request::get("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let err = res.error().unwrap();
    assert_eq!(err.error_type(), "Sandbox.Timeout");
    assert!(err.is_mid_stream());
    assert_eq!(res.text(), "01");
    assert_eq!(res.ended_at() - res.sent_at(), Duration::from_millis(2500));

    // The next invocation waits for the slow one to be stopped, then is served.
    let res = client
        .request(Request::get("/fast").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(res.is_complete(), "{res:?}");
    assert_eq!(res.text(), "0123");
}

/// Records when it is dropped, on tokio's clock.
struct DropClock(std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>);

impl Drop for DropClock {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(tokio::time::Instant::now());
    }
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_invocation_is_stopped_and_the_next_one_is_served() {
    let dropped = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = dropped.clone();
    let client = TestClient::builder()
        .timeout(Duration::from_secs(2))
        .build(tower::service_fn(move |req: Request<Body>| {
            let clock = DropClock(slot.clone());
            async move {
                let ticks = match req.uri().path() {
                    // A handler that never answers.
                    "/hang" => {
                        let _clock = clock;
                        std::future::pending::<()>().await;
                        unreachable!("pending never resolves")
                    }
                    // A body that never ends, a chunk every 100 ms.
                    "/forever" => stream::repeat(()).then(move |()| {
                        let _clock = &clock;
                        async {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b".")))
                        }
                    }),
                    _ => {
                        return Ok::<_, Infallible>(Response::new(StreamBody::new(
                            stream::iter([Ok(Frame::data(Bytes::from_static(b"fine")))]).boxed(),
                        )))
                    }
                };
                Ok(Response::new(StreamBody::new(ticks.boxed())))
            }
        }));
    // However long a test could wait: a stuck invocation fails it instead of hanging it.
    let within = |f| tokio::time::timeout(Duration::from_secs(3600), f);

    for (path, mid_stream) in [("/hang", false), ("/forever", true)] {
        *dropped.lock().unwrap() = None;
        let req = Request::get(path).body(Body::empty()).unwrap();
        let res = within(client.request(req)).await.unwrap().unwrap();
        let err = res.error().unwrap();
        assert_eq!(err.error_type(), "Sandbox.Timeout", "{path}");
        assert_eq!(err.is_mid_stream(), mid_stream, "{path}");
        assert_eq!(res.ended_at() - res.sent_at(), Duration::from_secs(2));

        // With one invocation at a time, the next one is served only once this one stopped.
        let req = Request::get("/").body(Body::empty()).unwrap();
        let next = within(client.request(req)).await.unwrap().unwrap();
        assert_eq!(next.text(), "fine", "after {path}");
        // Stopped after the deadline, 100 ms after it at the latest. (The runtime reads the
        // deadline off the wall clock, which goes on while tokio's is paused: the stop comes
        // a few real milliseconds earlier on the paused clock.)
        let at = dropped
            .lock()
            .unwrap()
            .expect("the invocation was never dropped");
        let after = at - res.sent_at();
        assert!(
            after > Duration::from_secs(2) && after <= Duration::from_millis(2100),
            "{path}: dropped {after:?} after the request"
        );
    }
}

#[tokio::test]
async fn raw_events_have_no_prelude() {
    let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
        let reply = format!(
            "{} {} {}",
            req.method(),
            req.uri(),
            String::from_utf8_lossy(req.body())
        );
        Ok::<_, Infallible>(Response::new(reply))
    }));
    let res = client.json(&json!({"ask": "anything"})).await;
    let res = res.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.prelude().is_none());
    assert_eq!(res.text(), r#"POST / {"ask":"anything"}"#);
    // A String body has no content type of its own: the runtime's default.
    assert!(res.header("content-type").is_some());
}

#[tokio::test]
async fn an_empty_body_still_has_its_head() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        Response::builder().status(204).body(String::new())
    }));
    let res = client
        .request(Request::delete("/x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.chunks().is_empty() && res.body().is_empty());
    assert!(res.is_complete());
    assert!(res.head_arrived_at().is_some());
}

#[tokio::test]
async fn over_six_megabytes_is_refused_without_invoking() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let err = client
        .event(vec![b' '; 6 * 1024 * 1024 + 1])
        .await
        .unwrap_err();
    assert!(err.is_payload_too_large(), "{err:?}");
    assert!(!err.is_stopped());
    assert!(err.to_string().contains("6 MB"), "{err}");
    // Exactly the limit is fine (the event is then invalid JSON: a function error).
    let res = client.event(vec![b' '; 6 * 1024 * 1024]).await.unwrap();
    assert_eq!(res.error().unwrap().error_type(), "Runtime.InvalidEvent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_one_runtime_and_queue_their_invocations() {
    let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, Infallible>(Response::new(req.uri().path().to_owned()))
    }));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let req = Request::get(format!("/{i}")).body(Body::empty()).unwrap();
                client.request(req).await
            })
        })
        .collect();
    let mut spans = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let res = task.await.unwrap().unwrap();
        assert_eq!(res.text(), format!("/{i}"));
        spans.push((res.head_arrived_at().unwrap(), res.ended_at()));
    }
    // One at a time: no two responses overlap.
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{spans:?}");
    }
}

#[test]
fn made_outside_a_runtime_and_used_inside_one() {
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new("ok".to_owned()))
    }));
    assert!(format!("{client:?}").contains("started: false"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt.block_on(client.event("{}")).unwrap();
    assert_eq!(res.text(), "ok");
    assert!(format!("{client:?}").contains("started: true"));
}

#[test]
fn the_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<TestClient>();
    send_sync::<TestResponse>();
    send_sync::<Chunk>();
    send_sync::<FunctionError>();
    send_sync::<Error>();
    send_sync::<Builder>();

    fn send<T: Send>(_: &T) {}
    let client = TestClient::new(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    let req = Request::get("/").body(Body::empty()).unwrap();
    send(&client.request(req));
    send(&client.event("{}"));
}

#[tokio::test]
async fn every_kind_of_fixture_event() {
    let client = TestClient::new(tower::service_fn(|req: Request<Body>| async move {
        let line = format!("{} {} {}", req.method(), req.uri().path(), req.body().len());
        Response::builder()
            .status(207)
            .header("content-type", "text/plain")
            .header("set-cookie", "k=v; Secure")
            .body(line)
    }));
    let http_events: [(&[u8], &str); 4] = [
        (
            include_bytes!("../../tests/fixtures/events/function-url-get.json"),
            "GET / 0",
        ),
        (
            include_bytes!("../../tests/fixtures/events/function-url-post-base64.json"),
            "POST /upload/report 13",
        ),
        (
            include_bytes!("../../tests/fixtures/events/apigw-http-v2.json"),
            "GET /chat/lobby 0",
        ),
        (
            include_bytes!("../../tests/fixtures/events/apigw-rest-v1.json"),
            "GET /items/42 0",
        ),
    ];
    for (event, line) in http_events {
        let res = client.event(event).await.unwrap();
        assert!(res.prelude().is_some(), "{line}: {res:?}");
        assert_eq!(res.status(), 207, "{line}");
        assert_eq!(res.header("content-type"), Some("text/plain"), "{line}");
        assert_eq!(res.cookies(), ["k=v; Secure"], "{line}");
        assert_eq!(res.text(), line);
    }
    // An ALB cannot stream: its events are answered buffered, with the ALB response object.
    let res = client
        .event(include_bytes!("../../tests/fixtures/events/alb.json"))
        .await
        .unwrap();
    assert!(res.prelude().is_none());
    let alb: serde_json::Value = res.json().unwrap();
    assert_eq!(alb["statusCode"], 207);
    assert_eq!(alb["statusDescription"], "207 Multi-Status");
    assert_eq!(alb["headers"]["content-type"], "text/plain");
    assert_eq!(alb["headers"]["set-cookie"], "k=v; Secure");
    assert_eq!(alb["body"], "GET /health 0");
    // Raw payloads arrive as `POST /` with the payload, as is, as body.
    let raw_events: [&[u8]; 2] = [
        include_bytes!("../../tests/fixtures/events/raw-string.json"),
        include_bytes!("../../tests/fixtures/events/raw-object.json"),
    ];
    for event in raw_events {
        let line = format!("POST / {}", event.len());
        let res = client.event(event).await.unwrap();
        assert!(res.prelude().is_none(), "{line}: {res:?}");
        assert_eq!(res.status(), 200, "{line}: no status without a prelude");
        assert_eq!(res.text(), line);
    }
}

#[test]
fn errors_say_what_failed() {
    let e = Error::too_large(6_291_457);
    assert!(e.is_payload_too_large() && !e.is_stopped() && !e.is_start() && !e.is_json());
    assert_eq!(
        e.to_string(),
        "the event is 6291457 bytes, over lambda's 6 MB request payload limit"
    );
    let e = Error::stopped(None);
    assert!(e.is_stopped());
    assert_eq!(e.to_string(), "the in-process runtime has stopped");
    let e = Error::start(std::io::Error::other("no ports"));
    assert!(e.is_start());
    assert_eq!(
        std::error::Error::source(&e).map(|s| s.to_string()),
        Some("no ports".to_owned())
    );
    let e = Error::json(serde_json::from_str::<Value>("{").unwrap_err());
    assert!(e.is_json() && std::error::Error::source(&e).is_some());
}

#[tokio::test]
async fn an_invocation_can_be_spawned() {
    let client = TestClient::new(tower::service_fn(echo));
    let invocation = client.invocation().request_id("spawned");
    let res = tokio::spawn(invocation.event("{}")).await.unwrap().unwrap();
    assert_eq!(res.request_id(), "spawned");
}
