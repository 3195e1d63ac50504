//! The command line: `lambda-stream local [OPTIONS] [--] COMMAND [ARGS...]`.
//!
//! Every setting of the local server has a flag named after its variable: `--port` is
//! `LOCAL_LAMBDA_PORT`, `--cors-allow-origins` is `LOCAL_LAMBDA_CORS_ALLOW_ORIGINS`. A flag wins
//! over its variable; a variable still applies when its flag is not given.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// The local server's settings, each a flag and the variable it sets: `(flag, variable,
/// value shown in the help, what it does)`. A value of `""` marks a switch: given alone it
/// means `true`, and it takes `=false` as well.
pub(crate) const SERVER_FLAGS: &[(&str, &str, &str, &str)] = &[
    (
        "host",
        "LOCAL_LAMBDA_HOST",
        "ADDR",
        "address to listen on [default: 127.0.0.1]",
    ),
    (
        "port",
        "LOCAL_LAMBDA_PORT",
        "PORT",
        "port to listen on, 0 for any free one [default: 7000]",
    ),
    (
        "timeout",
        "LOCAL_LAMBDA_TIMEOUT",
        "SECS",
        "function timeout [default: 900]",
    ),
    (
        "concurrency",
        "LOCAL_LAMBDA_CONCURRENCY",
        "N",
        "invocations at once; beyond, 429 [default: 64]",
    ),
    (
        "bandwidth",
        "LOCAL_LAMBDA_BANDWIDTH",
        "lambda|unlimited",
        "lambda: 2 MB/s after the first 6 MB",
    ),
    (
        "allowed-hosts",
        "LOCAL_LAMBDA_ALLOWED_HOSTS",
        "LIST",
        "Host names served besides loopback ones",
    ),
    (
        "allow-cross-site",
        "LOCAL_LAMBDA_ALLOW_CROSS_SITE",
        "",
        "let pages of other sites call the function",
    ),
    (
        "cors-allow-origins",
        "LOCAL_LAMBDA_CORS_ALLOW_ORIGINS",
        "LIST",
        "function URL CORS: AllowOrigins",
    ),
    (
        "cors-allow-methods",
        "LOCAL_LAMBDA_CORS_ALLOW_METHODS",
        "LIST",
        "function URL CORS: AllowMethods",
    ),
    (
        "cors-allow-headers",
        "LOCAL_LAMBDA_CORS_ALLOW_HEADERS",
        "LIST",
        "function URL CORS: AllowHeaders",
    ),
    (
        "cors-expose-headers",
        "LOCAL_LAMBDA_CORS_EXPOSE_HEADERS",
        "LIST",
        "function URL CORS: ExposeHeaders",
    ),
    (
        "cors-max-age",
        "LOCAL_LAMBDA_CORS_MAX_AGE",
        "SECS",
        "function URL CORS: MaxAge",
    ),
    (
        "cors-allow-credentials",
        "LOCAL_LAMBDA_CORS_ALLOW_CREDENTIALS",
        "",
        "function URL CORS: AllowCredentials",
    ),
    (
        "auth",
        "LOCAL_LAMBDA_AUTH",
        "NONE|AWS_IAM",
        "function URL AuthType [default: NONE]",
    ),
    (
        "iam-account-id",
        "LOCAL_LAMBDA_IAM_ACCOUNT_ID",
        "ID",
        "AWS_IAM caller's accountId",
    ),
    (
        "iam-user-arn",
        "LOCAL_LAMBDA_IAM_USER_ARN",
        "ARN",
        "AWS_IAM caller's userArn",
    ),
    (
        "iam-caller-id",
        "LOCAL_LAMBDA_IAM_CALLER_ID",
        "ID",
        "AWS_IAM caller's callerId",
    ),
    (
        "iam-principal-org-id",
        "LOCAL_LAMBDA_IAM_PRINCIPAL_ORG_ID",
        "ID",
        "AWS_IAM caller's principalOrgId",
    ),
];

/// The function's settings: `(flag, value shown in the help, what it does)`. Each takes a
/// value.
const FUNCTION_FLAGS: &[(&str, &str, &str)] = &[
    (
        "function-name",
        "NAME",
        "AWS_LAMBDA_FUNCTION_NAME [default: the command's name]",
    ),
    ("region", "REGION", "AWS_REGION [default: us-east-1]"),
    (
        "memory",
        "MB",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE [default: 128]",
    ),
    ("handler", "NAME", "_HANDLER [default: bootstrap]"),
    (
        "task-root",
        "DIR",
        "LAMBDA_TASK_ROOT and working directory [default: .]",
    ),
    (
        "max-concurrency",
        "N",
        "one process serves N invocations at once (Managed Instances)",
    ),
    (
        "response-mode",
        "MODE",
        "streaming|buffered: the function URL's invoke mode",
    ),
    (
        "env",
        "KEY=VALUE",
        "an environment variable of the function (repeatable)",
    ),
];

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// `--help`, or no subcommand: print the help.
    Help,
    /// `--version`.
    Version,
    /// `local`: host a function.
    Local(Box<Local>),
}

/// `lambda-stream local`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Local {
    /// The server's variables the flags set.
    pub(crate) vars: HashMap<&'static str, String>,
    pub(crate) function_name: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) memory_mb: Option<u32>,
    pub(crate) handler: Option<String>,
    pub(crate) task_root: Option<PathBuf>,
    pub(crate) max_concurrency: Option<NonZeroUsize>,
    /// `LAMBDA_STREAM_RESPONSE_MODE`, for the function URL and the function.
    pub(crate) response_mode: Option<String>,
    pub(crate) envs: Vec<(OsString, OsString)>,
    pub(crate) verbosity: i8,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
}

/// A command line that cannot be followed.
#[derive(Debug, PartialEq)]
pub(crate) struct Usage(pub(crate) String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(msg: impl Into<String>) -> Usage {
    Usage(msg.into())
}

/// Reads the arguments that follow the program's name.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    let mut args = args.into_iter();
    let Some(sub) = args.next() else {
        return Ok(Command::Help);
    };
    match sub.to_str() {
        Some("local") => {
            Ok(parse_local(args)?.map_or(Command::Help, |l| Command::Local(Box::new(l))))
        }
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        _ => Err(usage(format!(
            "unknown command {:?}: the command is `local` (lambda-stream local -- ./bootstrap)",
            sub.to_string_lossy()
        ))),
    }
}

/// `None` for `--help`.
fn parse_local(mut args: impl Iterator<Item = OsString>) -> Result<Option<Local>, Usage> {
    let mut local = Local::default();
    let program = loop {
        let Some(arg) = args.next() else {
            return Err(usage(
                "no command to run: lambda-stream local [OPTIONS] -- COMMAND [ARGS...]",
            ));
        };
        let Some(text) = arg.to_str() else {
            // Not a flag: the command.
            break arg;
        };
        if text == "--" {
            break args.next().ok_or_else(|| usage("no command after `--`"))?;
        }
        if text == "-h" || text == "--help" {
            return Ok(None);
        }
        if text == "-v" || text == "--verbose" {
            local.verbosity += 1;
            continue;
        }
        if text == "-q" || text == "--quiet" {
            local.verbosity -= 1;
            continue;
        }
        let Some(flag) = text.strip_prefix("--") else {
            if text.starts_with('-') && text.len() > 1 {
                return Err(usage(format!("unknown option {text:?}")));
            }
            break arg;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        if let Some(&(_, var, value, _)) = SERVER_FLAGS.iter().find(|(f, ..)| *f == name) {
            let value = if value.is_empty() {
                inline.unwrap_or_else(|| "true".to_owned())
            } else {
                take(name, inline, &mut args)?
            };
            local.vars.insert(var, value);
            continue;
        }
        if !FUNCTION_FLAGS.iter().any(|(f, ..)| *f == name) {
            return Err(usage(format!("unknown option \"--{name}\"")));
        }
        let value = take(name, inline, &mut args)?;
        match name {
            "function-name" => local.function_name = Some(non_empty(name, value)?),
            "region" => local.region = Some(non_empty(name, value)?),
            "handler" => local.handler = Some(value),
            "task-root" => local.task_root = Some(PathBuf::from(value)),
            "memory" => {
                let mb = value
                    .parse::<u32>()
                    .ok()
                    .filter(|mb| (128..=10_240).contains(mb))
                    .ok_or_else(|| {
                        usage(format!(
                            "--memory {value:?}: not a number of MB from 128 to 10240"
                        ))
                    })?;
                local.memory_mb = Some(mb);
            }
            "max-concurrency" => {
                let n = value
                    .parse::<NonZeroUsize>()
                    .ok()
                    .filter(|n| n.get() <= 1600)
                    .ok_or_else(|| {
                        usage(format!(
                            "--max-concurrency {value:?}: not a number from 1 to 1600"
                        ))
                    })?;
                local.max_concurrency = Some(n);
            }
            "response-mode" => {
                let mode = value.to_ascii_lowercase();
                if mode != "streaming" && mode != "buffered" {
                    return Err(usage(format!(
                        "--response-mode {value:?}: not `streaming` or `buffered`"
                    )));
                }
                local.response_mode = Some(mode);
            }
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| usage(format!("--env {value:?}: not KEY=VALUE")))?;
                local.envs.push((k.into(), v.into()));
            }
            _ => return Err(usage(format!("unknown option \"--{name}\""))),
        }
    };
    local.program = program;
    local.args = args.collect();
    Ok(Some(local))
}

/// The value of `--name`: after `=`, or the next argument.
fn take(
    name: &str,
    inline: Option<String>,
    args: &mut impl Iterator<Item = OsString>,
) -> Result<String, Usage> {
    if let Some(value) = inline {
        return Ok(value);
    }
    let value = args
        .next()
        .ok_or_else(|| usage(format!("--{name} needs a value")))?;
    value
        .into_string()
        .map_err(|_| usage(format!("--{name}: the value is not UTF-8")))
}

fn non_empty(name: &str, value: String) -> Result<String, Usage> {
    if value.trim().is_empty() {
        Err(usage(format!("--{name} is empty")))
    } else {
        Ok(value)
    }
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

/// The help text.
pub(crate) fn help() -> String {
    let mut out = String::from(
        "lambda-stream local: run a Lambda function's binary as Lambda runs it, behind a local\n\
         function URL and Lambda API that stream each chunk as it is written\n\
         \n\
         USAGE:\n    lambda-stream local [OPTIONS] [--] COMMAND [ARGS...]\n\
         \n\
         COMMAND is what Lambda would run: a `bootstrap` (cargo lambda build), a release\n\
         binary, or any runtime that speaks the Lambda Runtime API. Each execution environment\n\
         is a process of it with Lambda's environment variables and its own Runtime API.\n\
         \n\
         EXAMPLES:\n    lambda-stream local -- target/release/my-fn\n    \
         lambda-stream local --port 9000 --max-concurrency 4 -- target/lambda/my-fn/bootstrap\n    \
         curl -N http://127.0.0.1:7000/\n\
         \n\
         FUNCTION:\n",
    );
    for (flag, value, what) in FUNCTION_FLAGS {
        let flag = format!("--{flag} {value}");
        out += &format!("    {flag:<34} {what}\n");
    }
    out += "\nSERVER (each flag sets the variable shown; a flag wins over its variable):\n";
    for (flag, var, value, what) in SERVER_FLAGS {
        let flag = if value.is_empty() {
            format!("--{flag}[=BOOL]")
        } else {
            format!("--{flag} {value}")
        };
        out += &format!("    {flag:<34} {what}\n    {:<34} ({var})\n", "");
    }
    out += "\nOUTPUT:\n    -v, --verbose                      more of the host's own log\n    \
            -q, --quiet                        less of it\n    \
            -h, --help                         this help\n    \
            -V, --version                      the version\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(args: &[&str]) -> Result<Local, Usage> {
        let mut all = vec!["local".into()];
        all.extend(args.iter().map(OsString::from));
        match parse(all)? {
            Command::Local(l) => Ok(*l),
            other => panic!("not local: {other:?}"),
        }
    }

    #[test]
    fn every_flag_sets_its_variable() {
        for (flag, var, value, _) in SERVER_FLAGS {
            // A switch takes its value after `=` only; other flags either way.
            let set = if value.is_empty() { "false" } else { "x" };
            if !value.is_empty() {
                let l = local(&[&format!("--{flag}"), set, "--", "fn"]).unwrap();
                assert_eq!(l.vars.get(var).map(String::as_str), Some(set), "{flag}");
            }
            let l = local(&[&format!("--{flag}={set}"), "fn"]).unwrap();
            assert_eq!(l.vars.get(var).map(String::as_str), Some(set), "{flag}");
            assert!(var.ends_with(&flag.to_ascii_uppercase().replace('-', "_")));
        }
    }

    #[test]
    fn a_switch_alone_is_true() {
        let l = local(&["--allow-cross-site", "./fn"]).unwrap();
        assert_eq!(l.vars["LOCAL_LAMBDA_ALLOW_CROSS_SITE"], "true");
        assert_eq!(l.program, "./fn");
    }

    #[test]
    fn the_command_and_its_arguments_are_kept_as_given() {
        let l = local(&["--port", "0", "--", "node", "--port", "1", "--", "x"]).unwrap();
        assert_eq!(l.vars["LOCAL_LAMBDA_PORT"], "0");
        assert_eq!(l.program, "node");
        assert_eq!(l.args, ["--port", "1", "--", "x"]);
        let l = local(&["python3", "-m", "awslambdaric"]).unwrap();
        assert_eq!(l.program, "python3");
        assert_eq!(l.args, ["-m", "awslambdaric"]);
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
        assert_eq!(l.envs, [(OsString::from("A"), OsString::from("b=c"))]);
        assert_eq!(l.response_mode.as_deref(), Some("buffered"));
        assert_eq!(l.verbosity, 1);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |args: &[&str]| local(args).unwrap_err().0;
        assert!(err(&["--prot", "1", "--", "fn"]).contains("--prot"));
        assert!(err(&["--port"]).contains("--port needs a value"));
        assert!(err(&["--port", "1"]).contains("no command"));
        assert!(err(&["--"]).contains("no command after"));
        assert!(err(&["--memory", "64", "fn"]).contains("--memory \"64\""));
        assert!(err(&["--max-concurrency", "0", "fn"]).contains("--max-concurrency"));
        assert!(err(&["--env", "NOEQUALS", "fn"]).contains("KEY=VALUE"));
        assert!(err(&["--env", "=x", "fn"]).contains("KEY=VALUE"));
        assert!(err(&["-x", "fn"]).contains("\"-x\""));
        assert!(err(&["--response-mode", "fast", "fn"]).contains("streaming"));
        assert!(parse(["deploy".into()]).unwrap_err().0.contains("`local`"));
        assert_eq!(parse([]).unwrap(), Command::Help);
        let help = parse(["local".into(), "--help".into()]).unwrap();
        assert_eq!(help, Command::Help);
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

    /// What the README shows, as a newcomer types it.
    #[test]
    fn the_readmes_command_lines_are_taken() {
        let readme = include_str!("../../README.md");
        let lines: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.trim().strip_prefix("lambda-stream local "))
            .collect();
        assert!(lines.len() >= 3, "{lines:?}");
        for line in lines {
            let line = line.split(" #").next().unwrap_or(line);
            let mut args = vec![OsString::from("local")];
            args.extend(line.split_whitespace().map(OsString::from));
            match parse(args) {
                Ok(Command::Local(l)) => assert!(!l.program.is_empty(), "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_help_shows_every_flag_and_variable() {
        let help = help();
        for (flag, var, ..) in SERVER_FLAGS {
            assert!(help.contains(&format!("--{flag}")), "{flag}");
            assert!(help.contains(var), "{var}");
        }
    }
}
