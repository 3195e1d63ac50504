//! Every variable of the local server, declared once: [`SETTINGS`], which the reader
//! ([`Options::from_vars`]) walks, the command line offers as flags and the docs' table lists.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use lambda_stream_protocol::{ResponseMode, RESPONSE_MODE_VAR};

use super::{AuthType, Bandwidth, Cors, Options, Source, TransferMode};
use crate::emulator::rest_route::Resource;

/// One setting of the local server: its variable, its default, what it takes, what it does.
///
/// ```
/// let port = lambda_stream_local::SETTINGS
///     .iter()
///     .find(|s| s.name == "LOCAL_LAMBDA_PORT")
///     .unwrap();
/// assert_eq!(port.default, Some("7000"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Setting {
    /// The variable: `LOCAL_LAMBDA_PORT`.
    pub name: &'static str,
    /// Its default as the docs write it; `None` when unset means none.
    pub default: Option<&'static str>,
    /// What it takes, as an error message says it: `a port number (0 to 65535)`.
    pub takes: &'static str,
    /// The words it takes, when it takes one of a few (any case): `lambda`, `unlimited`.
    pub values: &'static [&'static str],
    /// What it does, in a line.
    pub about: &'static str,
    /// Sets it in the options from a value that is not blank; `Err` when it cannot be parsed.
    apply: fn(&mut Options, &str) -> Result<(), ()>,
}

impl Setting {
    /// Sets this setting in `options` from `value`; a value that cannot be parsed is an error
    /// that names the variable, the value, and what it takes.
    pub(crate) fn apply(&self, options: &mut Options, value: &str) -> Result<(), String> {
        (self.apply)(options, value.trim())
            .map_err(|()| format!("{}={value:?}: not {}", self.name, self.takes))
    }
}

const BOOLS: &[&str] = &["true", "false"];

/// Every setting of the local server, in the order of the docs' table.
pub static SETTINGS: &[Setting] = &[
    Setting {
        name: "LOCAL_LAMBDA_HOST",
        default: Some("127.0.0.1"),
        takes: "an IP address",
        values: &[],
        about: "where the server listens",
        apply: |o, v| {
            let ip = v.trim_matches(['[', ']']).parse::<IpAddr>().map_err(drop)?;
            o.addr.set_ip(ip);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_PORT",
        default: Some("7000"),
        takes: "a port number (0 to 65535; 0 picks a free one)",
        values: &[],
        about: "the port it listens on",
        apply: |o, v| {
            o.addr.set_port(v.parse().map_err(drop)?);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CONCURRENCY",
        default: Some("64"),
        takes: "a positive number",
        values: &[],
        about: "invocations at once; beyond it, 429",
        apply: |o, v| {
            o.concurrency = v.parse::<NonZeroUsize>().map_err(drop)?;
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_TIMEOUT",
        default: Some("900"),
        takes: "a positive number of seconds",
        values: &[],
        about: "the function timeout, in seconds",
        apply: |o, v| {
            let secs = v.parse::<u64>().ok().filter(|s| *s > 0).ok_or(())?;
            o.function_timeout = Duration::from_secs(secs);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_BANDWIDTH",
        default: Some("unlimited"),
        takes: "`lambda` or `unlimited`",
        values: &["lambda", "unlimited"],
        about: "lambda: 2 MB/s after the first 6 MB, as Lambda streams",
        apply: |o, v| {
            o.bandwidth = match v.to_ascii_lowercase().as_str() {
                "lambda" => Bandwidth::Lambda,
                "unlimited" => Bandwidth::Unlimited,
                _ => return Err(()),
            };
            Ok(())
        },
    },
    Setting {
        name: RESPONSE_MODE_VAR,
        default: Some("auto"),
        takes: "`streamed`, `buffered` or `auto`",
        values: &["streamed", "buffered", "auto"],
        about: "buffered: the function URL answers as a BUFFERED one",
        apply: |o, v| {
            o.response_mode = v.parse::<ResponseMode>().map_err(drop)?;
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_ALLOWED_HOSTS",
        default: None,
        takes: "host names, comma-separated",
        values: &[],
        about: "host names served besides loopback ones, comma-separated",
        apply: |o, v| {
            o.allowed_hosts = list(v);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_ALLOW_CROSS_SITE",
        default: Some("false"),
        takes: "`true` or `false`",
        values: BOOLS,
        about: "let pages of other sites call the function",
        apply: |o, v| {
            o.allow_cross_site = flag(v)?;
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_ALLOW_ORIGINS",
        default: None,
        takes: "origins, comma-separated",
        values: &[],
        about: "function URL CORS: AllowOrigins, comma-separated",
        apply: |o, v| {
            cors(o).allow_origins = list(v);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_ALLOW_METHODS",
        default: None,
        takes: "methods, comma-separated",
        values: &[],
        about: "function URL CORS: AllowMethods, comma-separated",
        apply: |o, v| {
            cors(o).allow_methods = list(v);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_ALLOW_HEADERS",
        default: None,
        takes: "header names, comma-separated",
        values: &[],
        about: "function URL CORS: AllowHeaders, comma-separated",
        apply: |o, v| {
            cors(o).allow_headers = list(v);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_EXPOSE_HEADERS",
        default: None,
        takes: "header names, comma-separated",
        values: &[],
        about: "function URL CORS: ExposeHeaders, comma-separated",
        apply: |o, v| {
            cors(o).expose_headers = list(v);
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_MAX_AGE",
        default: None,
        takes: "a number of seconds up to 86400",
        values: &[],
        about: "function URL CORS: MaxAge, in seconds",
        apply: |o, v| {
            let secs = v.parse::<u64>().ok().filter(|s| *s <= 86_400).ok_or(())?;
            cors(o).max_age = Some(Duration::from_secs(secs));
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS",
        default: Some("false"),
        takes: "`true` or `false`",
        values: BOOLS,
        about: "function URL CORS: AllowCredentials",
        apply: |o, v| {
            cors(o).allow_credentials = flag(v)?;
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_AUTH",
        default: Some("NONE"),
        takes: "`NONE` or `AWS_IAM`",
        values: &["NONE", "AWS_IAM"],
        about: "function URL AuthType",
        apply: |o, v| {
            o.auth = match v.to_ascii_uppercase().as_str() {
                "AWS_IAM" => AuthType::AwsIam,
                "NONE" => AuthType::None,
                _ => return Err(()),
            };
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_SOURCE",
        default: Some("url"),
        takes: "`url`, `rest`, `http-api` or `alb`",
        values: &["url", "rest", "http-api", "alb"],
        about: "the front end callers come through: a function URL, an API Gateway REST API, an HTTP API or an ALB",
        apply: |o, v| {
            o.source = Source::from_name(v).ok_or(())?;
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_STAGE",
        default: Some("dev"),
        takes: "a stage name (letters, digits, `-` and `_`)",
        values: &[],
        about: "REST API: the stage, the first segment of every path",
        apply: |o, v| {
            let valid = v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(());
            }
            o.rest_api.stage = v.to_owned();
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_RESOURCE",
        default: None,
        takes: "a resource path such as `/items/{id}` (`{name}` segments; `{name+}` only last)",
        values: &[],
        about: "REST API: the resource, e.g. /items/{id} (unset: / and /{proxy+})",
        apply: |o, v| {
            Resource::parse(v).ok_or(())?;
            o.rest_api.resource = Some(v.to_owned());
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_TRANSFER_MODE",
        default: Some("stream"),
        takes: "`stream` or `buffered`",
        values: &["stream", "buffered"],
        about: "REST API: its responseTransferMode",
        apply: |o, v| {
            o.rest_api.transfer_mode = match v.to_ascii_lowercase().as_str() {
                "stream" => TransferMode::Stream,
                "buffered" => TransferMode::Buffered,
                _ => return Err(()),
            };
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_MULTI_VALUE_HEADERS",
        default: Some("false"),
        takes: "`true` or `false`",
        values: BOOLS,
        about: "ALB: the target group's multi-value headers",
        apply: |o, v| {
            o.alb.multi_value_headers = flag(v)?;
            Ok(())
        },
    },
    // Before the user's ARN, whose default names the account.
    Setting {
        name: "LOCAL_LAMBDA_IAM_ACCOUNT_ID",
        default: Some("123456789012"),
        takes: "an account id",
        values: &[],
        about: "AWS_IAM caller's accountId",
        apply: |o, v| {
            o.iam.user_arn = format!("arn:aws:iam::{v}:user/local");
            o.iam.account_id = v.to_owned();
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_IAM_USER_ARN",
        default: Some("arn:aws:iam::<account>:user/local"),
        takes: "an ARN",
        values: &[],
        about: "AWS_IAM caller's userArn",
        apply: |o, v| {
            o.iam.user_arn = v.to_owned();
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_IAM_CALLER_ID",
        default: Some("AIDALOCALDEVELOPER"),
        takes: "an id",
        values: &[],
        about: "AWS_IAM caller's callerId",
        apply: |o, v| {
            o.iam.caller_id = v.to_owned();
            Ok(())
        },
    },
    Setting {
        name: "LOCAL_LAMBDA_IAM_PRINCIPAL_ORG_ID",
        default: None,
        takes: "an organization id",
        values: &[],
        about: "AWS_IAM caller's principalOrgId",
        apply: |o, v| {
            o.iam.principal_org_id = Some(v.to_owned());
            Ok(())
        },
    },
];

/// The setting named `name`, if the local server has one.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// A comma-separated list, without blank entries.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

fn flag(value: &str) -> Result<bool, ()> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(()),
    }
}

/// The CORS settings, on: any `LOCAL_LAMBDA_CORS_*` turns them on.
fn cors(options: &mut Options) -> &mut Cors {
    options.cors.get_or_insert_with(Cors::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of a settings table: (file, the row's names, its defaults, the whole row).
    type Row = (String, Vec<String>, Vec<Option<String>>, String);

    /// The rows of the settings tables in the workspace's README and guide (`docs/*.md`).
    fn documented() -> Vec<Row> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![root.join("README.md")];
        if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
            let mut guide: Vec<_> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect();
            guide.sort();
            files.extend(guide);
        }
        let ticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let mut rows = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines() {
                let line = line.trim();
                if !(line.starts_with("| `LOCAL_LAMBDA_") || line.starts_with("| `LAMBDA_STREAM_"))
                {
                    continue;
                }
                let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
                assert!(cells.len() >= 3, "{line}");
                // `LOCAL_LAMBDA_CORS_ALLOW_METHODS` / `_ALLOW_HEADERS`: the first name's
                // `LOCAL_LAMBDA_CORS` before each shortened one.
                let written = ticked(cells[0]);
                let first = written[0].clone();
                let prefix: String = first.split('_').take(3).collect::<Vec<_>>().join("_");
                let names: Vec<String> = written
                    .into_iter()
                    .map(|n| {
                        if n.starts_with('_') {
                            format!("{prefix}{n}")
                        } else {
                            n
                        }
                    })
                    .collect();
                let mut defaults: Vec<Option<String>> = cells[1]
                    .split(" / ")
                    .map(|d| match d.trim() {
                        "none" => None,
                        d => Some(d.trim_matches('`').to_owned()),
                    })
                    .collect();
                if defaults.len() == 1 {
                    defaults = vec![defaults[0].clone(); names.len()];
                }
                assert_eq!(defaults.len(), names.len(), "{line}");
                let file = file.file_name().unwrap().to_string_lossy().into_owned();
                rows.push((file, names, defaults, line.to_owned()));
            }
        }
        rows
    }

    /// The docs' settings tables say what the code does: every setting, once, with its
    /// default and the words it takes; no setting the code does not have.
    #[test]
    fn the_docs_tables_are_the_settings() {
        let rows = documented();
        let mut seen = Vec::new();
        for (file, names, defaults, line) in &rows {
            for (name, default) in names.iter().zip(defaults) {
                // The runtime's own (`LAMBDA_STREAM_STRIP_STAGE_PREFIX`): lambda-stream's
                // `Config::VARIABLES`, checked by its tests.
                if !name.starts_with("LOCAL_LAMBDA_") && setting(name).is_none() {
                    continue;
                }
                let Some(setting) = setting(name) else {
                    panic!("{file}: {name} is documented but not a setting");
                };
                assert_eq!(
                    default.as_deref(),
                    setting.default,
                    "{file}: the default of {name}"
                );
                for value in setting.values {
                    assert!(
                        line.contains(&format!("`{value}`")),
                        "{file}: {name}'s row does not say it takes `{value}`"
                    );
                }
                seen.push(name.as_str());
            }
        }
        let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        for name in &names {
            let times = seen.iter().filter(|n| *n == name).count();
            assert_eq!(times, 1, "{name} is documented {times} times");
        }
        assert_eq!(seen.len(), names.len());
    }
}
