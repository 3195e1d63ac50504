use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use lambda_stream::{BoxError, Diagnostic};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::ERROR_TYPE;

pin_project! {
    /// The response body of [`Deadline`](super::Deadline): the inner body, ended with a
    /// `Function.Timeout` error when the deadline's margin is reached mid-stream.
    ///
    /// See the [module docs](super) for an example.
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
        },
        // The 504 answered for a service that did not answer in time.
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
        match this.kind.as_mut().project() {
            KindProj::Streaming { body, sleep } => {
                // The deadline first: a body that always has data must still be cut.
                if let Some(sleep) = sleep.as_pin_mut() {
                    if sleep.poll(cx).is_ready() {
                        this.kind.set(Kind::Done);
                        tracing::error!(
                            margin = ?margin,
                            "the response was still streaming {margin:?} before the invocation deadline; ending it with an error"
                        );
                        return Poll::Ready(Some(Err(timeout_error(margin))));
                    }
                }
                let frame = ready!(body.poll_frame(cx));
                match frame {
                    Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
                    Some(Err(err)) => {
                        this.kind.set(Kind::Done);
                        Poll::Ready(Some(Err(err.into())))
                    }
                    None => {
                        this.kind.set(Kind::Done);
                        Poll::Ready(None)
                    }
                }
            }
            KindProj::TimedOut { fail } => {
                let fail = *fail;
                this.kind.set(Kind::Done);
                if fail {
                    Poll::Ready(Some(Err(timeout_error(margin))))
                } else {
                    Poll::Ready(None)
                }
            }
            KindProj::Done => Poll::Ready(None),
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
            Kind::Streaming { .. } => "streaming",
            Kind::TimedOut { .. } => "timed out",
            Kind::Done => "done",
        };
        f.debug_struct("ResponseBody")
            .field("state", &state)
            .field("margin", &self.margin)
            .finish()
    }
}
