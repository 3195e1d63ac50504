//! llm-app: an LLM-style function, as a user writes one with axum and tower-http.
//!
//! - `GET /`: a page that streams a completion into itself.
//! - `POST /`: a raw invocation (`Invoke` / `InvokeWithResponseStream` with a JSON payload such
//!   as `{"prompt":"hi"}` arrives as `POST /`, the payload as the body): the completion,
//!   streamed as text.
//! - `GET /stream?n=5&gap_ms=300`: `n` lines `gap_ms` apart, each stamped with the time it was
//!   produced (milliseconds since the Unix epoch), so a caller can tell it arrived before the
//!   next one existed.
//! - `GET /sse?n=8&gap_ms=200`: server-sent events, one token each, then `[DONE]`.
//! - `POST /chat`: JSON in (`{"prompt":"..."}`), JSON out.
//! - `GET /fail`: two lines, then the model backend goes away: the stream ends failed
//!   (error trailers for a caller that sent `TE: trailers`, a cut stream otherwise).
//!
//! Around it, the stack a production function carries: request ids from the Lambda request
//! id, tower-http's `TraceLayer` with lambda-stream's span, CORS, lambda-stream's deadline
//! layer (a stream still going 500 ms before Lambda's deadline ends with a `Function.Timeout`
//! error), compression (gzip, br) and tower-http's timeout. `APP_LAYERS=router` (the
//! default) applies it the axum way, `Router::layer`; `APP_LAYERS=service-builder` around the
//! router, with `tower::ServiceBuilder`.
//!
//! ```text
//! cargo run                                  # http://127.0.0.1:7000/
//! curl -N --compressed 'http://127.0.0.1:7000/stream?n=5'
//! cargo build --release && lambda-stream local -- target/release/llm-app
//! ```

use std::convert::Infallible;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Extension, Query};
use axum::http::{header, Method, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use lambda_stream::StreamBody;
use lambda_stream_middleware::deadline::DeadlineLayer;
use lambda_stream_middleware::trace::{LambdaRequestId, MakeInvocationSpan};
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How long before Lambda's deadline the deadline layer ends a response still streaming.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// tower-http's timeout: the longest a handler may take to start its response.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// How many pieces, how far apart.
#[derive(Debug, Deserialize)]
struct Shape {
    n: Option<u32>,
    gap_ms: Option<u64>,
}

impl Shape {
    fn get(&self, n: u32, gap_ms: u64) -> (u32, Duration) {
        let n = self.n.unwrap_or(n).min(10_000);
        let gap = Duration::from_millis(self.gap_ms.unwrap_or(gap_ms).min(60_000));
        (n, gap)
    }
}

/// `n` lines `gap` apart, the first at once: `token {i} at {ms}`; with `fail_at`, an error
/// in place of that line.
fn tokens(
    n: u32,
    gap: Duration,
    fail_at: Option<u32>,
) -> impl Stream<Item = Result<String, io::Error>> + Send {
    stream::unfold(0u32, move |i| async move {
        if i >= n {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        if fail_at == Some(i) {
            let err = io::Error::other("the model backend went away");
            return Some((Err(err), n));
        }
        Some((Ok(format!("token {i} at {}\n", now_ms())), i + 1))
    })
}

/// A streamed text response of `lines`. `lambda_stream::StreamBody` stays ended once the
/// stream ended: the compression layer polls the body again after its end.
fn text(
    lines: impl Stream<Item = Result<String, io::Error>> + Send + 'static,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::new(StreamBody::new(lines)),
    )
}

async fn stream_text(Query(shape): Query<Shape>) -> impl IntoResponse {
    let (n, gap) = shape.get(5, 300);
    text(tokens(n, gap, None))
}

async fn fail_midway() -> impl IntoResponse {
    text(tokens(5, Duration::from_millis(300), Some(2)))
}

#[derive(Debug, Deserialize)]
struct Prompt {
    prompt: String,
}

/// A raw invocation: the payload, as `POST /`'s body. A JSON object with a `prompt` gets
/// its completion streamed; anything else a 400 that says what was expected.
async fn raw_invocation(body: axum::body::Bytes) -> axum::response::Response {
    match serde_json::from_slice::<Prompt>(&body) {
        Ok(prompt) => {
            let words = prompt.prompt.split_whitespace().count() as u32;
            text(tokens(3 + words.min(20), Duration::from_millis(300), None)).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("expected a JSON payload {{\"prompt\": \"...\"}}: {e}\n"),
        )
            .into_response(),
    }
}

async fn sse_tokens(
    Query(shape): Query<Shape>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    const WORDS: [&str; 6] = ["Streaming", " from", " Lambda", ",", " token", " by token"];
    let (n, gap) = shape.get(8, 200);
    let events = stream::unfold(0u32, move |i| async move {
        if i > n {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        let event = if i == n {
            Event::default().data("[DONE]")
        } else {
            let token = WORDS[i as usize % WORDS.len()];
            let data = serde_json::json!({ "i": i, "token": token, "t": now_ms() as u64 });
            Event::default().event("token").data(data.to_string())
        };
        Some((Ok(event), i + 1))
    });
    // Fused, as every stream a layer may poll after its end.
    Sse::new(events.fuse())
}

#[derive(Debug, Serialize)]
struct Reply {
    reply: String,
    tokens: usize,
    request_id: String,
}

async fn chat(
    Extension(ctx): Extension<lambda_stream::Context>,
    Json(prompt): Json<Prompt>,
) -> Json<Reply> {
    let reply = format!("You said: {}", prompt.prompt);
    Json(Reply {
        tokens: reply.split_whitespace().count(),
        reply,
        request_id: ctx.request_id,
    })
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>llm-app</title></head>
<body>
<form id="ask"><input id="prompt" value="Tell me a story"> <button>Ask</button></form>
<pre id="out"></pre>
<script>
document.getElementById("ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("out");
  out.textContent = "";
  const res = await fetch("/stream?n=8");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out.textContent += value;
  }
});
</script>
</body></html>
"#;

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The routes, without layers.
fn routes() -> Router {
    Router::new()
        .route("/", get(page).post(raw_invocation))
        .route("/stream", get(stream_text))
        .route("/sse", get(sse_tokens))
        .route("/chat", post(chat))
        .route("/fail", get(fail_midway))
}

/// The stack, outermost first: the same layers whichever way they are applied.
macro_rules! stack {
    () => {
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(LambdaRequestId))
            .layer(TraceLayer::new_for_http().make_span_with(MakeInvocationSpan::new()))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                CorsLayer::new()
                    .allow_origin(Any)
                    .allow_methods([Method::GET, Method::POST])
                    .allow_headers([header::CONTENT_TYPE]),
            )
            .layer(DeadlineLayer::new(DEADLINE_MARGIN))
            // Next to the handlers' bodies: it polls a body again after its end.
            .layer(CompressionLayer::new())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::GATEWAY_TIMEOUT,
                START_TIMEOUT,
            ))
    };
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::Error> {
    lambda_stream::logging::init_default_subscriber();
    match std::env::var("APP_LAYERS").as_deref() {
        Err(_) | Ok("" | "router") => lambda_stream::run(routes().layer(stack!())).await,
        Ok("service-builder") => lambda_stream::run(stack!().service(routes())).await,
        Ok(other) => {
            eprintln!("APP_LAYERS={other:?}: expected `router` or `service-builder`");
            std::process::exit(2)
        }
    }
}
