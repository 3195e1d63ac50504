//! The axum_router example through the runtime, against the Runtime API mock.

mod support;

use std::time::Duration;

use support::{MockEvent, MockRuntimeApi};

#[path = "../examples/axum_router.rs"]
#[allow(dead_code)]
mod axum_router;

/// A function URL event for `path` and `query`.
fn get(id: &str, path: &str, query: &str) -> MockEvent {
    let mut event: serde_json::Value =
        serde_json::from_slice(&support::fixture("function-url-get.json")).unwrap();
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["path"] = path.into();
    MockEvent::new(id, serde_json::to_vec(&event).unwrap())
}

#[tokio::test]
async fn every_route_through_the_runtime() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(get("stream", "/stream", ""));
    mock.push_event(get("sse", "/sse", ""));
    mock.push_event(get("json-1", "/json", ""));
    mock.push_event(get("json-2", "/json", ""));
    mock.push_event(get("item", "/items/42", ""));
    mock.push_event(get("item-verbose", "/items/7", "verbose=true"));
    mock.push_event(get("bad-item", "/items/abc", ""));
    mock.push_event(get("missing", "/nope", ""));
    let rt = support::spawn_runtime(&mock, axum_router::app(axum_router::AppState::new("hi")));

    // Streamed text: each line on its own, 200 ms apart.
    let res = mock.response().await;
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    assert_eq!(body, b"line 1\nline 2\nline 3\nline 4\nline 5\n");
    let chunks = res.body_chunks();
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    for pair in chunks.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(150), "lines {gap:?} apart");
    }

    // SSE: one event per chunk, as generated.
    let res = mock.response().await;
    let (prelude, body) = res.split();
    assert_eq!(prelude["headers"]["content-type"], "text/event-stream");
    let text = String::from_utf8(body).unwrap();
    let data: Vec<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data, ["Hello", ",", " streaming", " world", "[DONE]"]);
    let chunks = res.body_chunks();
    assert_eq!(chunks.len(), 5, "one chunk per event: {chunks:?}");
    for pair in chunks.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(70), "events {gap:?} apart");
    }

    // Buffered JSON, with state shared across invocations and the Lambda request id.
    for (id, hits) in [("json-1", 1), ("json-2", 2)] {
        let res = mock.response().await;
        let (prelude, body) = res.split();
        assert_eq!(prelude["headers"]["content-type"], "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"greeting": "hi", "hits": hits, "request_id": id})
        );
    }

    // Path and query extraction.
    let (_, body) = mock.response().await.split();
    assert_eq!(body, b"item 42");
    let (_, body) = mock.response().await.split();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json, serde_json::json!({"id": 7, "name": "item 7"}));
    let (prelude, _) = mock.response().await.split();
    assert_eq!(
        prelude["statusCode"], 400,
        "a bad path parameter is axum's 400"
    );

    // The fallback.
    let (prelude, body) = mock.response().await.split();
    assert_eq!(prelude["statusCode"], 404);
    assert_eq!(body, b"no such route");
    rt.abort();
}
