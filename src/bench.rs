//! Hooks for the benchmarks in `benches/compare/`: the crate-private hot paths, callable from
//! outside. Compiled only with the `benchmarking` feature; not part of the API, never stable.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::response::Parts;
use http::Request;
use http_body::Frame;

use crate::wire::ResponseFormat;
use crate::wire::ResponseStream;
use crate::{Body, BoxError, Context};

/// Decodes a `/next` payload as the runtime does, with an empty [`Context`].
pub fn decode_event(payload: Bytes) -> Result<Request<Body>, BoxError> {
    crate::event::decode(payload, Context::default())
        .map(|(request, _)| request)
        .map_err(Into::into)
}

/// Encodes the prelude of a function URL (payload 2.0) response.
pub fn encode_prelude(parts: &Parts) -> Option<Bytes> {
    crate::wire::encode_head(ResponseFormat::PayloadV2, parts).prelude
}

/// The runtime's framing of a handler's body: the prelude, the delimiter, then each chunk.
pub struct Framed<B>(Pin<Box<ResponseStream<B>>>);

impl<B> std::fmt::Debug for Framed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Framed")
    }
}

impl<B> Framed<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    /// Frames `body` after `prelude`, as the runtime posts it.
    pub fn new(prelude: Option<Bytes>, body: B) -> Self {
        Framed(Box::pin(ResponseStream::new(
            prelude,
            body,
            tracing::Span::none(),
        )))
    }

    /// Polls the next frame.
    pub fn poll_frame(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Frame<Bytes>>> {
        use http_body::Body as _;
        self.0
            .as_mut()
            .poll_frame(cx)
            .map(|f| f.map(|r| r.unwrap_or_else(|never| match never {})))
    }
}
