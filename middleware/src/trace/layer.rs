use tower_layer::Layer;

use super::{MakeInvocationSpan, Trace};

/// Applies [`Trace`] to a service: see the [module docs](super).
///
/// ```
/// use lambda_stream_middleware::trace::{MakeInvocationSpan, TraceLayer};
///
/// let layer = TraceLayer::new().make_span_with(MakeInvocationSpan::new().level(tracing::Level::DEBUG));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Default)]
pub struct TraceLayer {
    make_span: MakeInvocationSpan,
}

impl TraceLayer {
    /// Spans made by [`MakeInvocationSpan::new`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans made by `make_span` instead (another level; clones share the cold-start flag).
    pub fn make_span_with(mut self, make_span: MakeInvocationSpan) -> Self {
        self.make_span = make_span;
        self
    }

    /// Spans made by `make`.
    #[deprecated(note = "use `TraceLayer::new().make_span_with(make)`")]
    pub fn with(make: MakeInvocationSpan) -> Self {
        Self::new().make_span_with(make)
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace::new(inner, self.make_span.clone())
    }
}
