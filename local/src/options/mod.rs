//! The local server's settings: [`Options`], from code or from `LOCAL_LAMBDA_*` variables.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

mod cors;
mod iam;
mod source;

pub use cors::Cors;
pub use iam::{AuthType, Iam};
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
    /// domain and its subdomains, `*` for any). Other hosts get `403`; see [the guard](crate#the-guard).
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
            source: Source::FunctionUrl,
            rest_api: RestApi::default(),
            alb: Alb::default(),
        }
    }
}

impl Options {
    /// Reads the options from `LOCAL_LAMBDA_HOST`, `LOCAL_LAMBDA_PORT`, `LOCAL_LAMBDA_TIMEOUT`,
    /// `LOCAL_LAMBDA_CONCURRENCY`, `LOCAL_LAMBDA_BANDWIDTH`, `LOCAL_LAMBDA_ALLOWED_HOSTS`,
    /// `LOCAL_LAMBDA_ALLOW_CROSS_SITE`, the `LOCAL_LAMBDA_CORS_*` variables, `LOCAL_LAMBDA_AUTH`,
    /// `LOCAL_LAMBDA_SOURCE`, `LOCAL_LAMBDA_STAGE`, `LOCAL_LAMBDA_RESOURCE`,
    /// `LOCAL_LAMBDA_TRANSFER_MODE`, `LOCAL_LAMBDA_MULTI_VALUE_HEADERS` and [`Iam::from_env`]'s; a missing or unparsable variable keeps its default (with a
    /// warning when unparsable).
    pub fn from_env() -> Self {
        let (options, complaints) = Self::from_lookup(|name| std::env::var(name).ok());
        for complaint in complaints {
            tracing::warn!("ignoring {complaint}");
        }
        options
    }

    /// Reads the options as [`Options::from_env`] does, from `lookup` (a variable's name to
    /// its value) instead of the environment, strictly: a value that cannot be parsed is an
    /// error that names it, rather than a warning.
    ///
    /// ```
    /// let options = lambda_stream_local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_PORT").then(|| "9000".to_owned())
    /// })?;
    /// assert_eq!(options.addr.port(), 9000);
    /// assert!(lambda_stream_local::Options::from_vars(|name| {
    ///     (name == "LOCAL_LAMBDA_TIMEOUT").then(|| "soon".to_owned())
    /// })
    /// .is_err());
    /// # Ok::<(), lambda_stream_local::Error>(())
    /// ```
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let (options, complaints) = Self::from_lookup(lookup);
        if complaints.is_empty() {
            Ok(options)
        } else {
            Err(Error::options(complaints.join("; ")))
        }
    }

    /// The options `lookup` gives, and what of it could not be parsed (kept as the default).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let complaints = RefCell::new(Vec::new());
        let warn = |complaint: String| complaints.borrow_mut().push(complaint);
        let mut options = Options::default();
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(host) = var("LOCAL_LAMBDA_HOST") {
            match host.trim().trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => options.addr.set_ip(ip),
                Err(_) => warn(format!("LOCAL_LAMBDA_HOST={:?}: not an ip address", host)),
            }
        }
        if let Some(port) = var("LOCAL_LAMBDA_PORT") {
            match port.trim().parse::<u16>() {
                Ok(p) => options.addr.set_port(p),
                Err(_) => warn(format!("LOCAL_LAMBDA_PORT={:?}: not a port number", port)),
            }
        }
        if let Some(secs) = var("LOCAL_LAMBDA_TIMEOUT") {
            match secs.trim().parse::<u64>() {
                Ok(s) if s > 0 => options.function_timeout = Duration::from_secs(s),
                _ => warn(format!(
                    "LOCAL_LAMBDA_TIMEOUT={:?}: not a positive number of seconds",
                    secs
                )),
            }
        }
        if let Some(n) = var("LOCAL_LAMBDA_CONCURRENCY") {
            match n.trim().parse::<NonZeroUsize>() {
                Ok(n) => options.concurrency = n,
                Err(_) => warn(format!(
                    "LOCAL_LAMBDA_CONCURRENCY={:?}: not a positive number",
                    n
                )),
            }
        }
        if let Some(b) = var("LOCAL_LAMBDA_BANDWIDTH") {
            match b.trim().to_ascii_lowercase().as_str() {
                "lambda" => options.bandwidth = Bandwidth::Lambda,
                "unlimited" => options.bandwidth = Bandwidth::Unlimited,
                _ => warn(format!(
                    "LOCAL_LAMBDA_BANDWIDTH={:?}: not `lambda` or `unlimited`",
                    b
                )),
            }
        }
        door_settings(&mut options, &var, &warn);
        options.iam = Iam::from_lookup(&lookup);
        (options, complaints.into_inner())
    }
}

/// The door's settings: allowed hosts, cross-site requests, CORS, the front end, auth.
fn door_settings(
    options: &mut Options,
    var: &dyn Fn(&str) -> Option<String>,
    warn: &dyn Fn(String),
) {
    let list = |name: &str| -> Option<Vec<String>> {
        var(name).map(|v| {
            v.split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect()
        })
    };
    let flag = |name: &str| -> Option<bool> {
        let v = var(name)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => {
                warn(format!("{name}={v:?}: not `true` or `false`"));
                None
            }
        }
    };
    if let Some(hosts) = list("LOCAL_LAMBDA_ALLOWED_HOSTS") {
        options.allowed_hosts = hosts;
    }
    if let Some(allow) = flag("LOCAL_LAMBDA_ALLOW_CROSS_SITE") {
        options.allow_cross_site = allow;
    }
    let mut cors = Cors::default();
    let mut any = false;
    for (name, field) in [
        ("LOCAL_LAMBDA_CORS_ALLOW_ORIGINS", &mut cors.allow_origins),
        ("LOCAL_LAMBDA_CORS_ALLOW_METHODS", &mut cors.allow_methods),
        ("LOCAL_LAMBDA_CORS_ALLOW_HEADERS", &mut cors.allow_headers),
        ("LOCAL_LAMBDA_CORS_EXPOSE_HEADERS", &mut cors.expose_headers),
    ] {
        if let Some(entries) = list(name) {
            *field = entries;
            any = true;
        }
    }
    if let Some(age) = var("LOCAL_LAMBDA_CORS_MAX_AGE") {
        match age.trim().parse::<u64>() {
            Ok(s) if s <= 86_400 => {
                cors.max_age = Some(Duration::from_secs(s));
                any = true;
            }
            _ => warn(format!(
                "LOCAL_LAMBDA_CORS_MAX_AGE={:?}: not a number of seconds up to 86400",
                age
            )),
        }
    }
    if let Some(credentials) = flag("LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS") {
        cors.allow_credentials = credentials;
        any = true;
    }
    if any {
        options.cors = Some(cors);
    }
    source::front_settings(options, var, &flag, warn);
    if let Some(auth) = var("LOCAL_LAMBDA_AUTH") {
        match auth.trim().to_ascii_uppercase().as_str() {
            "AWS_IAM" => options.auth = AuthType::AwsIam,
            "NONE" => options.auth = AuthType::None,
            _ => warn(format!(
                "LOCAL_LAMBDA_AUTH={:?}: not `NONE` or `AWS_IAM`",
                auth
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The options of `vars`, leniently.
    fn lookup(vars: impl Fn(&str) -> Option<String>) -> Options {
        Options::from_lookup(vars).0
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
        let e = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(e.contains("LOCAL_LAMBDA_PORT=\"seventy\""), "{e}");
        assert!(e.contains("LOCAL_LAMBDA_AUTH=\"COGNITO\""), "{e}");
    }

    #[test]
    fn options_from_env() {
        let vars: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_HOST", "0.0.0.0"),
            ("LOCAL_LAMBDA_PORT", "9000"),
            ("LOCAL_LAMBDA_TIMEOUT", "30"),
            ("LOCAL_LAMBDA_CONCURRENCY", "3"),
            ("LOCAL_LAMBDA_BANDWIDTH", "Lambda"),
        ]
        .into();
        let o = lookup(|n| vars.get(n).map(|v| v.to_string()));
        assert_eq!(o.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(o.function_timeout, Duration::from_secs(30));
        assert_eq!(o.concurrency.get(), 3);
        assert_eq!(o.bandwidth, Bandwidth::Lambda);

        let o = lookup(|n| {
            (n.starts_with("LOCAL_LAMBDA_")
                && !n.contains("HOST")
                && !n.contains("STAGE")
                && !n.contains("CORS_ALLOW_")
                && !n.contains("CORS_EXPOSE")
                && !n.contains("_IAM_"))
            .then(|| "bad".to_owned())
        });
        assert_eq!(o, Options::default());
        assert_eq!(o.addr, "127.0.0.1:7000".parse().unwrap());
    }

    #[test]
    fn door_settings_from_env() {
        let vars: HashMap<&str, &str> = [
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
        ]
        .into();
        let o = lookup(|n| vars.get(n).map(|v| v.to_string()));
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

        let bad: HashMap<&str, &str> = [
            ("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "maybe"),
            ("LOCAL_LAMBDA_CORS_MAX_AGE", "90000"),
            ("LOCAL_LAMBDA_AUTH", "COGNITO"),
        ]
        .into();
        let o = lookup(|n| bad.get(n).map(|v| v.to_string()));
        assert_eq!(o, Options::default());
    }
}
