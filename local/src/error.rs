//! The local server's own [`Error`], and the [`ErrorReport`] an invocation fails with.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// A type-erased error, as hyper and tower use.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why the local server could not start or serve: its options are unusable
/// ([`Options::from_vars`](crate::Options::from_vars)), or it cannot listen, or (under
/// [`Server::host`](crate::Server#method.host)) it cannot handle the signals that stop it.
///
/// Opaque: its message says which, its [`source`](StdError::source) what went wrong.
pub struct Error {
    kind: Kind,
    source: BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Options,
    Server,
}

impl Error {
    pub(crate) fn options(source: impl Into<BoxError>) -> Self {
        Error {
            kind: Kind::Options,
            source: source.into(),
        }
    }

    pub(crate) fn server(source: impl Into<BoxError>) -> Self {
        Error {
            kind: Kind::Server,
            source: source.into(),
        }
    }

    /// The options are unusable (a variable that cannot be parsed).
    pub fn is_options(&self) -> bool {
        self.kind == Kind::Options
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Options => "invalid local server options",
            Kind::Server => "local server failed",
        })
    }
}

impl fmt::Debug for Error {
    // `main` returning `Err` prints the Debug form: the whole story in one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}: {}", self.source)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// What an invocation failed with: an error type and a message, as the runtime reported them
/// (error trailers, `/error`) or as Lambda says them (`Sandbox.Timeout`,
/// `Runtime.ExitError`...). Its JSON form is `{"errorType": "...", "errorMessage": "..."}`.
///
/// ```
/// let report = lambda_stream_local::ErrorReport::new("Function.Error", "boom");
/// assert_eq!(report.error_type(), "Function.Error");
/// assert_eq!(report.to_json(), br#"{"errorType":"Function.Error","errorMessage":"boom"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReport {
    error_type: Cow<'static, str>,
    error_message: String,
}

impl ErrorReport {
    /// A report with this error type and message.
    pub fn new(error_type: impl Into<Cow<'static, str>>, error_message: impl Into<String>) -> Self {
        ErrorReport {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    /// The error type, such as `Function.StreamError`.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The error message.
    pub fn error_message(&self) -> &str {
        &self.error_message
    }

    /// `{"errorType":"...","errorMessage":"..."}`.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json<'a> {
            error_type: &'a str,
            error_message: &'a str,
        }
        // Serialising two strings cannot fail.
        serde_json::to_vec(&Json {
            error_type: &self.error_type,
            error_message: &self.error_message,
        })
        .unwrap_or_default()
    }
}

impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl StdError for ErrorReport {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_opaque_with_their_cause_as_source() {
        let e = Error::options("LOCAL_LAMBDA_PORT=\"x\": not a port number");
        assert_eq!(e.to_string(), "invalid local server options");
        assert!(e.is_options());
        let source = StdError::source(&e).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("LOCAL_LAMBDA_PORT=\"x\": not a port number")
        );
        let e = Error::server("cannot listen");
        assert_eq!(format!("{e:?}"), "local server failed: cannot listen");
        assert!(!e.is_options());
    }
}
