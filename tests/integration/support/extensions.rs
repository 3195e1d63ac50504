//! The Runtime API mock's Extensions API: `POST /2020-01-01/extension/register` and
//! `GET /2020-01-01/extension/event/next`, as Lambda serves them.
//!
//! Every call is recorded, in order, with the runtime's own `/next` calls among them. As on
//! Lambda, the runtime's `/next` hands out nothing until every registered extension has
//! called `/event/next` (the environment's initialisation ends then); `/event/next` answers
//! only with the events a test sends ([`Extensions::send_event`]), else never.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::{mpsc, watch, Mutex as AsyncMutex};

/// One call the mock received, in arrival order.
#[derive(Clone, Debug)]
pub enum Call {
    /// `POST /extension/register`.
    Register { headers: HeaderMap, body: Bytes },
    /// `GET /extension/event/next`.
    Next { headers: HeaderMap },
    /// The runtime's `GET /runtime/invocation/next`.
    RuntimeNext,
}

/// What the mock answers to one `/extension/register`.
#[derive(Clone, Copy, Debug)]
pub enum RegisterReply {
    /// `200` with a `Lambda-Extension-Identifier`: the default.
    Accept,
    /// This status, with an error body.
    Status(u16),
    /// No answer at all, ever.
    Hang,
}

/// The Extensions API's state.
pub struct Extensions {
    state: Mutex<State>,
    /// Bumped whenever an extension calls `/event/next`.
    ready: watch::Sender<u64>,
    events_tx: mpsc::UnboundedSender<Bytes>,
    events_rx: AsyncMutex<mpsc::UnboundedReceiver<Bytes>>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    replies: VecDeque<RegisterReply>,
    /// Identifiers handed out, and those that have called `/event/next`.
    registered: Vec<String>,
    waiting: HashSet<String>,
}

impl Default for Extensions {
    fn default() -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Extensions {
            state: Mutex::default(),
            ready: watch::Sender::new(0),
            events_tx,
            events_rx: AsyncMutex::new(events_rx),
        }
    }
}

/// The identifier the mock gives the `n`th registration.
pub fn identifier(n: usize) -> String {
    format!("mock-extension-{n}")
}

impl Extensions {
    /// The reply to the next `/register` (default [`RegisterReply::Accept`]).
    pub fn reply_to_register(&self, reply: RegisterReply) {
        self.state.lock().unwrap().replies.push_back(reply);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Answers one waiting (or the next) `/event/next` with this event.
    pub fn send_event(&self, event: &'static str) {
        self.events_tx
            .send(Bytes::from_static(event.as_bytes()))
            .unwrap();
    }

    /// Records the runtime's `/next`, then waits until every registered extension has
    /// called `/event/next`.
    pub async fn runtime_next(&self) {
        let mut ready = self.ready.subscribe();
        self.state.lock().unwrap().calls.push(Call::RuntimeNext);
        loop {
            {
                let s = self.state.lock().unwrap();
                if s.registered.iter().all(|id| s.waiting.contains(id)) {
                    return;
                }
            }
            if ready.changed().await.is_err() {
                return;
            }
        }
    }

    /// Serves `/2020-01-01/extension/{rest}`.
    pub async fn handle(&self, rest: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match rest {
            "register" => {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let reply = {
                    let mut s = self.state.lock().unwrap();
                    s.calls.push(Call::Register {
                        headers: parts.headers,
                        body,
                    });
                    let reply = s.replies.pop_front().unwrap_or(RegisterReply::Accept);
                    if let RegisterReply::Accept = reply {
                        let id = identifier(s.registered.len() + 1);
                        s.registered.push(id);
                    }
                    reply
                };
                match reply {
                    RegisterReply::Accept => {
                        let id = self.state.lock().unwrap().registered.last().cloned();
                        Response::builder()
                            .status(200)
                            .header("lambda-extension-identifier", id.unwrap())
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(
                                br#"{"functionName":"stream","functionVersion":"$LATEST","handler":"bootstrap"}"#,
                            )))
                            .unwrap()
                    }
                    RegisterReply::Status(status) => Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(
                            br#"{"errorMessage":"scripted failure","errorType":"Extension.Unknown"}"#,
                        )))
                        .unwrap(),
                    RegisterReply::Hang => std::future::pending().await,
                }
            }
            "event/next" => {
                let (parts, _) = req.into_parts();
                let id = parts
                    .headers
                    .get("lambda-extension-identifier")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let known = {
                    let mut s = self.state.lock().unwrap();
                    s.calls.push(Call::Next {
                        headers: parts.headers,
                    });
                    match id {
                        Some(id) if s.registered.contains(&id) => {
                            s.waiting.insert(id);
                            true
                        }
                        _ => false,
                    }
                };
                if !known {
                    return Response::builder()
                        .status(403)
                        .body(Full::new(Bytes::from_static(
                            br#"{"errorMessage":"unknown extension","errorType":"Extension.ForbiddenError"}"#,
                        )))
                        .unwrap();
                }
                self.ready.send_modify(|n| *n += 1);
                let event = self.events_rx.lock().await.recv().await;
                match event {
                    Some(event) => Response::new(Full::new(event)),
                    None => std::future::pending().await,
                }
            }
            other => panic!("unexpected extensions api path {other}"),
        }
    }
}
