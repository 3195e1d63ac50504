//! The function's settings: [`FunctionConfig`], and its function URL's [`InvokeMode`].

use std::fmt;
use std::str::FromStr;

/// What the local server says of the function it serves: its name, version, region and
/// memory, as Lambda tells them to the runtime (the `/next` headers, the Extensions API's
/// `register`, and a hosted process's environment), and its function URL's invoke mode.
///
/// The defaults are a function `local`, version `$LATEST`, in `us-east-1`, of 128 MB.
///
/// ```
/// let mut function = lambda_stream_local::FunctionConfig::default();
/// assert_eq!(function.name, "local");
/// function.name = "orders".to_owned();
/// assert_eq!(function.arn(), "arn:aws:lambda:us-east-1:000000000000:function:orders");
/// assert_eq!(function.log_group(), "/aws/lambda/orders");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME` (default `local`).
    pub name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION` (default `$LATEST`).
    pub version: String,
    /// `AWS_REGION` (default `us-east-1`).
    pub region: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB (default 128). Nothing enforces it.
    pub memory_size_mb: u32,
    /// How the function URL door answers: streamed as the runtime posts the response, or
    /// buffered whole (default: streamed).
    pub invoke_mode: InvokeMode,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig {
            name: "local".to_owned(),
            version: "$LATEST".to_owned(),
            region: "us-east-1".to_owned(),
            memory_size_mb: 128,
            invoke_mode: InvokeMode::ResponseStream,
        }
    }
}

impl FunctionConfig {
    /// The function's ARN, as `Lambda-Runtime-Invoked-Function-Arn` carries it (account
    /// `000000000000`).
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:000000000000:function:{}",
            self.region, self.name
        )
    }

    /// `AWS_LAMBDA_LOG_GROUP_NAME`: `/aws/lambda/{name}`.
    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }
}

/// A function URL's invoke mode: how its door answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvokeMode {
    /// `RESPONSE_STREAM`: each chunk as the runtime posts it. The default.
    #[default]
    ResponseStream,
    /// `BUFFERED`: the whole response at once, with its `content-length` (at most 6 MB).
    Buffered,
}

impl FromStr for InvokeMode {
    type Err = UnknownInvokeMode;

    /// `RESPONSE_STREAM` (or `streaming`, `streamed`) and `BUFFERED`, in any case.
    ///
    /// ```
    /// use lambda_stream_local::InvokeMode;
    /// assert_eq!("buffered".parse(), Ok(InvokeMode::Buffered));
    /// assert_eq!("RESPONSE_STREAM".parse(), Ok(InvokeMode::ResponseStream));
    /// assert!("sometimes".parse::<InvokeMode>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "response_stream" | "streaming" | "streamed" => Ok(InvokeMode::ResponseStream),
            "buffered" => Ok(InvokeMode::Buffered),
            _ => Err(UnknownInvokeMode(())),
        }
    }
}

/// The error of parsing an [`InvokeMode`]: neither `RESPONSE_STREAM` nor `BUFFERED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInvokeMode(());

impl fmt::Display for UnknownInvokeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown invoke mode: expected RESPONSE_STREAM or BUFFERED")
    }
}

impl std::error::Error for UnknownInvokeMode {}
