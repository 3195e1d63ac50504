//! The function's configuration, read from the environment Lambda sets.

use std::fmt;
use std::num::NonZeroUsize;

pub use lambda_stream_protocol::{ResponseMode, UnknownResponseMode};

/// The function's configuration, from the environment variables Lambda sets.
///
/// Reading it never fails: a variable that is missing or garbled leaves its field at the
/// default (`None` or empty) and, when garbled, logs a warning. See
/// [the AWS list of runtime environment variables][env].
///
/// ```
/// let config = lambda_stream::Config::from_env();
/// println!("running {} ({} MB)", config.function_name, config.memory_size_mb.unwrap_or(0));
/// ```
///
/// [env]: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `AWS_LAMBDA_RUNTIME_API`: the `host:port` of the Runtime API. `None` outside Lambda.
    pub runtime_api: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub function_version: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in megabytes.
    pub memory_size_mb: Option<u32>,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group: String,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub log_stream: String,
    /// `AWS_REGION`.
    pub region: String,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`: `on-demand`, `provisioned-concurrency`, `snap-start`
    /// or `lambda-managed-instances`.
    pub initialization_type: String,
    /// `AWS_LAMBDA_LOG_FORMAT`: `JSON` or `Text`; only set when configured.
    pub log_format: Option<String>,
    /// `AWS_LAMBDA_LOG_LEVEL`; only set when configured.
    pub log_level: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed Instances only): how many workers
    /// [`Runtime::run_concurrent`](crate::Runtime::run_concurrent) starts; one when `None`.
    ///
    /// At most [`Config::MAX_CONCURRENCY`] workers are started, whatever this says. Read from
    /// the environment, a larger value is capped there with a warning, and a value that is
    /// `0`, negative or not a number is logged and left out (one worker).
    pub max_concurrency: Option<NonZeroUsize>,
    /// `LAMBDA_STREAM_RESPONSE_MODE` (ours, not Lambda's): `auto` (the default), `streamed`
    /// or `buffered`; see [`ResponseMode`].
    pub response_mode: ResponseMode,
    /// `LAMBDA_STREAM_STRIP_STAGE_PREFIX` (ours): `true` to take a named stage out of the
    /// path of API Gateway HTTP API (payload 2.0) requests.
    ///
    /// Called through its default `execute-api` endpoint, an HTTP API stage `prod` gives
    /// `rawPath: "/prod/items"`. By default the request's path is `rawPath` as it is (the
    /// path the caller used); with this on it is `/items`, as REST APIs (whose `path` leaves
    /// the stage out) and routes written without the stage expect. The `$default` stage is
    /// never in the path; the original stays readable with
    /// [`RequestExt::raw_http_path`](crate::RequestExt::raw_http_path).
    pub strip_stage_prefix: bool,
}

impl Config {
    /// The most workers [`Runtime::run_concurrent`](crate::Runtime::run_concurrent) starts:
    /// 1600, the largest per-environment concurrency Lambda Managed Instances allows
    /// (`PerExecutionEnvironmentMaxConcurrency`), so Lambda never sets more.
    ///
    /// Each worker holds a connection to the Runtime API and a little memory; a value past
    /// this is a mistake, and thousands of idle workers would only cost memory.
    pub const MAX_CONCURRENCY: usize = 1600;

    /// lambda-stream's own environment variables (Lambda's are the other fields), each with
    /// its default as the guide's tables state it: `LAMBDA_STREAM_RESPONSE_MODE` (`auto`,
    /// [`ResponseMode::Auto`]) and `LAMBDA_STREAM_STRIP_STAGE_PREFIX` (`false`).
    ///
    /// ```
    /// let names: Vec<_> = lambda_stream::Config::VARIABLES.iter().map(|(name, _)| *name).collect();
    /// assert!(names.contains(&"LAMBDA_STREAM_RESPONSE_MODE"));
    /// ```
    pub const VARIABLES: &'static [(&'static str, &'static str)] = &[
        ("LAMBDA_STREAM_RESPONSE_MODE", "auto"),
        ("LAMBDA_STREAM_STRIP_STAGE_PREFIX", "false"),
    ];

    /// Reads the configuration from this process's environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which maps a variable's name to its value.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| lookup(name).unwrap_or_default();
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Config {
            runtime_api: non_empty("AWS_LAMBDA_RUNTIME_API").map(|v| v.trim().to_owned()),
            function_name: text("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: text("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_size_mb: non_empty("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .and_then(|v| parse_or_warn("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &v)),
            log_group: text("AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream: text("AWS_LAMBDA_LOG_STREAM_NAME"),
            region: text("AWS_REGION"),
            initialization_type: text("AWS_LAMBDA_INITIALIZATION_TYPE"),
            log_format: non_empty("AWS_LAMBDA_LOG_FORMAT"),
            log_level: non_empty("AWS_LAMBDA_LOG_LEVEL"),
            max_concurrency: non_empty("AWS_LAMBDA_MAX_CONCURRENCY")
                .and_then(|v| parse_max_concurrency(&v)),
            response_mode: non_empty("LAMBDA_STREAM_RESPONSE_MODE")
                .and_then(|v| parse_or_warn("LAMBDA_STREAM_RESPONSE_MODE", &v))
                .unwrap_or_default(),
            strip_stage_prefix: non_empty("LAMBDA_STREAM_STRIP_STAGE_PREFIX").is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            }),
        }
    }

    /// How many workers to start: [`max_concurrency`](Config::max_concurrency), at most
    /// [`MAX_CONCURRENCY`](Config::MAX_CONCURRENCY).
    pub(crate) fn workers(&self) -> usize {
        self.max_concurrency
            .map_or(1, |n| n.get().min(Self::MAX_CONCURRENCY))
    }
}

/// `AWS_LAMBDA_MAX_CONCURRENCY`: a count from 1 to [`Config::MAX_CONCURRENCY`]. A larger one
/// is capped, anything else ignored (one worker); either way with a log line that says so.
fn parse_max_concurrency(value: &str) -> Option<NonZeroUsize> {
    let (n, warning) = max_concurrency_of(value);
    if let Some(warning) = warning {
        tracing::warn!(variable = "AWS_LAMBDA_MAX_CONCURRENCY", value, "{warning}");
    }
    n
}

/// What `value` gives, and the warning to log when it is not taken as it is.
fn max_concurrency_of(value: &str) -> (Option<NonZeroUsize>, Option<String>) {
    const NAME: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
    let max = Config::MAX_CONCURRENCY;
    let trimmed = value.trim();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let why = if all_digits(unsigned) {
        // Too many digits for a usize is over the cap as well.
        match unsigned.parse::<usize>().map(NonZeroUsize::new) {
            Ok(Some(n)) if n.get() <= max => return (Some(n), None),
            Ok(None) => "is 0",
            _ => {
                let warning = format!(
                    "{NAME} is over {max} ({value}), the most invocations Lambda Managed \
                     Instances runs at once in one environment: starting {max} workers"
                );
                return (NonZeroUsize::new(max), Some(warning));
            }
        }
    } else if trimmed.strip_prefix('-').is_some_and(all_digits) {
        "is negative"
    } else {
        "is not a whole number"
    };
    let warning = format!("{NAME} {why}: ignoring it and serving one invocation at a time");
    (None, Some(warning))
}

fn parse_or_warn<T: std::str::FromStr>(name: &str, value: &str) -> Option<T> {
    match value.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(
                variable = name,
                value,
                "ignoring an unparsable environment variable"
            );
            None
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("runtime_api", &self.runtime_api)
            .field("function_name", &self.function_name)
            .field("function_version", &self.function_version)
            .field("memory_size_mb", &self.memory_size_mb)
            .field("region", &self.region)
            .field("initialization_type", &self.initialization_type)
            .field("max_concurrency", &self.max_concurrency)
            .field("response_mode", &self.response_mode)
            .field("strip_stage_prefix", &self.strip_stage_prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn variables_are_what_from_lookup_reads_and_their_defaults_are_the_defaults() {
        let read = std::cell::RefCell::new(Vec::new());
        Config::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            None
        });
        let ours: Vec<String> = read
            .into_inner()
            .into_iter()
            .filter(|name| name.starts_with("LAMBDA_STREAM_"))
            .collect();
        let listed: Vec<&str> = Config::VARIABLES.iter().map(|(name, _)| *name).collect();
        assert_eq!(ours, listed);
        for (name, default) in Config::VARIABLES {
            assert!(
                config(&[(name, default)]) == config(&[]),
                "{name}={default}"
            );
        }
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stream"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/stream"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]abc"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
            ("LAMBDA_STREAM_RESPONSE_MODE", "BUFFERED"),
            ("LAMBDA_STREAM_STRIP_STAGE_PREFIX", "true"),
        ]);
        assert_eq!(c.runtime_api.as_deref(), Some("127.0.0.1:9001"));
        assert_eq!(c.function_name, "stream");
        assert_eq!(c.memory_size_mb, Some(1024));
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.log_format.as_deref(), Some("JSON"));
        assert_eq!(c.max_concurrency, NonZeroUsize::new(8));
        assert_eq!(c.response_mode, ResponseMode::Buffered);
        assert!(c.strip_stage_prefix);
    }

    /// What `value` gives, and the warning logged for it (empty when none).
    fn max_concurrency(value: &str) -> (Option<usize>, String) {
        let (n, warning) = max_concurrency_of(value);
        (n.map(NonZeroUsize::get), warning.unwrap_or_default())
    }

    #[test]
    fn max_concurrency_in_range_is_taken_quietly() {
        for (value, want) in [("1", 1), ("8", 8), (" 64 ", 64), ("+4", 4), ("1600", 1600)] {
            let (n, logs) = max_concurrency(value);
            assert_eq!(n, Some(want), "{value:?}");
            assert_eq!(logs, "", "{value:?}");
        }
    }

    #[test]
    fn max_concurrency_over_the_cap_is_capped_with_a_warning() {
        for value in ["1601", "30000", "99999999999999999999999999"] {
            let (n, logs) = max_concurrency(value);
            assert_eq!(n, Some(Config::MAX_CONCURRENCY), "{value:?}");
            assert!(
                logs.contains("AWS_LAMBDA_MAX_CONCURRENCY is over 1600")
                    && logs.contains("starting 1600 workers")
                    && logs.contains(value),
                "{logs}"
            );
        }
    }

    #[test]
    fn max_concurrency_zero_negative_or_garbled_is_one_worker_with_a_warning() {
        for (value, why) in [
            ("0", "is 0"),
            ("000", "is 0"),
            ("-1", "is negative"),
            (" -30000", "is negative"),
            ("lots", "is not a whole number"),
            ("2.5", "is not a whole number"),
            ("8 workers", "is not a whole number"),
            ("0x10", "is not a whole number"),
            ("-", "is not a whole number"),
        ] {
            let (n, logs) = max_concurrency(value);
            assert_eq!(n, None, "{value:?}");
            assert!(
                logs.contains(&format!("AWS_LAMBDA_MAX_CONCURRENCY {why}: ignoring it and serving one invocation at a time")),
                "{value:?}: {logs}"
            );
        }
    }

    #[test]
    fn workers_never_exceed_the_cap() {
        let mut c = Config::default();
        assert_eq!(c.workers(), 1);
        c.max_concurrency = NonZeroUsize::new(12);
        assert_eq!(c.workers(), 12);
        c.max_concurrency = NonZeroUsize::new(30_000);
        assert_eq!(c.workers(), Config::MAX_CONCURRENCY);
    }

    #[test]
    fn missing_and_garbled_variables_fall_back() {
        let c = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "  "),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "0"),
            ("LAMBDA_STREAM_RESPONSE_MODE", "sometimes"),
        ]);
        assert_eq!(c, Config::default());
    }
}
