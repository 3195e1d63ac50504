use tower_layer::Layer;

use super::{ResponseLimit, LAMBDA_STREAMING_CAP};

/// Applies [`ResponseLimit`] to a service: see the [module docs](super).
///
/// ```
/// use lambda_stream_middleware::response_limit::ResponseLimitLayer;
///
/// let layer = ResponseLimitLayer::new(10 * 1024 * 1024);
/// assert_eq!(layer.limit(), 10 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ResponseLimitLayer {
    limit: u64,
}

impl ResponseLimitLayer {
    /// Bodies of at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        ResponseLimitLayer { limit }
    }

    /// Lambda's streaming cap less 64 KiB for the prelude and the chunk framing.
    ///
    /// ```
    /// # use lambda_stream_middleware::response_limit::*;
    /// assert!(ResponseLimitLayer::lambda().limit() < LAMBDA_STREAMING_CAP);
    /// ```
    pub fn lambda() -> Self {
        Self::new(LAMBDA_STREAMING_CAP - 64 * 1024)
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl<S> Layer<S> for ResponseLimitLayer {
    type Service = ResponseLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseLimit::new(inner, self.limit)
    }
}
