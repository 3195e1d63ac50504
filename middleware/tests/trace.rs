//! The trace hooks: our own layer, and tower-http's TraceLayer and request id layers with our
//! `MakeInvocationSpan` and `LambdaRequestId`.

use lambda_stream::Body;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use lambda_stream::{Config, Context, RequestExt};
use lambda_stream_middleware::trace::{InvocationSpanLayer, LambdaRequestId, MakeInvocationSpan};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Captures what a fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn request(id: &str, init_type: &str) -> Request<Body> {
    let mut config = Config::default();
    config.function_name = "stream".into();
    config.function_version = "$LATEST".into();
    config.initialization_type = init_type.into();
    let mut ctx = Context::default();
    ctx.request_id = id.into();
    ctx.xray_trace_id = Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1".into());
    ctx.env_config = Arc::new(config);
    Request::builder()
        .uri("/items?x=1")
        .body(Body::empty())
        .unwrap()
        .with_lambda_context(ctx)
}

/// A handler that logs in its future and while its body streams.
async fn chatty(
    _req: Request<Body>,
) -> Result<
    Response<StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>>>,
    Infallible,
> {
    tracing::info!("in the handler");
    let s = stream::iter(0..2).map(|n| {
        tracing::info!(n, "in the body");
        Ok(Frame::data(Bytes::from(n.to_string())))
    });
    Ok(Response::new(StreamBody::new(s)))
}

use futures_util::StreamExt as _;

#[tokio::test(flavor = "current_thread")]
async fn our_layer_puts_the_handler_and_the_body_in_the_invocation_span() {
    let (captured, _guard) = capture();
    let svc = ServiceBuilder::new()
        .layer(InvocationSpanLayer::new())
        .service_fn(chatty);
    for id in ["req-1", "req-2"] {
        let res = svc.clone().oneshot(request(id, "on-demand")).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    let lines = captured.lines();
    let of = |id: &str| -> Vec<&String> { lines.iter().filter(|l| l.contains(id)).collect() };
    let first = of("request_id=\"req-1\"");
    assert_eq!(first.len(), 3, "{lines:#?}");
    assert!(first.iter().any(|l| l.contains("in the handler")));
    assert_eq!(
        first.iter().filter(|l| l.contains("in the body")).count(),
        2
    );
    for line in &first {
        assert!(line.contains("cold_start=true"), "{line}");
        assert!(line.contains("xray_trace_id=\"Root=1-5bef4de7"), "{line}");
        assert!(line.contains("function_name=\"stream\""), "{line}");
        assert!(line.contains("path=\"/items\""), "{line}");
        assert!(line.contains("lambda.request"), "{line}");
    }
    let second = of("request_id=\"req-2\"");
    assert_eq!(second.len(), 3, "{lines:#?}");
    assert!(second.iter().all(|l| l.contains("cold_start=false")));
}

#[tokio::test(flavor = "current_thread")]
async fn provisioned_concurrency_is_no_cold_start() {
    let (captured, _guard) = capture();
    let svc = ServiceBuilder::new()
        .layer(InvocationSpanLayer::new())
        .service_fn(chatty);
    let res = svc
        .oneshot(request("pc-1", "provisioned-concurrency"))
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
    let lines = captured.lines();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l.contains("cold_start=false")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tower_http_trace_layer_and_request_id_use_the_lambda_fields() {
    let (captured, _guard) = capture();
    let svc = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(service_fn(|req: Request<Body>| async move {
            let seen = req.headers()["x-request-id"].clone();
            tracing::info!(?seen, "in the handler");
            Ok::<_, Infallible>(Response::new(String::from("ok")))
        }));
    let res = svc.oneshot(request("req-9", "on-demand")).await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-9");
    res.into_body().collect().await.unwrap();
    let lines = captured.lines();
    let handler = lines
        .iter()
        .find(|l| l.contains("in the handler"))
        .expect("the handler logged");
    assert!(handler.contains("lambda.request"), "{handler}");
    assert!(handler.contains("request_id=\"req-9\""), "{handler}");
    assert!(handler.contains("cold_start=true"), "{handler}");
    // tower-http's own response event lands in our span.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("finished processing request") && l.contains("req-9")),
        "{lines:#?}"
    );
}

#[test]
fn requests_without_a_lambda_context_get_no_request_id() {
    use tower_http::request_id::MakeRequestId;
    assert!(LambdaRequestId
        .make_request_id(&Request::new(Body::empty()))
        .is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_writer_handler_runs_in_the_invocation_span() {
    use lambda_stream::writer::{stream_fn, ResponseWriter};

    let (captured, _guard) = capture();
    let svc = ServiceBuilder::new()
        .layer(InvocationSpanLayer::new())
        .service(stream_fn(|_req, mut out: ResponseWriter| async move {
            out.write("a").await?;
            tracing::info!("between writes");
            out.write_and_finish("b").await
        }));
    let res = svc.oneshot(request("w-1", "on-demand")).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ab");
    let lines = captured.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("between writes"))
        .expect("the handler logged");
    assert!(line.contains("request_id=\"w-1\""), "{line}");
}
