use tower_layer::Layer;

use super::{InvocationSpan, MakeInvocationSpan};

/// Applies [`InvocationSpan`] to a service: see the [module docs](super).
///
/// ```
/// use lambda_stream_middleware::trace::{InvocationSpanLayer, MakeInvocationSpan};
///
/// let layer = InvocationSpanLayer::with(MakeInvocationSpan::new().level(tracing::Level::DEBUG));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Default)]
pub struct InvocationSpanLayer {
    make: MakeInvocationSpan,
}

impl InvocationSpanLayer {
    /// Spans made by [`MakeInvocationSpan::new`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans made by `make`.
    pub fn with(make: MakeInvocationSpan) -> Self {
        InvocationSpanLayer { make }
    }
}

impl<S> Layer<S> for InvocationSpanLayer {
    type Service = InvocationSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationSpan::new(inner, self.make.clone())
    }
}
