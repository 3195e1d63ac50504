//! Which front end the local server plays: [`Source`], and the settings of the REST API and ALB
//! doors ([`RestApi`], [`Alb`]).

/// The front end a function URL's door plays: what event a caller's request becomes, and how
/// the answer comes back; see [the doors](crate#front-ends). Chosen per run with
/// `LOCAL_LAMBDA_SOURCE` (`url`, `rest`, `http-api` or `alb`).
///
/// The Lambda API's doors (`Invoke`, `InvokeWithResponseStream`, `POST /invoke`) are served
/// whichever it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A function URL (`url`): a payload 2.0 event, the answer streamed. The default.
    #[default]
    FunctionUrl,
    /// An API Gateway REST API with a Lambda proxy integration (`rest`): a payload 1.0 event,
    /// the answer streamed (`responseTransferMode: STREAM`) or buffered ([`RestApi`]).
    RestApi,
    /// An API Gateway HTTP API (`http-api`): a payload 2.0 event from an `execute-api`
    /// domain, the answer buffered.
    HttpApi,
    /// An Application Load Balancer (`alb`): the ALB event, the answer buffered.
    Alb,
}

impl Source {
    /// Its name in `LOCAL_LAMBDA_SOURCE`, the inverse of [`Source::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Source::FunctionUrl => "url",
            Source::RestApi => "rest",
            Source::HttpApi => "http-api",
            Source::Alb => "alb",
        }
    }

    /// The source named `name` (`url`, `rest`, `http-api`, `alb`; any case), if any.
    ///
    /// ```
    /// use lambda_stream_local::Source;
    /// assert_eq!(Source::from_name("REST"), Some(Source::RestApi));
    /// assert_eq!(Source::from_name("alb").map(Source::name), Some("alb"));
    /// assert_eq!(Source::from_name("sqs"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Source::FunctionUrl,
            Source::RestApi,
            Source::HttpApi,
            Source::Alb,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// How the REST API's integration reads the function's answer: its `responseTransferMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferMode {
    /// `STREAM` (`stream`): `InvokeWithResponseStream`, relayed as it comes. The default.
    #[default]
    Stream,
    /// `BUFFERED` (`buffered`): the whole answer, at most 29 s after the request.
    Buffered,
}

/// The REST API the [`Source::RestApi`] door plays.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestApi {
    /// The stage, the first segment of every path: `LOCAL_LAMBDA_STAGE` (default `dev`).
    pub stage: String,
    /// The resource the method is on, such as `/items/{id}` (its `{name}` segments become
    /// `pathParameters`; a last `{name+}` takes the rest of the path): `LOCAL_LAMBDA_RESOURCE`.
    /// Without one, the door plays the usual proxy API, `/` and `/{proxy+}`.
    pub resource: Option<String>,
    /// `LOCAL_LAMBDA_TRANSFER_MODE`: `stream` (the default) or `buffered`.
    pub transfer_mode: TransferMode,
}

impl Default for RestApi {
    fn default() -> Self {
        RestApi {
            stage: "dev".to_owned(),
            resource: None,
            transfer_mode: TransferMode::Stream,
        }
    }
}

/// The target group the [`Source::Alb`] door plays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alb {
    /// The target group's multi-value headers: `LOCAL_LAMBDA_MULTI_VALUE_HEADERS`
    /// (`true`/`false`, default `false`). On, the event carries `multiValueHeaders` and
    /// `multiValueQueryStringParameters` instead of `headers` and `queryStringParameters`.
    pub multi_value_headers: bool,
}
