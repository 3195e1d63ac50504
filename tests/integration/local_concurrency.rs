//! The local server as a function URL under concurrent callers, with Lambda's limits, the
//! buffered door and the inspector, over real sockets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::rt::TokioIo;
use lambda_stream::local::{Bandwidth, Options};
use lambda_stream::{Body, BoxError, LambdaService, ResponseMode, Runtime};
use tokio::net::TcpStream;
use tower::service_fn;

use crate::example::axum_router;
use crate::support::local;

type TestBody = BoxBody<Bytes, BoxError>;

/// Starts a local server for `service` (not `Clone`: served through `run`); stops with the test.
async fn start<S>(service: S, options: Options, mode: ResponseMode) -> SocketAddr
where
    S: LambdaService + Send + 'static,
    S::Future: Send,
{
    let runtime = Runtime::new(lambda_stream::Config::default()).response_mode(mode);
    local::serve(runtime, options, service).await
}

/// `n` chunks of `size` bytes, `gap` apart.
fn chunks(n: usize, size: usize, gap: Duration) -> TestBody {
    let frames = stream::unfold(0usize, move |i| async move {
        if i == n {
            return None;
        }
        if i > 0 && !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        Some((Ok(Frame::data(Bytes::from(vec![b'x'; size]))), i + 1))
    });
    StreamBody::new(frames).boxed()
}

/// What a client saw.
struct Seen {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
    trailers: Option<http::HeaderMap>,
    /// When each data frame arrived.
    arrivals: Vec<Instant>,
    done: Instant,
}

async fn get(addr: SocketAddr, path: &str, te_trailers: bool) -> Seen {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "localhost");
    if te_trailers {
        req = req.header("te", "trailers");
    }
    let res = tx
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = res.into_parts();
    let mut seen = Seen {
        status: parts.status,
        headers: parts.headers,
        body: vec![],
        trailers: None,
        arrivals: vec![],
        done: Instant::now(),
    };
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        match frame.into_data() {
            Ok(data) => {
                seen.arrivals.push(Instant::now());
                seen.body.extend_from_slice(&data);
            }
            Err(frame) => seen.trailers = frame.into_trailers().ok(),
        }
    }
    seen.done = Instant::now();
    seen
}

#[tokio::test]
async fn three_three_second_streams_are_served_at_once() {
    // One service, not Clone, called through `run`: three chunks, 1.5 s apart.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = {
        let calls = calls.clone();
        let not_clone = std::sync::Mutex::new(());
        service_fn(move |req: Request<Body>| {
            let _held = &not_clone;
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let id = lambda_stream::RequestExt::lambda_context(&req)
                .request_id
                .clone();
            async move {
                let mut res = Response::new(chunks(3, 10, Duration::from_millis(1500)));
                res.headers_mut().insert("x-id", id.parse().unwrap());
                Ok::<_, Infallible>(res)
            }
        })
    };
    let addr = start(service, local::options(), ResponseMode::Streamed).await;
    let started = Instant::now();
    let seen = futures_util::future::join_all((0..3).map(|_| get(addr, "/", false))).await;
    let total = started.elapsed();
    let single = Duration::from_secs(3);
    for s in &seen {
        assert_eq!(s.status, StatusCode::OK);
        assert_eq!(s.body.len(), 30);
        assert!(s.done - started >= single);
    }
    // Served one after the other they would take 9 s; at once, about 3 s.
    assert!(total < single * 2, "three 3 s streams took {total:?}");
    let mut ids: Vec<_> = seen
        .iter()
        .map(|s| s.headers["x-id"].to_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each invocation has its own request id");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_sse_stream_stays_open_while_other_routes_answer() {
    let app = axum_router::app(axum_router::AppState::new("hi"));
    let addr = start(app, local::options(), ResponseMode::Streamed).await;
    let sse = tokio::spawn(get(addr, "/sse", false));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let json = get(addr, "/json", false).await;
    let items = get(addr, "/items/7", false).await;
    let sse = sse.await.unwrap();
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(items.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&sse.body).contains("data: [DONE]"));
    assert!(sse.arrivals.len() >= 5, "the events arrive one by one");
    // The other routes answered while the SSE stream was still open.
    assert!(json.done < sse.done && items.done < sse.done);
}

#[tokio::test]
async fn beyond_the_concurrency_cap_callers_are_throttled_as_lambda_does() {
    let service = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(chunks(2, 5, Duration::from_millis(800))))
    });
    let mut o = local::options();
    o.concurrency = NonZeroUsize::new(2).unwrap();
    let addr = start(service, o, ResponseMode::Streamed).await;
    let open = [
        tokio::spawn(get(addr, "/", false)),
        tokio::spawn(get(addr, "/", false)),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = get(addr, "/", false).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        third.headers["x-amzn-errortype"],
        "TooManyRequestsException"
    );
    let body: serde_json::Value = serde_json::from_slice(&third.body).unwrap();
    assert_eq!(
        body["Reason"],
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    );
    assert_eq!(body["message"], "Rate Exceeded.");
    for o in open {
        assert_eq!(o.await.unwrap().status, StatusCode::OK);
    }
    // The slots are free again.
    let after = get(addr, "/", false).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body, b"xxxxxxxxxx");
}

#[tokio::test]
async fn the_buffered_door_answers_at_once_with_a_content_length() {
    let service = service_fn(|req: Request<Body>| async move {
        let res = match req.uri().path() {
            "/binary" => Response::builder()
                .header("content-type", "application/octet-stream")
                .header("set-cookie", "a=1")
                .header("set-cookie", "b=2")
                .status(201)
                .body(BoxBody::new(
                    http_body_util::Full::new(Bytes::from((0..=255u8).collect::<Vec<_>>()))
                        .map_err(|never| match never {}),
                ))
                .unwrap(),
            "/huge" => Response::new(chunks(7, 1024 * 1024, Duration::ZERO)),
            _ => Response::new(chunks(3, 4, Duration::from_millis(100))),
        };
        Ok::<_, Infallible>(res)
    });
    let addr = start(service, local::options(), ResponseMode::Buffered).await;

    let text = get(addr, "/", false).await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.body, b"xxxxxxxxxxxx");
    assert_eq!(text.headers["content-length"], "12");
    assert_eq!(text.arrivals.len(), 1, "all at once: {:?}", text.arrivals);

    let binary = get(addr, "/binary", false).await;
    assert_eq!(binary.status, StatusCode::CREATED);
    assert_eq!(
        binary.body,
        (0..=255u8).collect::<Vec<_>>(),
        "base64 decoded"
    );
    assert_eq!(binary.headers["content-length"], "256");
    assert_eq!(binary.headers["content-type"], "application/octet-stream");
    let cookies: Vec<_> = binary.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);

    // Over 6 MB: Lambda refuses the response; the function URL answers 502.
    let huge = get(addr, "/huge", false).await;
    assert_eq!(huge.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_stream_past_200_mb_is_cut_with_an_error() {
    let service = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(chunks(201, 1024 * 1024, Duration::ZERO)))
    });
    let addr = start(service, local::options(), ResponseMode::Streamed).await;
    let seen = get(addr, "/", true).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body.len(), 200 * 1024 * 1024);
    let trailers = seen.trailers.expect("error trailers");
    assert_eq!(
        trailers["lambda-runtime-function-error-type"],
        "Function.ResponseSizeTooLarge"
    );
}

#[tokio::test]
async fn lambda_bandwidth_paces_after_the_first_6_mb() {
    let service = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(chunks(32, 256 * 1024, Duration::ZERO)))
    });
    let mut o = local::options();
    o.bandwidth = Bandwidth::Lambda;
    let addr = start(service, o, ResponseMode::Streamed).await;
    let started = Instant::now();
    let seen = get(addr, "/", false).await;
    assert_eq!(seen.body.len(), 8 * 1024 * 1024);
    // 6 MB at once, the other 2 MB at 2 MB/s: about a second.
    let took = seen.done - started;
    assert!(took >= Duration::from_millis(900), "8 MB took {took:?}");
    let burst_done = seen.arrivals[23] - started;
    assert!(burst_done < took / 2, "the first 6 MB were not paced");
}

#[tokio::test]
async fn the_inspector_feed_lists_invocations_with_their_details() {
    let service = service_fn(|req: Request<Body>| async move {
        if req.uri().path() == "/fail" {
            let body = stream::iter([
                Ok(Frame::data(Bytes::from_static(b"partial"))),
                Err(BoxError::from(lambda_stream::Diagnostic::new(
                    "Boom", "it broke",
                ))),
            ]);
            return Ok::<_, Infallible>(Response::new(StreamBody::new(body).boxed()));
        }
        let mut res = Response::new(chunks(3, 4, Duration::from_millis(50)));
        res.headers_mut()
            .insert("set-cookie", "session=1".parse().unwrap());
        res.headers_mut()
            .insert("x-kind", "numbers".parse().unwrap());
        Ok(res)
    });
    let addr = start(service, local::options(), ResponseMode::Streamed).await;

    let page = get(addr, "/_lambda/", false).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("EventSource(\"/_lambda/events\")"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );

    // Open the feed first: it reports invocations as they happen.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = tx
        .send_request(
            Request::get("/_lambda/events")
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut feed = res.into_body();

    let ok = get(addr, "/numbers?x=1", false).await;
    assert_eq!(ok.body, b"xxxxxxxxxxxx");
    let _ = get(addr, "/fail", true).await;

    let mut buf = String::new();
    let mut done = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while done.len() < 2 {
        let frame = tokio::time::timeout_at(deadline, feed.frame())
            .await
            .expect("the feed reports both invocations")
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
        while let Some(at) = buf.find("\n\n") {
            let event: String = buf.drain(..at + 2).collect();
            let json = event.trim().strip_prefix("data: ").unwrap();
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            if v["done"] == true {
                done.insert(v["path"].as_str().unwrap().to_owned(), v);
            }
        }
    }
    let ok = &done["/numbers"];
    assert_eq!(ok["door"], "function url");
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["bytes"], 12);
    assert_eq!(ok["chunks"], 3);
    assert_eq!(ok["cookies"][0], "session=1");
    assert!(ok["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "x-kind" && h[1] == "numbers"));
    assert!(ok["ttfb_ms"].as_f64().unwrap() <= ok["duration_ms"].as_f64().unwrap());
    assert!(ok["duration_ms"].as_f64().unwrap() >= 100.0);
    assert_eq!(ok["points"].as_array().unwrap().len(), 3);
    assert_eq!(ok["preview"], "xxxxxxxxxxxx");
    assert_eq!(ok["error_type"], serde_json::Value::Null);
    let failed = &done["/fail"];
    assert_eq!(failed["error_type"], "Boom");
    assert_eq!(failed["error_message"], "it broke");
    assert_eq!(failed["bytes"], 7);
}

#[tokio::test]
async fn the_test_kit_drives_concurrent_invocations() {
    let service = service_fn(|req: Request<Body>| async move {
        let id = lambda_stream::RequestExt::lambda_context(&req)
            .request_id
            .clone();
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok::<_, Infallible>(Response::new(id))
    });
    let client = lambda_stream::testing::TestClient::builder()
        .concurrency(3)
        .build(service);
    let started = Instant::now();
    let get = |i: usize| {
        client
            .invocation()
            .request_id(format!("req-{i}"))
            .request(Request::get("/").body("").unwrap())
    };
    let (a, b, c) = tokio::join!(get(1), get(2), get(3));
    let took = started.elapsed();
    let texts: Vec<_> = [a, b, c]
        .into_iter()
        .map(|r| r.unwrap().text().to_string())
        .collect();
    assert_eq!(texts, ["req-1", "req-2", "req-3"]);
    // One after the other: 1.8 s.
    assert!(took < Duration::from_millis(1200), "took {took:?}");
}

/// Sets its flag when dropped: tells when the runtime let go of a handler's future.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `run_concurrent` under the local server stops an invocation that ran past its deadline, as
/// `run` does and as Lambda stops a timed-out function: with one worker, the next caller is
/// served instead of waiting for a handler that never answers.
#[tokio::test]
async fn run_concurrent_stops_a_timed_out_invocation_and_serves_the_next() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let service = service_fn(move |req: Request<Body>| {
        let guard = DropFlag(flag.clone());
        async move {
            if req.uri().path() == "/hang" {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new("served\n".to_owned()))
        }
    });
    let mut options = local::options();
    options.function_timeout = Duration::from_secs(1);
    options.concurrency = NonZeroUsize::new(1).unwrap();
    let server = Runtime::new(lambda_stream::Config::default())
        .local_options(options)
        .bind_local()
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_concurrent(service));

    let started = Instant::now();
    let hung = get(addr, "/hang", true).await;
    // Timed out before its response started: the function URL's error answer.
    assert_eq!(hung.status, StatusCode::BAD_GATEWAY);
    // The one worker is freed once the invocation is stopped, 100 ms past its deadline.
    let next = tokio::time::timeout(Duration::from_secs(10), get(addr, "/", true))
        .await
        .expect("the next invocation is served: the timed-out one was stopped");
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(next.body, b"served\n");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hung future was dropped"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}
