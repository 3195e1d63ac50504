//! The local server's settings: [`Options`], from code or from `LOCAL_LAMBDA_*` variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

mod cors;
mod iam;
mod settings;
mod source;

pub use cors::Cors;
pub use iam::{AuthType, Iam};
pub use lambda_stream_protocol::ResponseMode;
pub use settings::{setting, Setting, SETTINGS};
pub use source::{Alb, RestApi, Source, TransferMode};

use crate::emulator::DEFAULT_TIMEOUT;
use crate::error::Error;

const DEFAULT_PORT: u16 = 7000;
/// How long a caller may take to send its request head.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How many invocations run at once by default.
const DEFAULT_CONCURRENCY: usize = 64;

/// How fast the function URL and `/invoke` doors send a response; see [`Options::bandwidth`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bandwidth {
    /// As fast as the caller reads. The default.
    #[default]
    Unlimited,
    /// As Lambda streams: the first 6 MB at full speed, then at most 2 MB/s
    /// (`LOCAL_LAMBDA_BANDWIDTH=lambda`).
    Lambda,
}

/// Settings of the local server; see the [crate docs](crate).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Where the front doors listen: `LOCAL_LAMBDA_HOST` (default `127.0.0.1`) and
    /// `LOCAL_LAMBDA_PORT` (default `7000`; `0` picks a free port).
    pub addr: SocketAddr,
    /// The function timeout that sets each invocation's deadline: `LOCAL_LAMBDA_TIMEOUT`, in
    /// seconds (default 900, Lambda's maximum).
    pub function_timeout: Duration,
    /// How long a caller may take to send its request head before the connection is closed
    /// (default 30 s), so that slow or stalled clients cannot hold connections forever.
    pub header_read_timeout: Duration,
    /// How many invocations run at once: `LOCAL_LAMBDA_CONCURRENCY` (default 64). Each has its
    /// own request id and deadline, as each concurrent request to a function URL gets its own
    /// execution environment; beyond it, callers are throttled with Lambda's `429`.
    pub concurrency: NonZeroUsize,
    /// How fast responses are sent: `LOCAL_LAMBDA_BANDWIDTH` (`lambda` or `unlimited`).
    pub bandwidth: Bandwidth,
    /// Host names served besides loopback ones and the listening address:
    /// `LOCAL_LAMBDA_ALLOWED_HOSTS`, comma-separated (`phone.lan`, `.example.com` for a
    /// domain and its subdomains, `*` for any). Other hosts get `403`; see [the door](https://github.com/lambda-stream/lambda-stream/blob/main/docs/door.md#hosts).
    pub allowed_hosts: Vec<String>,
    /// Whether pages on other sites may send requests to the function:
    /// `LOCAL_LAMBDA_ALLOW_CROSS_SITE` (`true`/`false`, default `false`).
    pub allow_cross_site: bool,
    /// The function URL's CORS settings (`LOCAL_LAMBDA_CORS_*`); none by default.
    pub cors: Option<Cors>,
    /// The function URL's `AuthType`: `LOCAL_LAMBDA_AUTH` (`NONE` or `AWS_IAM`).
    pub auth: AuthType,
    /// The credentials and identity used under [`AuthType::AwsIam`] ([`Iam::from_env`]).
    pub iam: Iam,
    /// The function's response mode: `LAMBDA_STREAM_RESPONSE_MODE` (`streamed`, `buffered` or
    /// `auto`, the default). With `buffered` the function URL answers as a `BUFFERED` one
    /// does; the host passes the variable on to the function's processes.
    pub response_mode: ResponseMode,
    /// The front end the door for the function's callers plays: `LOCAL_LAMBDA_SOURCE`
    /// (`url`, the default, `rest`, `http-api` or `alb`); see [front ends](crate#front-ends).
    pub source: Source,
    /// The REST API played under [`Source::RestApi`]: its stage, resource and transfer mode.
    pub rest_api: RestApi,
    /// The target group played under [`Source::Alb`]: its multi-value headers.
    pub alb: Alb,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            function_timeout: DEFAULT_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            concurrency: NonZeroUsize::new(DEFAULT_CONCURRENCY).unwrap_or(NonZeroUsize::MIN),
            bandwidth: Bandwidth::Unlimited,
            allowed_hosts: Vec::new(),
            allow_cross_site: false,
            cors: None,
            auth: AuthType::None,
            iam: Iam::default(),
            response_mode: ResponseMode::Auto,
            source: Source::FunctionUrl,
            rest_api: RestApi::default(),
            alb: Alb::default(),
        }
    }
}

impl Options {
    /// Reads the options from the environment: every variable of [`SETTINGS`] (the
    /// `LOCAL_LAMBDA_*` variables and `LAMBDA_STREAM_RESPONSE_MODE`) and [`Iam::from_env`]'s
    /// credentials. A variable that is missing or blank keeps its default; one that cannot be
    /// parsed is an error that names it and says what it takes, as [`Options::from_vars`]
    /// reads them.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the options as [`Options::from_env`] does, from `lookup` (a variable's name to
    /// its value) instead of the environment: a value that cannot be parsed is an error that
    /// names it.
    ///
    /// ```
    /// let options = lambda_stream_local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_PORT").then(|| "9000".to_owned())
    /// })?;
    /// assert_eq!(options.addr.port(), 9000);
    /// let e = lambda_stream_local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_TIMEOUT").then(|| "soon".to_owned())
    /// })
    /// .unwrap_err();
    /// assert_eq!(
    ///     std::error::Error::source(&e).unwrap().to_string(),
    ///     "LOCAL_LAMBDA_TIMEOUT=\"soon\": not a positive number of seconds"
    /// );
    /// # Ok::<(), lambda_stream_local::Error>(())
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut options = Options {
            iam: Iam::from_lookup(&|name| lookup(name)),
            ..Options::default()
        };
        let mut complaints = Vec::new();
        for setting in SETTINGS {
            let Some(value) = lookup(setting.name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            if let Err(complaint) = setting.apply(&mut options, &value) {
                complaints.push(complaint);
            }
        }
        if complaints.is_empty() {
            Ok(options)
        } else {
            Err(Error::options(complaints.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Options, String> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Options::from_vars(|n| vars.get(n).map(|v| v.to_string())).map_err(|e| {
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default()
        })
    }

    #[test]
    fn from_vars_names_what_it_cannot_parse() {
        let e = Options::from_vars(|n| match n {
            "LOCAL_LAMBDA_PORT" => Some("seventy".to_owned()),
            "LOCAL_LAMBDA_AUTH" => Some("COGNITO".to_owned()),
            _ => None,
        })
        .unwrap_err();
        // Opaque, with what went wrong as its source.
        assert_eq!(e.to_string(), "invalid local server options");
        assert!(e.is_options());
        let e = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(
            e,
            "LOCAL_LAMBDA_PORT=\"seventy\": not a port number (0 to 65535; 0 picks a free one); \
             LOCAL_LAMBDA_AUTH=\"COGNITO\": not `NONE` or `AWS_IAM`"
        );
    }

    #[test]
    fn options_from_env() {
        let o = read(&[
            ("LOCAL_LAMBDA_HOST", "0.0.0.0"),
            ("LOCAL_LAMBDA_PORT", "9000"),
            ("LOCAL_LAMBDA_TIMEOUT", "30"),
            ("LOCAL_LAMBDA_CONCURRENCY", "3"),
            ("LOCAL_LAMBDA_BANDWIDTH", "Lambda"),
            ("LAMBDA_STREAM_RESPONSE_MODE", "Buffered"),
        ])
        .unwrap();
        assert_eq!(o.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(o.function_timeout, Duration::from_secs(30));
        assert_eq!(o.concurrency.get(), 3);
        assert_eq!(o.bandwidth, Bandwidth::Lambda);
        assert_eq!(o.response_mode, ResponseMode::Buffered);
        // Blank is unset.
        assert_eq!(read(&[("LOCAL_LAMBDA_PORT", " ")]), Ok(Options::default()));
        assert_eq!(Options::default().addr, "127.0.0.1:7000".parse().unwrap());
    }

    /// Every setting that takes a value of a kind refuses a value that is not, by its name.
    #[test]
    fn every_bad_value_is_an_error_that_names_its_variable() {
        let free_text = ["HOSTS", "CORS_ALLOW_", "CORS_EXPOSE", "_IAM_", "_STAGE"];
        for setting in SETTINGS {
            if free_text.iter().any(|t| setting.name.contains(t)) {
                continue;
            }
            let e = read(&[(setting.name, "bad")]).unwrap_err();
            assert_eq!(
                e,
                format!("{}=\"bad\": not {}", setting.name, setting.takes)
            );
        }
        // The response mode's one vocabulary: what the docs of other tools call it is refused.
        let e = read(&[("LAMBDA_STREAM_RESPONSE_MODE", "streaming")]).unwrap_err();
        assert!(e.contains("not `streamed`, `buffered` or `auto`"), "{e}");
    }

    /// A default the docs show is the one the server applies.
    #[test]
    fn each_default_is_the_options_default() {
        for setting in SETTINGS {
            let Some(default) = setting.default.filter(|d| !d.contains('<')) else {
                continue;
            };
            let mut o = read(&[(setting.name, default)]).unwrap();
            if setting.name.starts_with("LOCAL_LAMBDA_CORS_") {
                // Any CORS setting turns CORS on, with its defaults.
                assert_eq!(o.cors.take(), Some(Cors::default()), "{}", setting.name);
            }
            assert_eq!(o, Options::default(), "{}={default}", setting.name);
        }
        // And those written with the words they take.
        for setting in SETTINGS.iter().filter(|s| !s.values.is_empty()) {
            for value in setting.values {
                assert!(setting.takes.contains(&format!("`{value}`")), "{value}");
                read(&[(setting.name, value)]).unwrap();
            }
            let default = setting.default.unwrap_or_default();
            assert!(setting.values.contains(&default), "{}", setting.name);
        }
    }

    #[test]
    fn door_settings_from_env() {
        let o = read(&[
            ("LOCAL_LAMBDA_ALLOWED_HOSTS", " phone.lan, .example.com ,"),
            ("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "true"),
            (
                "LOCAL_LAMBDA_CORS_ALLOW_ORIGINS",
                "https://a.example,http://localhost:5173",
            ),
            ("LOCAL_LAMBDA_CORS_ALLOW_METHODS", "GET, POST"),
            ("LOCAL_LAMBDA_CORS_MAX_AGE", "300"),
            ("LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS", "TRUE"),
            ("LOCAL_LAMBDA_AUTH", "aws_iam"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("LOCAL_LAMBDA_IAM_USER_ARN", "arn:aws:iam::1:user/me"),
        ])
        .unwrap();
        assert_eq!(o.allowed_hosts, ["phone.lan", ".example.com"]);
        assert!(o.allow_cross_site);
        let cors = o.cors.unwrap();
        assert_eq!(
            cors.allow_origins,
            ["https://a.example", "http://localhost:5173"]
        );
        assert_eq!(cors.allow_methods, ["GET", "POST"]);
        assert!(cors.allow_headers.is_empty());
        assert_eq!(cors.max_age, Some(Duration::from_secs(300)));
        assert!(cors.allow_credentials);
        assert_eq!(o.auth, AuthType::AwsIam);
        assert_eq!(o.iam.access_key_id, "AKIDEXAMPLE");
        assert_eq!(o.iam.session_token.as_deref(), Some("token"));
        assert_eq!(o.iam.user_arn, "arn:aws:iam::1:user/me");
        assert_eq!(o.iam.account_id, "123456789012");

        let e = read(&[
            ("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "maybe"),
            ("LOCAL_LAMBDA_CORS_MAX_AGE", "90000"),
        ])
        .unwrap_err();
        assert!(e.contains("LOCAL_LAMBDA_ALLOW_CROSS_SITE=\"maybe\": not `true` or `false`"));
        assert!(e.contains("LOCAL_LAMBDA_CORS_MAX_AGE=\"90000\""));
    }
}
