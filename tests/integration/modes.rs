//! One handler, unchanged, behind every event source in both response modes: a table of event
//! fixtures x {streamed, buffered}, each response decoded from the bytes the mock received.

use crate::support;

use std::collections::BTreeMap;
use std::convert::Infallible;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use lambda_stream::{Body, BoxError, ResponseMode, Runtime};
use serde_json::Value;
use support::{MockEvent, MockRuntimeApi, StreamedResponse};
use tower::service_fn;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Function URL / HTTP API (payload 2.0).
    V2,
    /// API Gateway REST (payload 1.0).
    V1,
    /// ALB without multi-value headers.
    Alb,
    /// ALB with multi-value headers.
    AlbMulti,
    /// A raw invocation.
    Raw,
}

/// `(fixture, kind, expected body)`.
const TABLE: &[(&str, Kind, &[u8])] = &[
    ("function-url-get.json", Kind::V2, b"GET /\n"),
    (
        "function-url-post-base64.json",
        Kind::V2,
        b"POST /upload/report?tag=a&tag=b&mode=fast%20lane\n\x00\x01\x02\x03\xff\xfe\xfd\xfcHello",
    ),
    (
        "apigw-http-v2.json",
        Kind::V2,
        b"GET /chat/lobby?since=10\n",
    ),
    ("apigw-rest-v1.json", Kind::V1, b"GET /items/42?verbose=1\n"),
    ("alb.json", Kind::Alb, b"GET /health\n"),
    (
        "alb-multi-value.json",
        Kind::AlbMulti,
        b"POST /echo?tag=a&tag=b\nhello alb",
    ),
    (
        "raw-object.json",
        Kind::Raw,
        b"POST /\n{\"prompt\": \"tell me a story\", \"max_tokens\": 64}\n",
    ),
    (
        "raw-string.json",
        Kind::Raw,
        b"POST /\n\"this is not used\"",
    ),
];

type Reply = Response<StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>>>>;

/// The handler every row runs: echoes the request line and body in two chunks, with a status,
/// a repeated header and two cookies.
async fn handler(req: Request<Body>) -> Result<Reply, Infallible> {
    let line = match req.uri().query() {
        Some(q) => format!("{} {}?{q}\n", req.method(), req.uri().path()),
        None => format!("{} {}\n", req.method(), req.uri().path()),
    };
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let chunks = vec![Ok(Frame::data(Bytes::from(line))), Ok(Frame::data(body))];
    Ok(Response::builder()
        .status(201)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body(StreamBody::new(stream::iter(chunks)))
        .unwrap())
}

/// What a caller of the integration would see, whatever the wire form.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u64,
    headers: BTreeMap<String, Vec<String>>,
    cookies: Vec<String>,
    body: Vec<u8>,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split(", ").map(str::to_owned).collect(),
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => panic!("not a header value: {v}"),
    }
}

fn seen(kind: Kind, mode: ResponseMode, res: &StreamedResponse) -> Seen {
    let streamed = mode == ResponseMode::Streamed && !matches!(kind, Kind::Alb | Kind::AlbMulti);
    assert_eq!(
        res.header("lambda-runtime-function-response-mode"),
        streamed.then_some("streaming"),
        "{kind:?} {mode:?}"
    );
    assert_eq!(res.header("content-length").is_some(), !streamed);
    assert!(res.complete);
    if kind == Kind::Raw {
        return Seen {
            status: 200,
            headers: BTreeMap::from([(
                "content-type".into(),
                vec![res.header("content-type").unwrap().to_owned()],
            )]),
            cookies: vec![],
            body: res.bytes(),
        };
    }
    let (object, body) = if streamed {
        assert_eq!(
            res.header("content-type"),
            Some("application/vnd.awslambda.http-integration-response")
        );
        res.split()
    } else {
        assert_eq!(res.header("content-type"), Some("application/json"));
        let object: Value = serde_json::from_slice(&res.bytes()).expect("a JSON object");
        let text = object["body"].as_str().expect("a body string");
        let body = if object["isBase64Encoded"] == true {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        } else {
            text.as_bytes().to_vec()
        };
        (object, body)
    };
    if matches!(kind, Kind::Alb | Kind::AlbMulti) {
        assert_eq!(object["statusDescription"], "201 Created");
    }
    let mut headers = BTreeMap::new();
    for key in ["headers", "multiValueHeaders"] {
        for (name, value) in object[key].as_object().into_iter().flatten() {
            headers
                .entry(name.clone())
                .or_insert_with(Vec::new)
                .extend(strings(value));
        }
    }
    let cookies = match object.get("cookies") {
        Some(c) => strings(c),
        None => headers.remove("set-cookie").unwrap_or_default(),
    };
    Seen {
        status: object["statusCode"].as_u64().unwrap(),
        headers,
        cookies,
        body,
    }
}

fn expected(kind: Kind, body: &[u8]) -> Seen {
    let content_type = (
        "content-type".to_owned(),
        vec!["text/plain; charset=utf-8".to_owned()],
    );
    if kind == Kind::Raw {
        return Seen {
            status: 200,
            headers: BTreeMap::from([content_type]),
            cookies: vec![],
            body: body.to_vec(),
        };
    }
    Seen {
        status: 201,
        headers: BTreeMap::from([
            content_type,
            ("x-multi".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
        ]),
        // An ALB without multi-value headers takes one cookie: the last.
        cookies: if kind == Kind::Alb {
            vec!["b=2".into()]
        } else {
            vec!["a=1".into(), "b=2".into()]
        },
        body: body.to_vec(),
    }
}

#[tokio::test]
async fn one_handler_serves_every_event_source_in_both_modes() {
    for mode in [ResponseMode::Streamed, ResponseMode::Buffered] {
        let mock = MockRuntimeApi::start().await;
        let _rt = support::Serving::spawn(
            Runtime::new(mock.config())
                .response_mode(mode)
                .run(service_fn(handler)),
        );
        for (i, (fixture, _, _)) in TABLE.iter().enumerate() {
            mock.push_event(MockEvent::fixture(&format!("req-{i}"), fixture));
        }
        for (i, (fixture, kind, body)) in TABLE.iter().enumerate() {
            let res = mock.response().await;
            assert_eq!(res.request_id, format!("req-{i}"));
            assert_eq!(
                seen(*kind, mode, &res),
                expected(*kind, body),
                "{fixture} in {mode:?} mode"
            );
        }
    }
}

#[tokio::test]
async fn the_mode_comes_from_the_environment_variable_too() {
    // Config::from_env reads LAMBDA_STREAM_RESPONSE_MODE; set here on a Config, as the
    // variable would.
    let mock = MockRuntimeApi::start().await;
    let mut config = mock.config();
    config.response_mode = "buffered".parse().unwrap();
    let _rt = support::Serving::spawn(Runtime::new(config).run(service_fn(handler)));
    mock.push_event(MockEvent::fixture("req-0", "apigw-http-v2.json"));
    let res = mock.response().await;
    assert_eq!(
        seen(Kind::V2, ResponseMode::Buffered, &res),
        expected(Kind::V2, b"GET /chat/lobby?since=10\n")
    );
}

/// A body that fails after its first chunk.
async fn failing(_req: Request<Body>) -> Result<Reply, Infallible> {
    let chunks = vec![
        Ok(Frame::data(Bytes::from_static(b"partial"))),
        Err("upstream closed".into()),
    ];
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(StreamBody::new(stream::iter(chunks)))
        .unwrap())
}

#[tokio::test]
async fn a_failing_body_gives_trailers_when_streamed_and_an_error_report_when_buffered() {
    let mock = MockRuntimeApi::start().await;
    let rt = support::Serving::spawn(Runtime::new(mock.config()).run(service_fn(failing)));
    mock.push_event(MockEvent::fixture("req-s", "function-url-get.json"));
    let res = mock.response().await;
    let (ty, body) = res.error_trailers().expect("error trailers");
    assert_eq!(ty, "Function.StreamError");
    assert_eq!(body["errorMessage"], "upstream closed");
    drop(rt);

    let mock = MockRuntimeApi::start().await;
    let _rt = support::Serving::spawn(
        Runtime::new(mock.config())
            .response_mode(ResponseMode::Buffered)
            .run(service_fn(failing)),
    );
    mock.push_event(MockEvent::fixture("req-b", "function-url-get.json"));
    // An ALB event is buffered in either mode: its body's failure is an /error report too.
    mock.push_event(MockEvent::fixture("req-alb", "alb.json"));
    for id in ["req-b", "req-alb"] {
        let report = mock.error().await;
        assert_eq!(report.request_id.as_deref(), Some(id));
        assert_eq!(report.error_type(), "Function.Error");
        assert_eq!(report.message(), "upstream closed");
    }
}

#[tokio::test]
async fn a_buffered_body_over_6_mb_is_a_clear_error_and_the_loop_goes_on() {
    let mock = MockRuntimeApi::start().await;
    let _rt = support::Serving::spawn(
        Runtime::new(mock.config())
            .response_mode(ResponseMode::Buffered)
            .run(service_fn(|req: Request<Body>| async move {
                let size = if req.uri().path() == "/" { 7 << 20 } else { 10 };
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "text/plain")
                        .body(String::from_utf8(vec![b'x'; size]).unwrap())
                        .unwrap(),
                )
            })),
    );
    mock.push_event(MockEvent::fixture("big", "function-url-get.json"));
    mock.push_event(MockEvent::fixture("small", "apigw-http-v2.json"));
    let report = mock.error().await;
    assert_eq!(report.request_id.as_deref(), Some("big"));
    assert_eq!(report.error_type(), "Function.ResponseSizeTooLarge");
    assert!(
        report.message().contains("6291456 bytes"),
        "{}",
        report.message()
    );
    let res = mock.response().await;
    assert_eq!(res.request_id, "small");
    let object: Value = serde_json::from_slice(&res.bytes()).unwrap();
    assert_eq!(object["body"], "xxxxxxxxxx");
}
