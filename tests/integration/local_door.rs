//! The local server's door, with real clients: curl with a forged `Host` or a foreign
//! `Origin`, CORS preflights, `curl --aws-sigv4` as the README's deploy section calls a
//! function URL, and boto3 signing its calls.
//!
//! Skipped when curl (or python3 with boto3) is missing, unless `LAMBDA_STREAM_REQUIRE_CLIENTS`
//! is set (CI sets it and installs them).

use crate::support::local;
use lambda_stream_test_support as test_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use futures_util::StreamExt as _;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use lambda_stream::local::{AuthType, Cors, Options};
use lambda_stream::{Body, BoxError, RequestContext, RequestExt, Runtime};

const KEY: &str = "AKIDLOCALEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const CHUNKS: [&str; 3] = ["chunk 1\n", "chunk 2\n", "chunk 3\n"];
/// Between two chunks of the function's stream.
const GAP: Duration = Duration::from_millis(400);

/// The function: counts its invocations; `/runtime-api` answers the address of the Runtime
/// API it is served by; anything else answers the event's `requestContext.authorizer` on a
/// line, then [`CHUNKS`] [`GAP`] apart, with CORS headers of its own (which a URL with CORS
/// settings replaces).
fn function(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<BoxBody<Bytes, BoxError>>,
    Error = Infallible,
    Future = impl Send,
> + Send
       + 'static {
    tower::service_fn(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if req.uri().path() == "/runtime-api" {
                let api = req
                    .lambda_context_ref()
                    .and_then(|c| c.env_config.runtime_api.clone())
                    .unwrap_or_default();
                return Ok(Response::new(
                    Full::new(Bytes::from(api)).map_err(|e| match e {}).boxed(),
                ));
            }
            let authorizer = match req.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(rc)) => {
                    serde_json::to_string(&rc.authorizer).unwrap()
                }
                _ => "none".to_owned(),
            };
            let first = Bytes::from(format!("{authorizer}\n"));
            let rest = stream::unfold(0, |n| async move {
                if n == CHUNKS.len() {
                    return None;
                }
                tokio::time::sleep(GAP).await;
                Some((
                    Ok::<_, BoxError>(Frame::data(Bytes::from_static(CHUNKS[n].as_bytes()))),
                    n + 1,
                ))
            });
            let body = StreamBody::new(
                stream::once(async move { Ok::<_, BoxError>(Frame::data(first)) }).chain(rest),
            );
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/plain")
                    .header("x-my-custom-header", "streaming-example")
                    .header("access-control-allow-origin", "*")
                    .header("access-control-expose-headers", "x-secret")
                    .body(BodyExt::boxed(body))
                    .unwrap(),
            )
        }
    })
}

async fn start(options: Options) -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = local::serve(
        Runtime::new(lambda_stream::Config::default()),
        options,
        function(calls.clone()),
    )
    .await;
    (addr, calls)
}

fn iam_options() -> Options {
    let mut options = local::options();
    options.auth = AuthType::AwsIam;
    options.iam.access_key_id = KEY.to_owned();
    options.iam.secret_access_key = SECRET.to_owned();
    options.iam.account_id = "111122223333".to_owned();
    options.iam.user_arn = "arn:aws:iam::111122223333:user/dev".to_owned();
    options
}

/// Runs curl with `args` (plus `-s -D -`), or `None` when curl is not installed.
async fn curl(args: &[&str]) -> Option<test_support::curl::Response> {
    test_support::curl::response(args).await
}

/// The function's doors, each as `(path, curl arguments that call it)`.
fn doors(addr: SocketAddr) -> Vec<(String, Vec<String>)> {
    let url = |p: &str| format!("http://{addr}{p}");
    let post = |p: &str| vec!["-d".to_owned(), "{}".to_owned(), url(p)];
    vec![
        ("function url".to_owned(), vec![url("/")]),
        ("/invoke".to_owned(), post("/invoke")),
        (
            "Invoke".to_owned(),
            post("/2015-03-31/functions/local/invocations"),
        ),
        (
            "InvokeWithResponseStream".to_owned(),
            post("/2021-11-15/functions/local/response-streaming-invocations"),
        ),
        ("inspector".to_owned(), vec![url("/_lambda/")]),
        (
            "inspector list".to_owned(),
            vec![url("/_lambda/invocations")],
        ),
        ("inspector feed".to_owned(), vec![url("/_lambda/events")]),
    ]
}

#[tokio::test]
async fn a_forged_host_gets_403_on_every_door_and_the_runtime_api() {
    let (addr, calls) = start(local::options()).await;
    for (door, args) in doors(addr) {
        let mut forged = vec!["-H", "Host: evil.example:7000"];
        forged.extend(args.iter().map(String::as_str));
        let Some(got) = curl(&forged).await else {
            return;
        };
        assert_eq!(got.status, 403, "{door}: {}", got.body);
        assert!(
            got.body.contains("LOCAL_LAMBDA_ALLOWED_HOSTS") && got.body.contains("evil.example"),
            "{door}: {}",
            got.body
        );
        assert_eq!(
            got.body.lines().count(),
            1,
            "{door}: one line: {}",
            got.body
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the function ran");
    // The real host is served, and the inspector lists no invocation: none ran.
    let Some(got) = curl(&[&format!("http://{addr}/_lambda/invocations")]).await else {
        return;
    };
    assert_eq!((got.status, got.body.as_str()), (200, "[]"));

    // The emulator's own Runtime API: a page rebinding its name could otherwise ask it for
    // `/next` and take invocations.
    let Some(got) = curl(&[&format!("http://{addr}/runtime-api")]).await else {
        return;
    };
    let api = got.body.lines().next().unwrap().to_owned();
    assert!(api.starts_with("127.0.0.1:"), "{api}");
    let next = format!("http://{api}/2018-06-01/runtime/invocation/next");
    for forged in [
        vec!["-H", "Host: evil.example", "-m", "5", &next],
        vec!["-H", "Origin: http://localhost:8000", "-m", "5", &next],
        vec!["-H", "Sec-Fetch-Site: same-site", "-m", "5", &next],
    ] {
        let got = curl(&forged).await.unwrap();
        assert_eq!(got.status, 403, "{forged:?}: {}", got.body);
    }
    // Its own requests (loopback host, no browser headers) still get answers: an unknown
    // path is a 404, not a refusal.
    let got = curl(&[&format!("http://{api}/2018-06-01/runtime/nothing")])
        .await
        .unwrap();
    assert_eq!(got.status, 404);
}

#[tokio::test]
async fn allowed_hosts_and_loopback_names_are_served() {
    let mut options = local::options();
    options.allowed_hosts = vec!["phone.lan".to_owned(), ".trycloudflare.com".to_owned()];
    let (addr, calls) = start(options).await;
    for host in [
        "localhost:7000",
        "app.localhost",
        "127.0.0.1",
        "[::1]:7000",
        "phone.lan:7000",
        "abc.trycloudflare.com",
    ] {
        let Some(got) = curl(&["-H", &format!("Host: {host}"), &format!("http://{addr}/")]).await
        else {
            return;
        };
        assert_eq!(got.status, 200, "{host}: {}", got.body);
        assert!(got.body.ends_with(CHUNKS[2]), "{host}: {}", got.body);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    let got = curl(&["-H", "Host: other.lan", &format!("http://{addr}/")])
        .await
        .unwrap();
    assert_eq!(got.status, 403);
}

#[tokio::test]
async fn cross_site_requests_are_refused_unless_allowed() {
    let (addr, calls) = start(local::options()).await;
    let invoke = format!("http://{addr}/invoke");
    // A page on another site posting a "simple" request (the browser sends it without asking).
    for header in [
        "Origin: https://evil.example",
        "Origin: null",
        "Sec-Fetch-Site: cross-site",
    ] {
        let Some(got) = curl(&["-H", header, "-d", "{}", &invoke]).await else {
            return;
        };
        assert_eq!(got.status, 403, "{header}: {}", got.body);
        assert!(
            got.body.contains("LOCAL_LAMBDA_ALLOW_CROSS_SITE"),
            "{}",
            got.body
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Loopback pages (another dev server on this machine) and same-origin ones may.
    for header in [
        "Origin: http://localhost:5173",
        &format!("Origin: http://{addr}"),
        "Sec-Fetch-Site: same-site",
    ] {
        let got = curl(&["-H", header, "-d", "{}", &invoke]).await.unwrap();
        assert_eq!(got.status, 200, "{header}: {}", got.body);
    }
    // The inspector is same-origin: not for another local page either, and it never sends
    // CORS headers.
    let list = format!("http://{addr}/_lambda/invocations");
    let got = curl(&["-H", "Origin: http://localhost:5173", &list])
        .await
        .unwrap();
    assert_eq!(got.status, 403);
    let got = curl(&["-H", &format!("Origin: http://{addr}"), &list])
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert!(!got
        .headers
        .iter()
        .any(|(n, _)| n.starts_with("access-control-")));

    let mut options = local::options();
    options.allow_cross_site = true;
    let (addr, _) = start(options).await;
    let got = curl(&[
        "-H",
        "Origin: https://evil.example",
        "-d",
        "{}",
        &format!("http://{addr}/invoke"),
    ])
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_door_and_its_headers_replace_the_function_s() {
    let mut cors = Cors::default();
    cors.allow_origins = vec!["https://app.example.com".to_owned()];
    cors.allow_methods = vec!["GET".to_owned(), "POST".to_owned()];
    cors.allow_headers = vec!["content-type".to_owned()];
    cors.expose_headers = vec!["x-my-custom-header".to_owned()];
    cors.max_age = Some(Duration::from_secs(600));
    let mut options = local::options();
    options.cors = Some(cors);
    let (addr, calls) = start(options).await;
    let url = format!("http://{addr}/");
    let Some(got) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://app.example.com",
        "-H",
        "Access-Control-Request-Method: POST",
        "-H",
        "Access-Control-Request-Headers: content-type",
        &url,
    ])
    .await
    else {
        return;
    };
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(got.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        got.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(got.header("access-control-max-age"), Some("600"));
    assert_eq!(got.body, "");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a preflight invoked the function"
    );

    // The request itself, cross-site from the allowed origin: streamed, with the URL's CORS
    // headers instead of the function's `*` and `x-secret`.
    let got = curl(&[
        "-H",
        "Origin: https://app.example.com",
        "-H",
        "Sec-Fetch-Site: cross-site",
        "-d",
        "{}",
        &url,
    ])
    .await
    .unwrap();
    assert_eq!(got.status, 200);
    assert!(got.body.ends_with(CHUNKS[2]), "{}", got.body);
    assert_eq!(
        got.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        got.header("access-control-expose-headers"),
        Some("x-my-custom-header")
    );
    assert_eq!(got.header("x-my-custom-header"), Some("streaming-example"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Without an Origin: no CORS headers at all (the function's are dropped too).
    let got = curl(&[&url]).await.unwrap();
    assert!(got.header("access-control-allow-origin").is_none());
    // Another site is still refused; a loopback page gets no CORS headers (so its browser
    // does not let it read the response).
    let got = curl(&["-H", "Origin: https://evil.example", &url])
        .await
        .unwrap();
    assert_eq!(got.status, 403);
    let got = curl(&["-H", "Origin: http://localhost:5173", &url])
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert!(got.header("access-control-allow-origin").is_none());
}

/// The README's deploy section's call, against the local URL: `curl --no-buffer --aws-sigv4
/// "aws:amz:us-east-1:lambda" --user KEY:SECRET -H "x-amz-security-token: TOKEN"`. Returns
/// each line with when it arrived, and curl's exit code.
async fn sigv4_curl(
    url: &str,
    user: &str,
    token: &str,
    extra: &[&str],
) -> Option<(Vec<(Duration, String)>, Option<i32>)> {
    let token = format!("x-amz-security-token: {token}");
    let mut args = vec![
        "-s",
        "-i",
        "--no-buffer",
        "--aws-sigv4",
        "aws:amz:us-east-1:lambda",
        "--user",
        user,
        "-H",
        &token,
    ];
    args.extend(extra);
    args.push(url);
    let seen = test_support::curl::lines(&args).await?;
    Some((seen.lines, seen.code))
}

#[tokio::test]
async fn curl_aws_sigv4_as_the_readme_calls_a_function_url() {
    let (addr, calls) = start(iam_options()).await;
    let url = format!("http://{addr}/");
    let good = format!("{KEY}:{SECRET}");
    let Some((lines, code)) = sigv4_curl(&url, &good, "", &[]).await else {
        return;
    };
    assert_eq!(code, Some(0));
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.trim_end()).collect();
    assert!(text[0].starts_with("HTTP/1.1 200"), "{text:?}");
    let body_at = text.iter().position(|l| l.is_empty()).unwrap() + 1;
    // The event's authorizer, as a function URL fills it, then the stream.
    let authorizer: serde_json::Value = serde_json::from_str(text[body_at]).unwrap();
    assert_eq!(authorizer["iam"]["accessKey"], KEY);
    assert_eq!(authorizer["iam"]["accountId"], "111122223333");
    assert_eq!(
        authorizer["iam"]["userArn"],
        "arn:aws:iam::111122223333:user/dev"
    );
    assert_eq!(&text[body_at + 1..], ["chunk 1", "chunk 2", "chunk 3"]);
    // Streamed: each line reached curl before the next existed.
    let arrivals: Vec<_> = lines[body_at..].iter().map(|(at, _)| *at).collect();
    test_support::assert_each_before_the_next(&arrivals, GAP);
    // A POST signs its body.
    let (lines, _) = sigv4_curl(&url, &good, "", &["-d", "{\"a\":1}"])
        .await
        .unwrap();
    assert!(lines[0].1.starts_with("HTTP/1.1 200"), "{lines:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Refused as a function URL refuses, without invoking: a wrong secret, a wrong key, no
    // signature, a stale date, a token the server does not have.
    let forbidden = |lines: &[(Duration, String)]| {
        lines[0].1.starts_with("HTTP/1.1 403")
            && lines.last().unwrap().1 == "{\"Message\":\"Forbidden\"}"
    };
    let wrong_secret = format!("{KEY}:not-the-secret");
    let wrong_key = format!("AKIDOTHER:{SECRET}");
    for (what, user, token, extra) in [
        ("a wrong secret", wrong_secret.as_str(), "", vec![]),
        ("a wrong key", wrong_key.as_str(), "", vec![]),
        (
            "a stale date",
            good.as_str(),
            "",
            vec!["-H", "X-Amz-Date: 20200101T000000Z"],
        ),
        ("an unknown token", good.as_str(), "tok", vec![]),
    ] {
        let (lines, _) = sigv4_curl(&url, user, token, &extra).await.unwrap();
        assert!(forbidden(&lines), "{what}: {lines:?}");
    }
    let Some(got) = curl(&[&url]).await else {
        return;
    };
    assert_eq!(
        (got.status, got.body.as_str()),
        (403, "{\"Message\":\"Forbidden\"}")
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused request ran the function"
    );

    // With a session token, the matching x-amz-security-token is required.
    let mut options = iam_options();
    options.iam.session_token = Some("FwoGZXIvYXdzEXAMPLETOKEN".to_owned());
    let (addr, _) = start(options).await;
    let url = format!("http://{addr}/");
    let (lines, _) = sigv4_curl(&url, &good, "FwoGZXIvYXdzEXAMPLETOKEN", &[])
        .await
        .unwrap();
    assert!(lines[0].1.starts_with("HTTP/1.1 200"), "{lines:?}");
    for token in ["", "FwoGZXIvYXdzOTHER"] {
        let (lines, _) = sigv4_curl(&url, &good, token, &[]).await.unwrap();
        assert!(forbidden(&lines), "token {token:?}: {lines:?}");
    }
}

#[tokio::test]
async fn api_doors_check_the_signature_and_answer_aws_errors() {
    let (addr, calls) = start(iam_options()).await;
    let url = format!("http://{addr}/2015-03-31/functions/local/invocations");
    let Some(got) = curl(&["-d", "{}", &url]).await else {
        return;
    };
    assert_eq!(got.status, 403);
    assert_eq!(
        got.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    let good = format!("{KEY}:{SECRET}");
    let got = curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:lambda",
        "--user",
        &format!("{KEY}:wrong"),
        "-d",
        "{}",
        &url,
    ])
    .await
    .unwrap();
    assert_eq!(got.status, 403);
    assert_eq!(
        got.header("x-amzn-errortype"),
        Some("InvalidSignatureException")
    );
    let error: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("The request signature we calculated does not match"));
    let got = curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:lambda",
        "--user",
        &good,
        "-H",
        "X-Amz-Date: 20200101T000000Z",
        "-d",
        "{}",
        &url,
    ])
    .await
    .unwrap();
    assert_eq!(
        got.header("x-amzn-errortype"),
        Some("InvalidSignatureException")
    );
    assert!(got
        .body
        .contains("Signature expired: 20200101T000000Z is now earlier than"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let got = curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:lambda",
        "--user",
        &good,
        "-d",
        "{}",
        &format!("http://{addr}/invoke"),
    ])
    .await
    .unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn boto3_with_the_right_and_a_wrong_secret() {
    if !test_support::boto3::available() {
        return;
    }
    let (addr, calls) = start(iam_options()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_signed.py");
    let url = format!("http://{addr}");
    let run =
        |secret: &'static str| test_support::boto3::report(script, [url.as_str(), KEY, secret]);
    let report = run(SECRET).await;
    let stream = &report["stream"];
    assert_eq!(stream["status"], 200, "{report}");
    let payload: String = stream["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // A raw invocation: no HTTP event, no authorizer; the stream as produced.
    assert_eq!(payload, format!("none\n{}", CHUNKS.concat()));
    let times = test_support::seconds(&stream["times"]);
    test_support::assert_each_before_the_next(&times, GAP);
    assert_eq!(report["invoke"]["status"], 200, "{report}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let report = run("not-the-secret").await;
    for call in ["stream", "invoke"] {
        assert_eq!(report[call]["status"], 403, "{report}");
        assert_eq!(
            report[call]["code"], "InvalidSignatureException",
            "{report}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused call ran the function"
    );
}
