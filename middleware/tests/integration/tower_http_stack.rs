//! The tower_http_stack example through the runtime with the test kit, in paused time.

use crate::example::tower_http_stack;

use std::io::Write;
use std::time::Duration;

use http::Request;
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::Body;
use lambda_stream_middleware::deadline::ERROR_TYPE;

const TICK: Duration = Duration::from_millis(200);

async fn get(
    client: &TestClient,
    request_id: &str,
    headers: &[(&'static str, &str)],
) -> TestResponse {
    let mut req = Request::get("/").body(Body::empty()).unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    client
        .invocation()
        .request_id(request_id)
        .request(req)
        .await
        .unwrap()
}

/// Decodes the gzip stream chunk by chunk: for each chunk, how many lines were decodable
/// once it arrived, and when.
fn lines_as_decoded(res: &TestResponse) -> Vec<(tokio::time::Instant, usize, String)> {
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut out = vec![];
    for chunk in res.chunks() {
        decoder.write_all(chunk.bytes()).unwrap();
        decoder.flush().unwrap();
        let text = String::from_utf8(decoder.get_ref().clone()).unwrap();
        out.push((chunk.arrived_at(), text.lines().count(), text));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn plain_stack_streams_with_cors_cache_control_and_request_id() {
    let client = TestClient::new(tower_http_stack::app());
    let res = get(&client, "plain", &[("origin", "https://example.com")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    assert_eq!(res.header("x-request-id"), Some("plain"));
    assert_eq!(res.header("content-encoding"), None);
    assert!(res.error().is_none(), "{:?}", res.error());
    assert_eq!(res.text(), "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    let chunks = res.chunks();
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    for (n, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.text(), format!("tick {}\n", n + 1));
        assert_eq!(chunk.arrived_at() - res.sent_at(), TICK * n as u32);
    }
}

#[tokio::test(start_paused = true)]
async fn under_gzip_each_tick_is_flushed_and_decodable_when_it_is_produced() {
    let client = TestClient::new(tower_http_stack::app());
    let res = get(&client, "gzip", &[("accept-encoding", "gzip")]).await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert!(res.error().is_none(), "{:?}", res.error());
    let decoded = lines_as_decoded(&res);
    assert_eq!(
        decoded.last().map(|(_, _, text)| text.as_str()),
        Some("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n")
    );
    // Tick n is decodable at (n - 1) ticks: the compressor flushed every tick on its own
    // instead of holding it back for more input.
    for n in 1..=5 {
        let at = decoded
            .iter()
            .find(|(_, lines, _)| *lines == n)
            .map(|(at, _, _)| *at - res.sent_at());
        assert_eq!(at, Some(TICK * (n as u32 - 1)), "tick {n}: {decoded:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_layer_cuts_the_compressed_stream_with_a_timeout_trailer() {
    // The ticks need 800 ms; the deadline layer acts at 900 - 500 = 400 ms, just before the
    // third.
    let client = TestClient::builder()
        .timeout(Duration::from_millis(900))
        .build(tower_http_stack::app());
    let res = get(&client, "late", &[("accept-encoding", "gzip")]).await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    let error = res.error().expect("a timeout trailer");
    assert_eq!(error.error_type(), ERROR_TYPE);
    assert!(res.ended_at() - res.sent_at() <= 2 * TICK);
    let decoded = lines_as_decoded(&res);
    let text = decoded.last().map(|(_, _, t)| t.as_str()).unwrap_or("");
    assert_eq!(text, "tick 1\ntick 2\n", "{decoded:?}");
}
