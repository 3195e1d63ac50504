//! Bodies and requests shared by the middleware's tests.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{stream, Stream};
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::StreamBody;
use lambda_stream::{Body, BoxError, Context, Diagnostic, RequestContext, RequestExt};
use pin_project_lite::pin_project;

/// The frames of a body built from a stream.
pub type Frames = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>;

/// `"0,"`, `"1,"`, ... each after `gap`, for ever.
pub fn ticking(gap: Duration) -> Frames {
    StreamBody::new(Box::pin(stream::unfold(0u32, move |n| async move {
        tokio::time::sleep(gap).await;
        Some((Ok(Frame::data(Bytes::from(format!("{n},")))), n + 1))
    })))
}

/// These chunks, all ready, then the end.
pub fn ready_chunks(chunks: &'static [&'static str]) -> Frames {
    StreamBody::new(Box::pin(stream::iter(
        chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))),
    )))
}

/// These chunks, all ready, then nothing ever again.
pub fn then_silence(chunks: &'static [&'static str]) -> Frames {
    use futures_util::StreamExt as _;
    StreamBody::new(Box::pin(
        stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))),
        )
        .chain(stream::pending()),
    ))
}

pin_project! {
    /// `inner`, announcing an exact length of `len` bytes in its size hint (whether or not it
    /// keeps to it).
    pub struct Announced<B> {
        #[pin]
        inner: B,
        len: u64,
    }
}

impl<B> Announced<B> {
    pub fn new(inner: B, len: u64) -> Self {
        Announced { inner, len }
    }
}

impl<B: HttpBody<Data = Bytes>> HttpBody for Announced<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            if let Some(data) = frame.data_ref() {
                *this.len = this.len.saturating_sub(data.len() as u64);
            }
        }
        frame
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// A request as the runtime hands it over: its deadline `left` from now (none with `None`),
/// from a function URL event unless `raw`.
pub fn request_due_in(left: Option<Duration>, raw: bool) -> Request<Body> {
    let mut ctx = Context::default();
    ctx.request_id = "req-1".into();
    ctx.deadline = left.map(|l| SystemTime::now() + l);
    let req = Request::new(Body::empty()).with_lambda_context(ctx);
    if raw {
        return req;
    }
    req.with_request_context(RequestContext::ApiGatewayV2(Default::default()))
}

/// The `Diagnostic` a body failed with.
pub fn diagnostic(err: BoxError) -> Diagnostic {
    match err.downcast::<Diagnostic>() {
        Ok(d) => *d,
        Err(err) => panic!("not a Diagnostic: {err}"),
    }
}
