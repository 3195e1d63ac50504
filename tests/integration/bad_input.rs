//! Bad input: every file in `tests/fixtures/bad/` and a few generated giants go through the
//! runtime against the Runtime API mock. Each invocation fails with `Runtime.InvalidEvent` and
//! a message that says what was wrong, or is served when it is odd but valid; nothing panics
//! and the runtime serves the next event.

use crate::support;

use lambda_stream::Body;
use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use lambda_stream::RequestExt;
use support::{MockEvent, MockRuntimeApi, Record};
use tower::service_fn;

/// What must come of an event.
enum Expect {
    /// `/error` with `Runtime.InvalidEvent` and a message containing this.
    Invalid(&'static str),
    /// Served: the handler's reply contains this (it echoes method, uri and body length).
    Served(&'static str),
}
use Expect::{Invalid, Served};

/// The expectation for every file of the corpus. A file without one fails the test.
const CORPUS: &[(&str, Expect)] = &[
    (
        "not-json.txt",
        Invalid("invalid json event: expected ident"),
    ),
    (
        "empty.txt",
        Invalid("invalid json event: EOF while parsing"),
    ),
    (
        "only-whitespace.txt",
        Invalid("invalid json event: EOF while parsing"),
    ),
    (
        "invalid-utf8.json",
        Invalid("event: invalid unicode code point"),
    ),
    (
        "truncated-v2.json",
        Invalid("invalid json event: EOF while parsing"),
    ),
    (
        "truncated-v1.json",
        Invalid("invalid json event: EOF while parsing"),
    ),
    (
        "truncated-raw.json",
        Invalid("invalid json event: EOF while parsing"),
    ),
    (
        "trailing-garbage.json",
        Invalid("invalid json event: trailing characters"),
    ),
    // Valid JSON, deep but not an http event: a raw invocation.
    (
        "nested-too-deep.json",
        Served("POST / 1 headers 10000 bytes"),
    ),
    (
        "nested-too-deep-object.json",
        Served("POST / 1 headers 18001 bytes"),
    ),
    (
        "v2-headers-not-an-object.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-body-not-a-string.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-request-context-http-not-an-object.json",
        Invalid("invalid http api (payload 2.0) event: invalid type"),
    ),
    (
        "v2-bad-base64.json",
        Invalid("flagged isBase64Encoded but is not valid base64"),
    ),
    (
        "v2-base64-truncated.json",
        Invalid("flagged isBase64Encoded but is not valid base64"),
    ),
    (
        "v2-method-with-space.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    // aws_lambda_events reads an empty method as GET.
    (
        "v2-method-empty.json",
        Served("GET https://x.lambda-url.us-east-1.on.aws/ "),
    ),
    (
        "v2-method-non-ascii.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-header-name-with-space.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-header-name-non-ascii.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-header-value-newline.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-header-value-nul.json",
        Invalid("invalid http api (payload 2.0) event"),
    ),
    (
        "v2-cookie-newline.json",
        Invalid("a cookie is not a valid header value"),
    ),
    (
        "v1-method-with-space.json",
        Invalid("invalid api gateway rest (payload 1.0) event"),
    ),
    (
        "v1-bad-base64.json",
        Invalid("flagged isBase64Encoded but is not valid base64"),
    ),
    // A single value where a list is due is read as a one-value list (the second header is
    // the x-amzn-trace-id every HTTP event's request gets from the invocation).
    (
        "v1-multi-value-headers-wrong-shape.json",
        Served("GET / 2 headers"),
    ),
    (
        "v1-header-value-newline.json",
        Invalid("invalid api gateway rest (payload 1.0) event"),
    ),
    (
        "alb-bad-base64.json",
        Invalid("flagged isBase64Encoded but is not valid base64"),
    ),
    (
        "alb-bad-header-name.json",
        Invalid("invalid application load balancer event"),
    ),
    (
        "alb-method-non-ascii.json",
        Invalid("invalid application load balancer event"),
    ),
];

fn echo() -> impl tower::Service<
    Request<Body>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Send {
    service_fn(|req: Request<Body>| async move {
        let text = format!(
            "{} {} {} headers {} bytes",
            req.method(),
            req.uri(),
            req.headers().len(),
            req.body().len()
        );
        let _ = req.lambda_context();
        Ok(Response::new(Full::new(Bytes::from(text))))
    })
}

/// Runs `events` through one runtime, then a good event; returns each one's outcome.
async fn outcomes(
    events: Vec<(String, Bytes)>,
) -> BTreeMap<String, Result<String, (String, String)>> {
    let mock = MockRuntimeApi::start().await;
    let n = events.len();
    for (id, payload) in events {
        mock.push_event(MockEvent::new(&id, payload));
    }
    mock.push_event(MockEvent::fixture("good", "function-url-get.json"));
    let rt = mock.serve(echo());
    let mut out = BTreeMap::new();
    for _ in 0..n {
        match mock.record().await {
            Record::Response(r) => {
                let all = r.bytes();
                // HTTP events have a prelude; raw ones do not.
                let body = match all.windows(8).position(|w| w == [0u8; 8]) {
                    Some(at) => all[at + 8..].to_vec(),
                    None => all,
                };
                out.insert(
                    r.request_id.clone(),
                    Ok(String::from_utf8_lossy(&body).into_owned()),
                );
            }
            Record::Error(e) => {
                out.insert(
                    e.request_id.clone().unwrap(),
                    Err((e.error_type().to_owned(), e.message().to_owned())),
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        mock.response().await.request_id,
        "good",
        "the runtime goes on"
    );
    assert!(!rt.is_finished());
    out
}

fn check(id: &str, expect: &Expect, got: &Result<String, (String, String)>) {
    match (expect, got) {
        (Invalid(needle), Err((ty, msg))) => {
            assert_eq!(ty, "Runtime.InvalidEvent", "{id}: {msg}");
            assert!(msg.contains(needle), "{id}: {msg:?} lacks {needle:?}");
        }
        (Served(needle), Ok(body)) => {
            assert!(body.contains(needle), "{id}: {body:?} lacks {needle:?}");
        }
        (_, got) => panic!("{id}: unexpected outcome {got:?}"),
    }
}

#[tokio::test]
async fn every_file_of_the_bad_input_corpus_fails_clearly() {
    let dir = format!("{}/tests/fixtures/bad", env!("CARGO_MANIFEST_DIR"));
    let mut events = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            CORPUS.iter().any(|(n, _)| *n == name),
            "{name} has no expectation in CORPUS"
        );
        events.push((
            name.clone(),
            Bytes::from(std::fs::read(format!("{dir}/{name}")).unwrap()),
        ));
    }
    assert_eq!(events.len(), CORPUS.len(), "a file of CORPUS is missing");
    let out = outcomes(events).await;
    for (name, _) in CORPUS {
        eprintln!("{name}: {:?}", out[*name]);
    }
    for (name, expect) in CORPUS {
        check(name, expect, &out[*name]);
    }
}

/// A function URL event with these fields replaced.
fn url_event(edit: impl FnOnce(&mut serde_json::Value)) -> Bytes {
    let mut event: serde_json::Value =
        serde_json::from_slice(&support::fixture("function-url-get.json")).unwrap();
    edit(&mut event);
    Bytes::from(serde_json::to_vec(&event).unwrap())
}

#[tokio::test]
async fn giant_and_odd_events_are_served_or_fail_clearly() {
    use base64::Engine as _;
    const SIX_MB: usize = 6 * 1024 * 1024;
    let cases: Vec<(&str, Bytes, Expect)> = vec![
        (
            "body-6mb",
            url_event(|e| e["body"] = "x".repeat(SIX_MB - 2048).into()),
            Served(" 10 headers 6289408 bytes"),
        ),
        (
            "body-6mb-base64",
            url_event(|e| {
                let raw = vec![0xA5u8; (SIX_MB - 4096) / 4 * 3];
                e["body"] = base64::engine::general_purpose::STANDARD
                    .encode(&raw)
                    .into();
                e["isBase64Encoded"] = true.into();
            }),
            Served(" 10 headers 4715520 bytes"),
        ),
        (
            "raw-6mb",
            Bytes::from(format!("\"{}\"", "y".repeat(SIX_MB - 2))),
            Served("POST / 1 headers 6291456 bytes"),
        ),
        (
            "headers-5000",
            url_event(|e| {
                for i in 0..5000 {
                    e["headers"][format!("x-h-{i}")] = format!("value {i}").into();
                }
            }),
            Served(" 5010 headers 0 bytes"),
        ),
        (
            "cookie-1mb",
            url_event(|e| {
                e["cookies"] = (0..1024)
                    .map(|i| format!("c{i}={}", "z".repeat(1000)))
                    .collect::<Vec<_>>()
                    .into();
            }),
            Served(" 11 headers 0 bytes"),
        ),
        (
            "path-non-utf8-escapes",
            url_event(|e| e["rawPath"] = "/%FF%FE/caf%C3%A9".into()),
            Served("/%FF%FE/caf%C3%A9 "),
        ),
        (
            "path-unescaped",
            url_event(|e| e["rawPath"] = "/a b/é/<x>".into()),
            Served("/a%20b/%C3%A9/%3Cx%3E "),
        ),
        (
            "path-relative",
            url_event(|e| e["rawPath"] = "no-slash".into()),
            Served(".on.aws/no-slash "),
        ),
        (
            "path-100kb",
            url_event(|e| e["rawPath"] = format!("/{}", "p".repeat(100 * 1024)).into()),
            Invalid("the path is not a valid uri path"),
        ),
        (
            "query-junk",
            url_event(|e| e["rawQueryString"] = "a=%ZZ&&=&b=\"c d\"#frag".into()),
            Served("?a=%ZZ&&=&b=%22c%20d%22%23frag "),
        ),
        (
            "host-garbage",
            url_event(|e| {
                e["headers"]["host"] = "bad host/name".into();
                e["requestContext"]["domainName"] = serde_json::Value::Null;
            }),
            Served("GET / "),
        ),
    ];
    let mut events = vec![];
    let mut expects = vec![];
    for (id, payload, expect) in cases {
        events.push((id.to_owned(), payload));
        expects.push((id, expect));
    }
    let out = outcomes(events).await;
    for (id, _) in &expects {
        let shown = format!("{:?}", out[*id]);
        eprintln!("{id}: {}", &shown[..shown.len().min(200)]);
    }
    for (id, expect) in &expects {
        check(id, expect, &out[*id]);
    }
}
