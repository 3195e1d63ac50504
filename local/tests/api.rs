//! The crate's public API over real sockets: the emulated Runtime API driven by a runtime
//! written here by hand (raw HTTP/1.1, as a runtime in any language sends it), the server's
//! front doors in front of it, and (with `host`) a process hosted behind them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lambda_stream_local::{
    function_url_event, open_prelude, Emulator, FunctionConfig, Invocation, Options, ReadReplies,
    Reply, Server,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RUNTIME: &str = "/2018-06-01/runtime/invocation";

/// One HTTP/1.1 exchange on a connection of its own: `request` as raw bytes, then the
/// response, read to its end (each request says `Connection: close`).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// The runtime's `GET /next`: the raw response.
async fn next(api: SocketAddr) -> String {
    let request =
        format!("GET {RUNTIME}/next HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
    exchange(api, request.as_bytes()).await
}

/// A streamed response to an HTTP integration, as a runtime posts it: the prelude, the 8-NUL
/// delimiter, `chunks`, and `trailers` (raw `Name: value` lines) after the last chunk.
fn streamed_response(api: SocketAddr, id: &str, chunks: &[&[u8]], trailers: &str) -> Vec<u8> {
    let mut out = format!(
        "POST {RUNTIME}/{id}/response HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\n\
         Content-Type: application/vnd.awslambda.http-integration-response\r\n\
         Transfer-Encoding: chunked\r\n\
         Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
    )
    .into_bytes();
    let mut chunk = |data: &[u8]| {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    };
    chunk(b"{\"statusCode\":201,\"headers\":{\"x-made-by\":\"hand\"}}\0\0\0\0\0\0\0\0");
    for data in chunks {
        chunk(data);
    }
    out.extend_from_slice(format!("0\r\n{trailers}\r\n").as_bytes());
    out
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn emulator(timeout: Duration) -> Emulator {
    let mut function = FunctionConfig::default();
    function.name = "orders".to_owned();
    Emulator::start(&function, timeout).expect("the emulator starts")
}

#[tokio::test]
async fn a_runtime_takes_an_invocation_and_its_stream_is_read_as_it_was_posted() {
    let emulator = emulator(Duration::from_secs(60));
    let api = emulator.runtime_api();
    let (invocation, mut replies) = Invocation::new(
        "r-1".to_owned(),
        Bytes::from_static(br#"{"x":1}"#),
        Some(r#"{"custom":{"k":"v"}}"#.to_owned()),
    );
    assert_eq!(invocation.request_id(), "r-1");
    emulator.queue(invocation).expect("queued");

    let handed = next(api).await;
    assert!(handed.starts_with("HTTP/1.1 200"), "{handed}");
    assert_eq!(
        header(&handed, "lambda-runtime-aws-request-id"),
        Some("r-1")
    );
    assert_eq!(
        header(&handed, "lambda-runtime-invoked-function-arn"),
        Some("arn:aws:lambda:us-east-1:000000000000:function:orders")
    );
    assert_eq!(
        header(&handed, "lambda-runtime-client-context"),
        Some(r#"{"custom":{"k":"v"}}"#)
    );
    assert!(header(&handed, "lambda-runtime-deadline-ms").is_some());
    assert!(handed.ends_with(r#"{"x":1}"#), "{handed}");

    let post = streamed_response(api, "r-1", &[b"hello ", b"world"], "");
    let runtime = tokio::spawn(async move { exchange(api, &post).await });
    let opened = open_prelude(&mut replies).await.expect("a prelude");
    assert!(replies.is_started());
    assert_eq!(opened.status, 201);
    assert_eq!(opened.headers["x-made-by"], "hand");
    let mut body = opened.first.to_vec();
    while let Some(chunk) = replies.chunk().await.expect("no failure") {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"hello world");
    let answered = runtime.await.unwrap();
    assert!(answered.starts_with("HTTP/1.1 202"), "{answered}");

    // Posted twice: the invocation is over.
    let again = streamed_response(api, "r-1", &[], "");
    let refused = exchange(api, &again).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    assert!(refused.contains("InvalidRequestID"), "{refused}");
}

#[tokio::test]
async fn error_trailers_and_error_reports_reach_the_caller() {
    let emulator = emulator(Duration::from_secs(60));
    let api = emulator.runtime_api();

    // Failed midway: error trailers after the last chunk.
    let (invocation, mut replies) = Invocation::new("r-2".to_owned(), Bytes::new(), None);
    emulator.queue(invocation).unwrap();
    next(api).await;
    // base64 of {"errorType":"Function.StreamError","errorMessage":"upstream closed"}
    let trailers = "Lambda-Runtime-Function-Error-Type: Function.StreamError\r\n\
        Lambda-Runtime-Function-Error-Body: \
        eyJlcnJvclR5cGUiOiJGdW5jdGlvbi5TdHJlYW1FcnJvciIsImVycm9yTWVzc2FnZSI6InVwc3RyZWFtIGNsb3NlZCJ9\r\n";
    let post = streamed_response(api, "r-2", &[b"part"], trailers);
    tokio::spawn(async move { exchange(api, &post).await });
    let opened = open_prelude(&mut replies).await.unwrap();
    let mut body = opened.first.to_vec();
    let failure = loop {
        match replies.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => panic!("ended cleanly"),
            Err(failure) => break failure,
        }
    };
    assert_eq!(body, b"part");
    assert_eq!(failure.error_type(), "Function.StreamError");
    assert_eq!(failure.error_message(), "upstream closed");

    // Failed before its response: `/error`.
    let (invocation, mut replies) = Invocation::new("r-3".to_owned(), Bytes::new(), None);
    emulator.queue(invocation).unwrap();
    next(api).await;
    let report = r#"{"errorType":"Function.Error","errorMessage":"boom"}"#;
    let post = format!(
        "POST {RUNTIME}/r-3/error HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{report}",
        report.len()
    );
    let answered = exchange(api, post.as_bytes()).await;
    assert!(answered.starts_with("HTTP/1.1 202"), "{answered}");
    match replies.next().await {
        Reply::Error(f) => {
            assert_eq!(
                (f.error_type(), f.error_message()),
                ("Function.Error", "boom")
            );
            assert_eq!(f.to_json(), report.as_bytes());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_invocation_past_its_deadline_fails_and_a_stopped_emulator_takes_nothing() {
    let emulator = emulator(Duration::from_secs(1));
    let (invocation, mut replies) = Invocation::new("r-4".to_owned(), Bytes::new(), None);
    emulator.queue(invocation).unwrap();
    next(emulator.runtime_api()).await;
    // The runtime never answers.
    match replies.next().await {
        Reply::Failed(f) => {
            assert_eq!(f.error_type(), "Sandbox.Timeout");
            assert_eq!(f.error_message(), "task timed out after 1.00 seconds");
        }
        other => panic!("{other:?}"),
    }

    emulator.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (invocation, _replies) = Invocation::new("r-5".to_owned(), Bytes::new(), None);
    let back = emulator.queue(invocation).expect_err("stopped");
    assert_eq!(back.request_id(), "r-5");
}

#[tokio::test]
async fn the_runtime_api_refuses_browsers() {
    let emulator = emulator(Duration::from_secs(60));
    let api = emulator.runtime_api();
    let request = format!(
        "GET {RUNTIME}/next HTTP/1.1\r\nHost: {api}\r\nOrigin: http://evil.example\r\n\
         Connection: close\r\n\r\n"
    );
    let refused = exchange(api, request.as_bytes()).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
}

#[tokio::test]
async fn a_function_url_request_reaches_the_runtime_as_its_event_and_streams_back() {
    let mut options = Options::default();
    options.addr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(options, FunctionConfig::default())
        .await
        .unwrap();
    let doors = server.local_addr();
    let serving = server.serve().unwrap();
    assert_eq!(serving.local_addr(), doors);
    let api = serving.runtime_api();

    let caller = tokio::spawn(async move {
        exchange(
            doors,
            b"GET /orders?id=7 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    let handed = next(api).await;
    let id = header(&handed, "lambda-runtime-aws-request-id")
        .unwrap()
        .to_owned();
    let event = &handed[handed.find("\r\n\r\n").unwrap() + 4..];
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    assert_eq!(event["rawPath"], "/orders");
    assert_eq!(event["rawQueryString"], "id=7");
    assert_eq!(event["requestContext"]["requestId"], id.as_str());

    let post = streamed_response(api, &id, &[b"seven"], "");
    exchange(api, &post).await;
    let answered = caller.await.unwrap();
    assert!(answered.starts_with("HTTP/1.1 201"), "{answered}");
    assert_eq!(header(&answered, "x-made-by"), Some("hand"));
    assert!(answered.ends_with("seven\r\n0\r\n\r\n"), "{answered}");
}

#[test]
fn the_function_url_event_is_the_one_aws_builds() {
    let (parts, ()) = http::Request::post("/p?a=1&a=2")
        .header("host", "abc.lambda-url.eu-west-1.on.aws")
        .header("cookie", "k=v")
        .header("content-type", "text/plain")
        .body(())
        .unwrap()
        .into_parts();
    let peer = "10.0.0.7:4000".parse().unwrap();
    let event = function_url_event(&parts, b"body", peer, "r-6", SystemTime::UNIX_EPOCH);
    let event: serde_json::Value = serde_json::from_slice(&event).unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["rawQueryString"], "a=1&a=2");
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(event["cookies"][0], "k=v");
    assert_eq!(event["body"], "body");
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(
        event["requestContext"]["domainName"],
        "abc.lambda-url.eu-west-1.on.aws"
    );
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "10.0.0.7");
}

#[tokio::test]
async fn under_aws_iam_every_door_refuses_an_unsigned_request_before_invoking() {
    let mut options = Options::default();
    options.addr = "127.0.0.1:0".parse().unwrap();
    options.auth = lambda_stream_local::AuthType::AwsIam;
    options.iam.access_key_id = "AKIDEXAMPLE".to_owned();
    options.iam.secret_access_key = "secret".to_owned();
    let server = Server::bind(options, FunctionConfig::default())
        .await
        .unwrap();
    let doors = server.local_addr();
    let _serving = server.serve().unwrap();

    let post = |path: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\
             Content-Length: 2\r\n\r\n{{}}"
        )
    };
    let function_url = [
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
        post("/orders", ""),
    ];
    for request in function_url {
        let refused = exchange(doors, request.as_bytes()).await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        assert!(refused.ends_with(r#"{"Message":"Forbidden"}"#), "{refused}");
    }
    let api = [
        post("/invoke", ""),
        post("/2015-03-31/functions/local/invocations", ""),
        post(
            "/2015-03-31/functions/local/invocations",
            "X-Amz-Invocation-Type: DryRun\r\n",
        ),
        post(
            "/2021-11-15/functions/local/response-streaming-invocations",
            "",
        ),
    ];
    for request in api {
        let refused = exchange(doors, request.as_bytes()).await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{request}: {refused}");
        assert_eq!(
            header(&refused, "x-amzn-errortype"),
            Some("MissingAuthenticationTokenException"),
            "{request}: {refused}"
        );
    }
    // None of them reached the function: the inspector recorded no invocation.
    let list = exchange(
        doors,
        b"GET /_lambda/invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    assert!(list.ends_with("[]"), "{list}");
}

#[tokio::test]
async fn a_dry_run_is_answered_without_invoking() {
    let mut options = Options::default();
    options.addr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(options, FunctionConfig::default())
        .await
        .unwrap();
    let doors = server.local_addr();
    let _serving = server.serve().unwrap();
    let answer = exchange(
        doors,
        b"POST /2015-03-31/functions/local/invocations HTTP/1.1\r\nHost: localhost\r\n\
          Connection: close\r\nX-Amz-Invocation-Type: DryRun\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let list = exchange(
        doors,
        b"GET /_lambda/invocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(list.ends_with("[]"), "{list}");
}
