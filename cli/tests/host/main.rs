//! `lambda-stream local -- COMMAND` as its users run it: the `lambda-stream` binary, in front of
//! real function processes (lambda-stream's `streaming_numbers` example built in release, a
//! `lambda_http` streaming binary, and a runtime in Python, `fixtures/runtime.py`), called
//! by real clients (curl, boto3) over real sockets.
//!
//! The release example and the `lambda_http` binary are built first, by the cargo running the
//! tests (about a minute each on 2 cores the first time). curl, python3 and boto3 are needed;
//! a test whose client is missing is skipped unless `LAMBDA_STREAM_REQUIRE_CLIENTS` is set (CI
//! sets it).

mod environment;
mod extensions;
mod peers;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn a_release_binary_streams_to_curl_and_boto3_as_it_writes() {
    if !have_curl() || !test_support::boto3::available() {
        return;
    }
    let exe = release_example();
    let host = Host::start(&[], &[exe], &[]);

    let seen = curl(&[&host.url("/")]);
    assert_eq!(seen.code, Some(0));
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));

    let script = root().join("tests/boto3_invoke_stream.py");
    let report = test_support::boto3::report_blocking(&script, [host.url("").as_str(), "ok"]);
    let ok = &report["ok"];
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["chunks"], serde_json::json!(NUMBERS));
    assert_eq!(ok["complete"], serde_json::json!({}));
    let times = test_support::seconds(&ok["times"]);
    assert_each_before_the_next(&times, Duration::from_secs(1));

    // Lambda's lines around each invocation; one process, initialised once, served both.
    let log = host.wait_for_stdout("REPORT RequestId: ", 2);
    assert_eq!(log.matches("START RequestId: ").count(), 2, "{log}");
    assert_eq!(log.matches("END RequestId: ").count(), 2, "{log}");
    assert_eq!(log.matches("REPORT RequestId: ").count(), 2, "{log}");
    assert_eq!(log.matches("Init Duration: ").count(), 1, "{log}");
    assert!(log.contains("Memory Size: 128 MB"), "{log}");
    assert!(!log.contains("Status: error"), "{log}");
}

#[test]
fn max_concurrency_gives_one_process_four_callers_at_once() {
    if !have_curl() || !have_python() {
        return;
    }
    // A lambda-stream function on `run_concurrent` (the `design_shape` example): four streams
    // at once from one process. Served one after another, the first would end before the
    // last began; at once, every stream has begun before any has ended.
    let exe = debug_example("design_shape");
    let host = Host::start(&["--max-concurrency", "4"], &[exe], &[]);
    let url = host.url("/");
    let body: String = (1..=20).map(|n| format!("line {n}\n")).collect();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || curl(&["--data-binary", &body, &url]))
        })
        .collect();
    let seen: Vec<Curl> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    for s in &seen {
        assert_eq!(s.text(), body);
    }
    let last_start = seen.iter().map(|s| s.lines[0].0).max().unwrap();
    let first_end = seen.iter().map(|s| s.lines[19].0).min().unwrap();
    assert!(
        last_start < first_end,
        "not at once: began by {last_start:?}, one ended at {first_end:?}"
    );
    let log = host.wait_for_stdout("REPORT RequestId: ", 4);
    assert_eq!(
        log.matches("Init Duration: ").count(),
        1,
        "one process: {log}"
    );
    drop(host);

    // A runtime whose four invocations wait for each other: they can only all finish if the
    // one process holds the four at once; it is told AWS_LAMBDA_MAX_CONCURRENCY.
    let host = Host::start(&["--max-concurrency", "4"], &python_function(), &[]);
    let url = host.url("/together");
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(&[&url]))
        })
        .collect();
    let answers: Vec<String> = callers
        .into_iter()
        .map(|c| c.join().unwrap().text())
        .collect();
    let pid = pid_of(&answers[0]);
    for answer in &answers {
        assert_eq!(pid_of(answer), pid, "{answers:?}");
        assert!(answer.contains("max=4"), "{answer}");
    }
}

#[test]
fn without_max_concurrency_each_concurrent_caller_has_a_process() {
    if !have_curl() || !have_python() {
        return;
    }
    let exe = release_example();
    let host = Host::start(&[], &[exe], &[]);
    let url = host.url("/");
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(&[&url]))
        })
        .collect();
    for caller in callers {
        let seen = caller.join().unwrap();
        assert_eq!(seen.text(), NUMBERS.concat());
        assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));
    }
    let log = host.wait_for_stdout("REPORT RequestId: ", 2);
    assert_eq!(
        log.matches("Init Duration: ").count(),
        2,
        "two processes: {log}"
    );
    drop(host);

    // And a warm one is reused: one after the other, the same process.
    let host = Host::start(&[], &python_function(), &[]);
    let first = pid_of(&curl(&[&host.url("/pid")]).text());
    let second = pid_of(&curl(&[&host.url("/pid")]).text());
    assert_eq!(first, second);
}

#[test]
fn a_lambda_http_binary_streams_and_its_failing_body_ends_as_it_would_on_lambda() {
    if !have_curl() {
        return;
    }
    let exe = lambda_http_function();
    let host = Host::start(&[], &[exe], &[]);

    let seen = curl(&[&host.url("/paced")]);
    assert_eq!(seen.code, Some(0));
    assert_eq!(seen.lines.len(), 3, "{:?}", seen.lines);
    assert!(
        seen.lines.iter().all(|(_, l)| l.starts_with("t=")),
        "{:?}",
        seen.lines
    );
    assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));

    // The body fails after its first chunk. lambda_runtime writes its error "trailers" into
    // the body as text and ends the body cleanly: Lambda passes that text on as body bytes,
    // so the caller sees exactly this, a response that looks complete. The host shows the
    // same, and says what happened.
    let seen = curl(&[&host.url("/fail")]);
    assert_eq!(seen.code, Some(0), "{:?}", seen.lines);
    let lines: Vec<&str> = seen.lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "partial");
    // (Each line ended with `\r\n`, which reading lines takes off.)
    assert_eq!(
        lines[1],
        "Lambda-Runtime-Function-Error-Type: Runtime.StreamError"
    );
    let body = lines[2]
        .strip_prefix("Lambda-Runtime-Function-Error-Body: ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(decode(body), "the body failed midway");
    let err = host.stderr();
    assert!(
        err.contains("the runtime wrote an error into the response body as text"),
        "{err}"
    );
    // And the function goes on serving.
    let seen = curl(&[&host.url("/small")]);
    assert_eq!(
        (seen.code, seen.text()),
        (Some(0), "0123456789abcdef\n".to_owned())
    );
}

#[test]
fn a_process_that_dies_mid_stream_fails_the_invocation_and_the_next_starts_fresh() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&[], &python_function(), &[]);
    let seen = curl(&[&host.url("/crash")]);
    assert_eq!(seen.lines.len(), 1, "{:?}", seen.lines);
    let crashed: u32 = seen.lines[0]
        .1
        .strip_prefix("partial ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", seen.lines));
    assert_eq!(seen.code, Some(18), "not a clean end");

    // A caller that takes trailers is told why, as Lambda tells it.
    let raw = curl(&["--raw", "-H", "TE: trailers", &host.url("/crash")]);
    let (error_type, body) = error_trailers(&raw);
    assert_eq!(error_type, "Runtime.ExitError");
    assert_eq!(body["errorType"], "Runtime.ExitError");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("RequestId: "), "{message}");
    assert!(
        message.ends_with("Error: Runtime exited with error: exit status 3"),
        "{message}"
    );

    let fresh = pid_of(&curl(&[&host.url("/pid")]).text());
    assert_ne!(fresh, crashed);
    assert!(!alive(crashed));

    // A process that dies before it answers: the caller is answered at once (not at the
    // deadline, 900 s away), as Lambda answers it.
    let body = r#"{"rawPath":"/exit"}"#;
    let url = host.url("/2015-03-31/functions/f/invocations");
    let text = curl(&["-i", "-d", body, &url]).text();
    assert!(
        text.to_ascii_lowercase()
            .contains("\nx-amz-function-error: unhandled\n"),
        "{text}"
    );
    assert!(
        text.contains("\"errorType\":\"Runtime.ExitError\""),
        "{text}"
    );
    assert!(
        text.contains("Error: Runtime exited with error: exit status 5"),
        "{text}"
    );
    assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");

    let log = host.wait_for_stdout("REPORT RequestId: ", 5);
    assert!(
        log.contains("Status: error\tError Type: Runtime.ExitError"),
        "{log}"
    );
    // Four processes, each initialised: one per crash, the warm one `/pid` and `/exit` met,
    // and the one after it.
    assert_eq!(log.matches("Init Duration: ").count(), 4, "{log}");
}

#[test]
fn an_init_error_is_the_callers_answer_and_is_logged() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&[], &python_function(), &[("FAIL_INIT", "1")]);
    // Invoke answers with the init error, as Lambda does.
    let url = host.url("/2015-03-31/functions/f/invocations");
    let seen = curl(&["-i", "-d", "{}", &url]);
    let text = seen.text();
    assert!(
        text.contains("X-Amz-Function-Error: Unhandled")
            || text.contains("x-amz-function-error: Unhandled"),
        "{text}"
    );
    assert!(
        text.contains("\"errorType\":\"Runtime.InitFailed\""),
        "{text}"
    );
    assert!(text.contains("cannot reach the database"), "{text}");
    // The function URL is a 502.
    let seen = curl(&["-o", "/dev/null", "-w", "%{http_code}\n", &host.url("/")]);
    assert_eq!(seen.text(), "502\n");
    let log = host.wait_for_stdout("INIT_REPORT", 2);
    assert!(
        log.contains("Phase: init\tStatus: error\tError Type: Runtime.InitFailed"),
        "{log}"
    );
    let err = host.stderr();
    assert!(err.contains("cannot reach the database"), "{err}");
}

#[test]
fn an_invocation_past_its_deadline_ends_its_process() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&["--timeout", "1"], &python_function(), &[]);
    let first = pid_of(&curl(&[&host.url("/pid")]).text());
    // Its response started (the prelude), then the deadline passed: the stream is cut, as a
    // function URL cuts a timed-out one.
    let seen = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\n",
        &host.url("/hang"),
    ]);
    assert_eq!(seen.text(), "200\n");
    assert_eq!(seen.code, Some(18), "not a clean end");
    let log = host.wait_for_stdout("Task timed out after 1.00 seconds", 1);
    assert!(log.contains("Status: timeout"), "{log}");
    let next = pid_of(&curl(&[&host.url("/pid")]).text());
    assert_ne!(next, first);
    assert!(!alive(first));
}

#[test]
fn stop_sends_sigterm_only_with_an_extension_registered() {
    if !have_curl() || !have_python() {
        return;
    }
    // With an extension: SIGTERM, and the process exits on it.
    let mark = mark_file("extension");
    let mark_env = mark.to_str().unwrap();
    let mut host = Host::start(
        &[],
        &python_function(),
        &[("REGISTER_EXTENSION", "1"), ("MARK", mark_env)],
    );
    let pid = pid_of(&curl(&[&host.url("/pid")]).text());
    let (status, _) = host.stop();
    assert!(status.success(), "{status}");
    assert!(
        marks(&mark).contains(&format!("SIGTERM {pid}")),
        "{}",
        marks(&mark)
    );
    assert!(!alive(pid));

    // Without: SIGKILL, no SIGTERM.
    let mark = mark_file("plain");
    let mut host = Host::start(&[], &python_function(), &[("MARK", mark.to_str().unwrap())]);
    let pid = pid_of(&curl(&[&host.url("/pid")]).text());
    let (status, _) = host.stop();
    assert!(status.success(), "{status}");
    assert!(
        marks(&mark).contains(&format!("started {pid}")),
        "{}",
        marks(&mark)
    );
    assert!(!marks(&mark).contains("SIGTERM"), "{}", marks(&mark));
    assert!(!alive(pid));

    // An extension, and a process that stays after SIGTERM: SIGKILL once its 500 ms are up.
    let mark = mark_file("stays");
    let mut host = Host::start(
        &[],
        &python_function(),
        &[
            ("REGISTER_EXTENSION", "1"),
            ("IGNORE_TERM", "1"),
            ("MARK", mark.to_str().unwrap()),
        ],
    );
    let pid = pid_of(&curl(&[&host.url("/pid")]).text());
    let (status, took) = host.stop();
    assert!(status.success(), "{status}");
    assert!(
        marks(&mark).contains(&format!("SIGTERM {pid}")),
        "{}",
        marks(&mark)
    );
    assert!(
        took >= Duration::from_millis(500),
        "it had its 500 ms: {took:?}"
    );
    assert!(!alive(pid));
}

#[test]
fn a_lambda_stream_graceful_shutdown_hook_runs_on_stop() {
    if !have_curl() {
        return;
    }
    let exe = debug_example("graceful_shutdown");
    let mut host = Host::start(&[], &[exe], &[]);
    let seen = curl(&[&host.url("/")]);
    assert_eq!(seen.text(), "hello\n");
    let (status, _) = host.stop();
    assert!(status.success(), "{status}");
    let out = host.wait_for_stdout("shutdown: flushed 1 buffered records", 1);
    assert!(
        out.contains("shutdown: flushed 1 buffered records"),
        "{out}"
    );
}

#[test]
fn a_command_that_cannot_run_is_refused_before_the_host_listens() {
    use std::os::unix::fs::PermissionsExt as _;
    let refused = |exe: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_lambda-stream"))
            .args(["local", "--port", "0", "--"])
            .arg(exe)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !err.contains("local lambda server on"),
            "it listened: {err}"
        );
        err
    };
    // A file, but not executable.
    let exe = mark_file("not-executable");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    let err = refused(&exe);
    assert!(err.contains("is not executable"), "{err}");
    assert!(
        err.contains(&format!("chmod +x {}", exe.display())),
        "{err}"
    );
    // A script whose interpreter is not there, by path or by name.
    for (line, missing) in [
        ("#!/no/such/python3", "/no/such/python3"),
        ("#!/usr/bin/env no-such-python", "no-such-python"),
    ] {
        std::fs::write(&exe, format!("{line}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = refused(&exe);
        assert!(
            err.contains(&format!(
                "its first line asks for {missing}, which is not here"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_command_that_is_not_a_runtime_is_reported_within_the_init_limit() {
    if !have_curl() {
        return;
    }
    // `sleep` never asks the Runtime API for an invocation.
    let host = Host::start(&[], &["sleep", "600"], &[]);
    let started = Instant::now();
    let seen = curl(&["-d", "{}", &host.url("/2015-03-31/functions/f/invocations")]);
    let took = started.elapsed();
    let text = seen.text();
    assert!(text.contains("\"errorType\":\"Sandbox.Timeout\""), "{text}");
    assert!(
        text.contains(
            "nothing in the environment called the Runtime API's /next within 10 s \
             (Lambda's limit on init): is \\\"sleep\\\" a Lambda runtime?"
        ),
        "{text}"
    );
    assert!(text.contains("AWS_LAMBDA_RUNTIME_API=127.0.0.1:"), "{text}");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(30)).contains(&took),
        "answered after {took:?}"
    );
    let log = host.wait_for_stdout("INIT_REPORT", 1);
    assert!(log.contains("Error Type: Sandbox.Timeout"), "{log}");
    let err = host.wait_for_stderr("is \"sleep\" a Lambda runtime?");
    assert!(err.contains("is \"sleep\" a Lambda runtime?"), "{err}");
}

#[test]
fn an_init_error_about_the_handler_names_the_flag_that_fixes_it() {
    if !have_curl() || !have_python() {
        return;
    }
    for (error_type, flag) in [
        (
            "Runtime.MalformedHandlerName",
            "`--handler module.function`",
        ),
        ("Runtime.ImportModuleError", "`--task-root DIR`"),
    ] {
        let env = [("FAIL_INIT", "1"), ("FAIL_INIT_TYPE", error_type)];
        let host = Host::start(&[], &python_function(), &env);
        let text = curl(&["-d", "{}", &host.url("/2015-03-31/functions/f/invocations")]).text();
        assert!(text.contains(error_type), "{text}");
        let err = host.wait_for_stderr(flag);
        assert!(err.contains(flag), "{error_type}: {err}");
    }
}

#[test]
fn the_command_line_says_what_is_wrong() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lambda-stream"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["local", "--", "./no-such-function"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find ./no-such-function"));

    let out = run(&["local", "--prot", "1", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument '--prot'"), "{err}");
    assert!(err.contains("a similar argument exists: '--port'"), "{err}");

    // A bad value is named as it was given: by its flag (a usage error) or its variable.
    let out = run(&["local", "--port", "seventy", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'seventy' for '--port <PORT>': not a port number"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-stream"))
        .args(["local", "--", "true"])
        .env("LOCAL_LAMBDA_PORT", "seventy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LOCAL_LAMBDA_PORT=\"seventy\""), "{err}");

    let out = run(&["local", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--max-concurrency"), "{help}");
    assert!(help.contains("[env: LOCAL_LAMBDA_PORT="), "{help}");
}

/// What the Python runtime saw of its environment (`/env`).
fn environment(host: &Host) -> serde_json::Value {
    let text = curl(&[&host.url("/env")]).text();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_function_gets_lambdas_environment() {
    if !have_curl() || !have_python() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let root = root.canonicalize().unwrap();
    let flags = [
        "--function-name",
        "orders",
        "--region",
        "eu-west-1",
        "--memory",
        "512",
        "--handler",
        "app.handler",
        "--task-root",
        root.to_str().unwrap(),
    ];
    // The host's own AWS_LAMBDA_MAX_CONCURRENCY does not leak into a classic environment.
    let host = Host::start(
        &flags,
        &python_function(),
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "9"),
            ("AWS_LAMBDA_FUNCTION_VERSION", ""),
        ],
    );
    let env = environment(&host);
    let text = |name: &str| {
        env[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {env}"))
    };
    let api = text("AWS_LAMBDA_RUNTIME_API");
    let (ip, port) = api.split_once(':').unwrap();
    assert_eq!(ip, "127.0.0.1", "{env}");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{env}");
    assert_ne!(api, host.addr, "the runtime's api is not the doors'");
    assert_eq!(text("AWS_LAMBDA_FUNCTION_NAME"), "orders");
    assert_eq!(text("AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    assert_eq!(text("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "512");
    assert_eq!(text("AWS_REGION"), "eu-west-1");
    assert_eq!(text("AWS_DEFAULT_REGION"), "eu-west-1");
    assert_eq!(text("AWS_LAMBDA_LOG_GROUP_NAME"), "/aws/lambda/orders");
    // `2026/12/02/[$LATEST]` and 32 hex digits.
    let stream = text("AWS_LAMBDA_LOG_STREAM_NAME");
    let (date, rest) = stream.split_at(11);
    let date: Vec<_> = date
        .trim_end_matches('/')
        .split('/')
        .map(str::len)
        .collect();
    assert_eq!(date, [4, 2, 2], "{stream}");
    let hex = rest
        .strip_prefix("[$LATEST]")
        .unwrap_or_else(|| panic!("{stream}"));
    assert_eq!(hex.len(), 32, "{stream}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{stream}");
    assert_eq!(text("LAMBDA_TASK_ROOT"), root.to_str().unwrap());
    assert_eq!(text("cwd"), root.to_str().unwrap());
    assert_eq!(text("_HANDLER"), "app.handler");
    assert_eq!(text("TZ"), ":UTC");
    assert_eq!(text("AWS_LAMBDA_INITIALIZATION_TYPE"), "on-demand");
    assert!(env["AWS_LAMBDA_MAX_CONCURRENCY"].is_null(), "{env}");
    drop(host);

    // On Lambda Managed Instances: one process, told how many invocations it takes at once.
    // Whatever the machine's own region (empty is unset).
    let unset = [("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "")];
    let host = Host::start(&["--max-concurrency", "2"], &python_function(), &unset);
    let env = environment(&host);
    assert_eq!(env["AWS_LAMBDA_MAX_CONCURRENCY"], "2", "{env}");
    assert_eq!(
        env["AWS_LAMBDA_INITIALIZATION_TYPE"], "lambda-managed-instances",
        "{env}"
    );
    // The defaults: the command's name, us-east-1, 128 MB, `bootstrap`, this directory.
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "python3", "{env}");
    assert_eq!(env["AWS_REGION"], "us-east-1", "{env}");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128", "{env}");
    assert_eq!(env["_HANDLER"], "bootstrap", "{env}");
}

#[test]
fn a_runtime_that_answers_buffered_gets_the_function_urls_buffered_treatment() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&[], &python_function(), &[]);
    // (Reading lines takes each `\r\n` off.)
    let seen = curl(&["-i", &host.url("/buffered")]);
    let text = seen.text();
    let head = text.to_ascii_lowercase();
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(head.contains("\nx-answer: buffered\n"), "{text}");
    assert!(
        head.contains("\nset-cookie: flavour=oat; path=/\n"),
        "{text}"
    );
    assert!(head.contains("\ncontent-length: 5\n"), "{text}");
    assert!(text.ends_with("\n\nwhole\n"), "{text:?}");
    // And a streamed answer from the same process still streams.
    assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");
}

/// AWS's Node.js runtime client 3.x: `LAMBDA_STREAM_NODE_RIC`, the path of its
/// `aws-lambda-ric` command (`.ci/run` installs it: `npm install aws-lambda-ric@3.3.0`, which
/// builds its native part).
fn node_ric() -> Option<PathBuf> {
    peer("LAMBDA_STREAM_NODE_RIC", "aws-lambda-ric's command")
}

#[test]
fn aws_lambda_ric_for_node_streams_and_its_error_midway_reaches_the_caller() {
    let Some(ric) = node_ric() else { return };
    if !have_curl() {
        return;
    }
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node");
    let task_root = app.to_str().unwrap();
    let flags = ["--handler", "app.handler", "--task-root", task_root];
    let host = Host::start(&flags, &[ric.as_os_str(), "app.handler".as_ref()], &[]);

    assert_node_app_streams(&host);

    // Its error midway: real trailers for a caller that takes them, a cut stream otherwise.
    let seen = curl(&[&host.url("/fail")]);
    assert_eq!(seen.text(), "partial\n");
    assert_eq!(seen.code, Some(18), "not a clean end");
    let raw = curl(&["--raw", "-H", "TE: trailers", &host.url("/fail")]);
    let (error_type, body) = error_trailers(&raw);
    assert_eq!(error_type, "Error");
    assert_eq!(body["errorMessage"], "db gone");
    let log = host.wait_for_stdout("REPORT RequestId: ", 3);
    assert!(
        log.contains("\"errorMessage\":\"db gone\""),
        "its own log: {log}"
    );
}

#[test]
fn a_web_page_reaches_neither_the_doors_nor_the_functions_runtime_api() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&[], &python_function(), &[]);
    let text = curl(&[&host.url("/pid")]).text();
    let api = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api="))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert!(api.starts_with("127.0.0.1:"), "{api}");
    let status = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}\n"];
        all.extend(args);
        curl(&all).text()
    };
    // The doors: a rebound DNS name, a page of another site.
    assert_eq!(
        status(&["-H", "Host: evil.example", &host.url("/pid")]),
        "403\n"
    );
    assert_eq!(
        status(&["-H", "Origin: https://evil.example", &host.url("/pid")]),
        "403\n"
    );
    // The function's own Runtime API, on its ephemeral port: a page that finds the port (or
    // rebinds a name to it) takes no invocation and posts no answer.
    let next = format!("http://{api}/2018-06-01/runtime/invocation/next");
    assert_eq!(status(&["-H", "Sec-Fetch-Mode: no-cors", &next]), "403\n");
    assert_eq!(status(&["-H", "Host: evil.example", &next]), "403\n");
    let register = format!("http://{api}/2020-01-01/extension/register");
    let origin = ["-H", "Origin: http://localhost:8080", "-d", "{}", &register];
    assert_eq!(status(&origin), "403\n");
    // And the function still serves.
    assert_eq!(pid_of(&curl(&[&host.url("/pid")]).text()), pid_of(&text));
}

/// The same release binary behind each front end (`--source`): streamed through a REST API's
/// stage, answered whole by an HTTP API and an ALB, as `auto` mode decides from their events.
#[test]
fn the_same_binary_behind_each_front_end() {
    if !have_curl() {
        return;
    }
    let exe = release_example();
    let rest = Host::start(&["--source", "rest", "--stage", "prod"], &[exe], &[]);
    let seen = curl(&[&rest.url("/prod/items/1")]);
    assert_eq!(seen.code, Some(0));
    assert_eq!(seen.text(), NUMBERS.concat());
    assert_each_before_the_next(&seen.arrivals(), Duration::from_secs(1));
    // Outside the stage: API Gateway's 403.
    let outside = curl(&["-w", "\n%{http_code}\n", &rest.url("/items/1")]);
    assert_eq!(outside.text(), "{\"message\":\"Forbidden\"}\n403\n");
    drop(rest);

    for source in ["http-api", "alb"] {
        let host = Host::start(&["--source", source], &[exe], &[]);
        let seen = curl(&["-i", &host.url("/")]);
        assert_eq!(seen.code, Some(0));
        let text = seen.text();
        let length = format!("content-length: {}", NUMBERS.concat().len());
        assert!(
            text.to_ascii_lowercase().contains(&length),
            "{source}: {text}"
        );
        assert!(text.ends_with(&NUMBERS.concat()), "{source}: {text}");
        // Whole: nothing before the last line was written, 3 s in.
        let first = seen.lines.first().map(|(at, _)| *at).unwrap_or_default();
        assert!(
            first >= Duration::from_secs(2),
            "{source}: {:?}",
            seen.lines
        );
    }
}
