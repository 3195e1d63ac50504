//! The trace hooks through the runtime with the test kit: our own layer, and tower-http's
//! `TraceLayer` and request id layers with our `MakeInvocationSpan` and `LambdaRequestId`.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{stream, StreamExt as _};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::StreamBody;
use lambda_stream::testing::TestClient;
use lambda_stream::{Body, Config};
use lambda_stream_middleware::trace::{LambdaRequestId, MakeInvocationSpan, Trace, TraceLayer};
use lambda_stream_test_support::logs::Logs;
use tower::{service_fn, Layer, ServiceBuilder};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

/// The lines of `logs` that carry our span for this request id.
fn of(logs: &Logs, request_id: &str) -> Vec<String> {
    let ours = format!("lambda.request{{request_id=\"{request_id}\"");
    logs.lines()
        .into_iter()
        .filter(|l| l.contains(&ours))
        .collect()
}

/// What the layers log at `DEBUG` and above, on this thread: the test kit runs the function on
/// tasks of the test's current-thread runtime.
fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    Logs::capture_at(tracing::Level::DEBUG)
}

fn client<S>(init_type: &str, service: S) -> TestClient
where
    S: lambda_stream::LambdaService + Send + 'static,
    S::Future: Send,
{
    let mut config = Config::default();
    config.function_name = "stream".into();
    config.function_version = "$LATEST".into();
    config.initialization_type = init_type.into();
    TestClient::builder().config(config).build(service)
}

async fn get(client: &TestClient, request_id: &str) -> lambda_stream::testing::TestResponse {
    let req = Request::get("/items?x=1").body(Body::empty()).unwrap();
    let res = client
        .invocation()
        .request_id(request_id)
        .request(req)
        .await
        .unwrap();
    assert!(res.error().is_none(), "{:?}", res.error());
    res
}

type Chatty =
    StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// A handler that logs in its future and while its body streams.
async fn chatty(_req: Request<Body>) -> Result<Response<Chatty>, Infallible> {
    tracing::info!("in the handler");
    let s = stream::iter(0..2).map(|n| {
        tracing::info!(n, "in the body");
        Ok(Frame::data(Bytes::from(n.to_string())))
    });
    Ok(Response::new(StreamBody::new(s.boxed())))
}

#[tokio::test]
async fn our_layer_puts_the_handler_and_the_body_in_the_invocation_span() {
    let (captured, _guard) = capture();
    let client = client(
        "on-demand",
        ServiceBuilder::new()
            .layer(TraceLayer::new())
            .service_fn(chatty),
    );
    for id in ["req-1", "req-2"] {
        assert_eq!(get(&client, id).await.text(), "01");
    }
    let first = of(&captured, "req-1");
    assert_eq!(first.len(), 3, "{:#?}", captured.lines());
    assert!(first.iter().any(|l| l.contains("in the handler")));
    assert_eq!(
        first.iter().filter(|l| l.contains("in the body")).count(),
        2
    );
    for line in &first {
        assert!(line.contains("cold_start=true"), "{line}");
        assert!(line.contains("xray_trace_id=\"Root=1-"), "{line}");
        assert!(line.contains("function_name=\"stream\""), "{line}");
        assert!(line.contains("function_version=\"$LATEST\""), "{line}");
        assert!(line.contains("method=GET"), "{line}");
        assert!(line.contains("path=\"/items\""), "{line}");
    }
    let second = of(&captured, "req-2");
    assert_eq!(second.len(), 3, "{:#?}", captured.lines());
    assert!(second.iter().all(|l| l.contains("cold_start=false")));
}

#[tokio::test]
async fn provisioned_concurrency_is_no_cold_start() {
    let (captured, _guard) = capture();
    let make_span = MakeInvocationSpan::new().level(tracing::Level::DEBUG);
    let client = client(
        "provisioned-concurrency",
        Trace::new(service_fn(chatty), make_span.clone()),
    );
    get(&client, "pc-1").await;
    let lines = of(&captured, "pc-1");
    assert_eq!(lines.len(), 3, "{:#?}", captured.lines());
    assert!(
        lines.iter().all(|l| l.contains("cold_start=false")),
        "{lines:#?}"
    );
    assert!(make_span.cold_start_seen(), "clones share the flag");
}

#[tokio::test]
async fn make_span_with_sets_the_level() {
    let (captured, _guard) = capture();
    let layer =
        TraceLayer::new().make_span_with(MakeInvocationSpan::new().level(tracing::Level::TRACE));
    let client = client("on-demand", layer.layer(service_fn(chatty)));
    get(&client, "quiet-1").await;
    // The subscriber records DEBUG and above: a TRACE span is not there.
    let lines = captured.lines();
    assert!(
        lines.iter().any(|l| l.contains("in the handler")),
        "{lines:#?}"
    );
    assert!(of(&captured, "quiet-1").is_empty(), "{lines:#?}");
}

#[tokio::test]
async fn tower_http_trace_layer_and_request_id_use_the_lambda_fields() {
    let (captured, _guard) = capture();
    let service = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(service_fn(|req: Request<Body>| async move {
            let seen = req.headers()["x-request-id"].clone();
            tracing::info!(?seen, "in the handler");
            Ok::<_, Infallible>(Response::new(String::from("ok")))
        }));
    let res = get(&client("on-demand", service), "req-9").await;
    assert_eq!(res.header("x-request-id"), Some("req-9"));
    let lines = of(&captured, "req-9");
    let handler = lines
        .iter()
        .find(|l| l.contains("in the handler"))
        .expect("the handler logged in our span");
    assert!(handler.contains("seen=\"req-9\""), "{handler}");
    assert!(handler.contains("cold_start=true"), "{handler}");
    // tower-http's own response event lands in our span.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("finished processing request")),
        "{lines:#?}"
    );
}

/// The same hooks in tower-http 0.6's layers (feature `tower-http-06`).
#[tokio::test]
async fn tower_http_06_trace_layer_and_request_id_use_the_lambda_fields() {
    use tower_http_06::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http_06::trace::TraceLayer;

    let (captured, _guard) = capture();
    let service = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .service(service_fn(|_req: Request<Body>| async move {
            tracing::info!("in the 0.6 handler");
            Ok::<_, Infallible>(Response::new(String::from("ok")))
        }));
    let res = get(&client("on-demand", service), "req-06").await;
    assert_eq!(res.header("x-request-id"), Some("req-06"));
    let lines = of(&captured, "req-06");
    assert!(
        lines.iter().any(|l| l.contains("in the 0.6 handler")),
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

#[tokio::test]
async fn a_writer_handler_runs_in_the_invocation_span() {
    use lambda_stream::writer::{stream_fn, ResponseWriter};

    let (captured, _guard) = capture();
    let service = ServiceBuilder::new()
        .layer(TraceLayer::new())
        .service(stream_fn(|_req, mut out: ResponseWriter| async move {
            out.write("a").await?;
            tracing::info!("between writes");
            out.write_and_finish("b").await
        }));
    let res = get(&client("on-demand", service), "w-1").await;
    assert_eq!(res.text(), "ab");
    let lines = of(&captured, "w-1");
    assert!(
        lines.iter().any(|l| l.contains("between writes")),
        "{:#?}",
        captured.lines()
    );
}

#[allow(deprecated)]
#[test]
fn the_former_names_still_build() {
    use lambda_stream_middleware::trace::{InvocationSpan, InvocationSpanLayer};
    let layer: InvocationSpanLayer = InvocationSpanLayer::with(MakeInvocationSpan::new());
    let svc: InvocationSpan<_> = layer.layer(service_fn(chatty));
    let _ = svc.into_inner();
}
