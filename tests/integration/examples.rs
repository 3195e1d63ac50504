//! The examples, run through the runtime: in-process (their handlers, with the test kit) and
//! as the real example binaries against the Runtime API mock.

use crate::support::{self, process};
use lambda_stream_test_support as test_support;
use process::{example_binary, Killed};

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use lambda_stream::testing::{TestClient, TestResponse};
use lambda_stream::Body;
use support::{MockEvent, MockRuntimeApi};

use crate::example::{conditional_streaming, design_shape, streaming_numbers};

const NUMBERS: [&str; 4] = [
    "Number: 1\n",
    "Number: 2\n",
    "Number: 3\n",
    "Streaming complete!\n",
];

fn assert_numbers(res: &support::StreamedResponse) {
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    assert_eq!(
        prelude["headers"]["x-my-custom-header"],
        "streaming-example"
    );
    assert_eq!(String::from_utf8(body).unwrap(), NUMBERS.concat());
    let chunks = res.body_chunks();
    let lines: Vec<_> = chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(lines, NUMBERS, "one chunk per line");
    // The binary's clock cannot be paused: each line was on the wire before the next existed.
    let handed_out = res.handed_out_at.expect("the mock handed the event out");
    let arrivals: Vec<_> = chunks.iter().map(|(at, _)| *at - handed_out).collect();
    test_support::assert_each_before_the_next(&arrivals, Duration::from_secs(1));
}

/// The example's response, through the test kit (paused time: exact arrival times).
fn assert_numbers_in_process(res: &TestResponse) {
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    assert_eq!(
        prelude["headers"]["x-my-custom-header"],
        "streaming-example"
    );
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.header("x-my-custom-header"), Some("streaming-example"));
    assert_eq!(res.text(), NUMBERS.concat());
    let lines: Vec<_> = res.chunks().iter().map(|c| c.text()).collect();
    assert_eq!(lines, NUMBERS, "one chunk per line");
    test_support::assert_apart(
        res.chunks().iter().map(|c| c.arrived_at()),
        Duration::from_secs(1),
    );
    assert!(res.is_complete(), "{res:?}");
}

#[tokio::test(start_paused = true)]
async fn streaming_numbers_lines_arrive_a_second_apart() {
    let client = TestClient::new(tower::service_fn(streaming_numbers::handler));
    let res = client
        .event(support::fixture("function-url-get.json"))
        .await;
    assert_numbers_in_process(&res.unwrap());
    // The same through a request turned into a function URL event.
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_numbers_in_process(&res.unwrap());
}

const CLIENT_ERROR: &[u8] = br#"{"error":"Bad request","message":"Error requested in input"}"#;

#[tokio::test]
async fn conditional_streaming_error_is_one_400_json_piece() {
    let client = TestClient::new(tower::service_fn(conditional_streaming::handler));
    let with_query = String::from_utf8(support::fixture("function-url-get.json").to_vec())
        .unwrap()
        .replace(
            r#""rawQueryString": """#,
            r#""rawQueryString": "mode=error""#,
        );
    for res in [
        client.event(with_query).await.unwrap(),
        client
            .request(Request::get("/?mode=error").body(Body::empty()).unwrap())
            .await
            .unwrap(),
    ] {
        let prelude = res.prelude_json().expect("a prelude");
        assert_eq!(prelude["statusCode"], 400);
        assert_eq!(prelude["headers"]["content-type"], "application/json");
        assert_eq!(prelude["headers"]["x-error-type"], "client-error");
        assert_eq!(res.status(), 400);
        assert_eq!(res.header("x-error-type"), Some("client-error"));
        assert_eq!(res.body(), CLIENT_ERROR);
        assert_eq!(res.chunks().len(), 1, "in one piece");
        assert!(res.is_complete());
    }

    // A raw invocation whose body asks for the error: no prelude, the JSON as is.
    let res = client.event(r#"{"ask":"error please"}"#).await.unwrap();
    assert!(res.prelude().is_none());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.body(), CLIENT_ERROR);
}

#[tokio::test(start_paused = true)]
async fn conditional_streaming_streams_five_items_half_a_second_apart() {
    let client = TestClient::new(tower::service_fn(conditional_streaming::handler));
    let res = client
        .event(support::fixture("function-url-get.json"))
        .await
        .unwrap();
    let prelude = res.prelude_json().expect("a prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "application/json");
    assert_eq!(prelude["headers"]["cache-control"], "no-cache");
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    let items: Vec<serde_json::Value> = res.json().expect("a JSON array");
    assert_eq!(items.len(), 5);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["id"], i as u64 + 1);
        let ts: u128 = item["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(ts > 1_700_000_000_000);
    }
    // Each item on its own, 500 ms after the one before; the closing bracket, ready at once
    // after the last item, leaves with it in one chunk.
    let chunks = res.chunks();
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    assert!(chunks[4].text().ends_with("}]"), "{chunks:?}");
    test_support::assert_apart(
        chunks.iter().map(|c| c.arrived_at()),
        Duration::from_millis(500),
    );
    assert!(res.is_complete());
}

#[tokio::test]
async fn the_streaming_numbers_binary_streams_under_the_runtime_api() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(MockEvent::fixture("bin-1", "function-url-get.json"));
    mock.push_event(MockEvent::fixture("bin-2", "apigw-rest-v1.json"));
    let _child = Killed(
        Command::new(example_binary("streaming_numbers"))
            .env("AWS_LAMBDA_RUNTIME_API", mock.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "streaming_numbers")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "bin-1");
    assert_numbers(&res);
    let res = mock.response().await;
    assert_eq!(res.request_id, "bin-2");
    assert_numbers(&res);
}

/// A function URL `POST /` event whose body is `text`.
fn url_event_with_body(request_id: &str, text: &str) -> MockEvent {
    let mut event: serde_json::Value =
        serde_json::from_slice(&support::fixture("function-url-get.json")).unwrap();
    event["requestContext"]["http"]["method"] = "POST".into();
    event["body"] = text.into();
    event["isBase64Encoded"] = false.into();
    MockEvent::new(request_id, serde_json::to_vec(&event).unwrap())
}

/// The design-shape example's response to a request whose body is `text`, as the mock got it:
/// its lines, one chunk each, each on the wire before the next existed.
fn assert_lines(res: &support::StreamedResponse, text: &str) {
    let (prelude, body) = res.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/plain");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(prelude["headers"]["x-lines"], lines.len().to_string());
    assert_eq!(String::from_utf8(body).unwrap(), text);
    let chunks: Vec<_> = res
        .body_chunks()
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(chunks, lines, "one chunk per line");
    assert!(res.complete && res.trailers.is_none(), "{res:?}");
    let handed_out = res.handed_out_at.expect("the mock handed the event out");
    let arrivals: Vec<_> = res
        .body_chunks()
        .iter()
        .map(|(at, _)| *at - handed_out)
        .collect();
    test_support::assert_each_before_the_next(&arrivals, design_shape::GAP);
}

#[tokio::test(start_paused = true)]
async fn design_shape_serves_a_service_of_request_bytes_as_it_is() {
    // `TestClient` takes the `Service<Request<Bytes>>` as it is, as `run` does.
    let client = TestClient::new(tower::service_fn(design_shape::handler));
    let res = client
        .request(
            Request::post("/")
                .body(Bytes::from("one\ntwo\nthree"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.header("x-lines"), Some("2"));
    let chunks: Vec<_> = res.chunks().iter().map(|c| c.text()).collect();
    assert_eq!(chunks, ["one\n", "two\n", "three"], "one chunk per line");
    test_support::assert_apart(
        res.chunks().iter().map(|c| c.arrived_at()),
        design_shape::GAP,
    );
    assert!(res.is_complete(), "{res:?}");

    // Base64 bodies arrive decoded; without a body, the example's own lines.
    let res = client
        .event(support::fixture("function-url-post-base64.json"))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"\x00\x01\x02\x03\xff\xfe\xfd\xfcHello");
    let res = client
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.text(), design_shape::DEFAULT_TEXT);
    assert_eq!(res.chunks().len(), 3);
}

#[tokio::test]
async fn the_design_shape_binary_streams_under_run() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(url_event_with_body("shape-1", "one\ntwo\nthree\n"));
    mock.push_event(MockEvent::url("shape-2"));
    let _child = Killed(
        Command::new(example_binary("design_shape"))
            .env("AWS_LAMBDA_RUNTIME_API", mock.address())
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first = mock.response().await;
    assert_eq!(first.request_id, "shape-1");
    assert_lines(&first, "one\ntwo\nthree\n");
    let second = mock.response().await;
    assert_eq!(second.request_id, "shape-2");
    assert_lines(&second, design_shape::DEFAULT_TEXT);
    // `run`: one invocation at a time.
    let first_done = first.chunks.last().unwrap().0;
    assert!(second.handed_out_at.unwrap() >= first_done);
}

#[tokio::test]
async fn the_design_shape_binary_streams_under_run_concurrent() {
    let mock = MockRuntimeApi::start().await;
    mock.push_event(url_event_with_body("shape-1", "one\ntwo\nthree\nfour\n"));
    mock.push_event(url_event_with_body("shape-2", "five\nsix\nseven\neight\n"));
    let _child = Killed(
        Command::new(example_binary("design_shape"))
            .env("AWS_LAMBDA_RUNTIME_API", mock.address())
            .env("AWS_LAMBDA_MAX_CONCURRENCY", "2")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut responses = [mock.response().await, mock.response().await];
    responses.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    let [first, second] = responses;
    assert_eq!(first.request_id, "shape-1");
    assert_lines(&first, "one\ntwo\nthree\nfour\n");
    assert_eq!(second.request_id, "shape-2");
    assert_lines(&second, "five\nsix\nseven\neight\n");
    // `run_concurrent` with two workers: each event was handed out before the other's
    // response ended (a single worker asks for the next event only after a response).
    assert!(first.handed_out_at.unwrap() < second.chunks.last().unwrap().0);
    assert!(second.handed_out_at.unwrap() < first.chunks.last().unwrap().0);
}

#[test]
fn the_design_shape_binary_serves_locally() {
    use std::io::{Read, Write};
    let port = lambda_stream_test_support::free_port();
    let _child = Killed(
        Command::new(example_binary("design_shape"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("LOCAL_LAMBDA_PORT", port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stream = test_support::connect_when_listening(port, Duration::from_secs(20));
    let body = "one\ntwo\n";
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-lines: 2\r\n"), "{response}");
    assert!(
        lower.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{response}"
    );
    // Each line its own chunk, then the last chunk: a clean end.
    assert!(
        response.ends_with("\r\n\r\n4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\n"),
        "{response}"
    );
}

#[test]
fn the_fixtures_are_the_shared_ones() {
    // The project keeps its own copy of the shared fixtures; they must not drift apart.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/events");
    let Ok(entries) = std::fs::read_dir(shared) else {
        eprintln!("{shared} is absent: nothing to compare");
        return;
    };
    let mut compared = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                support::fixture(name).to_vec(),
                "tests/fixtures/events/{name} differs from the shared fixture"
            );
            compared += 1;
        }
    }
    assert!(compared >= 7, "only {compared} shared fixtures found");
}
