use std::fmt;
use std::sync::Arc;

use crate::BoxError;

/// Why the [`TestClient`](super::TestClient) could not invoke the function, or a
/// [`TestResponse`](super::TestResponse) could not be read as asked; see the module docs.
///
/// A failing *function* is not an `Error`: its response carries a
/// [`FunctionError`](super::FunctionError) instead, as a caller on AWS would see it.
pub struct Error {
    kind: Kind,
}

enum Kind {
    /// The in-process Runtime API could not be started.
    Start(BoxError),
    /// The runtime stopped: the worker returned, with its error when it said one.
    Stopped(Option<Arc<crate::Error>>),
    /// The event is over Lambda's 6 MB request payload limit.
    TooLarge(usize),
    /// The event could not be serialized, or the body could not be deserialized.
    Json(serde_json::Error),
}

impl Error {
    pub(super) fn start(e: impl Into<BoxError>) -> Self {
        Error {
            kind: Kind::Start(e.into()),
        }
    }

    pub(super) fn stopped(cause: Option<Arc<crate::Error>>) -> Self {
        Error {
            kind: Kind::Stopped(cause),
        }
    }

    pub(super) fn too_large(size: usize) -> Self {
        Error {
            kind: Kind::TooLarge(size),
        }
    }

    pub(super) fn json(e: serde_json::Error) -> Self {
        Error {
            kind: Kind::Json(e),
        }
    }

    /// The in-process Runtime API could not be started (no loopback port to listen on).
    pub fn is_start(&self) -> bool {
        matches!(self.kind, Kind::Start(_))
    }

    /// The runtime serving the function stopped (it cannot, short of a bug: please report
    /// it), so the invocation was not made.
    pub fn is_stopped(&self) -> bool {
        matches!(self.kind, Kind::Stopped(_))
    }

    /// The event was over Lambda's 6 MB request payload limit, so the function was not
    /// invoked (a function URL answers `413`).
    pub fn is_payload_too_large(&self) -> bool {
        matches!(self.kind, Kind::TooLarge(_))
    }

    /// JSON could not be written (the event) or read (the response body).
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("testing::Error");
        match &self.kind {
            Kind::Start(e) => d.field("start", e),
            Kind::Stopped(e) => d.field("stopped", e),
            Kind::TooLarge(n) => d.field("payload_too_large", n),
            Kind::Json(e) => d.field("json", e),
        };
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Start(_) => f.write_str("cannot start the in-process runtime api"),
            Kind::Stopped(_) => f.write_str("the in-process runtime has stopped"),
            Kind::TooLarge(n) => write!(
                f,
                "the event is {n} bytes, over lambda's 6 MB request payload limit"
            ),
            Kind::Json(_) => f.write_str("invalid json"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Start(e) => Some(&**e),
            Kind::Stopped(Some(e)) => Some(&**e),
            Kind::Json(e) => Some(e),
            Kind::Stopped(None) | Kind::TooLarge(_) => None,
        }
    }
}
