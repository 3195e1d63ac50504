//! The front doors: the public HTTP/1.1 server callers use; see the crate docs.
//!
//! - this file: what the doors share ([`State`]), the routes, and the inspector's pages;
//! - `stream`: the streaming doors (the function URL, `POST /invoke`) and Lambda's limits on
//!   a streamed response;
//! - `buffered`: a function URL of a function that answers buffered;
//! - `invoke`: the Lambda API's `Invoke` and `InvokeWithResponseStream`;
//! - `respond`: reading the request, refusals, and the small responses every door makes.

mod buffered;
mod invoke;
mod respond;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use self::respond::{full, header_value, json, read_payload, text, Refused};
use crate::emulator::{new_request_id, Invocation, Replies};
use crate::error::BoxError;
use crate::function::{FunctionConfig, InvokeMode};
use crate::guard::{Guard, RefusalStyle};
use crate::http1::{self, Body};
use crate::inspector::{self, Inspector, Recording};
use crate::options::Options;

const STREAMING_INVOKE: &str = "/response-streaming-invocations";
const INVOKE: &str = "/invocations";
/// Where the inspector lives: a path no function URL route is expected to use.
pub(crate) const INSPECTOR: &str = "/_lambda/";

/// What the front doors share: the queue to the runtime, the options, the concurrency
/// permits and the inspector.
pub(crate) struct State {
    queue: mpsc::UnboundedSender<Invocation>,
    options: Options,
    permits: Arc<Semaphore>,
    inspector: Arc<Inspector>,
    buffered: bool,
    /// `X-Amz-Executed-Version`: the function's version.
    version: HeaderValue,
    guard: Guard,
}

impl State {
    pub(crate) fn new(
        queue: mpsc::UnboundedSender<Invocation>,
        options: Options,
        function: &FunctionConfig,
        guard: Guard,
    ) -> Arc<Self> {
        Arc::new(State {
            queue,
            permits: Arc::new(Semaphore::new(options.concurrency.get())),
            options,
            inspector: Inspector::new(),
            buffered: function.invoke_mode == InvokeMode::Buffered,
            version: header_value(&function.version),
            guard,
        })
    }

    /// A slot for one more invocation, or `429` when all are taken.
    fn permit(&self) -> Result<OwnedSemaphorePermit, Refused> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Throttled)
    }

    /// The one step every request to the function passes, whichever door it came by: reads
    /// its payload (`413` past 6 MB), authorizes it (under `AWS_IAM`, refused in `door`'s
    /// style), assigns its request id, lets the door `make` the invocation of it (or answer
    /// without invoking), takes its concurrency slot (`429` when all are taken), starts its
    /// recording, and queues it.
    async fn admit(
        &self,
        req: Request<Incoming>,
        door: Door,
        make: impl FnOnce(Authorized<'_>) -> Result<Made, Refused>,
    ) -> Result<Admitted, Refused> {
        let (parts, body) = req.into_parts();
        let body = read_payload(&parts.headers, body).await?;
        let authorizer = self.guard.authorize(&parts, &body, door.style)?;
        let id = new_request_id();
        let authorized = Authorized {
            parts: &parts,
            body,
            id: &id,
            authorizer,
        };
        let made = make(authorized)?;
        let permit = self.permit()?;
        let (method, path) = (parts.method.as_str(), parts.uri.path());
        let rec = self.inspector.record(door.name, method, path, &id);
        let (invocation, replies) = Invocation::new(id.clone(), made.payload, made.client_context);
        match self.queue.send(invocation) {
            Ok(()) => Ok(Admitted {
                parts,
                id,
                permit,
                rec,
                replies,
            }),
            Err(_) => Err(Refused::Stopped),
        }
    }
}

/// A door to the function: its name (in the inspector) and the style of its refusals.
#[derive(Clone, Copy, Debug)]
struct Door {
    name: &'static str,
    style: RefusalStyle,
}

/// A request that passed the guard, with its request id: what a door makes an invocation of.
struct Authorized<'a> {
    parts: &'a Parts,
    body: Bytes,
    id: &'a str,
    /// `requestContext.authorizer` of a request signed under `AWS_IAM`.
    authorizer: Option<serde_json::Value>,
}

/// The invocation a door made of a request: the event, and the caller's client context.
struct Made {
    payload: Bytes,
    client_context: Option<String>,
}

impl Made {
    fn event(payload: Bytes) -> Made {
        Made {
            payload,
            client_context: None,
        }
    }
}

/// An invocation let in: its request's head, its request id, its concurrency slot, its
/// recording, and its replies.
struct Admitted {
    parts: Parts,
    id: String,
    permit: OwnedSemaphorePermit,
    rec: Recording,
    replies: Replies,
}

/// Accepts callers until the task is aborted; each connection is served on its own task.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>) {
    // A caller that trickles its head (or sends none) is cut off.
    let header_read_timeout = Some(state.options.header_read_timeout);
    let handler: http1::Handler =
        Arc::new(move |req, peer| Box::pin(route(state.clone(), peer, req)));
    http1::serve(listener, "local server", header_read_timeout, handler).await;
}

/// Where a request goes.
#[derive(Clone, Copy, Debug)]
enum Route {
    Inspector,
    /// `POST /invoke`.
    Raw,
    /// `InvokeWithResponseStream`.
    Streaming,
    /// `Invoke`.
    Invoke,
    FunctionUrl,
}

impl Route {
    fn of(method: &Method, path: &str) -> Self {
        let is_post = method == Method::POST;
        if path.starts_with(INSPECTOR) || path == INSPECTOR.trim_end_matches('/') {
            Route::Inspector
        } else if is_post && path == "/invoke" {
            Route::Raw
        } else if is_post && is_function_path(path, "/2021-11-15/functions/", STREAMING_INVOKE) {
            Route::Streaming
        } else if is_post && is_function_path(path, "/2015-03-31/functions/", INVOKE) {
            Route::Invoke
        } else {
            Route::FunctionUrl
        }
    }

    /// The door whose rules the request is checked by.
    fn door(self) -> RefusalStyle {
        match self {
            Route::Inspector => RefusalStyle::Inspector,
            Route::Raw | Route::Streaming | Route::Invoke => RefusalStyle::Api,
            Route::FunctionUrl => RefusalStyle::FunctionUrl,
        }
    }
}

async fn route(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let route = Route::of(req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    if let Err(refused) = state.guard.check_head(&parts, route.door()) {
        return *refused;
    }
    let req = Request::from_parts(parts, body);
    let origin = state.guard.origin_of(req.headers());
    let mut res = match route {
        // Same-origin only: its answers carry no CORS headers.
        Route::Inspector => return inspect(&state, req.uri().path()),
        Route::Raw => stream::invoke_raw(&state, req).await,
        Route::Streaming => invoke::invoke_with_response_stream(&state, req).await,
        Route::Invoke => invoke::invoke(&state, req).await,
        Route::FunctionUrl => stream::function_url(&state, peer, req).await,
    }
    .unwrap_or_else(Refused::into_response);
    state.guard.finish(&origin, res.headers_mut());
    res
}

/// `{prefix}{function name}{suffix}`.
fn is_function_path(path: &str, prefix: &str, suffix: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|p| p.strip_suffix(suffix))
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The inspector's routes: the page, its live feed, and the invocations as JSON.
fn inspect(state: &State, path: &str) -> Response<Body> {
    match path.strip_prefix(INSPECTOR).unwrap_or("") {
        "" => {
            let mut res = Response::new(full(Bytes::from(state.inspector.page())));
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res
        }
        "invocations" => {
            let all = state.inspector.snapshot();
            let list = format!("[{}]", all.join(","));
            json(StatusCode::OK, Bytes::from(list))
        }
        "events" => {
            let (mut tx, body) = Channel::<Bytes, BoxError>::new(16);
            let mut feed = state.inspector.subscribe();
            let kept = state.inspector.snapshot();
            tokio::spawn(async move {
                for json in kept {
                    if tx.send_data(inspector::event(&json)).await.is_err() {
                        return;
                    }
                }
                loop {
                    let json = match feed.recv().await {
                        Ok(json) => json,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    if tx.send_data(inspector::event(&json)).await.is_err() {
                        return;
                    }
                }
            });
            let mut res = Response::new(body.boxed());
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert("cache-control", HeaderValue::from_static("no-cache"));
            res
        }
        _ => text(StatusCode::NOT_FOUND, "no such inspector page\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(is_function_path(
            "/2021-11-15/functions/my-fn/response-streaming-invocations",
            "/2021-11-15/functions/",
            STREAMING_INVOKE
        ));
        assert!(is_function_path(
            "/2015-03-31/functions/arn%3Aaws/invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
        assert!(!is_function_path(
            "/2015-03-31/functions//invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
        assert!(!is_function_path(
            "/2015-03-31/functions/a/b/invocations",
            "/2015-03-31/functions/",
            INVOKE
        ));
    }
}
