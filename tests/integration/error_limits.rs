//! Errors too large to deliver whole: a 64 KiB and an 8 MiB message, failing a streamed body
//! midway (trailers) and failing before the response started (`/error`), against the Runtime
//! API mock, a hyper HTTP/1.1 server with its default limits (16 KiB of trailers). Each must
//! arrive readable (the stream complete, the base64 JSON decodable), cut with the marker, and
//! the next invocation must be served.

use crate::support;

use lambda_stream::Body;
use std::convert::Infallible;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream::{BoxError, Diagnostic, RequestExt, Runtime};
use support::{MockEvent, MockRuntimeApi};
use tower::service_fn;

const URL_EVENT: &str = "function-url-get.json";
const KIB_64: usize = 64 * 1024;
const MIB_8: usize = 8 * 1024 * 1024;

/// A message of `len` bytes: a recognisable head, then multi-byte characters (so that a cut
/// in the wrong place would be invalid UTF-8), then a tail that must not survive.
fn long_message(len: usize) -> String {
    let mut m = String::from("upstream said: ");
    while m.len() < len - 8 {
        m.push_str("ünïcødé ");
    }
    m.push_str(&"z".repeat(len - m.len()));
    assert_eq!(m.len(), len);
    m
}

/// Checks that `got` is the beginning of `message`, cut on a char boundary, then the marker
/// with the right count.
fn assert_cut(got: &str, message: &str) {
    let at = got
        .rfind("… [truncated ")
        .unwrap_or_else(|| panic!("no truncation marker in a {} byte message", got.len()));
    assert!(at > 1000, "only {at} bytes of the message were kept");
    assert!(
        message.starts_with(&got[..at]),
        "the kept part is not the start"
    );
    assert_eq!(
        &got[at..],
        format!("… [truncated {} bytes]", message.len() - at)
    );
}

/// A service: event `fail-mid-N` streams a chunk then fails with an N-byte message,
/// `fail-early-N` fails before the response; anything else answers `ok`.
/// The body of [`service`]'s responses: frames played in order.
type Frames = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>>>;

fn service() -> impl tower::Service<
    Request<Body>,
    Response = Response<Frames>,
    Error = BoxError,
    Future = impl Send,
> + Send {
    service_fn(|req: Request<Body>| async move {
        let id = req.lambda_context().request_id.clone();
        let len = |prefix: &str| {
            id.strip_prefix(prefix)
                .and_then(|n| n.parse::<usize>().ok())
        };
        if let Some(n) = len("fail-early-") {
            return Err(BoxError::from(Diagnostic::new(
                "Function.TooChatty",
                long_message(n),
            )));
        }
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = match len("fail-mid-") {
            Some(n) => vec![
                Ok(Frame::data(Bytes::from_static(b"partial "))),
                Err(long_message(n).into()),
            ],
            None => vec![Ok(Frame::data(Bytes::from_static(b"ok")))],
        };
        Ok(Response::new(StreamBody::new(stream::iter(frames))))
    })
}

#[tokio::test]
async fn huge_mid_stream_errors_arrive_as_readable_trailers() {
    let mock = MockRuntimeApi::start().await;
    let rt = tokio::spawn(Runtime::new(mock.config()).run(service()));
    for n in [KIB_64, MIB_8] {
        let id = format!("fail-mid-{n}");
        mock.push_event(MockEvent::fixture(&id, URL_EVENT));
        let res = mock.response().await;
        assert_eq!(res.request_id, id);
        // Without the cap the server refuses the trailer block: the body errors, incomplete.
        assert!(res.complete, "the {n} byte error broke the stream");
        let (_, body) = res.split();
        assert_eq!(body, b"partial ");
        let trailers = res.trailers.as_ref().expect("error trailers");
        let encoded = &trailers["lambda-runtime-function-error-body"];
        assert!(encoded.len() <= 8 * 1024, "{} bytes", encoded.len());
        let (ty, json) = res.error_trailers().expect("readable error trailers");
        assert_eq!(ty, "Function.StreamError");
        assert_eq!(json["errorType"], "Function.StreamError");
        assert_cut(json["errorMessage"].as_str().unwrap(), &long_message(n));
        // The raw bytes: the trailer is on the wire as standard base64 and nothing else.
        let raw = mock.raw();
        let value = encoded.to_str().unwrap();
        assert!(support::contains(
            &raw,
            format!("lambda-runtime-function-error-body: {value}\r\n").as_bytes()
        ));
        assert!(base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok());
    }
    mock.push_event(MockEvent::fixture("after", URL_EVENT));
    let res = mock.response().await;
    assert_eq!(res.request_id, "after");
    assert_eq!(res.split().1, b"ok");
    assert!(res.trailers.is_none());
    rt.abort();
}

#[tokio::test]
async fn huge_errors_before_the_response_arrive_as_capped_error_reports() {
    let mock = MockRuntimeApi::start().await;
    let rt = tokio::spawn(Runtime::new(mock.config()).run(service()));
    for n in [KIB_64, MIB_8] {
        let id = format!("fail-early-{n}");
        mock.push_event(MockEvent::fixture(&id, URL_EVENT));
        let report = mock.error().await;
        assert_eq!(report.request_id.as_deref(), Some(id.as_str()));
        assert_eq!(report.error_type(), "Function.TooChatty");
        assert_eq!(
            report.headers["lambda-runtime-function-error-type"],
            "Function.TooChatty"
        );
        let message = long_message(n);
        let got = report.message();
        if n == KIB_64 {
            // Well under the 256 KiB cap of a report: sent whole.
            assert_eq!(got, message);
        } else {
            assert_cut(got, &message);
            let sent = serde_json::to_vec(&report.body).unwrap().len();
            assert!(sent <= 256 * 1024, "a {sent} byte report");
            assert!(
                sent > 255 * 1024,
                "only {sent} bytes of the 256 KiB were used"
            );
        }
    }
    mock.push_event(MockEvent::fixture("after", URL_EVENT));
    let res = mock.response().await;
    assert_eq!(res.request_id, "after");
    assert_eq!(res.split().1, b"ok");
    rt.abort();
}

#[tokio::test]
async fn a_huge_error_type_is_sent_as_function_unknown() {
    let mock = MockRuntimeApi::start().await;
    let ty = format!("Function.{}", "Long".repeat(10_000));
    let rt = tokio::spawn(Runtime::new(mock.config()).run(service_fn(
        move |_req: Request<Body>| {
            let ty = ty.clone();
            async move {
                Err::<Response<String>, _>(BoxError::from(Diagnostic::new(ty, "typed too much")))
            }
        },
    )));
    mock.push_event(MockEvent::fixture("typed", URL_EVENT));
    let report = mock.error().await;
    assert_eq!(report.error_type(), "Function.Unknown");
    assert_eq!(
        report.headers["lambda-runtime-function-error-type"],
        "Function.Unknown"
    );
    assert_eq!(report.message(), "typed too much");
    rt.abort();
}

#[tokio::test]
async fn the_mock_refuses_what_the_cap_prevents() {
    // The premise of the tests above: a hyper server with default limits rejects a trailer
    // block over 16 KiB, so an uncapped 64 KiB message could not be delivered.
    use http_body_util::BodyExt as _;
    use hyper_util::rt::TokioIo;
    let mock = MockRuntimeApi::start().await;
    let stream = tokio::net::TcpStream::connect(mock.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut trailers = http::HeaderMap::new();
    trailers.insert(
        "lambda-runtime-function-error-body",
        http::HeaderValue::from_str(&"A".repeat(20 * 1024)).unwrap(),
    );
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"x"))),
        Ok(Frame::trailers(trailers)),
    ];
    let req = Request::post("/2018-06-01/runtime/invocation/raw/response")
        .header("host", mock.address())
        .header("transfer-encoding", "chunked")
        .header("trailer", "lambda-runtime-function-error-body")
        .body(StreamBody::new(stream::iter(frames)))
        .unwrap();
    let _ = send
        .send_request(req)
        .await
        .map(|r| r.into_body().collect());
    let res = mock.response().await;
    assert!(!res.complete);
    assert!(res.trailers.is_none());
}
