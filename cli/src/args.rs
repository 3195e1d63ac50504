//! The command line: `lambda-stream local [OPTIONS] [--] COMMAND [ARGS...]`.
//!
//! Declared once, below: each field is a flag, and its attributes are its name, its value, the
//! variable it sets, its default and its help. Every setting of the local server has a flag named
//! after its variable: `--port` is `LOCAL_LAMBDA_PORT`, `--cors-allow-origins` is
//! `LOCAL_LAMBDA_CORS_ALLOW_ORIGINS`. A flag wins over its variable; a variable still applies when
//! its flag is not given. The settings' values are read by the library's own reader of those
//! variables ([`Local::server_options`]), so a value means the same thing in either place.

use std::error::Error as StdError;
use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, CommandFactory as _, FromArgMatches as _, Parser};

const USAGE: &str = "lambda-stream local [OPTIONS] [--] COMMAND [ARGS]...";

/// lambda-stream: run AWS Lambda functions locally
#[derive(Debug, Parser)]
#[command(name = "lambda-stream", version, propagate_version = true, override_usage = USAGE)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    Local(Box<Local>),
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    /// No subcommand: print the help.
    Help,
    /// `local`: host a function.
    Local(Box<Local>),
}

/// Run a Lambda function's binary as Lambda runs it, behind a local function URL and Lambda API
/// that stream each chunk as it is written
#[derive(Debug, Args)]
#[command(
    override_usage = USAGE,
    after_help = "COMMAND is what Lambda would run: a `bootstrap` (cargo lambda build), a release \
        binary, or any runtime that speaks the Lambda Runtime API. Each execution environment is \
        a process of it with Lambda's environment variables and its own Runtime API.\n\n\
        Examples:\n  \
        lambda-stream local -- target/release/my-fn\n  \
        lambda-stream local --port 9000 --max-concurrency 4 -- target/lambda/my-fn/bootstrap\n  \
        lambda-stream local --source rest --stage prod -- target/release/my-fn\n  \
        curl -N http://127.0.0.1:7000/          (the function url)\n  \
        curl -N http://127.0.0.1:7000/prod/     (--source rest --stage prod)"
)]
pub(crate) struct Local {
    /// AWS_LAMBDA_FUNCTION_NAME [default: the command's name]
    #[arg(long, value_name = "NAME", value_parser = non_empty, help_heading = "Function")]
    pub(crate) function_name: Option<String>,
    /// AWS_REGION [default: us-east-1]
    #[arg(long, value_name = "REGION", value_parser = non_empty, help_heading = "Function")]
    pub(crate) region: Option<String>,
    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE [default: 128]
    #[arg(
        long = "memory",
        value_name = "MB",
        value_parser = clap::value_parser!(u32).range(128..=10_240),
        help_heading = "Function"
    )]
    pub(crate) memory_mb: Option<u32>,
    /// _HANDLER [default: the last argument if it is module.function, else bootstrap]
    #[arg(long, value_name = "NAME", help_heading = "Function")]
    pub(crate) handler: Option<String>,
    /// LAMBDA_TASK_ROOT and working directory: where the handler's code is [default: .]
    #[arg(long, value_name = "DIR", help_heading = "Function")]
    pub(crate) task_root: Option<PathBuf>,
    /// One process serves N invocations at once (Managed Instances)
    #[arg(long, value_name = "N", value_parser = max_concurrency, help_heading = "Function")]
    pub(crate) max_concurrency: Option<NonZeroUsize>,
    /// An environment variable of the function (repeatable)
    #[arg(
        long = "env",
        value_name = "KEY=VALUE",
        value_parser = key_value,
        help_heading = "Function"
    )]
    pub(crate) envs: Vec<(OsString, OsString)>,
    /// Start each program in DIR as an external extension, as Lambda does those of
    /// /opt/extensions (repeatable)
    #[arg(long, value_name = "DIR", help_heading = "Function")]
    pub(crate) extensions: Vec<PathBuf>,
    /// A layer, unpacked in DIR, as /opt: its extensions/ start, its bin/ is on PATH, and
    /// /opt/... in COMMAND and AWS_LAMBDA_EXEC_WRAPPER is DIR/... (repeatable)
    #[arg(long, value_name = "DIR", help_heading = "Function")]
    pub(crate) layer: Vec<PathBuf>,

    /// More of the host's own log (-vv: all of it)
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
    /// Less of the host's own log
    #[arg(short, long, action = ArgAction::Count)]
    quiet: u8,

    /// What Lambda would run (a path, or a name looked up in PATH), then its arguments as given
    #[arg(value_name = "COMMAND", required = true, num_args = 1.., trailing_var_arg = true)]
    command: Vec<OsString>,
    /// The command.
    #[arg(skip)]
    pub(crate) program: OsString,
    /// Its arguments.
    #[arg(skip)]
    pub(crate) args: Vec<OsString>,

    // Last: the headings of its flags apply to what follows.
    #[command(flatten)]
    server: Server,

    /// Every server setting: its variable, its flag, and its value if given.
    #[arg(skip)]
    settings: Vec<Setting>,
}

/// The local server's settings. Each field is declared only to be a flag: the values are read by
/// their variable from the parsed matches ([`settings`]), where clap tells a flag's value from a
/// variable's.
#[derive(Debug, Args)]
#[command(next_help_heading = "Server (each flag sets the variable shown, and wins over it)")]
struct Server {
    /// Address to listen on
    #[arg(
        long,
        env = "LOCAL_LAMBDA_HOST",
        value_name = "ADDR",
        default_value = "127.0.0.1"
    )]
    host: OsString,
    /// Port to listen on, 0 for any free one
    #[arg(
        long,
        env = "LOCAL_LAMBDA_PORT",
        value_name = "PORT",
        default_value = "7000"
    )]
    port: OsString,
    /// Function timeout, in seconds
    #[arg(
        long,
        env = "LOCAL_LAMBDA_TIMEOUT",
        value_name = "SECS",
        default_value = "900"
    )]
    timeout: OsString,
    /// Invocations at once; beyond, 429
    #[arg(
        long,
        env = "LOCAL_LAMBDA_CONCURRENCY",
        value_name = "N",
        default_value = "64"
    )]
    concurrency: OsString,
    /// lambda: 2 MB/s after the first 6 MB, as Lambda streams
    #[arg(
        long,
        env = "LOCAL_LAMBDA_BANDWIDTH",
        value_name = "lambda|unlimited",
        default_value = "unlimited"
    )]
    bandwidth: OsString,
    /// buffered: the function URL answers as a BUFFERED one; passed on to the function
    #[arg(
        long,
        env = "LAMBDA_STREAM_RESPONSE_MODE",
        value_name = "streamed|buffered|auto",
        default_value = "auto"
    )]
    response_mode: OsString,
    /// Host names served besides loopback ones, comma-separated
    #[arg(long, env = "LOCAL_LAMBDA_ALLOWED_HOSTS", value_name = "LIST")]
    allowed_hosts: Option<OsString>,
    /// Let pages of other sites call the function
    #[arg(
        long,
        env = "LOCAL_LAMBDA_ALLOW_CROSS_SITE",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    allow_cross_site: OsString,
    /// Function URL CORS: AllowOrigins, comma-separated
    #[arg(long, env = "LOCAL_LAMBDA_CORS_ALLOW_ORIGINS", value_name = "LIST")]
    cors_allow_origins: Option<OsString>,
    /// Function URL CORS: AllowMethods, comma-separated
    #[arg(long, env = "LOCAL_LAMBDA_CORS_ALLOW_METHODS", value_name = "LIST")]
    cors_allow_methods: Option<OsString>,
    /// Function URL CORS: AllowHeaders, comma-separated
    #[arg(long, env = "LOCAL_LAMBDA_CORS_ALLOW_HEADERS", value_name = "LIST")]
    cors_allow_headers: Option<OsString>,
    /// Function URL CORS: ExposeHeaders, comma-separated
    #[arg(long, env = "LOCAL_LAMBDA_CORS_EXPOSE_HEADERS", value_name = "LIST")]
    cors_expose_headers: Option<OsString>,
    /// Function URL CORS: MaxAge, in seconds
    #[arg(long, env = "LOCAL_LAMBDA_CORS_MAX_AGE", value_name = "SECS")]
    cors_max_age: Option<OsString>,
    /// Function URL CORS: AllowCredentials
    #[arg(
        long,
        env = "LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    cors_allow_credentials: Option<OsString>,
    /// Function URL AuthType
    #[arg(
        long,
        env = "LOCAL_LAMBDA_AUTH",
        value_name = "NONE|AWS_IAM",
        default_value = "NONE"
    )]
    auth: OsString,
    /// The front end callers come through: a function URL, an API Gateway REST API, an HTTP
    /// API or an ALB
    #[arg(
        long,
        env = "LOCAL_LAMBDA_SOURCE",
        value_name = "url|rest|http-api|alb",
        default_value = "url"
    )]
    source: OsString,
    /// REST API: the stage, the first segment of every path
    #[arg(
        long,
        env = "LOCAL_LAMBDA_STAGE",
        value_name = "NAME",
        default_value = "dev"
    )]
    stage: OsString,
    /// REST API: the resource, e.g. /items/{id} [default: / and /{proxy+}]
    #[arg(long, env = "LOCAL_LAMBDA_RESOURCE", value_name = "PATH")]
    resource: Option<OsString>,
    /// REST API: responseTransferMode
    #[arg(
        long,
        env = "LOCAL_LAMBDA_TRANSFER_MODE",
        value_name = "stream|buffered",
        default_value = "stream"
    )]
    transfer_mode: OsString,
    /// ALB: the target group's multi-value headers
    #[arg(
        long,
        env = "LOCAL_LAMBDA_MULTI_VALUE_HEADERS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    multi_value_headers: OsString,
    /// AWS_IAM caller's accountId
    #[arg(
        long,
        env = "LOCAL_LAMBDA_IAM_ACCOUNT_ID",
        value_name = "ID",
        default_value = "123456789012"
    )]
    iam_account_id: OsString,
    /// AWS_IAM caller's userArn
    #[arg(long, env = "LOCAL_LAMBDA_IAM_USER_ARN", value_name = "ARN")]
    iam_user_arn: Option<OsString>,
    /// AWS_IAM caller's callerId
    #[arg(
        long,
        env = "LOCAL_LAMBDA_IAM_CALLER_ID",
        value_name = "ID",
        default_value = "AIDALOCALDEVELOPER"
    )]
    iam_caller_id: OsString,
    /// AWS_IAM caller's principalOrgId
    #[arg(long, env = "LOCAL_LAMBDA_IAM_PRINCIPAL_ORG_ID", value_name = "ID")]
    iam_principal_org_id: Option<OsString>,
}

/// A server setting as the command line and the environment left it.
#[derive(Debug, Clone, PartialEq)]
struct Setting {
    /// `LOCAL_LAMBDA_PORT`.
    var: String,
    /// `--port <PORT>`, as clap shows it.
    flag: String,
    /// The value given by the flag or the variable; `None` when neither is (the default applies).
    value: Option<OsString>,
    /// Whether the value is the flag's.
    from_flag: bool,
}

/// A setting's value the library's reader refused.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A flag's: a usage error, shown (and exiting) as clap shows its own.
    Flag(clap::Error),
    /// A variable's, or of the settings together: a configuration error.
    Variable(String),
}

/// Reads the command line, the program's name first.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    let Some(Sub::Local(mut local)) = Cli::from_arg_matches(&matches)?.command else {
        return Ok(Command::Help);
    };
    let mut command = std::mem::take(&mut local.command).into_iter();
    local.program = command.next().unwrap_or_default();
    local.args = command.collect();
    if let (Some(declared), Some(sub)) = (
        cmd.find_subcommand("local"),
        matches.subcommand_matches("local"),
    ) {
        local.settings = settings(declared, sub);
    }
    Ok(Command::Local(local))
}

/// The server's settings, each by its variable, from what clap parsed.
fn settings(declared: &clap::Command, matches: &ArgMatches) -> Vec<Setting> {
    declared
        .get_arguments()
        .filter_map(|arg| {
            let var = arg.get_env()?.to_string_lossy().into_owned();
            let id = arg.get_id().as_str();
            let source = matches.value_source(id);
            let given = matches!(
                source,
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            Some(Setting {
                var,
                flag: arg.to_string(),
                // A default is only shown: the library applies its own.
                value: given
                    .then(|| matches.get_one::<OsString>(id).cloned())
                    .flatten(),
                from_flag: source == Some(ValueSource::CommandLine),
            })
        })
        .collect()
}

/// The top-level help.
pub(crate) fn help() -> String {
    Cli::command().render_help().to_string()
}

impl Local {
    /// How much of the host's own log: `-v` and `-vv` more, `-q` less.
    pub(crate) fn verbosity(&self) -> i8 {
        i8::try_from(i16::from(self.verbose) - i16::from(self.quiet)).unwrap_or(0)
    }

    /// The server's options, as `read` (the library's reader of the `LOCAL_LAMBDA_*` variables)
    /// reads the flags and the variables; any other variable `read` asks for is the
    /// environment's. A value it refuses is named as it was given: by its flag or its variable.
    pub(crate) fn server_options<T, E: StdError>(
        &self,
        read: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
    ) -> Result<T, Refused> {
        // What was refused: the setting, its value, and the complaint (which names the variable).
        let mut refused: Vec<(&Setting, String, String)> = Vec::new();
        let mut given = Vec::new();
        for setting in &self.settings {
            let Some(value) = &setting.value else {
                continue;
            };
            match value.to_str() {
                Some(text) => given.push((setting, text)),
                None => {
                    let text = value.to_string_lossy().into_owned();
                    let complaint = format!("{}={text:?}: not UTF-8", setting.var);
                    refused.push((setting, text, complaint));
                }
            }
        }
        let lookup = |name: &str| match self.settings.iter().find(|s| s.var == name) {
            Some(_) => given
                .iter()
                .find(|(s, _)| s.var == name)
                .map(|(_, v)| (*v).to_owned()),
            None => std::env::var(name).ok(),
        };
        let whole = match read(&lookup) {
            Ok(options) if refused.is_empty() => return Ok(options),
            Ok(_) => None,
            Err(e) => Some(chain(&e)),
        };
        if whole.is_some() {
            // Which values: each read alone.
            for &(setting, value) in &given {
                let alone = |name: &str| (name == setting.var).then(|| value.to_owned());
                if let Err(e) = read(&alone) {
                    refused.push((setting, value.to_owned(), innermost(&e)));
                }
            }
        }
        let (flags, vars): (Vec<_>, Vec<_>) = refused.into_iter().partition(|(s, ..)| s.from_flag);
        if !flags.is_empty() {
            let message = flags
                .into_iter()
                .map(|(setting, value, complaint)| {
                    let prefix = format!("{}={value:?}: ", setting.var);
                    let why = complaint.strip_prefix(&prefix).unwrap_or(&complaint);
                    format!("invalid value '{value}' for '{}': {why}", setting.flag)
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut cmd = Cli::command();
            let e = match cmd.find_subcommand_mut("local") {
                Some(local) => local.error(ErrorKind::ValueValidation, message),
                None => cmd.error(ErrorKind::ValueValidation, message),
            };
            return Err(Refused::Flag(e));
        }
        let vars: Vec<String> = vars.into_iter().map(|(.., complaint)| complaint).collect();
        match whole {
            // Of the settings together.
            Some(whole) if vars.is_empty() => Err(Refused::Variable(whole)),
            _ => Err(Refused::Variable(vars.join("; "))),
        }
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// What an error says at the bottom of its causes.
fn innermost(e: &dyn StdError) -> String {
    let mut last = e;
    while let Some(cause) = last.source() {
        last = cause;
    }
    last.to_string()
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

fn max_concurrency(value: &str) -> Result<NonZeroUsize, String> {
    value
        .parse::<NonZeroUsize>()
        .ok()
        .filter(|n| n.get() <= 1600)
        .ok_or_else(|| "not a number from 1 to 1600".to_owned())
}

fn key_value(value: &str) -> Result<(OsString, OsString), String> {
    value
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into(), v.into()))
        .ok_or_else(|| "not KEY=VALUE".to_owned())
}

/// The function's name when `--function-name` is not given: the command's file name, or
/// for a `bootstrap` (as `cargo lambda build` lays out `target/lambda/NAME/bootstrap`), the
/// name of its directory.
pub(crate) fn default_function_name(program: &std::path::Path) -> String {
    let file = program
        .file_name()
        .map(|f| f.to_string_lossy().into_owned());
    if file.as_deref() == Some("bootstrap") {
        let dir = program
            .parent()
            .and_then(|p| {
                if p.as_os_str().is_empty() {
                    std::env::current_dir().ok()
                } else {
                    p.canonicalize().ok().or_else(|| Some(p.to_path_buf()))
                }
            })
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        if let Some(dir) = dir {
            return dir;
        }
    }
    file.filter(|f| !f.is_empty())
        .unwrap_or_else(|| "local".to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, MutexGuard};

    use lambda_stream_local::Options;

    use super::*;

    /// clap reads the `LOCAL_LAMBDA_*` variables of this process: tests that parse take turns.
    static ENV: Mutex<()> = Mutex::new(());

    fn env_lock() -> MutexGuard<'static, ()> {
        ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn parse_unlocked(args: &[&str]) -> Result<Local, clap::Error> {
        let mut all = vec![OsString::from("lambda-stream"), "local".into()];
        all.extend(args.iter().map(OsString::from));
        match parse(all)? {
            Command::Local(l) => Ok(*l),
            other => panic!("not local: {other:?}"),
        }
    }

    fn local(args: &[&str]) -> Result<Local, clap::Error> {
        let _env = env_lock();
        parse_unlocked(args)
    }

    /// Parses `args` with `vars` set in the environment.
    fn local_with_env(vars: &[(&str, &str)], args: &[&str]) -> Result<Local, clap::Error> {
        let _env = env_lock();
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let parsed = parse_unlocked(args);
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        parsed
    }

    fn options(l: &Local) -> Result<Options, Refused> {
        l.server_options(|vars| Options::from_vars(vars))
    }

    /// The declared server settings: (flag's long name, variable, whether a switch).
    fn declared() -> Vec<(String, String, bool)> {
        let mut cmd = Cli::command();
        cmd.build();
        let local = cmd.find_subcommand("local").unwrap();
        local
            .get_arguments()
            .filter_map(|arg| {
                let var = arg.get_env()?.to_str()?.to_owned();
                let switch = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
                Some((arg.get_long()?.to_owned(), var, switch))
            })
            .collect()
    }

    fn value<'a>(l: &'a Local, var: &str) -> Option<&'a str> {
        let setting = l.settings.iter().find(|s| s.var == var)?;
        setting.value.as_deref()?.to_str()
    }

    #[test]
    fn every_setting_is_a_flag_named_after_its_variable() {
        let settings = declared();
        assert_eq!(settings.len(), 24, "{settings:?}");
        for (flag, var, switch) in settings {
            let name = flag.to_ascii_uppercase().replace('-', "_");
            assert!(
                var == format!("LOCAL_LAMBDA_{name}") || var == format!("LAMBDA_STREAM_{name}"),
                "--{flag}: {var}"
            );
            // A switch takes its value after `=` only; other flags either way.
            let set = if switch { "false" } else { "x" };
            if !switch {
                let l = local(&[&format!("--{flag}"), set, "--", "fn"]).unwrap();
                assert_eq!(value(&l, &var), Some(set), "{flag}");
            }
            let l = local(&[&format!("--{flag}={set}"), "fn"]).unwrap();
            assert_eq!(value(&l, &var), Some(set), "{flag}");
            assert!(l.settings.iter().any(|s| s.var == var && s.from_flag));
        }
    }

    #[test]
    fn a_switch_alone_is_true_and_takes_false() {
        let l = local(&["--allow-cross-site", "./fn"]).unwrap();
        assert_eq!(value(&l, "LOCAL_LAMBDA_ALLOW_CROSS_SITE"), Some("true"));
        assert_eq!(l.program, "./fn");
        assert!(options(&l).unwrap().allow_cross_site);

        let l = local(&["--allow-cross-site=false", "./fn"]).unwrap();
        assert!(!options(&l).unwrap().allow_cross_site);
        // `=false` beats the variable too.
        let l = local_with_env(
            &[("LOCAL_LAMBDA_ALLOW_CROSS_SITE", "true")],
            &["--allow-cross-site=false", "./fn"],
        )
        .unwrap();
        assert!(!options(&l).unwrap().allow_cross_site);
    }

    #[test]
    fn a_flag_beats_its_variable() {
        let l = local_with_env(
            &[
                ("LOCAL_LAMBDA_PORT", "9001"),
                ("LOCAL_LAMBDA_TIMEOUT", "30"),
            ],
            &["--port", "9002", "--", "fn"],
        )
        .unwrap();
        let o = options(&l).unwrap();
        assert_eq!(o.addr.port(), 9002);
        // And the variable whose flag is not given still applies.
        assert_eq!(o.function_timeout.as_secs(), 30);
    }

    #[test]
    fn a_variable_applies_without_its_flag() {
        let l = local_with_env(
            &[
                ("LOCAL_LAMBDA_PORT", "9003"),
                ("LOCAL_LAMBDA_CORS_ALLOW_ORIGINS", "https://a.example"),
            ],
            &["fn"],
        )
        .unwrap();
        let o = options(&l).unwrap();
        assert_eq!(o.addr.port(), 9003);
        assert_eq!(o.cors.unwrap().allow_origins, ["https://a.example"]);
        // Neither: the library's defaults.
        let l = local(&["fn"]).unwrap();
        assert_eq!(options(&l).unwrap(), Options::default());
    }

    #[test]
    fn a_bad_flag_value_names_the_flag() {
        let l = local(&["--port", "abc", "--", "fn"]).unwrap();
        let Err(Refused::Flag(e)) = options(&l) else {
            panic!("not a flag's error");
        };
        let text = e.to_string();
        assert!(
            text.contains("invalid value 'abc' for '--port <PORT>': not a port number (0 to 65535"),
            "{text}"
        );
        assert!(!text.contains("LOCAL_LAMBDA_PORT"), "{text}");
        assert_eq!(e.exit_code(), 2);
        // Even when the variable is good.
        let l = local_with_env(&[("LOCAL_LAMBDA_PORT", "9000")], &["--port=abc", "fn"]).unwrap();
        assert!(matches!(options(&l), Err(Refused::Flag(_))));
    }

    #[test]
    fn a_bad_variable_value_names_the_variable() {
        let l = local_with_env(&[("LOCAL_LAMBDA_TIMEOUT", "soon")], &["fn"]).unwrap();
        let Err(Refused::Variable(e)) = options(&l) else {
            panic!("not a variable's error");
        };
        assert!(e.contains("LOCAL_LAMBDA_TIMEOUT=\"soon\""), "{e}");
        assert!(!e.contains("--timeout"), "{e}");
        // A good flag overrides a bad variable.
        let l = local_with_env(
            &[("LOCAL_LAMBDA_TIMEOUT", "soon")],
            &["--timeout", "5", "fn"],
        )
        .unwrap();
        assert_eq!(options(&l).unwrap().function_timeout.as_secs(), 5);
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_named_as_given() {
        use std::os::unix::ffi::OsStrExt as _;
        let bad = std::ffi::OsStr::from_bytes(b"9\xff");
        let l = {
            let _env = env_lock();
            std::env::set_var("LOCAL_LAMBDA_AUTH", bad);
            let parsed = parse_unlocked(&["fn"]);
            std::env::remove_var("LOCAL_LAMBDA_AUTH");
            parsed.unwrap()
        };
        let Err(Refused::Variable(e)) = options(&l) else {
            panic!("not a variable's error");
        };
        assert!(
            e.contains("LOCAL_LAMBDA_AUTH=") && e.contains("not UTF-8"),
            "{e}"
        );

        let mut args = vec![OsString::from("lambda-stream"), "local".into()];
        args.extend(["--port".into(), bad.to_owned(), "fn".into()]);
        let l = {
            let _env = env_lock();
            parse(args).unwrap()
        };
        let Command::Local(l) = l else {
            panic!("not local");
        };
        let Err(Refused::Flag(e)) = options(&l) else {
            panic!("not a flag's error");
        };
        assert!(
            e.to_string().contains("for '--port <PORT>': not UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn the_command_and_its_arguments_are_kept_as_given() {
        let l = local(&["--port", "0", "--", "node", "--port", "1", "--", "x"]).unwrap();
        assert_eq!(value(&l, "LOCAL_LAMBDA_PORT"), Some("0"));
        assert_eq!(l.program, "node");
        assert_eq!(l.args, ["--port", "1", "--", "x"]);
        let l = local(&["python3", "-m", "awslambdaric"]).unwrap();
        assert_eq!(l.program, "python3");
        assert_eq!(l.args, ["-m", "awslambdaric"]);
        // After the command, even our own flags are the command's.
        let l = local(&["fn", "--port", "1", "-vv", "--help", "--", "y"]).unwrap();
        assert_eq!(l.program, "fn");
        assert_eq!(l.args, ["--port", "1", "-vv", "--help", "--", "y"]);
        assert_eq!(value(&l, "LOCAL_LAMBDA_PORT"), None);
        assert_eq!(l.verbosity(), 0);
    }

    #[test]
    fn function_settings() {
        let l = local(&[
            "--function-name=f",
            "--region",
            "eu-west-1",
            "--memory",
            "512",
            "--max-concurrency",
            "4",
            "--env",
            "A=b=c",
            "--env=D=",
            "--response-mode",
            "BUFFERED",
            "-v",
            "--",
            "fn",
        ])
        .unwrap();
        assert_eq!(l.function_name.as_deref(), Some("f"));
        assert_eq!(l.region.as_deref(), Some("eu-west-1"));
        assert_eq!(l.memory_mb, Some(512));
        assert_eq!(l.max_concurrency.map(NonZeroUsize::get), Some(4));
        assert_eq!(
            l.envs,
            [
                (OsString::from("A"), OsString::from("b=c")),
                (OsString::from("D"), OsString::new())
            ]
        );
        let o = options(&l).unwrap();
        assert_eq!(o.response_mode, lambda_stream_local::ResponseMode::Buffered);
        assert_eq!(l.verbosity(), 1);
    }

    #[test]
    fn verbosity_counts() {
        assert_eq!(local(&["-vv", "fn"]).unwrap().verbosity(), 2);
        assert_eq!(local(&["-v", "--verbose", "fn"]).unwrap().verbosity(), 2);
        assert_eq!(local(&["-vvv", "-q", "fn"]).unwrap().verbosity(), 2);
        assert_eq!(local(&["-qq", "fn"]).unwrap().verbosity(), -2);
        assert_eq!(local(&["fn"]).unwrap().verbosity(), 0);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |args: &[&str]| {
            let e = local(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        };
        let e = err(&["--prot", "1", "--", "fn"]);
        assert!(e.contains("'--prot'") && e.contains("'--port'"), "{e}");
        assert!(err(&["--port"]).contains("'--port <PORT>'"));
        assert!(err(&["--port", "1"]).contains("COMMAND"));
        assert!(err(&["--"]).contains("COMMAND"));
        let e = err(&["--memory", "64", "fn"]);
        assert!(e.contains("'64' for '--memory <MB>'"), "{e}");
        assert!(err(&["--max-concurrency", "0", "fn"]).contains("--max-concurrency"));
        assert!(err(&["--env", "NOEQUALS", "fn"]).contains("KEY=VALUE"));
        assert!(err(&["--env", "=x", "fn"]).contains("KEY=VALUE"));
        assert!(err(&["--function-name", " ", "fn"]).contains("--function-name"));
        assert!(err(&["-x", "fn"]).contains("'-x'"));

        let top = |args: &[&str]| {
            let _env = env_lock();
            let mut all = vec![OsString::from("lambda-stream")];
            all.extend(args.iter().map(OsString::from));
            parse(all)
        };
        let e = top(&["deploy"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("lambda-stream local"), "{e}");
        assert!(matches!(top(&[]), Ok(Command::Help)));
        for help in [
            &["--help"][..],
            &["help"],
            &["local", "--help"],
            &["local", "-h"],
        ] {
            let e = top(help).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{help:?}");
            assert_eq!(e.exit_code(), 0);
        }
        let e = top(&["--version"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisplayVersion);
        assert!(e.to_string().contains(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn the_function_is_named_after_its_command() {
        use std::path::Path;
        assert_eq!(
            default_function_name(Path::new("target/release/my-fn")),
            "my-fn"
        );
        assert_eq!(
            default_function_name(Path::new("/nowhere/target/lambda/orders/bootstrap")),
            "orders"
        );
        assert_eq!(default_function_name(Path::new("python3")), "python3");
    }

    /// What the guide shows, as a newcomer types it.
    #[test]
    fn the_guides_command_lines_are_taken() {
        let readme = include_str!("../../docs/host.md");
        let lines: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.trim().strip_prefix("lambda-stream local "))
            .collect();
        assert!(lines.len() >= 3, "{lines:?}");
        for line in lines {
            let line = line.split(" #").next().unwrap_or(line);
            let args: Vec<&str> = line.split_whitespace().collect();
            match local(&args) {
                Ok(l) => {
                    assert!(!l.program.is_empty(), "{line}");
                    assert!(options(&l).is_ok(), "{line}");
                }
                Err(e) => panic!("{line}: {e}"),
            }
        }
    }

    #[test]
    fn the_help_shows_every_flag_and_variable() {
        let mut cmd = Cli::command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("local")
            .unwrap()
            .render_help()
            .to_string();
        let mut flags = 0;
        for arg in cmd.find_subcommand("local").unwrap().get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            flags += 1;
            assert!(help.contains(&format!("--{long}")), "{long}");
            if let Some(var) = arg.get_env() {
                let var = var.to_string_lossy();
                assert!(help.contains(&format!("[env: {var}=")), "{var}");
            }
        }
        // 23 server settings, 10 of the function, -v, -q, -h, -V.
        assert_eq!(flags, 37);
    }

    /// A default the help shows is the one the library applies.
    #[test]
    fn the_defaults_shown_are_the_librarys() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut shown = 0;
        for arg in cmd.find_subcommand("local").unwrap().get_arguments() {
            let (Some(var), [default]) = (arg.get_env(), arg.get_default_values()) else {
                continue;
            };
            shown += 1;
            let var = var.to_string_lossy();
            let default = default.to_string_lossy();
            let o = Options::from_vars(|n| (n == var).then(|| default.to_string()));
            assert_eq!(o.unwrap(), Options::default(), "{var}={default}");
        }
        assert_eq!(shown, 14);
    }

    /// The flags are the library's settings: each of them, by its variable, with its default.
    #[test]
    fn the_flags_are_the_librarys_settings() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut flags: Vec<(String, Option<String>)> = cmd
            .find_subcommand("local")
            .unwrap()
            .get_arguments()
            .filter_map(|arg| {
                let var = arg.get_env()?.to_string_lossy().into_owned();
                let default = arg.get_default_values().first();
                Some((var, default.map(|d| d.to_string_lossy().into_owned())))
            })
            .collect();
        let settings = lambda_stream_local::SETTINGS.iter().map(|s| {
            // A default the help could not apply (it names another setting) is not shown;
            // one the library applies only by turning a feature on is not either.
            let shown = s
                .default
                .filter(|d| !d.contains('<') && !s.name.starts_with("LOCAL_LAMBDA_CORS_"));
            (s.name.to_owned(), shown.map(str::to_owned))
        });
        let mut settings: Vec<_> = settings.collect();
        flags.sort();
        settings.sort();
        assert_eq!(flags, settings);
    }

    #[test]
    fn a_bad_response_mode_is_named_by_where_it_came_from() {
        let l = local(&["--response-mode", "streaming", "fn"]).unwrap();
        let Err(Refused::Flag(e)) = options(&l) else {
            panic!("not a flag's error");
        };
        assert!(
            e.to_string().contains(
                "invalid value 'streaming' for '--response-mode <streamed|buffered|auto>': \
                 not `streamed`, `buffered` or `auto`"
            ),
            "{e}"
        );
        let l = local_with_env(&[("LAMBDA_STREAM_RESPONSE_MODE", "streaming")], &["fn"]).unwrap();
        let Err(Refused::Variable(e)) = options(&l) else {
            panic!("not a variable's error");
        };
        assert_eq!(
            e,
            "LAMBDA_STREAM_RESPONSE_MODE=\"streaming\": not `streamed`, `buffered` or `auto`"
        );
        for mode in ["streamed", "buffered", "auto"] {
            let l = local(&["--response-mode", mode, "fn"]).unwrap();
            assert_eq!(options(&l).unwrap().response_mode.as_str(), mode);
        }
    }
}
