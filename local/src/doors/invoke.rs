//! The Lambda API's doors: `Invoke` (the whole payload once the invocation is over) and
//! `InvokeWithResponseStream` (an event stream of the payload's chunks).

use base64::Engine as _;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::channel::Channel;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::buffered::collect;
use super::respond::{empty, full, header_value, json, log_failure, Refused};
use super::{Admitted, Authorized, Door, Made, State};
use crate::emulator::ReadReplies as _;
use crate::error::BoxError;
use crate::eventstream;
use crate::guard::RefusalStyle;
use crate::http1::Body;

/// `InvokeWithResponseStream`: an event stream of `PayloadChunk`s, then `InvokeComplete`.
pub(super) async fn invoke_with_response_stream(
    state: &State,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let door = Door {
        name: "InvokeWithResponseStream",
        style: RefusalStyle::Api,
    };
    let Admitted {
        id,
        permit,
        mut rec,
        mut replies,
        ..
    } = state.admit(req, door, made).await?;
    tracing::info!(request_id = %id, "invoke with response stream");
    let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
    let task_id = id.clone();
    rec.head(StatusCode::OK, &HeaderMap::new());
    tokio::spawn(async move {
        let _permit = permit;
        let id = task_id;
        let failure = loop {
            match replies.chunk().await {
                Ok(Some(data)) => {
                    rec.chunk(&data);
                    let frame = eventstream::payload_chunk(&data);
                    if tx.send_data(frame).await.is_err() {
                        tracing::info!(request_id = %id, "the caller disconnected mid-stream");
                        replies.drain().await;
                        return;
                    }
                }
                Ok(None) => break None,
                Err(f) => {
                    rec.failed(&f);
                    log_failure(
                        &id,
                        &f,
                        "the invocation failed; reporting it in InvokeComplete",
                    );
                    break Some(f);
                }
            }
        };
        rec.raw_status(replies.raw_status());
        let _ = tx
            .send_data(eventstream::invoke_complete(failure.as_ref()))
            .await;
    });
    let mut res = Response::new(body.boxed());
    let h = res.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(eventstream::CONTENT_TYPE),
    );
    h.insert("x-amzn-requestid", header_value(&id));
    h.insert("x-amz-executed-version", state.version.clone());
    Ok(res)
}

/// `Invoke`: the whole payload once the invocation is over.
pub(super) async fn invoke(
    state: &State,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let invocation_type = req
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_owned();
    let door = Door {
        name: "Invoke",
        style: RefusalStyle::Api,
    };
    let admitted = state.admit(req, door, |req| match invocation_type.as_str() {
        // Authorized, and not invoked.
        "DryRun" => Err(Refused::DryRun),
        _ => made(req),
    });
    let Admitted {
        id,
        permit,
        mut rec,
        mut replies,
        ..
    } = admitted.await?;
    tracing::info!(request_id = %id, invocation_type, "invoke");
    if invocation_type == "Event" {
        rec.answered(StatusCode::ACCEPTED);
        // Nobody waits for the result: read it to its end in the background.
        tokio::spawn(async move {
            let _permit = permit;
            replies.drain().await;
            rec.finish();
        });
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let mut content_type = None;
    let (payload, failure) = collect(&mut replies, &mut rec, &mut content_type).await;
    let mut res = match &failure {
        None => {
            let mut res = Response::new(full(payload.freeze()));
            let ct = content_type.unwrap_or(HeaderValue::from_static("application/json"));
            res.headers_mut().insert(CONTENT_TYPE, ct);
            res
        }
        Some(f) => {
            rec.failed(f);
            log_failure(&id, f, "the invocation failed");
            let mut res = json(StatusCode::OK, f.to_json().into());
            res.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            res
        }
    };
    rec.head(res.status(), res.headers());
    rec.raw_status(replies.raw_status());
    rec.finish();
    drop(permit);
    let h = res.headers_mut();
    h.insert("x-amzn-requestid", header_value(&id));
    h.insert("x-amz-executed-version", state.version.clone());
    Ok(res)
}

/// The invocation of a Lambda API request: its payload as the event, and its client context.
fn made(req: Authorized<'_>) -> Result<Made, Refused> {
    Ok(Made {
        client_context: client_context(&req.parts.headers),
        payload: req.body,
    })
}

/// `X-Amz-Client-Context` (base64 JSON) → the JSON the Runtime API hands on.
fn client_context(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-amz-client-context")?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .ok()?;
    String::from_utf8(json).ok()
}
