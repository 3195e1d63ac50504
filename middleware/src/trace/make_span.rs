use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::Request;
use lambda_stream::Context;
use tracing::{Level, Span};

/// Makes the `lambda.request` span of an invocation: see the [module docs](super).
///
/// Clones share the cold-start flag.
///
/// ```
/// use bytes::Bytes;
/// use http::Request;
/// use lambda_stream_middleware::trace::MakeInvocationSpan;
///
/// let make = MakeInvocationSpan::new().level(tracing::Level::DEBUG);
/// let req = Request::new(lambda_stream::Body::empty());
/// let first = make.make(&req);
/// assert!(make.cold_start_seen());
/// # drop(first);
/// ```
#[derive(Debug, Clone)]
pub struct MakeInvocationSpan {
    level: Level,
    seen: Arc<AtomicBool>,
}

impl Default for MakeInvocationSpan {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeInvocationSpan {
    /// Spans at `INFO` level.
    pub fn new() -> Self {
        MakeInvocationSpan {
            level: Level::INFO,
            seen: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Spans at this level instead.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Whether a first invocation was seen (its span had the cold-start flag's chance).
    pub fn cold_start_seen(&self) -> bool {
        self.seen.load(Ordering::Acquire)
    }

    /// The span for `req`: the Lambda fields come from its [`Context`] extension, and are
    /// empty without one.
    pub fn make<B>(&self, req: &Request<B>) -> Span {
        let ctx = req.extensions().get::<Context>();
        let first = !self.seen.swap(true, Ordering::AcqRel);
        let cold_start = first
            && ctx.is_none_or(|c| c.env_config.initialization_type != "provisioned-concurrency");
        let request_id = ctx.map(|c| c.request_id.as_str()).unwrap_or("");
        let xray_trace_id = ctx.and_then(|c| c.xray_trace_id.as_deref()).unwrap_or("");
        let function_name = ctx
            .map(|c| c.env_config.function_name.as_str())
            .unwrap_or("");
        let function_version = ctx
            .map(|c| c.env_config.function_version.as_str())
            .unwrap_or("");
        macro_rules! span {
            ($level:expr) => {
                tracing::span!(
                    $level,
                    "lambda.request",
                    request_id,
                    xray_trace_id,
                    cold_start,
                    function_name,
                    function_version,
                    method = %req.method(),
                    path = req.uri().path(),
                )
            };
        }
        match self.level {
            Level::ERROR => span!(Level::ERROR),
            Level::WARN => span!(Level::WARN),
            Level::INFO => span!(Level::INFO),
            Level::DEBUG => span!(Level::DEBUG),
            _ => span!(Level::TRACE),
        }
    }
}

#[cfg(feature = "tower-http")]
impl<B> tower_http::trace::MakeSpan<B> for MakeInvocationSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        self.make(request)
    }
}

#[cfg(feature = "tower-http-06")]
impl<B> tower_http_06::trace::MakeSpan<B> for MakeInvocationSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        self.make(request)
    }
}
