//! The axum_router example through the runtime, with the test kit.

use crate::support;

use std::time::Duration;

use http::Request;
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::Body;

use crate::example::axum_router;

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// The gaps between the chunks' arrivals.
fn gaps(res: &TestResponse) -> Vec<Duration> {
    lambda_stream_test_support::gaps(res.chunks().iter().map(|c| c.arrived_at()))
}

/// A raw payload arrives as `POST /`, its body the payload: the router's route for it answers.
#[tokio::test(start_paused = true)]
async fn a_raw_invocation_is_routed_to_post_root() {
    let client = TestClient::new(axum_router::app(axum_router::AppState::new("hi")));
    let res = client
        .event(br#"{"prompt":"one two three"}"#)
        .await
        .unwrap();
    assert!(res.prelude().is_none(), "a raw response has no prelude");
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.text(), "one\ntwo\nthree\n");
    assert_eq!(res.chunks().len(), 3, "{res:?}");
    assert!(res.is_complete());
}

#[tokio::test(start_paused = true)]
async fn every_route_through_the_runtime() {
    let client = TestClient::new(axum_router::app(axum_router::AppState::new("hi")));

    // Streamed text: each line on its own, 200 ms apart.
    let res = client.request(get("/stream")).await.unwrap();
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.text(), "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert_eq!(res.chunks().len(), 5, "{res:?}");
    assert_eq!(gaps(&res), [Duration::from_millis(200); 4]);
    assert!(res.is_complete());

    // SSE: one event per chunk, as generated.
    let res = client.request(get("/sse")).await.unwrap();
    assert_eq!(res.header("content-type"), Some("text/event-stream"));
    let text = res.text();
    let data: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data, ["Hello", ",", " streaming", " world", "[DONE]"]);
    assert_eq!(res.chunks().len(), 5, "one chunk per event: {res:?}");
    assert_eq!(gaps(&res), [Duration::from_millis(100); 4]);

    // Buffered JSON, with state shared across invocations and the Lambda request id.
    for (id, hits) in [("json-1", 1), ("json-2", 2)] {
        let res = client
            .invocation()
            .request_id(id)
            .request(get("/json"))
            .await
            .unwrap();
        assert_eq!(res.header("content-type"), Some("application/json"));
        let json: serde_json::Value = res.json().unwrap();
        assert_eq!(
            json,
            serde_json::json!({"greeting": "hi", "hits": hits, "request_id": id})
        );
    }

    // Path and query extraction, from an event as is.
    let res = client
        .event(support::fixture("function-url-get.json"))
        .await
        .unwrap();
    // `GET /`: `/` is the raw invocations' route, which takes `POST` only.
    assert_eq!(res.status(), 405);
    let res = client.request(get("/items/42")).await.unwrap();
    assert_eq!(res.text(), "item 42");
    let res = client.request(get("/items/7?verbose=true")).await.unwrap();
    let json: serde_json::Value = res.json().unwrap();
    assert_eq!(json, serde_json::json!({"id": 7, "name": "item 7"}));
    let res = client.request(get("/items/abc")).await.unwrap();
    assert_eq!(res.status(), 400, "a bad path parameter is axum's 400");

    // The fallback.
    let res = client.request(get("/nope")).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.text(), "no such route");
}
