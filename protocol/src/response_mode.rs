//! How a response is sent: [`ResponseMode`], the vocabulary of `LAMBDA_STREAM_RESPONSE_MODE`,
//! which the runtime answers by and the local Lambda's function URL follows.

use std::fmt;

/// `LAMBDA_STREAM_RESPONSE_MODE`: the variable that sets the [`ResponseMode`].
pub const RESPONSE_MODE_VAR: &str = "LAMBDA_STREAM_RESPONSE_MODE";

/// How responses are sent to Lambda: streamed as they are produced, or buffered whole.
///
/// Set it with lambda-stream's `Runtime::response_mode` or the
/// `LAMBDA_STREAM_RESPONSE_MODE` environment variable (`streamed`, `buffered` or `auto`, the
/// default: see [`Auto`](ResponseMode::Auto)). The same handler serves in every mode.
///
/// - [`Streamed`](ResponseMode::Streamed): function URLs in `RESPONSE_STREAM` invoke mode, API
///   Gateway REST integrations with `responseTransferMode: STREAM`, and
///   `InvokeWithResponseStream` callers. Up to 200 MB.
/// - [`Buffered`](ResponseMode::Buffered): function URLs in `BUFFERED` invoke mode, API Gateway
///   HTTP APIs and REST APIs without streaming, and `Invoke` callers. The runtime reads the
///   whole body (at most 6 MB), then sends the JSON response object these integrations expect
///   (`statusCode`, `headers`, `body`, `isBase64Encoded`, ...). A body larger than 6 MB is
///   reported as a `Function.ResponseSizeTooLarge` error.
///
/// Application Load Balancer events are always answered buffered: an ALB invokes the function
/// synchronously and reads the whole payload as its response object, so it cannot stream.
///
/// In buffered mode a body goes in the JSON as text, as `lambda_http` decides, when it is
/// UTF-8, has no `content-encoding`, and its content type is `text/*`, `application/json`,
/// `application/javascript`, `application/xml`, `application/yaml`, any `+json`, `+xml` or
/// `+yaml`, or absent (a body without a content type is sent without one); the response header
/// `x-lambda-http-content-encoding: text` forces text. Otherwise it is base64-encoded with
/// `isBase64Encoded: true`, which API Gateway REST APIs decode only for the binary media types
/// configured on the API.
///
/// ```
/// use lambda_stream_protocol::ResponseMode;
/// assert_eq!("buffered".parse::<ResponseMode>(), Ok(ResponseMode::Buffered));
/// assert_eq!(ResponseMode::default(), ResponseMode::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseMode {
    /// The default: streamed, except where the caller cannot take a stream. ALB events, and
    /// payload 2.0 events from an API Gateway HTTP API, which cannot stream, are answered
    /// buffered, with a log line the first time.
    ///
    /// Function URLs and HTTP APIs send the same event shape; the request context tells them
    /// apart. An HTTP API names itself in `apiId` and sends the domain its caller used
    /// (`<api-id>.execute-api.<region>.amazonaws.com`, or a custom domain) in `domainName`.
    /// A function URL's `domainName` is always `<url-id>.lambda-url.<region>.on.aws`, and
    /// emulators of function URLs either keep that form (LocalStack:
    /// `<url-id>.lambda-url.<region>.localhost.localstack.cloud`) or send no `apiId`
    /// (`cargo lambda watch`: `domainName: "localhost"`, `apiId: null`). So a payload 2.0
    /// event is answered buffered when it has an `apiId` and a `domainName` that is not a
    /// `<id>.lambda-url.…` name; every other one streams, a hand-written event without a
    /// `domainName` included.
    ///
    /// What the event cannot say: emulated HTTP APIs (`sam local start-api`:
    /// `apiId: "1234567890"`, `domainName: "localhost"`; serverless-offline's `offlineContext_*`
    /// placeholders, also behind its function URL plugin) are answered buffered, which is what
    /// they read. An emulator that sends an `apiId` and a domain of its own for a function
    /// URL in `RESPONSE_STREAM` mode is taken for an HTTP API too: choose
    /// [`Streamed`](ResponseMode::Streamed) there. A REST API, a function URL and
    /// `InvokeWithResponseStream` get a stream: a function URL in `BUFFERED` invoke mode, or
    /// a REST API without streaming, needs [`Buffered`](ResponseMode::Buffered).
    #[default]
    Auto,
    /// Each chunk goes to Lambda as the body produces it, for every event that can be
    /// streamed (all but ALB ones).
    Streamed,
    /// The whole body is read, then sent as one JSON response (or as is, for raw invocations).
    Buffered,
}

impl std::str::FromStr for ResponseMode {
    type Err = UnknownResponseMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResponseMode::ALL
            .into_iter()
            .find(|mode| s.trim().eq_ignore_ascii_case(mode.as_str()))
            .ok_or(UnknownResponseMode(()))
    }
}

/// The error of parsing a [`ResponseMode`]: not `streamed`, `buffered` or `auto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResponseMode(());

impl fmt::Display for UnknownResponseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown response mode: expected streamed, buffered or auto")
    }
}

impl std::error::Error for UnknownResponseMode {}

impl ResponseMode {
    /// Every mode, in the order the docs list them.
    pub const ALL: [ResponseMode; 3] = [
        ResponseMode::Streamed,
        ResponseMode::Buffered,
        ResponseMode::Auto,
    ];

    /// The mode's word: `streamed`, `buffered` or `auto`, as [`FromStr`](std::str::FromStr)
    /// takes it (in any case) and `LAMBDA_STREAM_RESPONSE_MODE` is written.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Streamed => "streamed",
            ResponseMode::Buffered => "buffered",
            ResponseMode::Auto => "auto",
        }
    }
}

impl fmt::Display for ResponseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_for_each_mode() {
        for mode in ResponseMode::ALL {
            assert_eq!(mode.as_str().parse(), Ok(mode));
            assert_eq!(mode.as_str().to_ascii_uppercase().parse(), Ok(mode));
            assert_eq!(format!(" {mode} ").parse(), Ok(mode));
        }
        // Other words for them are refused, not taken for something else.
        for other in [
            "streaming",
            "stream",
            "RESPONSE_STREAM",
            "buffer",
            "",
            "sometimes",
        ] {
            assert!(other.parse::<ResponseMode>().is_err(), "{other}");
        }
        assert_eq!(
            "x".parse::<ResponseMode>().unwrap_err().to_string(),
            "unknown response mode: expected streamed, buffered or auto"
        );
    }
}
