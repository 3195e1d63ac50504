//! Errors: the runtime's own [`Error`], and the [`Diagnostic`] reported to Lambda for a failed
//! invocation.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::catch_unwind::{drop_caught, panic_message};

/// A type-erased error, as tower and hyper use.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error that stops the runtime.
///
/// Errors of single invocations never stop the runtime: they are reported to Lambda and the loop
/// goes on. This error is returned by [`run`](crate::run) only when going on is impossible or
/// unsafe: the Runtime API cannot be reached, it answered that the environment is broken
/// (a `500`), the function's initialisation failed, or
/// [`run_concurrent`](crate::Runtime::run_concurrent) has no worker left. Returning it from
/// `main` exits the process with a non-zero status, which is what Lambda expects.
pub struct Error {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Config,
    Connect,
    RuntimeApi,
    Init,
    Local,
    NoWorkerLeft,
}

impl Error {
    pub(crate) fn new(kind: Kind, source: impl Into<BoxError>) -> Self {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn config(msg: impl Into<BoxError>) -> Self {
        Self::new(Kind::Config, msg)
    }

    pub(crate) fn connect(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Connect, source)
    }

    pub(crate) fn runtime_api(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::RuntimeApi, source)
    }

    pub(crate) fn init(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Init, source)
    }

    pub(crate) fn no_worker_left(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::NoWorkerLeft, source)
    }

    #[cfg_attr(not(feature = "local"), allow(dead_code))]
    pub(crate) fn local(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Local, source)
    }

    /// The runtime's configuration (its environment variables) is unusable.
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }

    /// The Runtime API could not be reached.
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }

    /// The Runtime API answered with an error that ends the environment (a `500`), or kept
    /// failing after retries.
    pub fn is_runtime_api(&self) -> bool {
        self.kind == Kind::RuntimeApi
    }

    /// The function's initialisation failed; it was reported to `/init/error`.
    ///
    /// Its `init` returned an error or panicked, or (under
    /// [`run_concurrent`](crate::Runtime::run_concurrent)) the service's `Clone` panicked for
    /// every worker.
    pub fn is_init(&self) -> bool {
        self.kind == Kind::Init
    }

    /// [`run_concurrent`](crate::Runtime::run_concurrent) has no worker left: the last one
    /// died, and the service's `Clone` panicked when its replacement was made (the source
    /// says with what).
    pub fn is_no_worker_left(&self) -> bool {
        self.kind == Kind::NoWorkerLeft
    }

    /// The local development server failed.
    pub fn is_local(&self) -> bool {
        self.kind == Kind::Local
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Config => "invalid runtime configuration",
            Kind::Connect => "cannot reach the lambda runtime api",
            Kind::RuntimeApi => "the lambda runtime api reported a fatal error",
            Kind::Init => "function initialisation failed",
            Kind::Local => "local server failed",
            Kind::NoWorkerLeft => "no worker is left to serve invocations",
        })
    }
}

impl fmt::Debug for Error {
    // `main` returning `Err` prints the Debug form: make it the whole story in one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Chain(self), f)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

/// What Lambda is told about a failed invocation: an error type and a message.
///
/// The runtime builds one for every failure it reports: to `/error` when the handler fails
/// before the response started, or as the `Lambda-Runtime-Function-Error-*` trailers when a
/// streamed body fails midway. Its JSON form is `{"errorType": "...", "errorMessage": "..."}`.
///
/// A handler chooses the error type its callers see by failing with a `Diagnostic` (directly,
/// or as the error of its response body):
///
/// ```
/// use lambda_stream::Diagnostic;
///
/// let err = Diagnostic::new("Function.QuotaExceeded", "the tenant is over its quota");
/// assert_eq!(err.error_type(), "Function.QuotaExceeded");
/// ```
///
/// Any other error is reported with a generic type (`Function.Error` before the first byte,
/// `Function.StreamError` after it, `Function.Panic` for a panic) and its message, including
/// its `source()` chain. Lambda maps types that do not match `(Runtime|Function).Name` to
/// `Function.Unknown`.
///
/// # Size limits
///
/// What is sent is capped, so that a long message never breaks the report that carries it
/// (servers refuse oversized header blocks, and a streamed response's error travels in its
/// trailers):
///
/// - the error body trailer of a streamed response is at most 8 KiB of base64: 6 KiB of
///   JSON, which holds a plain ASCII message of about 6,000 bytes;
/// - an `/error` (or `/init/error`) body is at most 256 KiB;
/// - the `Lambda-Runtime-Function-XRay-Error-Cause` header is at most 8 KiB;
/// - an error type longer than 128 bytes is sent as `Function.Unknown`.
///
/// A message that does not fit is cut on a character boundary and ends with
/// `… [truncated N bytes]`, N being how many bytes of it were left out. The runtime's own log
/// line of the failure keeps the whole message.
#[derive(Clone, PartialEq, Eq)]
pub struct Diagnostic {
    error_type: Cow<'static, str>,
    error_message: String,
}

impl Diagnostic {
    /// A diagnostic with this error type and message.
    pub fn new(error_type: impl Into<Cow<'static, str>>, error_message: impl Into<String>) -> Self {
        Diagnostic {
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

    /// The diagnostic for `err`: `err` itself when it is a `Diagnostic`, else `default_type`
    /// with the error's message chain.
    ///
    /// The error is the handler's: its conversion, `Display`, `source()` and `Drop` run
    /// inside the panic boundary. A panic in converting or reading it gives a
    /// `Function.Panic` diagnostic instead; one in dropping it is logged.
    pub(crate) fn from_error(err: impl Into<BoxError>, default_type: &'static str) -> Self {
        let err = match catch_unwind(AssertUnwindSafe(move || err.into())) {
            Ok(err) => err,
            Err(payload) => return Self::from_error_panic(payload),
        };
        let err = match err.downcast::<Diagnostic>() {
            Ok(diagnostic) => return *diagnostic,
            Err(err) => err,
        };
        let described = catch_unwind(AssertUnwindSafe(|| error_chain(&*err)));
        drop_caught(err, "the handler's error");
        match described {
            Ok(message) => Diagnostic::new(default_type, message),
            Err(payload) => Self::from_error_panic(payload),
        }
    }

    /// The diagnostic for a panic in converting or reading the handler's error.
    fn from_error_panic(payload: Box<dyn Any + Send>) -> Self {
        let what = panic_message(&*payload);
        let diagnostic = Diagnostic::new(
            types::PANIC,
            format!("the handler's error panicked while it was read: {what}"),
        );
        drop_caught(payload, "a panic payload");
        diagnostic
    }

    /// The diagnostic for a caught panic.
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let what = panic_message(payload);
        Diagnostic::new(types::PANIC, format!("the handler panicked: {what}"))
    }

    /// `{"errorType":"...","errorMessage":"..."}`, the JSON of the error body trailer.
    pub(crate) fn json(error_type: &str, error_message: &str) -> Vec<u8> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json<'a> {
            error_type: &'a str,
            error_message: &'a str,
        }
        // Serialising two strings cannot fail.
        serde_json::to_vec(&Json {
            error_type,
            error_message,
        })
        .unwrap_or_default()
    }
}

impl fmt::Debug for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostic")
            .field("error_type", &self.error_type)
            .field("error_message", &self.error_message)
            .finish()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl StdError for Diagnostic {}

/// Displays an error's message followed by its sources, `": "`-separated, each said once.
///
/// Wrapper errors (axum's, for one) print their source in their own message and also return
/// it from `source()`: a source whose message the text so far already ends with is left out.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(s) = source {
            let message = s.to_string();
            if !already_said(&text, &message) {
                text.push_str(": ");
                text.push_str(&message);
            }
            source = s.source();
        }
        f.write_str(&text)
    }
}

/// Whether `text` already ends with `message`, as a whole: equal to it, or after a
/// character that is not part of a word (`"read failed: disk gone"` says `"disk gone"`,
/// `"undergone"` does not say `"gone"`). An empty message adds nothing.
fn already_said(text: &str, message: &str) -> bool {
    match text.strip_suffix(message) {
        _ if message.is_empty() => true,
        Some(before) => !before.ends_with(char::is_alphanumeric),
        None => false,
    }
}

/// An error's message followed by its sources, `": "`-separated.
pub(crate) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    Chain(err).to_string()
}

/// The error types the runtime reports, stated once for both sides of the Runtime API.
pub(crate) use lambda_stream_protocol::error_types as types;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot load model")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn diagnostic_from_error_keeps_the_chain() {
        let err: BoxError = Box::new(Outer(std::io::Error::other("disk gone")));
        let d = Diagnostic::from_error(err, types::HANDLER);
        assert_eq!(d.error_type(), "Function.Error");
        assert_eq!(d.error_message(), "cannot load model: disk gone");
    }

    /// An error with this message and source, as a wrapper error is.
    #[derive(Debug)]
    struct Wrapper(&'static str, Option<Box<Wrapper>>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|s| s as &(dyn StdError + 'static))
        }
    }

    /// `messages[0]`, whose source is `messages[1]`, whose source is...
    fn chain_of(messages: &[&'static str]) -> String {
        let err = messages
            .iter()
            .rev()
            .fold(None, |source, m| Some(Box::new(Wrapper(m, source))))
            .unwrap();
        error_chain(&*err)
    }

    #[test]
    fn a_source_the_message_already_says_is_said_once() {
        // axum's error: it prints its source and returns it, twice over.
        assert_eq!(
            chain_of(&["the body failed midway"; 3]),
            "the body failed midway"
        );
        // A wrapper that prints "context: source" and returns the source.
        assert_eq!(
            chain_of(&["cannot load model: disk gone", "disk gone"]),
            "cannot load model: disk gone"
        );
        // ...whose source is itself a wrapper of that kind.
        assert_eq!(chain_of(&["a: b: c", "b: c", "c"]), "a: b: c");
        assert_eq!(chain_of(&["a: b", "b", "c"]), "a: b: c");
        // Empty messages add nothing.
        assert_eq!(chain_of(&["upstream", "", "reset"]), "upstream: reset");
    }

    #[test]
    fn distinct_sources_are_all_said() {
        assert_eq!(
            chain_of(&["cannot load model", "disk gone", "io error"]),
            "cannot load model: disk gone: io error"
        );
        // Said elsewhere in the text, not at its end: said again.
        assert_eq!(
            chain_of(&["disk gone, retried: gave up", "disk gone"]),
            "disk gone, retried: gave up: disk gone"
        );
        // The text ends with the message's letters, but inside a word.
        assert_eq!(chain_of(&["undergone", "gone"]), "undergone: gone");
        // The same message twice, with a distinct one between: both said.
        assert_eq!(chain_of(&["a", "b", "a"]), "a: b: a");
    }

    #[test]
    fn runtime_errors_say_each_source_once() {
        let e = Error::connect(Wrapper("refused", Some(Box::new(Wrapper("refused", None)))));
        assert_eq!(
            format!("{e:?}"),
            "cannot reach the lambda runtime api: refused"
        );
        let d = Diagnostic::from_error(
            Wrapper(
                "the body failed midway",
                Some(Box::new(Wrapper("the body failed midway", None))),
            ),
            types::STREAM,
        );
        assert_eq!(d.error_message(), "the body failed midway");
    }

    #[test]
    fn diagnostic_passes_through_unchanged() {
        let err: BoxError = Box::new(Diagnostic::new("Function.Custom", "mine"));
        let d = Diagnostic::from_error(err, types::HANDLER);
        assert_eq!(d, Diagnostic::new("Function.Custom", "mine"));
    }

    #[test]
    fn diagnostic_json_escapes() {
        let d = Diagnostic::new("Function.Error", "a \"quoted\"\nline");
        let v: serde_json::Value =
            serde_json::from_slice(&Diagnostic::json(d.error_type(), d.error_message())).unwrap();
        assert_eq!(v["errorType"], "Function.Error");
        assert_eq!(v["errorMessage"], "a \"quoted\"\nline");
    }

    #[test]
    fn panic_payloads() {
        let d = Diagnostic::from_panic(&"boom");
        assert_eq!(d.error_message(), "the handler panicked: boom");
        let d = Diagnostic::from_panic(&String::from("owned"));
        assert_eq!(d.error_message(), "the handler panicked: owned");
        let d = Diagnostic::from_panic(&42u32);
        assert_eq!(d.error_type(), "Function.Panic");
    }

    #[test]
    fn an_error_that_panics_when_read_or_dropped_is_caught() {
        #[derive(Debug)]
        struct Garbled;
        impl fmt::Display for Garbled {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("display exploded")
            }
        }
        impl StdError for Garbled {}
        let d = Diagnostic::from_error(Box::new(Garbled), types::HANDLER);
        assert_eq!(d.error_type(), "Function.Panic");
        assert!(d.error_message().contains("display exploded"), "{d}");

        #[derive(Debug)]
        struct DropBomb;
        impl fmt::Display for DropBomb {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("upstream gone")
            }
        }
        impl StdError for DropBomb {}
        impl Drop for DropBomb {
            fn drop(&mut self) {
                panic!("drop exploded")
            }
        }
        // The message was read before the drop panicked: it is reported as it was.
        let d = Diagnostic::from_error(Box::new(DropBomb), types::HANDLER);
        assert_eq!(d, Diagnostic::new("Function.Error", "upstream gone"));
    }

    #[test]
    fn runtime_error_debug_shows_sources() {
        let e = Error::connect(std::io::Error::other("connection refused"));
        assert!(e.is_connect());
        assert_eq!(
            format!("{e:?}"),
            "cannot reach the lambda runtime api: connection refused"
        );
        assert!(e.source().is_some());
    }
}
