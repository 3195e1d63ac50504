use std::time::Duration;

use tower_layer::Layer;

use super::Deadline;

/// Applies [`Deadline`] to a service: see the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use lambda_stream_middleware::deadline::DeadlineLayer;
///
/// let layer = DeadlineLayer::new(Duration::from_millis(500));
/// assert_eq!(layer.margin(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    margin: Duration,
}

impl DeadlineLayer {
    /// Acts `margin` before the invocation's deadline.
    pub fn new(margin: Duration) -> Self {
        DeadlineLayer { margin }
    }

    /// The safety margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline::new(inner, self.margin)
    }
}
