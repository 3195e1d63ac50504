//! `lambda-stream local -- COMMAND`: runs a Lambda function's binary (a release `bootstrap`,
//! a binary of any Lambda runtime, any program that speaks the Runtime API) as Lambda runs
//! it, behind lambda-stream's local server: a function URL and the Lambda API's
//! `Invoke`/`InvokeWithResponseStream` on 127.0.0.1:7000, every chunk relayed as it is written.
//!
//! See `lambda-stream local --help`, and the guide's
//! [Run what you deploy](https://github.com/lambda-stream/lambda-stream/blob/main/docs/host.md).

#![forbid(unsafe_code)]

mod args;
mod command;

use std::process::ExitCode;

#[cfg(unix)]
fn main() -> ExitCode {
    use lambda_stream_local::Options;

    let local = match args::parse(std::env::args_os()) {
        Ok(args::Command::Local(local)) => *local,
        Ok(args::Command::Help) => {
            print!("{}", args::help());
            return ExitCode::SUCCESS;
        }
        // A usage error (2), or `--help`/`--version` (0).
        Err(e) => return clap_exit(&e),
    };
    let options = match local.server_options(|vars| Options::from_vars(vars)) {
        Ok(options) => options,
        Err(args::Refused::Flag(e)) => return clap_exit(&e),
        Err(args::Refused::Variable(e)) => {
            eprintln!("lambda-stream: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(local, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda-stream: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Shows what clap says, and exits as it would.
#[cfg(unix)]
fn clap_exit(e: &clap::Error) -> ExitCode {
    // Nothing more to say when stdout or stderr is closed.
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("lambda-stream local runs on Unix (Linux, macOS) only");
    ExitCode::FAILURE
}

#[cfg(unix)]
fn run(local: args::Local, options: lambda_stream_local::Options) -> Result<(), String> {
    use lambda_stream_local::{Function, FunctionConfig, InvokeMode, ResponseMode, Server};
    const RESPONSE_MODE_VAR: &str = "LAMBDA_STREAM_RESPONSE_MODE";

    init_log(local.verbosity());
    let layers = command::Layers::new(&local.layer)?;
    let program = command::find(&layers.opt(&local.program))?;

    let mut config = FunctionConfig::default();
    config.name = local
        .function_name
        .clone()
        .unwrap_or_else(|| args::default_function_name(&program));
    if let Some(version) = env_text("AWS_LAMBDA_FUNCTION_VERSION") {
        config.version = version;
    }
    // Else `AWS_REGION`, or `AWS_DEFAULT_REGION`; the host defaults to us-east-1.
    if let Some(region) = (local.region.clone())
        .or_else(|| env_text("AWS_REGION"))
        .or_else(|| env_text("AWS_DEFAULT_REGION"))
    {
        config.region = region;
    }
    let handler = (local.handler.clone()).or_else(|| command::handler_in(&local.args));
    // The response mode (`--response-mode`, else `LAMBDA_STREAM_RESPONSE_MODE`): the function
    // URL's invoke mode, and the function's variable (a lambda-stream function answers in it).
    let mut function = Function::new(program.as_os_str())
        .args(local.args)
        .env(RESPONSE_MODE_VAR, options.response_mode.as_str());
    if options.response_mode == ResponseMode::Buffered {
        config.invoke_mode = InvokeMode::Buffered;
    }
    if let Some(mb) = local.memory_mb {
        config.memory_size_mb = mb;
    }
    if let Some(handler) = handler {
        function = function.handler(handler);
    }
    if let Some(dir) = local.task_root {
        function = function.task_root(dir);
    }
    if let Some(n) = local.max_concurrency {
        function = function.max_concurrency(n);
    }
    // As the function sets it, else the host's, which it inherits.
    let wrapper = "AWS_LAMBDA_EXEC_WRAPPER";
    let wrapper = (local.envs.iter().rev())
        .find(|(k, _)| k == wrapper)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(wrapper));
    for (k, v) in local.envs {
        function = function.env(k, v);
    }
    for extension in layers.extensions(&local.extensions)? {
        function = function.extension(extension);
    }
    for (k, v) in layers.envs(wrapper)? {
        function = function.env(k, v);
    }
    let name = config.name.clone();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime
        .block_on(async move {
            let server = Server::bind(options, config).await?;
            eprintln!(
                "lambda-stream: hosting {} as function {name:?}; Ctrl-C stops it",
                program.display()
            );
            server.host(function).await
        })
        .map_err(|e| format!("{e:?}"))
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The host's own log, on stderr: the function's output is on stdout and stderr as it wrote it.
fn init_log(verbosity: i8) {
    use tracing_subscriber::filter::LevelFilter;
    let level = match verbosity {
        i8::MIN..=-2 => LevelFilter::ERROR,
        -1 => LevelFilter::WARN,
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .init();
}
