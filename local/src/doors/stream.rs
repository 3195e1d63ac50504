//! The streaming doors: a function URL and `POST /invoke`, streamed back to the caller as the
//! runtime sends the response, within Lambda's limits on its size and pace.

use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::TRAILER;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::channel::{Channel, Sender};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::buffered::buffered_function_url;
use super::respond::{
    accepts_trailers, error_trailers, header_value, json, log_failure, text, too_large_response,
    Refused,
};
use super::{Admitted, Door, Made, State};
use crate::emulator::{event, prelude, ReadReplies as _, Replies};
use crate::error::{BoxError, ErrorReport};
use crate::guard::RefusalStyle;
use crate::http1::Body;
use crate::inspector::Recording;
use crate::options::Bandwidth;
use lambda_stream_protocol::{MAX_PAYLOAD, TRAILER_DECLARATION};

/// The largest streamed response Lambda sends: 200 MB.
const MAX_STREAMED: u64 = 200 * 1024 * 1024;
/// How much of a streamed response Lambda sends at full speed before pacing it.
const BURST: u64 = 6 * 1024 * 1024;
/// The rate Lambda streams at after the burst: 2 MB/s.
const PACED_BYTES_PER_SEC: f64 = 2.0 * 1024.0 * 1024.0;

/// A function URL: the request becomes a payload 2.0 event; the response streams back with
/// the prelude's status, headers and cookies.
pub(super) async fn function_url(
    state: &State,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let trailers = accepts_trailers(req.headers());
    let door = Door {
        name: "function url",
        style: RefusalStyle::FunctionUrl,
    };
    let admitted = state.admit(req, door, |req| {
        let now = SystemTime::now();
        let event = event::function_url(req.parts, &req.body, peer, req.id, now, req.authorizer);
        if event.len() > MAX_PAYLOAD {
            return Err(Refused::TooLarge);
        }
        Ok(Made::event(event))
    });
    let Admitted {
        parts,
        id,
        permit,
        rec,
        replies,
    } = admitted.await?;
    tracing::info!(
        request_id = %id,
        method = %parts.method,
        uri = %parts.uri,
        "function url invocation"
    );
    let mut replies = replies;
    // A function URL in `BUFFERED` mode, or a runtime that answered buffered.
    if state.buffered || !replies.streamed().await {
        return Ok(buffered_function_url(replies, &id, rec).await);
    }
    let flow = Flow::new(state, permit, rec);
    Ok(stream_back(replies, &id, trailers, flow, |_| {
        text(StatusCode::BAD_GATEWAY, "Internal Server Error")
    })
    .await)
}

/// `POST /invoke`: the body is the event, as is.
pub(super) async fn invoke_raw(
    state: &State,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let trailers = accepts_trailers(req.headers());
    let door = Door {
        name: "invoke",
        style: RefusalStyle::Api,
    };
    let admitted = state.admit(req, door, |req| Ok(Made::event(req.body)));
    let Admitted {
        id,
        permit,
        rec,
        replies,
        ..
    } = admitted.await?;
    tracing::info!(request_id = %id, "raw invocation");
    let flow = Flow::new(state, permit, rec);
    Ok(stream_back(replies, &id, trailers, flow, |failure| {
        let mut res = json(StatusCode::BAD_GATEWAY, failure.to_json().into());
        res.headers_mut().insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
        res
    })
    .await)
}

/// What goes with a streamed response to its end: its concurrency slot, its recording, and
/// Lambda's limits on its size and pace.
struct Flow {
    _permit: OwnedSemaphorePermit,
    rec: Recording,
    pace: bool,
    sent: u64,
    /// When the response passed the burst, with pacing on.
    paced_from: Option<tokio::time::Instant>,
}

impl Flow {
    fn new(state: &State, permit: OwnedSemaphorePermit, rec: Recording) -> Self {
        Flow {
            _permit: permit,
            rec,
            pace: state.options.bandwidth == Bandwidth::Lambda,
            sent: 0,
            paced_from: None,
        }
    }

    /// `data`, trimmed to what fits in Lambda's 200 MB; waits first when paced. `Err` once
    /// the response is over the limit (after the part that fits is returned once).
    async fn pace(&mut self, mut data: Bytes) -> Result<Bytes, ErrorReport> {
        let room = MAX_STREAMED - self.sent;
        if room == 0 {
            return Err(too_large_response(MAX_STREAMED));
        }
        if data.len() as u64 > room {
            data.truncate(room as usize);
        }
        if self.pace && self.sent + data.len() as u64 > BURST {
            let from = *self
                .paced_from
                .get_or_insert_with(tokio::time::Instant::now);
            let beyond = (self.sent + data.len() as u64).saturating_sub(BURST);
            let due = std::time::Duration::from_secs_f64(beyond as f64 / PACED_BYTES_PER_SEC);
            tokio::time::sleep_until(from + due).await;
        }
        self.sent += data.len() as u64;
        self.rec.chunk(&data);
        Ok(data)
    }
}

/// Waits for the response to start, then streams it to the caller as it arrives.
async fn stream_back(
    mut replies: Replies,
    id: &str,
    trailers: bool,
    mut flow: Flow,
    failed: impl FnOnce(&ErrorReport) -> Response<Body>,
) -> Response<Body> {
    let opened = match prelude::open_prelude(&mut replies).await {
        Ok(opened) => opened,
        Err(unopened) => {
            let failure = unopened.failure;
            flow.rec.failed(&failure);
            let res = failed(&failure);
            log_failure(
                id,
                &failure,
                &format!(
                    "the invocation failed before its response started; answering {}",
                    res.status()
                ),
            );
            flow.rec.answered(res.status());
            return res;
        }
    };
    flow.rec.head(opened.status, &opened.headers);
    flow.rec.raw_status(replies.raw_status());
    // One frame in flight: the runtime's stream waits for the caller, nothing piles up here.
    let (tx, body) = Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(pump(
        opened.first,
        replies,
        tx,
        id.to_owned(),
        trailers,
        flow,
    ));
    let mut res = Response::new(body.boxed());
    *res.status_mut() = opened.status;
    *res.headers_mut() = opened.headers;
    res.headers_mut()
        .insert("x-amzn-requestid", header_value(id));
    if trailers {
        // hyper sends only the trailers declared up front.
        res.headers_mut().insert(TRAILER, TRAILER_DECLARATION);
    }
    res
}

/// Moves the response's chunks to the caller; ends it with error trailers (or an abort) when
/// it failed, cleanly only when it completed.
async fn pump(
    first: Bytes,
    mut replies: Replies,
    mut tx: Sender<Bytes, BoxError>,
    id: String,
    trailers: bool,
    mut flow: Flow,
) {
    let mut first = Some(first).filter(|first| !first.is_empty());
    let failure = loop {
        let chunk = match first.take() {
            Some(first) => Ok(Some(first)),
            None => replies.chunk().await,
        };
        let data = match chunk {
            Ok(Some(data)) => data,
            Ok(None) => {
                flow.rec.finish();
                return;
            }
            Err(failure) => break failure,
        };
        let data = match flow.pace(data).await {
            Ok(data) => data,
            Err(failure) => break failure,
        };
        if tx.send_data(data).await.is_err() {
            tracing::info!(request_id = %id, "the caller disconnected mid-stream");
            // The invocation goes on (as on Lambda) and keeps its slot until it ends.
            replies.drain().await;
            flow.rec.finish();
            return;
        }
    };
    flow.rec.failed(&failure);
    flow.rec.finish();
    if trailers {
        log_failure(
            &id,
            &failure,
            "the response failed midway; ending it with error trailers",
        );
        let _ = tx.send_trailers(error_trailers(&failure)).await;
    } else {
        log_failure(
            &id,
            &failure,
            "the response failed midway; aborting the connection \
             (send `TE: trailers` to get error trailers instead)",
        );
        tx.abort(Box::new(failure));
    }
    replies.drain().await;
}
