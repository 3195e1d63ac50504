//! What Lambda and the AWS ecosystem expect beyond the streaming wire, against the Runtime API
//! mock: cross-wiring protection, the User-Agent, X-Ray, the HTTP API mode rule, buffered
//! bodies as `lambda_http` encodes them, requests as `lambda_http` builds them, shutdown on
//! `SIGTERM`, and the JSON log lines.

use crate::support::{self, process};

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Ready;
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use lambda_stream::{
    Body, BoxError, Diagnostic, RequestContext, RequestExt, RequestPayloadExt, ResponseMode,
    Runtime,
};
use process::Killed;
use serde_json::{json, Value};
use support::{MockEvent, MockRuntimeApi, StreamedResponse};
use tower::service_fn;

/// Echoes, as JSON, what the handler saw of the request and its context.
async fn echo(req: Request<Body>) -> Result<Response<String>, Infallible> {
    let ctx = req.lambda_context_ref().cloned().unwrap_or_default();
    let cc = ctx.client_context.as_ref();
    let seen = json!({
        "invocation_id": ctx.invocation_id,
        "trace_header": req.headers().get("x-amzn-trace-id").and_then(|v| v.to_str().ok()),
        "query": req.query_string_parameters().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<HashMap<_, _>>(),
        "uri_query": req.uri().query(),
        "raw_path": req.raw_http_path(),
        "installation_id": cc.and_then(|c| c.client.installation_id.clone()),
        "app_title": cc.and_then(|c| c.client.app_title.clone()),
        "custom": cc.map(|c| json!(c.custom)),
        "ext_request_id": req.extensions().lambda_context_ref().map(|c| c.request_id.clone()),
        "ext_has_request_context": req.extensions().request_context_ref().is_some(),
        "payload": req.payload::<Value>().unwrap_or(None),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(seen.to_string())
        .unwrap())
}

/// The JSON a handler echoed, from a streamed or a buffered response.
fn echoed(res: &StreamedResponse) -> Value {
    if res.header("content-type") == Some("application/json") {
        let object: Value = serde_json::from_slice(&res.bytes()).unwrap();
        return serde_json::from_str(object["body"].as_str().unwrap()).unwrap();
    }
    let (_, body) = res.split();
    serde_json::from_slice(&body).unwrap()
}

/// Fails the requests for `/fail`, answers the others with an empty body.
async fn fails_on_fail(req: Request<Body>) -> Result<Response<String>, &'static str> {
    if req.uri().path() == "/fail" {
        return Err("boom");
    }
    Ok(Response::new(String::new()))
}

/// A function URL event for `/fail`.
fn fail_event(request_id: &str) -> MockEvent {
    MockEvent::new(
        request_id,
        &br#"{"version":"2.0","rawPath":"/fail","requestContext":{"http":{"method":"GET"},"domainName":"x.lambda-url.us-east-1.on.aws"}}"#[..],
    )
}

fn is_streamed(res: &StreamedResponse) -> bool {
    res.header("lambda-runtime-function-response-mode") == Some("streaming")
}

// 1. Cross-wiring protection.

#[tokio::test]
async fn the_invocation_id_is_echoed_on_response_and_error_only_when_sent() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(|req: Request<Body>| async move {
        if req.uri().path() == "/fail" {
            return Err(Diagnostic::new("Function.Nope", "asked to fail"));
        }
        Ok(echo(req).await.unwrap())
    }));
    let url = support::fixture("function-url-get.json");
    mock.push_event(
        MockEvent::new("with-id", url.clone())
            .header("lambda-runtime-invocation-id", Some("inv-0001")),
    );
    let res = mock.response().await;
    assert_eq!(res.header("lambda-runtime-invocation-id"), Some("inv-0001"));
    assert_eq!(echoed(&res)["invocation_id"], "inv-0001");

    mock.push_event(MockEvent::new("without-id", url));
    let res = mock.response().await;
    assert!(res.headers.get("lambda-runtime-invocation-id").is_none());
    assert_eq!(echoed(&res)["invocation_id"], Value::Null);

    mock.push_event(fail_event("fails").header("lambda-runtime-invocation-id", Some("inv-0002")));
    let err = mock.error().await;
    assert_eq!(err.request_id.as_deref(), Some("fails"));
    assert_eq!(err.headers["lambda-runtime-invocation-id"], "inv-0002");
    mock.push_event(fail_event("fails-no-id"));
    let err = mock.error().await;
    assert!(err.headers.get("lambda-runtime-invocation-id").is_none());
}

#[tokio::test]
async fn a_410_gone_is_logged_and_the_loop_goes_on() {
    let mock = MockRuntimeApi::start().await;
    let rt = mock.serve(service_fn(echo));
    mock.reply_to_response(
        410,
        r#"{"errorMessage":"Invocation timed out","errorType":"InvocationTimeout"}"#,
    );
    mock.push_event(
        MockEvent::fixture("late", "function-url-get.json")
            .header("lambda-runtime-invocation-id", Some("inv-late")),
    );
    assert_eq!(mock.response().await.request_id, "late");
    mock.push_event(MockEvent::fixture("next", "function-url-get.json"));
    assert_eq!(mock.response().await.request_id, "next");
    assert!(!rt.is_finished(), "the runtime must not exit on a 410");
}

// 2. User-Agent.

#[tokio::test]
async fn every_runtime_api_request_names_lambda_stream() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(fails_on_fail));
    let want = format!("lambda-stream/{}", env!("CARGO_PKG_VERSION"));
    mock.push_event(MockEvent::fixture("ok", "function-url-get.json"));
    assert_eq!(mock.response().await.header("user-agent"), Some(&*want));
    mock.push_event(fail_event("bad"));
    assert_eq!(mock.error().await.headers["user-agent"], *want);
    // And the `/next` calls: every request head the mock read says so.
    let raw = String::from_utf8_lossy(&mock.raw()).to_ascii_lowercase();
    let nexts = raw
        .matches("get /2018-06-01/runtime/invocation/next")
        .count();
    let agents = raw.matches(&format!("user-agent: {want}\r\n")).count();
    assert!(nexts >= 2, "{raw}");
    assert_eq!(agents, nexts + 2, "{raw}");
}

// 3. X-Ray (the `_X_AMZN_TRACE_ID` variable is tested in trace_env.rs, a process of its
// own).

#[tokio::test]
async fn the_request_carries_the_invocations_trace_header() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(echo));
    // The fixture has its own x-amzn-trace-id (the function URL's); the invocation's wins.
    mock.push_event(MockEvent::fixture("t", "function-url-get.json").header(
        "lambda-runtime-trace-id",
        Some("Root=1-aaaa-bbbb;Sampled=1"),
    ));
    assert_eq!(
        echoed(&mock.response().await)["trace_header"],
        "Root=1-aaaa-bbbb;Sampled=1"
    );
}

#[tokio::test]
async fn error_reports_carry_the_xray_error_cause_capped() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(|req: Request<Body>| async move {
        let size: usize = req.uri().path()[1..].parse().unwrap();
        Err::<Response<String>, _>(Diagnostic::new(
            "Function.TooBad",
            format!("went \"wrong\" {}", "x".repeat(size)),
        ))
    }));
    let event = |size: usize| {
        Bytes::from(format!(
            r#"{{"version":"2.0","rawPath":"/{size}","requestContext":{{"http":{{"method":"GET"}}}}}}"#
        ))
    };
    mock.push_event(MockEvent::new("small", event(3)));
    let err = mock.error().await;
    let cause: Value =
        serde_json::from_slice(err.headers["lambda-runtime-function-xray-error-cause"].as_bytes())
            .unwrap();
    assert_eq!(
        cause["exceptions"],
        json!([{"type": "Function.TooBad", "message": "went \"wrong\" xxx", "stack": []}])
    );
    assert_eq!(cause["paths"], json!([]));
    assert!(cause["working_directory"].is_string());

    // A message of 1 MiB: the cause is cut to 8 KiB with a visible marker; the report
    // itself still goes.
    mock.push_event(MockEvent::new("large", event(1024 * 1024)));
    let err = mock.error().await;
    assert_eq!(err.request_id.as_deref(), Some("large"));
    let header = err.headers["lambda-runtime-function-xray-error-cause"].as_bytes();
    assert!(header.len() <= 8 * 1024, "{} bytes", header.len());
    let cause: Value = serde_json::from_slice(header).unwrap();
    let message = cause["exceptions"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("went \"wrong\" xxx"), "{message}");
    assert!(message.contains("[truncated "), "{message}");
}

// 4. The HTTP API trap.

#[tokio::test]
async fn v2_events_are_streamed_only_when_they_came_through_a_function_url() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(echo));
    mock.push_event(MockEvent::fixture("url", "function-url-get.json"));
    assert!(is_streamed(&mock.response().await));
    // An HTTP API (execute-api domain): buffered, as a JSON response object.
    mock.push_event(MockEvent::fixture("api", "apigw-http-v2.json"));
    let res = mock.response().await;
    assert!(!is_streamed(&res));
    let object: Value = serde_json::from_slice(&res.bytes()).unwrap();
    assert_eq!(object["statusCode"], 200);
    assert_eq!(object["isBase64Encoded"], false);
    // A custom domain in front of an HTTP API: buffered too.
    let mut custom: Value =
        serde_json::from_slice(&support::fixture("apigw-http-v2.json")).unwrap();
    custom["requestContext"]["domainName"] = "api.example.com".into();
    mock.push_event(MockEvent::new("custom", custom.to_string()));
    assert!(!is_streamed(&mock.response().await));
    // REST and raw events still stream by default.
    mock.push_event(MockEvent::fixture("rest", "apigw-rest-v1.json"));
    assert!(is_streamed(&mock.response().await));
    mock.push_event(MockEvent::fixture("raw", "raw-object.json"));
    assert!(is_streamed(&mock.response().await));
}

#[tokio::test]
async fn an_explicit_mode_wins_over_the_http_api_rule() {
    let mock = MockRuntimeApi::start().await;
    let runtime = Runtime::new(mock.config()).response_mode(ResponseMode::Streamed);
    let _rt = support::Serving::spawn(runtime.run(service_fn(echo)));
    mock.push_event(MockEvent::fixture("api", "apigw-http-v2.json"));
    assert!(is_streamed(&mock.response().await));

    let mock = MockRuntimeApi::start().await;
    let runtime = Runtime::new(mock.config()).response_mode(ResponseMode::Buffered);
    let _rt = support::Serving::spawn(runtime.run(service_fn(echo)));
    mock.push_event(MockEvent::fixture("url", "function-url-get.json"));
    assert!(!is_streamed(&mock.response().await));
}

// 5. Buffered bodies as lambda_http encodes them.

/// Answers with the status, headers (`name: value` lines of the body) and body the request
/// asks for in its JSON body: `{"status":.., "headers":[[k,v],..], "body":..}`.
async fn scripted(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let ask: Value = serde_json::from_slice(&req.into_body()).unwrap();
    let mut res = Response::builder().status(ask["status"].as_u64().unwrap_or(200) as u16);
    for pair in ask["headers"].as_array().into_iter().flatten() {
        res = res.header(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
    }
    let body = Body::from(ask["body"].as_str().unwrap_or("").to_owned());
    Ok(res.body(body).unwrap())
}

fn asking(ask: Value) -> Bytes {
    let event = json!({
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "POST"}, "domainName": "id.lambda-url.us-east-1.on.aws"},
        "body": ask.to_string(),
        "isBase64Encoded": false,
    });
    Bytes::from(event.to_string())
}

#[tokio::test]
async fn buffered_bodies_are_text_or_base64_by_lambda_https_rule() {
    let mock = MockRuntimeApi::start().await;
    let runtime = Runtime::new(mock.config()).response_mode(ResponseMode::Buffered);
    let _rt = support::Serving::spawn(runtime.run(service_fn(scripted)));
    // (headers, body, expected body field, expected isBase64Encoded)
    let cases: &[(Value, &str, &str, bool)] = &[
        (json!([]), "no type at all", "no type at all", false),
        (json!([["content-type", "text/csv"]]), "a,b", "a,b", false),
        (
            json!([["content-type", "application/json"]]),
            "{}",
            "{}",
            false,
        ),
        (
            json!([["content-type", "application/javascript"]]),
            "f()",
            "f()",
            false,
        ),
        (
            json!([["content-type", "application/xml"]]),
            "<a/>",
            "<a/>",
            false,
        ),
        (
            json!([["content-type", "application/yaml"]]),
            "a: 1",
            "a: 1",
            false,
        ),
        (
            json!([["content-type", "application/hal+json"]]),
            "{}",
            "{}",
            false,
        ),
        (
            json!([["content-type", "application/atom+xml"]]),
            "<a/>",
            "<a/>",
            false,
        ),
        (
            json!([["content-type", "application/x+yaml"]]),
            "a",
            "a",
            false,
        ),
        (json!([["content-type", "image/png"]]), "png", "cG5n", true),
        (
            json!([["content-type", "application/octet-stream"]]),
            "bin",
            "Ymlu",
            true,
        ),
        (
            json!([["content-type", "text/plain"], ["content-encoding", "gzip"]]),
            "gz",
            "Z3o=",
            true,
        ),
        (
            json!([
                ["content-type", "image/svg"],
                ["x-lambda-http-content-encoding", "text"]
            ]),
            "<svg/>",
            "<svg/>",
            false,
        ),
    ];
    for (n, (headers, body, want_body, want_base64)) in cases.iter().enumerate() {
        let id = format!("case-{n}");
        mock.push_event(MockEvent::new(
            &id,
            asking(json!({"headers": headers, "body": body})),
        ));
        let res = mock.response().await;
        assert_eq!(res.request_id, id);
        let object: Value = serde_json::from_slice(&res.bytes()).unwrap();
        assert_eq!(object["body"], *want_body, "{headers}");
        assert_eq!(object["isBase64Encoded"], *want_base64, "{headers}");
        if headers.as_array().unwrap().is_empty() {
            assert_eq!(
                object["headers"],
                json!({}),
                "an untyped body gains no type"
            );
        }
    }
    for status in [204, 304] {
        mock.push_event(MockEvent::new("empty", asking(json!({"status": status}))));
        let object: Value = serde_json::from_slice(&mock.response().await.bytes()).unwrap();
        assert_eq!(object["statusCode"], status);
        assert_eq!(
            object["headers"],
            json!({}),
            "{status}: no default content type"
        );
    }
}

#[tokio::test]
async fn streamed_no_content_responses_get_no_default_content_type() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(scripted));
    mock.push_event(MockEvent::new("nc", asking(json!({"status": 204}))));
    let (prelude, _) = mock.response().await.split();
    assert_eq!(prelude["headers"], json!({}));
    mock.push_event(MockEvent::new("ok", asking(json!({"status": 200}))));
    let (prelude, _) = mock.response().await.split();
    assert_eq!(
        prelude["headers"]["content-type"],
        "application/octet-stream"
    );
}

// 6. Requests as lambda_http builds them.

#[tokio::test]
async fn alb_query_parameters_are_decoded() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(echo));
    let mut alb: Value = serde_json::from_slice(&support::fixture("alb.json")).unwrap();
    alb["queryStringParameters"] = json!({"q": "fast%20lane+now", "caf%C3%A9": "a%26b"});
    mock.push_event(MockEvent::new("alb", alb.to_string()));
    let object: Value = serde_json::from_slice(&mock.response().await.bytes()).unwrap();
    let seen: Value = serde_json::from_str(object["body"].as_str().unwrap()).unwrap();
    assert_eq!(seen["query"]["q"], "fast lane now");
    assert_eq!(seen["query"]["café"], "a&b");
    // The URI keeps the query as it was sent.
    let uri_query = seen["uri_query"].as_str().unwrap();
    assert!(uri_query.contains("q=fast%20lane+now"), "{uri_query}");
}

#[tokio::test]
async fn the_client_context_has_snake_case_keys_and_any_custom_values() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(echo));
    mock.push_event(
        MockEvent::fixture("cc", "function-url-get.json").header(
            "lambda-runtime-client-context",
            Some(r#"{"client":{"installation_id":"inst-1","app_title":"Demo","app_version_name":"1.2","app_version_code":"12","app_package_name":"com.example.demo"},"custom":{"plan":"pro","seats":5,"beta":true},"env":{"platform":"Android"}}"#),
        ),
    );
    let seen = echoed(&mock.response().await);
    assert_eq!(seen["installation_id"], "inst-1");
    assert_eq!(seen["app_title"], "Demo");
    assert_eq!(
        seen["custom"],
        json!({"plan": "pro", "seats": 5, "beta": true})
    );
}

#[tokio::test]
async fn request_ids_are_percent_encoded_in_runtime_api_paths() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(fails_on_fail));
    mock.push_event(MockEvent::fixture("a/b c?d", "function-url-get.json"));
    assert_eq!(mock.response().await.request_id, "a%2Fb%20c%3Fd");
    mock.push_event(fail_event("e#f"));
    assert_eq!(mock.error().await.request_id.as_deref(), Some("e%23f"));
}

// 7. Migrating from lambda_http.

#[tokio::test]
async fn extensions_payload_and_raw_path_work_as_in_lambda_http() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(echo));
    let event = json!({
        "version": "2.0",
        "rawPath": "/a b/%7Bx%7D",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST"}, "domainName": "id.lambda-url.us-east-1.on.aws"},
        "body": r#"{"name":"ada"}"#,
        "isBase64Encoded": false,
    });
    mock.push_event(MockEvent::new("ext", event.to_string()));
    let seen = echoed(&mock.response().await);
    assert_eq!(seen["ext_request_id"], "ext");
    assert_eq!(seen["ext_has_request_context"], true);
    assert_eq!(seen["payload"], json!({"name": "ada"}));
    assert_eq!(seen["raw_path"], "/a b/%7Bx%7D");

    // Without a body, payload() is Ok(None).
    mock.push_event(MockEvent::fixture("nobody", "function-url-get.json"));
    assert_eq!(echoed(&mock.response().await)["payload"], Value::Null);
}

#[tokio::test]
async fn axum_extractors_read_the_context_from_the_parts_extensions() {
    use axum::extract::FromRequestParts;
    use axum::routing::get;

    /// An extractor written against `http::request::Parts`, as axum extractors are.
    struct RequestId(String);
    impl<S: Sync> FromRequestParts<S> for RequestId {
        type Rejection = http::StatusCode;
        async fn from_request_parts(
            parts: &mut http::request::Parts,
            _: &S,
        ) -> Result<Self, Self::Rejection> {
            let id = parts
                .extensions
                .lambda_context_ref()
                .map(|c| c.request_id.clone())
                .ok_or(http::StatusCode::INTERNAL_SERVER_ERROR)?;
            match parts.extensions.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(_)) => Ok(RequestId(id)),
                _ => Err(http::StatusCode::BAD_REQUEST),
            }
        }
    }
    let router = axum::Router::new().route("/", get(|RequestId(id): RequestId| async move { id }));
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(router);
    mock.push_event(MockEvent::fixture("axum-1", "function-url-get.json"));
    let (prelude, body) = mock.response().await.split();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, b"axum-1");
}

// 10. The error types the runtime sends.

#[derive(Clone)]
struct NotReady;

impl tower::Service<Request<Body>> for NotReady {
    type Response = Response<String>;
    type Error = BoxError;
    type Future = Ready<Result<Response<String>, BoxError>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("the pool is closed".into()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        std::future::ready(Ok(Response::new(String::new())))
    }
}

#[tokio::test]
async fn error_types_are_sent_as_the_readme_says() {
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(NotReady);
    mock.push_event(MockEvent::fixture("nr", "function-url-get.json"));
    let err = mock.error().await;
    assert_eq!(err.error_type(), "Function.ServiceNotReady");
    assert_eq!(
        err.headers["lambda-runtime-function-error-type"],
        "Function.ServiceNotReady"
    );

    // A type outside Lambda's pattern is sent as it is: Lambda reports it as Function.Unknown
    // or Runtime.Unknown.
    let mock = MockRuntimeApi::start().await;
    let _rt = mock.serve(service_fn(|_req: Request<Body>| async {
        Err::<Response<String>, _>(Diagnostic::new("my_error", "custom"))
    }));
    mock.push_event(MockEvent::fixture("odd", "function-url-get.json"));
    let err = mock.error().await;
    assert_eq!(
        err.headers["lambda-runtime-function-error-type"],
        "my_error"
    );
}

// 8 and 9. Shutdown and logs, in the real example binary.

/// Starts the `graceful_shutdown` example against `mock`, stdout piped.
fn start_example(mock: &MockRuntimeApi, env: &[(&str, &str)]) -> Killed {
    let address = mock.address();
    let mut all = vec![("AWS_LAMBDA_RUNTIME_API", address.as_str())];
    all.extend_from_slice(env);
    process::shutdown_example(&all)
}

/// Every line the process writes to stdout until it exits, and its exit status.
async fn wait_for_exit(mut child: Killed) -> (Vec<String>, std::process::ExitStatus) {
    let stdout = child.0.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let lines = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let status = child.0.wait().unwrap();
        (lines, status)
    })
    .await
    .unwrap()
}

fn sigterm(child: &Killed) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

#[tokio::test]
async fn sigterm_runs_the_shutdown_future_then_the_process_exits() {
    let mock = MockRuntimeApi::start().await;
    let child = start_example(&mock, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    mock.push_event(
        MockEvent::fixture("req-1", "function-url-get.json")
            .header("lambda-runtime-aws-tenant-id", Some("tenant-42")),
    );
    let res = mock.response().await;
    assert_eq!(res.split().1, b"hello\n");
    // The runtime is back on `/next`, waiting: now Lambda shuts the environment down.
    for _ in 0..200 {
        if mock.next_calls() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(mock.next_calls() >= 2);
    sigterm(&child);
    let (lines, status) = tokio::time::timeout(Duration::from_secs(20), wait_for_exit(child))
        .await
        .expect("the process exits after SIGTERM");
    assert!(status.success(), "{status:?}: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "shutdown: flushed 1 buffered records"),
        "the shutdown future ran: {lines:?}"
    );

    // 9. The handler's JSON log line carries the request id and the tenant id.
    let handled: Value = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "handled a request")
        .unwrap_or_else(|| panic!("no log line from the handler: {lines:?}"));
    assert_eq!(handled["requestId"], "req-1");
    assert_eq!(handled["tenantId"], "tenant-42");
    assert_eq!(handled["level"], "INFO");
}

#[tokio::test]
async fn rust_log_filters_the_logs_when_the_lambda_level_is_unset() {
    for (rust_log, shown) in [("warn", false), ("graceful_shutdown=info,warn", true)] {
        let mock = MockRuntimeApi::start().await;
        let child = start_example(
            &mock,
            &[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("RUST_LOG", rust_log)],
        );
        mock.push_event(MockEvent::fixture("req-2", "function-url-get.json"));
        let _ = mock.response().await;
        sigterm(&child);
        let (lines, _) = tokio::time::timeout(Duration::from_secs(20), wait_for_exit(child))
            .await
            .expect("the process exits after SIGTERM");
        let logged = lines.iter().any(|l| l.contains("handled a request"));
        assert_eq!(logged, shown, "RUST_LOG={rust_log}: {lines:?}");
    }
}
