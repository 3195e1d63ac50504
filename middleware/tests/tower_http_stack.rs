//! The tower_http_stack example through the runtime, against the Runtime API mock.

#[path = "../../tests/support/mod.rs"]
mod support;

#[path = "../examples/tower_http_stack.rs"]
#[allow(dead_code)]
mod tower_http_stack;

use std::io::Write;
use std::time::Duration;

use support::{MockEvent, MockRuntimeApi};

const URL_EVENT: &str = include_str!("../../tests/fixtures/events/function-url-get.json");

/// A function URL event with these extra request headers.
fn event(id: &str, headers: &[(&str, &str)]) -> MockEvent {
    let mut event: serde_json::Value = serde_json::from_str(URL_EVENT).unwrap();
    for (k, v) in headers {
        event["headers"][*k] = (*v).into();
    }
    MockEvent::new(id, serde_json::to_vec(&event).unwrap())
}

#[tokio::test]
async fn plain_stack_streams_with_cors_cache_control_and_request_id() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(event("plain", &[("origin", "https://example.com")]));
    let rt = support::spawn_runtime(&mock, tower_http_stack::app());
    let res = mock.response().await;
    let (prelude, body) = res.split();
    let headers = &prelude["headers"];
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://example.com"
    );
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-request-id"], "plain");
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(body, b"tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    let chunks = res.body_chunks();
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    for pair in chunks.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(150), "ticks {gap:?} apart");
    }
    rt.abort();
}

#[tokio::test]
async fn under_gzip_each_chunk_is_flushed_and_decodable_when_it_arrives() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(event("gzip", &[("accept-encoding", "gzip")]));
    let rt = support::spawn_runtime(&mock, tower_http_stack::app());
    let res = mock.response().await;
    let (prelude, _) = res.split();
    assert_eq!(prelude["headers"]["content-encoding"], "gzip");
    assert!(
        res.complete && res.trailers.is_none(),
        "{:?}",
        res.error_trailers()
    );
    let chunks = res.body_chunks();
    let start = chunks[0].0;
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut decoded_at = vec![];
    for (at, bytes) in &chunks {
        decoder.write_all(bytes).unwrap();
        decoder.flush().unwrap();
        let text = String::from_utf8_lossy(decoder.get_ref()).into_owned();
        eprintln!("{:>12?} {:>3} bytes -> {text:?}", *at - start, bytes.len());
        decoded_at.push((*at, text.lines().count()));
    }
    decoder.finish().unwrap();
    // No chunk made more than one tick decodable: the compressor flushed every tick on its own
    // instead of holding it back for more input. (A chunk may carry only gzip's footer.)
    let lines: Vec<usize> = decoded_at.iter().map(|(_, lines)| *lines).collect();
    assert_eq!(lines.first(), Some(&1), "{lines:?}");
    assert_eq!(lines.last(), Some(&5), "{lines:?}");
    assert!(lines.windows(2).all(|w| w[1] - w[0] <= 1), "{lines:?}");
    let tick_at: Vec<_> = (1..=5)
        .map(|n| decoded_at.iter().find(|(_, l)| *l == n).unwrap().0)
        .collect();
    for pair in tick_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(150), "ticks {gap:?} apart");
    }
    rt.abort();
}

#[tokio::test]
async fn the_deadline_layer_cuts_the_compressed_stream_with_a_timeout_trailer() {
    let mock = MockRuntimeApi::start().await;
    // The ticks need 800 ms; the deadline layer acts at 900 - 500 = 400 ms.
    let due = std::time::SystemTime::now() + Duration::from_millis(900);
    let ms = due
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    mock.push_event(
        event("late", &[("accept-encoding", "gzip")])
            .header("lambda-runtime-deadline-ms", Some(&ms)),
    );
    let rt = support::spawn_runtime(&mock, tower_http_stack::app());
    let res = mock.response().await;
    assert!(std::time::SystemTime::now() < due);
    let (prelude, body) = res.split();
    assert_eq!(prelude["headers"]["content-encoding"], "gzip");
    let (ty, _) = res.error_trailers().expect("a timeout trailer");
    assert_eq!(ty, "Function.Timeout");
    // What arrived before the cut decodes to whole ticks.
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    decoder.write_all(&body).unwrap();
    decoder.flush().unwrap();
    let text = String::from_utf8(decoder.get_ref().clone()).unwrap();
    assert!(text.starts_with("tick 1\ntick 2\n"), "{text:?}");
    assert!(!text.contains("tick 5"), "{text:?}");
    rt.abort();
}
