//! The doors of the other front ends ([`Source`]): an API Gateway REST API (streamed or
//! buffered), an HTTP API and an Application Load Balancer. Each builds its front end's event
//! of the caller's request and answers as that front end does; see the crate docs' [front
//! ends](crate#front-ends).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;

use super::buffered::{buffered_response, collect};
use super::respond::{full, header_value, log_failure, too_large_response, Refused};
use super::stream::{stream_back, Flow};
use super::{Admitted, Door, Made, State};
use crate::emulator::fronts::{self, Caller};
use crate::emulator::rest_route;
use crate::emulator::{ReadReplies as _, Replies};
use crate::error::ErrorReport;
use crate::guard::RefusalStyle;
use crate::http1::Body;
use crate::inspector::Recording;
use crate::options::{Source, TransferMode};
use lambda_stream_protocol::{HTTP_INTEGRATION_CONTENT_TYPE, MAX_PAYLOAD};

/// A REST API's default integration timeout.
const REST_TIMEOUT: Duration = Duration::from_secs(29);
/// An HTTP API's integration timeout (its maximum, and its default).
const HTTP_API_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response JSON a Lambda target may send an ALB.
const ALB_MAX_RESPONSE: usize = 1024 * 1024;
/// What an ALB answers when its Lambda target fails.
const ALB_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                       <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";

/// The door for the function's callers under [`Source::RestApi`], [`Source::HttpApi`] and
/// [`Source::Alb`].
pub(super) async fn front_door(
    state: &State,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let rest = &state.options.rest_api;
    let route = match state.options.source {
        Source::RestApi => {
            let path = req.uri().path();
            match rest_route::route(path, &rest.stage, state.resource.as_ref()) {
                Ok(route) => Some(route),
                Err(message) => {
                    tracing::warn!(
                        path,
                        "no resource of the rest api for this path: it serves /{stage}/{resource} \
                         (LOCAL_LAMBDA_STAGE, LOCAL_LAMBDA_RESOURCE); answering 403 {message:?}",
                        stage = rest.stage,
                        resource = state.resource_text(),
                    );
                    return Ok(gateway_message(StatusCode::FORBIDDEN, message));
                }
            }
        }
        _ => None,
    };
    let name = match (&route, state.options.source) {
        (Some(_), _) => "rest api",
        (None, Source::Alb) => "alb",
        (None, _) => "http api",
    };
    let door = Door {
        name,
        style: RefusalStyle::FunctionUrl,
    };
    let admitted = state.admit(req, door, |req| {
        let caller = Caller {
            parts: req.parts,
            body: &req.body,
            peer,
            request_id: req.id,
            now: SystemTime::now(),
        };
        let event = match (&route, state.options.source) {
            (Some(route), _) => fronts::rest_event(&caller, &state.place, &rest.stage, route),
            (None, Source::Alb) => {
                let multi = state.options.alb.multi_value_headers;
                fronts::alb_event(&caller, &state.place, multi)
            }
            (None, _) => fronts::http_api_event(&caller, &state.place),
        };
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
        mut replies,
    } = admitted.await?;
    tracing::info!(request_id = %id, method = %parts.method, uri = %parts.uri, "{name} invocation");
    let front = match state.options.source {
        Source::RestApi if rest.transfer_mode == TransferMode::Stream => {
            // A function that answered buffered is read whole.
            if !replies.streamed().await {
                return Ok(buffered(Front::Rest, None, replies, &id, rec, permit).await);
            }
            // The slot is the environment's: free once the runtime is done, even if the
            // caller stopped reading.
            replies.hold(permit);
            let flow = Flow::rest_api(state, rec);
            // API Gateway ends a failed stream by cutting it: no error trailers.
            return Ok(stream_back(replies, &id, false, flow, rest_failure).await);
        }
        Source::RestApi => Front::Rest,
        Source::Alb => Front::Alb {
            multi_value: state.options.alb.multi_value_headers,
        },
        _ => Front::HttpApi,
    };
    let timeout = match front {
        Front::Rest => Some(REST_TIMEOUT),
        Front::HttpApi => Some(HTTP_API_TIMEOUT),
        // An ALB waits for its Lambda target as long as the function runs.
        Front::Alb { .. } => None,
    };
    Ok(buffered(front, timeout, replies, &id, rec, permit).await)
}

/// A front end that reads the function's answer whole.
#[derive(Clone, Copy, Debug)]
enum Front {
    Rest,
    HttpApi,
    Alb { multi_value: bool },
}

/// How a buffered answer went.
enum Answer {
    Whole(Bytes, Option<HeaderValue>),
    Failed(ErrorReport),
    TimedOut,
}

/// Reads the whole answer (within `timeout`, the integration's) and answers as `front` does.
async fn buffered(
    front: Front,
    timeout: Option<Duration>,
    mut replies: Replies,
    id: &str,
    mut rec: Recording,
    permit: OwnedSemaphorePermit,
) -> Response<Body> {
    let mut content_type = None;
    let reading = collect(&mut replies, &mut rec, &mut content_type);
    let answer = match timeout {
        Some(limit) => match tokio::time::timeout(limit, reading).await {
            Ok((payload, None)) => Answer::Whole(payload.freeze(), content_type),
            Ok((_, Some(f))) => Answer::Failed(f),
            Err(_) => Answer::TimedOut,
        },
        None => match reading.await {
            (payload, None) => Answer::Whole(payload.freeze(), content_type),
            (_, Some(f)) => Answer::Failed(f),
        },
    };
    let mut res = match answer {
        Answer::Whole(payload, content_type) => {
            let streamed = content_type.as_ref() == Some(&HTTP_INTEGRATION_CONTENT_TYPE);
            match answer_of(front, &payload, streamed) {
                Ok(res) => res,
                Err(why) => {
                    let f = ErrorReport::new("Runtime.InvalidResponse", why);
                    log_failure(
                        id,
                        &f,
                        "the function's answer is not what the front end reads",
                    );
                    rec.failed(&f);
                    failure(front)
                }
            }
        }
        Answer::Failed(f) => {
            let res = failure(front);
            log_failure(
                id,
                &f,
                &format!("the invocation failed; answering {}", res.status()),
            );
            rec.failed(&f);
            res
        }
        Answer::TimedOut => {
            let limit = timeout.unwrap_or_default().as_secs();
            let f = ErrorReport::new(
                "Integration.Timeout",
                format!("no answer within the integration's {limit} s; the invocation goes on"),
            );
            let res = match front {
                Front::Rest => {
                    gateway_message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
                }
                _ => gateway_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            };
            log_failure(id, &f, &format!("answering {}", res.status()));
            rec.failed(&f);
            rec.head(res.status(), res.headers());
            rec.finish();
            // As on AWS, the function runs on; its slot is free once it ends.
            tokio::spawn(async move {
                let _permit = permit;
                replies.drain().await;
            });
            return with_request_id(front, res, id);
        }
    };
    rec.head(res.status(), res.headers());
    rec.finish();
    drop(permit);
    res = with_request_id(front, res, id);
    res
}

fn with_request_id(front: Front, mut res: Response<Body>, id: &str) -> Response<Body> {
    if !matches!(front, Front::Alb { .. }) {
        res.headers_mut()
            .insert("x-amzn-requestid", header_value(id));
    }
    res
}

/// What `front` makes of the function's whole answer `payload` (`streamed` when it came with
/// a prelude: its raw bytes, as `Invoke` returns them), or why it cannot.
fn answer_of(front: Front, payload: &[u8], streamed: bool) -> Result<Response<Body>, String> {
    let hint = if streamed {
        " (the function streamed its answer, with a prelude: this front end reads one JSON \
         answer; answer buffered, e.g. LAMBDA_STREAM_RESPONSE_MODE=buffered)"
    } else {
        ""
    };
    if let Front::Alb { .. } = front {
        if payload.len() > ALB_MAX_RESPONSE {
            return Err(format!(
                "{}: an ALB takes at most 1 MB",
                too_large_response(ALB_MAX_RESPONSE as u64)
            ));
        }
    }
    let object = serde_json::from_slice::<Value>(payload);
    match (front, object) {
        // Payload 2.0: a response object, or any JSON as the body of a 200.
        (Front::HttpApi, Ok(_)) => Ok(buffered_response(payload)),
        (_, Ok(v)) if v.get("statusCode").is_some_and(Value::is_number) => {
            response_object(&v, front).ok_or_else(|| format!("malformed response object{hint}"))
        }
        (_, Ok(_)) => Err(format!("the answer has no statusCode{hint}")),
        (_, Err(e)) => Err(format!("the answer is not json: {e}{hint}")),
    }
}

/// A payload 1.0 or ALB response object: `statusCode`, `headers` and `multiValueHeaders`
/// (an ALB reads the one its multi-value setting names), `body`, `isBase64Encoded`; an ALB's
/// `statusDescription` is the reason phrase.
fn response_object(object: &Value, front: Front) -> Option<Response<Body>> {
    let status = object["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())?;
    let mut headers = HeaderMap::new();
    let (single, multi) = match front {
        Front::Alb { multi_value: true } => (false, true),
        Front::Alb { multi_value: false } => (true, false),
        _ => (true, true),
    };
    if single {
        for (name, value) in object["headers"].as_object().into_iter().flatten() {
            add(&mut headers, name, value, false);
        }
    }
    if multi {
        for (name, values) in object["multiValueHeaders"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if let Some(values) = values.as_array() {
                headers.remove(name.to_ascii_lowercase().as_str());
                for value in values {
                    add(&mut headers, name, value, true);
                }
            }
        }
    }
    let text = object["body"].as_str().unwrap_or("");
    let body: Bytes = if object["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
            .into()
    } else {
        Bytes::copy_from_slice(text.as_bytes())
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    if let (Front::Alb { .. }, Some(description)) = (front, object["statusDescription"].as_str()) {
        // "200 OK": the status line's reason phrase.
        let reason = description
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim();
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason.to_owned()) {
            res.extensions_mut().insert(reason);
        }
    }
    Some(res)
}

fn add(headers: &mut HeaderMap, name: &str, value: &Value, append: bool) {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => return,
        other => other.to_string(),
    };
    let lower = name.to_ascii_lowercase();
    // The front end sets the length of what it sends.
    if lower == "content-length" || lower == "transfer-encoding" {
        return;
    }
    let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(lower.as_bytes()),
        HeaderValue::from_str(&text),
    ) else {
        tracing::warn!(
            header = name,
            "dropping a response header that is not a valid http header"
        );
        return;
    };
    if append || name == SET_COOKIE {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
}

/// What `front` answers when the invocation failed or its answer is unusable.
fn failure(front: Front) -> Response<Body> {
    match front {
        Front::Rest => gateway_message(StatusCode::BAD_GATEWAY, "Internal server error"),
        Front::HttpApi => {
            gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Front::Alb { .. } => {
            let mut res = Response::new(full(Bytes::from_static(ALB_502.as_bytes())));
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            h.insert("server", HeaderValue::from_static("awselb/2.0"));
            res
        }
    }
}

/// What a streamed REST API answers when the invocation failed before its answer started, or
/// no answer came within its idle timeout.
fn rest_failure(f: &ErrorReport) -> Response<Body> {
    if f.error_type() == super::stream::GATEWAY_TIMEOUT {
        gateway_message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
    } else {
        failure(Front::Rest)
    }
}

/// API Gateway's own answer: `{"message":"..."}`, with its `x-amzn-ErrorType`.
fn gateway_message(status: StatusCode, message: &'static str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut res = Response::new(full(Bytes::from(body)));
    *res.status_mut() = status;
    let error_type = match message {
        "Forbidden" => Some("ForbiddenException"),
        "Missing Authentication Token" => Some("MissingAuthenticationTokenException"),
        "Internal server error" => Some("InternalServerErrorException"),
        _ => None,
    };
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(t) = error_type {
        h.insert("x-amzn-errortype", HeaderValue::from_static(t));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn body(res: Response<Body>) -> String {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn rest_objects_with_multi_value_headers() {
        let payload = br#"{"statusCode":201,"headers":{"x-a":"1","Content-Length":"99"},
            "multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"aGk=","isBase64Encoded":true}"#;
        let res = answer_of(Front::Rest, payload, false).unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["x-a"], "1");
        assert_eq!(res.headers()["content-length"], "2");
        let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(body(res).await, "hi");
    }

    #[test]
    fn answers_the_front_end_cannot_read() {
        let streamed = b"{\"statusCode\":200}\0\0\0\0\0\0\0\0hello";
        let why = answer_of(Front::Rest, streamed, true).unwrap_err();
        assert!(
            why.contains("LAMBDA_STREAM_RESPONSE_MODE=buffered"),
            "{why}"
        );
        assert!(answer_of(Front::HttpApi, streamed, true).is_err());
        assert!(answer_of(Front::Rest, br#"{"body":"x"}"#, false).is_err());
        assert!(answer_of(Front::Alb { multi_value: false }, br#"[1]"#, false).is_err());
        let big = format!(
            r#"{{"statusCode":200,"body":"{}"}}"#,
            "x".repeat(ALB_MAX_RESPONSE)
        );
        let why = answer_of(Front::Alb { multi_value: false }, big.as_bytes(), false).unwrap_err();
        assert!(why.contains("1 MB"), "{why}");
        // An HTTP API takes any JSON as a 200's body.
        let res = answer_of(Front::HttpApi, br#"{"hello":1}"#, false).unwrap();
        assert_eq!(res.status(), 200);
    }

    #[test]
    fn alb_objects_read_the_headers_their_setting_names() {
        let payload = br#"{"statusCode":404,"statusDescription":"404 Not Found",
            "headers":{"x-one":"a"},"multiValueHeaders":{"x-many":["b","c"]},"body":"no"}"#;
        let single = answer_of(Front::Alb { multi_value: false }, payload, false).unwrap();
        assert_eq!(single.status(), 404);
        assert_eq!(single.headers()["x-one"], "a");
        assert!(single.headers().get("x-many").is_none());
        let reason = single
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .unwrap();
        assert_eq!(reason.as_bytes(), b"Not Found");
        let multi = answer_of(Front::Alb { multi_value: true }, payload, false).unwrap();
        assert!(multi.headers().get("x-one").is_none());
        let many: Vec<_> = multi.headers().get_all("x-many").iter().collect();
        assert_eq!(many, ["b", "c"]);
    }
}
