//! An axum `Router` served by lambda-stream: a streamed text route, an SSE route that sends
//! tokens LLM-style, a buffered JSON route, path and query extraction, shared state, a route
//! for raw invocations (`POST /`) and a 404 fallback.
//!
//! The router is handed to the runtime as it is: `lambda_stream::run(router)`.
//!
//! ```text
//! cargo run --example axum_router
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};

/// What every route shares.
#[derive(Clone, Debug)]
pub struct AppState {
    greeting: Arc<str>,
    hits: Arc<AtomicUsize>,
}

impl AppState {
    /// State with this greeting and no hits yet.
    pub fn new(greeting: &str) -> Self {
        AppState {
            greeting: greeting.into(),
            hits: Arc::default(),
        }
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/stream", get(streamed_text))
        .route("/sse", get(tokens))
        .route("/json", get(buffered_json))
        .route("/items/{id}", get(item))
        // A raw invocation (`Invoke` or `InvokeWithResponseStream` with a payload that is not
        // an HTTP event) reaches the router as `POST /`, the payload as its JSON body.
        .route("/", post(raw_invocation))
        .fallback(not_found)
        .with_state(state)
}

/// The application: the router, with its state.
pub fn app(state: AppState) -> Router {
    router(state)
}

/// A raw invocation's payload: `{"prompt": "..."}`.
#[derive(Deserialize)]
struct Prompt {
    #[serde(default)]
    prompt: String,
}

/// A raw invocation: the prompt's words back, one line each, 200 ms apart.
async fn raw_invocation(Json(payload): Json<Prompt>) -> impl IntoResponse {
    let words: Vec<String> = payload
        .prompt
        .split_whitespace()
        .map(|w| format!("{w}\n"))
        .collect();
    let lines = stream::unfold(words.into_iter(), |mut words| async move {
        let word = words.next()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok::<_, Infallible>(word), words))
    });
    ([("content-type", "text/plain")], Body::from_stream(lines))
}

/// Five lines, 200 ms apart, each sent as it is produced.
async fn streamed_text() -> impl IntoResponse {
    let lines = stream::unfold(1u32, |n| async move {
        if n > 5 {
            return None;
        }
        if n > 1 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some((Ok::<_, Infallible>(format!("line {n}\n")), n + 1))
    });
    ([("content-type", "text/plain")], Body::from_stream(lines))
}

/// Server-sent events, one token at a time, then `[DONE]`.
async fn tokens() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    const TOKENS: [&str; 4] = ["Hello", ",", " streaming", " world"];
    let events = stream::unfold(0usize, |i| async move {
        if i > TOKENS.len() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let data = TOKENS.get(i).copied().unwrap_or("[DONE]");
        Some((Ok(Event::default().event("token").data(data)), i + 1))
    });
    Sse::new(events)
}

#[derive(Serialize)]
struct Summary {
    greeting: String,
    hits: usize,
    request_id: String,
}

/// A buffered JSON answer from the state and the Lambda context.
async fn buffered_json(
    State(state): State<AppState>,
    Extension(ctx): Extension<lambda_stream::Context>,
) -> Json<Summary> {
    let hits = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    Json(Summary {
        greeting: state.greeting.to_string(),
        hits,
        request_id: ctx.request_id,
    })
}

#[derive(Deserialize)]
struct ItemQuery {
    verbose: Option<bool>,
}

/// Path and query extraction.
async fn item(Path(id): Path<u32>, Query(query): Query<ItemQuery>) -> Response {
    if query.verbose.unwrap_or(false) {
        Json(serde_json::json!({ "id": id, "name": format!("item {id}") })).into_response()
    } else {
        format!("item {id}").into_response()
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "no such route")
}

#[tokio::main]
async fn main() -> Result<(), lambda_stream::BoxError> {
    tracing_subscriber::fmt().with_ansi(false).init();
    lambda_stream::run(app(AppState::new("hello from axum"))).await?;
    Ok(())
}
