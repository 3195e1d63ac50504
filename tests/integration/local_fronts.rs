//! The local server's other front ends (`LOCAL_LAMBDA_SOURCE=rest|http-api|alb`), with real
//! clients: the event each door builds, read off the Runtime API by hand and checked field by
//! field against `aws_lambda_events`' types and the fixtures' shapes; the same handler behind
//! each door, called with curl, answered as that front end answers (streamed through a REST
//! API, buffered through an HTTP API and an ALB); a REST stream that fails midway; the
//! integration timeouts of the buffered APIs (under paused time).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use lambda_stream::local::{Options, Source, TransferMode};
use lambda_stream::{Body, BoxError, Diagnostic, RequestExt, Runtime};
use lambda_stream_local::{FunctionConfig, Server, Serving};
use serde_json::Value;
use tokio::time::Instant;
use tower::service_fn;

use crate::support::client::send;
use crate::support::local;
use lambda_stream_test_support as test_support;

type TestBody = BoxBody<Bytes, BoxError>;

// ---------------------------------------------------------------------------------------------
// Harness

/// The server's options for `source`, on a free port.
fn options(source: Source) -> Options {
    let mut options = local::options();
    options.source = source;
    options
}

/// A local server with no runtime behind it: the test is the runtime, on `runtime_api`.
async fn bare(options: Options) -> Serving {
    let server = Server::bind(options, FunctionConfig::default())
        .await
        .unwrap();
    server.serve().unwrap()
}

/// The next invocation, as the runtime gets it: its request id and its event, as sent.
async fn next(api: SocketAddr) -> (String, Value) {
    let req = Request::get("/2018-06-01/runtime/invocation/next")
        .header("host", api.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(20), send(api, req))
        .await
        .expect("an invocation within 20 s");
    let id = seen
        .header("lambda-runtime-aws-request-id")
        .unwrap()
        .to_owned();
    (id, serde_json::from_slice(&seen.body()).unwrap())
}

/// Posts `body` as the response of `id`; `streamed` with a prelude's content type.
async fn respond(api: SocketAddr, id: &str, body: Vec<u8>, streamed: bool) {
    let mut req = Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
        .header("host", api.to_string());
    if streamed {
        req = req
            .header("lambda-runtime-function-response-mode", "streaming")
            .header(
                "content-type",
                "application/vnd.awslambda.http-integration-response",
            );
    }
    let seen = send(api, req.body(Full::new(Bytes::from(body))).unwrap()).await;
    assert_eq!(seen.status, 202, "{}", seen.text());
}

/// What curl saw: the status line, the headers (lowercase names), the body's lines with when
/// each arrived (from curl's start), and its exit code. `None` when curl is not installed.
struct Curl {
    status_line: String,
    headers: Vec<(String, String)>,
    lines: Vec<(Duration, String)>,
    code: Option<i32>,
}

impl Curl {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }
}

/// `curl -sS -N -i` with `args`: the head and the body's lines as they arrived.
async fn curl(args: &[&str]) -> Option<Curl> {
    let mut all = vec!["-sS", "-N", "-i", "-m", "30"];
    all.extend_from_slice(args);
    let out = test_support::curl::lines(&all).await?;
    let mut seen = Curl {
        status_line: String::new(),
        headers: vec![],
        lines: vec![],
        code: out.code,
    };
    let mut in_head = true;
    for (at, line) in out.lines {
        if !in_head {
            seen.lines.push((at, line));
            continue;
        }
        let line = line.trim_end_matches('\r');
        if seen.status_line.is_empty() {
            seen.status_line = line.to_owned();
        } else if line.is_empty() {
            in_head = false;
        } else if let Some((n, v)) = line.split_once(':') {
            seen.headers
                .push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some(seen)
}

/// The top-level keys of a JSON object.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs curl with `args` in the background while the test plays the runtime.
fn curl_in_background(args: Vec<String>) -> tokio::task::JoinHandle<Option<Curl>> {
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args).await
    })
}

// ---------------------------------------------------------------------------------------------
// The events, field by field

#[tokio::test]
async fn the_rest_door_sends_a_payload_1_0_event_and_relays_the_prelude() {
    if !test_support::have("curl", &["--version"]) {
        return;
    }
    let mut o = options(Source::RestApi);
    o.rest_api.stage = "prod".into();
    o.rest_api.resource = Some("/items/{id}".into());
    let serving = bare(o).await;
    let (addr, api) = (serving.local_addr(), serving.runtime_api());
    let url = format!("http://{addr}/prod/items/4%202?tag=a&tag=b%20c&one=1");
    let client = curl_in_background(vec![
        "-A".into(),
        "curl/test".into(),
        "-H".into(),
        "X-Many: 1".into(),
        "-H".into(),
        "X-Many: 2".into(),
        "-H".into(),
        "Cookie: a=1; b=2".into(),
        url,
    ]);
    let (id, event) = next(api).await;

    // The fixture's keys, exactly; the request context's, and more.
    let sample = fixture("apigw-rest-v1.json");
    assert_eq!(keys(&event), keys(&sample));
    let context = keys(&event["requestContext"]);
    assert!(
        context.is_superset(&keys(&sample["requestContext"])),
        "{context:?}"
    );
    assert_eq!(event["stageVariables"], Value::Null);
    assert_eq!(event["body"], Value::Null);

    let e: ApiGatewayProxyRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(e.resource.as_deref(), Some("/items/{id}"));
    assert_eq!(e.path.as_deref(), Some("/items/4%202"));
    assert_eq!(e.http_method, "GET");
    assert_eq!(e.headers["x-many"], "2", "the last value");
    let many: Vec<_> = e.multi_value_headers.get_all("x-many").iter().collect();
    assert_eq!(many, ["1", "2"]);
    assert_eq!(e.headers["cookie"], "a=1; b=2");
    assert_eq!(e.headers["user-agent"], "curl/test");
    assert!(e.headers.contains_key("x-forwarded-for"));
    assert!(e.headers["x-amzn-trace-id"]
        .to_str()
        .unwrap()
        .starts_with("Root=1-"));
    assert_eq!(e.query_string_parameters.first("tag"), Some("b c"));
    assert_eq!(
        e.multi_value_query_string_parameters.all("tag"),
        Some(vec!["a", "b c"])
    );
    assert_eq!(e.query_string_parameters.first("one"), Some("1"));
    assert_eq!(e.path_parameters["id"], "4 2");
    assert!(e.stage_variables.is_empty());
    assert!(!e.is_base64_encoded);
    let rc = &e.request_context;
    assert_eq!(rc.stage.as_deref(), Some("prod"));
    assert_eq!(rc.path.as_deref(), Some("/prod/items/4%202"));
    assert_eq!(rc.resource_path.as_deref(), Some("/items/{id}"));
    assert_eq!(rc.http_method, "GET");
    assert_eq!(rc.request_id.as_deref(), Some(id.as_str()));
    assert_eq!(rc.account_id.as_deref(), Some("123456789012"));
    assert_eq!(rc.apiid.as_deref(), Some("local"));
    assert_eq!(
        rc.domain_name.as_deref(),
        Some("local.execute-api.us-east-1.amazonaws.com")
    );
    assert_eq!(rc.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(rc.identity.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(rc.identity.user_agent.as_deref(), Some("curl/test"));
    let epoch = rc.request_time_epoch;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now - 60_000..=now).contains(&epoch), "{epoch} vs {now}");

    // The answer: a prelude with multiValueHeaders and cookies, then the body.
    let prelude = br#"{"statusCode":201,"headers":{"x-door":"rest"},
        "multiValueHeaders":{"x-list":["1","2"]},"cookies":["s=1; Path=/","t=2"]}"#;
    let mut body = prelude.to_vec();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(b"streamed\n");
    respond(api, &id, body, true).await;
    let seen = client.await.unwrap().unwrap();
    assert_eq!(seen.code, Some(0));
    assert!(seen.status_line.contains(" 201"), "{}", seen.status_line);
    assert_eq!(seen.header("x-door"), Some("rest"));
    assert_eq!(seen.all("x-list"), ["1", "2"]);
    assert_eq!(seen.all("set-cookie"), ["s=1; Path=/", "t=2"]);
    assert_eq!(seen.text(), "streamed\n");
}

#[tokio::test]
async fn the_rest_door_answers_paths_outside_its_stage_and_resource_as_api_gateway() {
    if !test_support::have("curl", &["--version"]) {
        return;
    }
    let mut o = options(Source::RestApi);
    o.rest_api.resource = Some("/items/{id}".into());
    let serving = bare(o).await;
    let addr = serving.local_addr();
    for (path, message, error_type) in [
        ("/items/1", "Forbidden", "ForbiddenException"),
        (
            "/dev/orders/1",
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        ),
    ] {
        let seen = curl(&[&format!("http://{addr}{path}")]).await.unwrap();
        assert!(
            seen.status_line.contains(" 403"),
            "{path}: {}",
            seen.status_line
        );
        assert_eq!(seen.header("x-amzn-errortype"), Some(error_type));
        let body: Value = serde_json::from_str(&seen.text()).unwrap();
        assert_eq!(body["message"], message);
    }
}

#[tokio::test]
async fn the_http_api_door_sends_a_payload_2_0_event_from_an_execute_api_domain() {
    if !test_support::have("curl", &["--version"]) {
        return;
    }
    let serving = bare(options(Source::HttpApi)).await;
    let (addr, api) = (serving.local_addr(), serving.runtime_api());
    let client = curl_in_background(vec![
        "-H".into(),
        "Cookie: a=1; b=2".into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        r#"{"n":1}"#.into(),
        format!("http://{addr}/chat/lobby?since=10&since=11"),
    ]);
    let (id, event) = next(api).await;
    let sample = fixture("apigw-http-v2.json");
    // The fixture's route has path parameters; `$default` has none. A body came, and cookies.
    let mut expected = keys(&sample);
    expected.remove("pathParameters");
    expected.extend(["body".to_owned(), "cookies".to_owned()]);
    assert_eq!(keys(&event), expected);
    assert_eq!(
        keys(&event["requestContext"]),
        keys(&sample["requestContext"])
    );

    let e: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(e.version.as_deref(), Some("2.0"));
    assert_eq!(e.route_key.as_deref(), Some("$default"));
    assert_eq!(e.raw_path.as_deref(), Some("/chat/lobby"));
    assert_eq!(e.raw_query_string.as_deref(), Some("since=10&since=11"));
    // Comma-joined, as payload 2.0 sends repeated parameters.
    assert_eq!(event["queryStringParameters"]["since"], "10,11");
    assert_eq!(
        e.query_string_parameters.all("since"),
        Some(vec!["10", "11"])
    );
    assert_eq!(e.cookies, Some(vec!["a=1".to_owned(), "b=2".to_owned()]));
    assert_eq!(e.body.as_deref(), Some(r#"{"n":1}"#));
    let rc = &e.request_context;
    assert_eq!(rc.apiid.as_deref(), Some("local"));
    assert_eq!(
        rc.domain_name.as_deref(),
        Some("local.execute-api.us-east-1.amazonaws.com")
    );
    assert_eq!(rc.domain_prefix.as_deref(), Some("local"));
    assert_eq!(rc.stage.as_deref(), Some("$default"));
    assert_eq!(rc.route_key.as_deref(), Some("$default"));
    assert_eq!(rc.account_id.as_deref(), Some("123456789012"));
    assert_eq!(rc.request_id.as_deref(), Some(id.as_str()));
    assert_eq!(rc.http.method, "POST");
    assert_eq!(rc.http.source_ip.as_deref(), Some("127.0.0.1"));

    let answer = br#"{"statusCode":202,"headers":{"x-door":"http-api"},
        "cookies":["s=1","t=2"],"body":"whole\n"}"#;
    respond(api, &id, answer.to_vec(), false).await;
    let seen = client.await.unwrap().unwrap();
    assert!(seen.status_line.contains(" 202"), "{}", seen.status_line);
    assert_eq!(seen.header("x-door"), Some("http-api"));
    assert_eq!(seen.all("set-cookie"), ["s=1", "t=2"]);
    assert_eq!(seen.header("content-length"), Some("6"));
    assert_eq!(seen.text(), "whole\n");
}

#[tokio::test]
async fn the_alb_door_sends_the_alb_event_with_or_without_multi_value_headers() {
    if !test_support::have("curl", &["--version"]) {
        return;
    }
    for multi in [false, true] {
        let mut o = options(Source::Alb);
        o.alb.multi_value_headers = multi;
        let serving = bare(o).await;
        let (addr, api) = (serving.local_addr(), serving.runtime_api());
        let client = curl_in_background(vec![
            "-H".into(),
            "X-Many: 1".into(),
            "-H".into(),
            "X-Many: 2".into(),
            "-H".into(),
            "Content-Type: application/octet-stream".into(),
            "--data-binary".into(),
            "hello alb".into(),
            format!("http://{addr}/echo?tag=a%20b&tag=c"),
        ]);
        let (id, event) = next(api).await;
        let sample = fixture(if multi {
            "alb-multi-value.json"
        } else {
            "alb.json"
        });
        assert_eq!(keys(&event), keys(&sample), "multi: {multi}");

        let e: AlbTargetGroupRequest = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(e.http_method, "POST");
        assert_eq!(e.path.as_deref(), Some("/echo"));
        let arn = e.request_context.elb.target_group_arn.unwrap();
        assert!(
            arn.starts_with("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"),
            "{arn}"
        );
        // As the client sent them: an ALB does not decode the query.
        if multi {
            assert_eq!(
                e.multi_value_query_string_parameters.all("tag"),
                Some(vec!["a%20b", "c"])
            );
            let many: Vec<_> = e.multi_value_headers.get_all("x-many").iter().collect();
            assert_eq!(many, ["1", "2"]);
            assert!(event.get("headers").is_none());
        } else {
            assert_eq!(e.query_string_parameters.first("tag"), Some("c"));
            assert_eq!(e.headers["x-many"], "2", "the last value");
            assert!(event.get("multiValueHeaders").is_none());
        }
        assert!(e.is_base64_encoded);
        assert_eq!(e.body.as_deref(), Some("aGVsbG8gYWxi"));

        let headers = if multi {
            r#""multiValueHeaders":{"set-cookie":["s=1","t=2"],"x-door":["alb"]}"#
        } else {
            r#""headers":{"x-door":"alb"}"#
        };
        let answer = format!(
            r#"{{"statusCode":418,"statusDescription":"418 Short and Stout",{headers},"body":"dG9v","isBase64Encoded":true}}"#
        );
        respond(api, &id, answer.into_bytes(), false).await;
        let seen = client.await.unwrap().unwrap();
        assert_eq!(seen.status_line, "HTTP/1.1 418 Short and Stout");
        assert_eq!(seen.header("x-door"), Some("alb"));
        if multi {
            assert_eq!(seen.all("set-cookie"), ["s=1", "t=2"]);
        }
        assert_eq!(seen.text(), "too\n");
    }
}

// ---------------------------------------------------------------------------------------------
// The same handler behind each door

/// Lines one second apart, with a status, a header and two cookies; the first line says which
/// event the runtime decoded.
async fn lines(req: Request<Body>) -> Result<Response<TestBody>, Infallible> {
    let kind = match req.request_context_ref() {
        Some(lambda_stream::RequestContext::ApiGatewayV1(c)) => {
            format!("rest {}", c.stage.as_deref().unwrap_or(""))
        }
        Some(lambda_stream::RequestContext::ApiGatewayV2(c)) => {
            format!("v2 {}", c.domain_name.as_deref().unwrap_or(""))
        }
        Some(lambda_stream::RequestContext::Alb(_)) => "alb".to_owned(),
        _ => "other".to_owned(),
    };
    let fail = req.uri().path().ends_with("/fail");
    let first = format!("{kind} {}\n", req.uri().path());
    let frames = stream::unfold(0u32, move |n| {
        let first = first.clone();
        async move {
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let frame: Result<Frame<Bytes>, BoxError> = match n {
                0 => Ok(Frame::data(Bytes::from(first))),
                1 | 2 => Ok(Frame::data(Bytes::from(format!("line {n}\n")))),
                3 if fail => Err(Box::new(Diagnostic::new("Function.Custom", "db gone"))),
                _ => return None,
            };
            Some((frame, n + 1))
        }
    });
    Ok(Response::builder()
        .status(201)
        .header("content-type", "text/plain")
        .header("x-door", "same handler")
        .header("set-cookie", "s=1; Path=/")
        .header("set-cookie", "t=2")
        .body(StreamBody::new(frames).boxed())
        .unwrap())
}

async fn serve_lines(options: Options) -> SocketAddr {
    let runtime = Runtime::new(lambda_stream::Config::default());
    local::serve(runtime, options, service_fn(lines)).await
}

#[tokio::test]
async fn curl_sees_the_rest_doors_lines_as_they_are_produced() {
    let addr = serve_lines(options(Source::RestApi)).await;
    let Some(seen) = curl(&[&format!("http://{addr}/dev/items")]).await else {
        return;
    };
    assert_eq!(seen.code, Some(0));
    assert!(seen.status_line.contains(" 201"), "{}", seen.status_line);
    assert_eq!(seen.header("x-door"), Some("same handler"));
    assert_eq!(seen.all("set-cookie"), ["s=1; Path=/", "t=2"]);
    assert_eq!(seen.text(), "rest dev /items\nline 1\nline 2\n");
    let arrivals: Vec<_> = seen.lines.iter().map(|(at, _)| *at).collect();
    test_support::assert_each_before_the_next(&arrivals, Duration::from_secs(1));

    // The inspector names the door.
    let list = send(
        addr,
        Request::get("/_lambda/invocations")
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap(),
    )
    .await;
    let list: Value = serde_json::from_slice(&list.body()).unwrap();
    assert_eq!(list[0]["door"], "rest api", "{list}");
}

#[tokio::test]
async fn curl_gets_the_http_api_and_alb_doors_answers_whole() {
    for (source, multi_value) in [
        (Source::HttpApi, false),
        (Source::Alb, false),
        (Source::Alb, true),
    ] {
        let mut o = options(source);
        o.alb.multi_value_headers = multi_value;
        let addr = serve_lines(o).await;
        let Some(seen) = curl(&[&format!("http://{addr}/items")]).await else {
            return;
        };
        assert_eq!(seen.code, Some(0));
        assert!(seen.status_line.contains(" 201"), "{}", seen.status_line);
        assert_eq!(seen.header("x-door"), Some("same handler"));
        if source == Source::Alb && !multi_value {
            // A target group without multi-value headers carries one value per header: the
            // last cookie only, as on AWS.
            assert_eq!(seen.all("set-cookie"), ["t=2"]);
        } else {
            assert_eq!(seen.all("set-cookie"), ["s=1; Path=/", "t=2"]);
        }
        let first = match source {
            Source::Alb => "alb /items\n".to_owned(),
            _ => "v2 local.execute-api.us-east-1.amazonaws.com /items\n".to_owned(),
        };
        let text = format!("{first}line 1\nline 2\n");
        assert_eq!(seen.text(), text);
        // Buffered, as the runtime's `auto` mode decides from the event: one answer with its
        // length, the first line held until the last was written (2 s in).
        assert_eq!(
            seen.header("content-length"),
            Some(text.len().to_string().as_str())
        );
        assert!(seen.header("transfer-encoding").is_none());
        assert!(
            seen.lines[0].0 >= Duration::from_secs(2),
            "{source:?}: {:?}",
            seen.lines
        );
    }
}

#[tokio::test]
async fn a_rest_stream_that_fails_midway_is_cut_without_trailers() {
    let addr = serve_lines(options(Source::RestApi)).await;
    let Some(seen) = curl(&[&format!("http://{addr}/dev/fail")]).await else {
        return;
    };
    assert!(seen.status_line.contains(" 201"), "{}", seen.status_line);
    assert_eq!(seen.text(), "rest dev /fail\nline 1\nline 2\n");
    // 18: "transfer closed with outstanding read data remaining".
    assert_eq!(seen.code, Some(18), "curl must see a broken transfer");
    // A client that asks for trailers gets none: API Gateway sends no Lambda error trailers.
    let req = Request::get("/dev/fail")
        .header("host", addr.to_string())
        .header("te", "trailers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let seen = send(addr, req).await;
    assert!(seen.end.is_err(), "the body must break off");
    assert!(seen.trailers.is_none());
}

// ---------------------------------------------------------------------------------------------
// The buffered APIs' answers to failures and slow functions (paused time)

/// A handler that sleeps `secs` then answers, or fails at once when `secs` is 0.
async fn slow(secs: u64) -> Result<Response<String>, lambda_stream::BoxError> {
    if secs == 0 {
        return Err(Box::new(Diagnostic::new("Function.Custom", "no")));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Ok(Response::new("late\n".to_owned()))
}

async fn get(addr: SocketAddr, path: &str) -> crate::support::client::Seen {
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    send(addr, req).await
}

#[tokio::test(start_paused = true)]
async fn buffered_apis_answer_their_timeouts_and_failures_as_aws_does() {
    let cases = [
        (
            Source::RestApi,
            40,
            504,
            r#"{"message":"Endpoint request timed out"}"#,
        ),
        (
            Source::RestApi,
            0,
            502,
            r#"{"message":"Internal server error"}"#,
        ),
        (
            Source::HttpApi,
            40,
            503,
            r#"{"message":"Service Unavailable"}"#,
        ),
        (
            Source::HttpApi,
            0,
            500,
            r#"{"message":"Internal Server Error"}"#,
        ),
    ];
    for (source, secs, status, body) in cases {
        let mut o = options(source);
        o.rest_api.transfer_mode = TransferMode::Buffered;
        let runtime = Runtime::new(lambda_stream::Config::default())
            .response_mode(lambda_stream::ResponseMode::Buffered);
        let svc = service_fn(move |_req: Request<Body>| slow(secs));
        let addr = local::serve(runtime, o, svc).await;
        let path = if source == Source::RestApi {
            "/dev/"
        } else {
            "/"
        };
        let started = Instant::now();
        let seen = get(addr, path).await;
        assert_eq!(seen.status, status, "{source:?} {secs}: {}", seen.text());
        assert_eq!(seen.text(), body);
        if secs > 0 {
            let limit = if source == Source::RestApi { 29 } else { 30 };
            assert_eq!(started.elapsed().as_secs(), limit, "{source:?}");
        }
    }
    // In time, the REST API answers the function's response object.
    let mut o = options(Source::RestApi);
    o.rest_api.transfer_mode = TransferMode::Buffered;
    let runtime = Runtime::new(lambda_stream::Config::default())
        .response_mode(lambda_stream::ResponseMode::Buffered);
    let addr = local::serve(runtime, o, service_fn(|_req: Request<Body>| slow(10))).await;
    let seen = get(addr, "/dev/x").await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.text(), "late\n");
}

#[tokio::test]
async fn a_buffered_rest_api_refuses_a_streamed_answer_as_api_gateway_does() {
    // A function that streams (its prelude and 8 NULs) behind a REST API that reads one
    // response object: API Gateway cannot parse it.
    let mut o = options(Source::RestApi);
    o.rest_api.transfer_mode = TransferMode::Buffered;
    let addr = serve_lines(o).await;
    let seen = get(addr, "/dev/").await;
    assert_eq!(seen.status, 502);
    assert_eq!(seen.text(), r#"{"message":"Internal server error"}"#);
}

// ---------------------------------------------------------------------------------------------
// The streamed REST API's limits (paused time)

/// `n` chunks of `size` bytes, `gap` apart (the first at once).
fn paced_chunks(n: usize, size: usize, gap: Duration) -> TestBody {
    let frames = stream::unfold(0usize, move |i| async move {
        if i == n {
            return None;
        }
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let frame: Result<Frame<Bytes>, BoxError> = Ok(Frame::data(Bytes::from(vec![b'x'; size])));
        Some((frame, i + 1))
    });
    StreamBody::new(frames).boxed()
}

#[tokio::test(start_paused = true)]
async fn a_rest_stream_is_paced_after_10_mb_where_a_function_url_paces_after_6() {
    let mut took = Vec::new();
    for source in [Source::RestApi, Source::FunctionUrl] {
        let svc = service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(paced_chunks(48, 256 * 1024, Duration::ZERO)))
        });
        let mut o = options(source);
        o.bandwidth = lambda_stream::local::Bandwidth::Lambda;
        let runtime = Runtime::new(lambda_stream::Config::default());
        let addr = local::serve(runtime, o, svc).await;
        let seen = get(addr, "/dev/").await;
        assert_eq!(seen.body().len(), 12 * 1024 * 1024, "{source:?}");
        // When the first 10 MB had arrived, and the whole.
        let mut bytes = 0;
        let ten_mb = seen
            .chunks
            .iter()
            .find_map(|(at, data)| {
                bytes += data.len();
                (bytes >= 10 * 1024 * 1024).then(|| *at - seen.sent_at)
            })
            .unwrap();
        took.push((ten_mb, *seen.arrivals().last().unwrap()));
    }
    // REST: 10 MB at once, the other 2 MB at 2 MB/s. A function URL: 6 MB at once, 6 at 2 MB/s.
    let (rest_burst, rest) = took[0];
    let (url_burst, url) = took[1];
    assert!(rest_burst < Duration::from_millis(100), "{rest_burst:?}");
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(1100)).contains(&rest),
        "{rest:?}"
    );
    assert!(url_burst > Duration::from_millis(1900), "{url_burst:?}");
    assert!(
        (Duration::from_millis(2900)..Duration::from_millis(3100)).contains(&url),
        "{url:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rest_stream_is_cut_after_5_idle_minutes_or_15_in_all() {
    for (gap, chunks, cut_at) in [
        (Duration::from_secs(6 * 60), 1, 5 * 60),
        (Duration::from_secs(4 * 60), 4, 15 * 60),
    ] {
        let svc = service_fn(move |_req: Request<Body>| async move {
            Ok::<_, Infallible>(Response::new(paced_chunks(10, 8, gap)))
        });
        let runtime = Runtime::new(lambda_stream::Config::default());
        let addr = local::serve(runtime, options(Source::RestApi), svc).await;
        let started = Instant::now();
        let seen = get(addr, "/dev/").await;
        assert_eq!(seen.status, 200);
        assert_eq!(seen.chunks.len(), chunks, "{gap:?}");
        assert!(seen.end.is_err(), "{gap:?}: the body must break off");
        assert_eq!(started.elapsed().as_secs(), cut_at, "{gap:?}");
    }
}
