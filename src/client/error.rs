//! What went wrong talking to the Runtime API, and how a reply's status is classified.

use std::fmt;

use http::StatusCode;

use crate::BoxError;

#[derive(Debug)]
pub(crate) enum ApiError {
    /// The connection failed (refused, reset, garbled reply). The next call reconnects.
    Transport(BoxError),
    /// A `4xx`: this call was refused, the environment is fine. (`410 Gone`: the invocation
    /// had already timed out.)
    Rejected { status: StatusCode, body: String },
    /// A `5xx`: the environment is broken; the runtime must exit.
    Fatal { status: StatusCode, body: String },
    /// `/next` sent an event the runtime cannot attribute (no request id).
    BadEvent(&'static str),
}

impl ApiError {
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self, ApiError::Fatal { .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The whole chain: hyper's own message ("connection error") names no cause.
            ApiError::Transport(e) => write!(
                f,
                "runtime api connection failed: {}",
                crate::error::error_chain(&**e)
            ),
            ApiError::Rejected { status, body } if *status == StatusCode::GONE => write!(
                f,
                "runtime api answered {status}: the invocation already timed out: {body}"
            ),
            ApiError::Rejected { status, body } => {
                write!(f, "runtime api refused the call with {status}: {body}")
            }
            ApiError::Fatal { status, body } => {
                write!(f, "runtime api answered {status} (non-recoverable): {body}")
            }
            ApiError::BadEvent(why) => f.write_str(why),
        }
    }
}

/// The message already holds the causes (see `Display`), so there is no `source()`: a
/// chain printed from here would say them twice.
impl std::error::Error for ApiError {}

/// A non-`2xx` reply: `5xx` is fatal, anything else a refusal of this one call.
pub(super) fn classify(status: StatusCode, body: &[u8]) -> ApiError {
    let body = String::from_utf8_lossy(body).into_owned();
    if status.is_server_error() {
        ApiError::Fatal { status, body }
    } else {
        ApiError::Rejected { status, body }
    }
}
