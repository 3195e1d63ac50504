use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use lambda_stream::{BoxError, Diagnostic};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::ERROR_TYPE;

pin_project! {
    /// The response body of [`Deadline`](super::Deadline): the inner body, ended with a
    /// `Function.Timeout` error when it is still streaming at the cutoff.
    ///
    /// See the [module docs](super) for the rule and an example.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
        margin: Duration,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Streaming {
            #[pin]
            body: B,
            #[pin]
            sleep: Option<Sleep>,
            // Past the cutoff: the data bytes the body may still pass without waiting (its
            // size hint's upper bound when the cutoff was seen).
            late: Option<u64>,
        },
        // The answer for a service that did not answer in time.
        TimedOut {
            fail: bool,
        },
        Done,
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn new(body: B, cutoff: Option<Instant>, margin: Duration) -> Self {
        ResponseBody {
            kind: Kind::Streaming {
                body,
                sleep: cutoff.map(tokio::time::sleep_until),
                late: None,
            },
            margin,
        }
    }

    pub(super) fn timed_out(fail: bool, margin: Duration) -> Self {
        ResponseBody {
            kind: Kind::TimedOut { fail },
            margin,
        }
    }
}

/// An empty inner body with no cutoff, as layers that answer on their own make one (tower-http's
/// `CorsLayer` for a preflight request).
impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        ResponseBody::new(B::default(), None, Duration::ZERO)
    }
}

fn timeout_error(margin: Duration) -> BoxError {
    Box::new(Diagnostic::new(
        ERROR_TYPE,
        format!("the response was cut {margin:?} before the invocation deadline"),
    ))
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let mut this = self.project();
        let margin = *this.margin;
        let frame = match this.kind.as_mut().project() {
            KindProj::Streaming { body, sleep, late } => {
                // The cutoff first: a body that always has data must still be cut.
                if late.is_none() && sleep.as_pin_mut().is_some_and(|s| s.poll(cx).is_ready()) {
                    match body.size_hint().upper() {
                        Some(left) => *late = Some(left),
                        None => {
                            this.kind.set(Kind::Done);
                            tracing::error!(
                                margin = ?margin,
                                "the response was still streaming {margin:?} before the invocation deadline; ending it with an error"
                            );
                            return Poll::Ready(Some(Err(timeout_error(margin))));
                        }
                    }
                }
                match (body.poll_frame(cx), late) {
                    (Poll::Pending, None) => return Poll::Pending,
                    (Poll::Pending, Some(_)) => None,
                    (Poll::Ready(frame), None) => Some(frame),
                    (Poll::Ready(frame), Some(left)) => {
                        let size = match &frame {
                            Some(Ok(frame)) => frame.data_ref().map_or(0, |d| d.remaining() as u64),
                            _ => 0,
                        };
                        // More data than the body announced: it is not in hand after all.
                        match left.checked_sub(size) {
                            Some(rest) => {
                                *left = rest;
                                Some(frame)
                            }
                            None => None,
                        }
                    }
                }
            }
            KindProj::TimedOut { fail } => {
                let fail = *fail;
                this.kind.set(Kind::Done);
                return Poll::Ready(fail.then(|| Err(timeout_error(margin))));
            }
            KindProj::Done => return Poll::Ready(None),
        };
        match frame {
            Some(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Some(Some(Err(err))) => {
                this.kind.set(Kind::Done);
                Poll::Ready(Some(Err(err.into())))
            }
            Some(None) => {
                this.kind.set(Kind::Done);
                Poll::Ready(None)
            }
            // Past the cutoff, the body would have to wait (or has more than it announced).
            None => {
                this.kind.set(Kind::Done);
                tracing::error!(
                    margin = ?margin,
                    "the response body was not done {margin:?} before the invocation deadline; ending it with an error"
                );
                Poll::Ready(Some(Err(timeout_error(margin))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Streaming { body, .. } => body.is_end_stream(),
            Kind::TimedOut { fail } => !fail,
            Kind::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Streaming { body, .. } => body.size_hint(),
            Kind::TimedOut { fail: true } => SizeHint::default(),
            Kind::TimedOut { fail: false } | Kind::Done => SizeHint::with_exact(0),
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.kind {
            Kind::Streaming { late: None, .. } => "streaming",
            Kind::Streaming { late: Some(_), .. } => "past the cutoff",
            Kind::TimedOut { .. } => "timed out",
            Kind::Done => "done",
        };
        f.debug_struct("ResponseBody")
            .field("state", &state)
            .field("margin", &self.margin)
            .finish()
    }
}
