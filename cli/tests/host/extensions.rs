//! Extensions as Lambda runs them, under `lambda-stream local`: an external extension
//! (`fixtures/extensions/recorder`, a Python script) started from `--extensions DIR` or a
//! layer's `extensions/`, getting `INVOKE` for each invocation and `SHUTDOWN` on stop, after
//! the runtime's `SIGTERM`, within Lambda's limits; a layer's `AWS_LAMBDA_EXEC_WRAPPER`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

fn extensions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extensions")
}

/// The request ids of the `START` lines of the host's log.
fn started(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("START RequestId: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The lines of `marks` that start with `word`.
fn lines<'a>(marks: &'a str, word: &str) -> Vec<&'a str> {
    marks.lines().filter(|l| l.starts_with(word)).collect()
}

#[test]
fn an_external_extension_gets_invoke_for_each_invocation_and_shutdown_after_the_runtimes_sigterm() {
    if !have_curl() || !have_python() {
        return;
    }
    let mark = mark_file("extension-events");
    let dir = extensions_dir();
    let flags = ["--extensions", dir.to_str().unwrap()];
    let mut host = Host::start(
        &flags,
        &python_function(),
        &[("MARK", mark.to_str().unwrap())],
    );
    for _ in 0..2 {
        assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");
    }
    let log = host.wait_for_stdout("REPORT RequestId: ", 2);
    let ids = started(&log);
    assert_eq!(ids.len(), 2, "{log}");

    let (status, took) = host.stop();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_millis(2500),
        "the shutdown took {took:?}"
    );
    let marks = marks(&mark);
    // Registered before the runtime was given anything; an INVOKE per invocation, in order,
    // with its deadline ahead (the function timeout, 900 s) and its tracing.
    let invokes = lines(&marks, "INVOKE ");
    assert_eq!(invokes.len(), 2, "{marks}");
    for (line, id) in invokes.iter().zip(&ids) {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[1], id, "{marks}");
        assert!(words[2].starts_with("arn:aws:lambda:"), "{line}");
        let left: i64 = words[3].parse().unwrap();
        assert!((800_000..=900_000).contains(&left), "{line}");
        assert_eq!(words[4], "X-Amzn-Trace-Id", "{line}");
    }
    let order: Vec<&str> = marks.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        order,
        [
            "registered",
            "started",
            "INVOKE",
            "INVOKE",
            "SIGTERM",
            "SHUTDOWN"
        ],
        "{marks}"
    );
    // SHUTDOWN says why, and leaves the rest of Lambda's 2,000 ms.
    let shutdown = lines(&marks, "SHUTDOWN ")[0];
    let words: Vec<&str> = shutdown.split(' ').collect();
    assert_eq!(words[1], "spindown", "{shutdown}");
    let left: i64 = words[2].parse().unwrap();
    assert!((1000..=2000).contains(&left), "{shutdown}");
}

#[test]
fn a_timed_out_invocation_shuts_the_extensions_down_with_timeout() {
    if !have_curl() || !have_python() {
        return;
    }
    let mark = mark_file("extension-timeout");
    let dir = extensions_dir();
    let flags = ["--timeout", "1", "--extensions", dir.to_str().unwrap()];
    let host = Host::start(
        &flags,
        &python_function(),
        &[("MARK", mark.to_str().unwrap())],
    );
    let seen = curl(&["-o", "/dev/null", &host.url("/hang")]);
    assert_eq!(seen.code, Some(18), "not a clean end");
    host.wait_for_stdout("Status: timeout", 1);
    // The next invocation, in a fresh environment with its own extension.
    assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");
    let marks = marks(&mark);
    assert_eq!(lines(&marks, "registered ").len(), 2, "{marks}");
    let shutdown = lines(&marks, "SHUTDOWN ");
    assert!(shutdown[0].starts_with("SHUTDOWN timeout "), "{marks}");
}

#[test]
fn a_layer_gives_its_extensions_its_bin_and_its_exec_wrapper() {
    use std::os::unix::fs::PermissionsExt as _;
    if !have_curl() || !have_python() {
        return;
    }
    // A layer as Lambda unpacks it under /opt.
    let layer = mark_file("layer");
    let _ = std::fs::remove_dir_all(&layer);
    for sub in ["extensions", "bin"] {
        std::fs::create_dir_all(layer.join(sub)).unwrap();
    }
    std::fs::copy(
        extensions_dir().join("recorder"),
        layer.join("extensions/recorder"),
    )
    .unwrap();
    let script = |path: &Path, text: &str| {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // The wrapper marks how it was called, with what the layer's bin/ gives, then runs the
    // runtime's command as it was given.
    script(
        &layer.join("bootstrap"),
        "#!/bin/sh\necho \"wrapped $(layer-tool) $*\" >> \"$MARK\"\nexec \"$@\"\n",
    );
    script(&layer.join("bin/layer-tool"), "#!/bin/sh\necho from-bin\n");
    let mark = mark_file("layer-events");
    let flags = [
        "--layer",
        layer.to_str().unwrap(),
        "--env",
        "AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap",
    ];
    let mut host = Host::start(
        &flags,
        &python_function(),
        &[("MARK", mark.to_str().unwrap())],
    );
    assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");
    let (status, _) = host.stop();
    assert!(status.success(), "{status}");
    let marks = marks(&mark);
    let wrapped = lines(&marks, "wrapped ");
    assert_eq!(
        wrapped,
        [format!(
            "wrapped from-bin python3 {}",
            runtime_py().display()
        )],
        "{marks}"
    );
    assert_eq!(lines(&marks, "INVOKE ").len(), 1, "{marks}");
    assert_eq!(lines(&marks, "SHUTDOWN spindown ").len(), 1, "{marks}");
}

#[test]
fn the_web_adapter_as_a_layer_streams_a_plain_web_app_and_ends_with_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(adapter) = peer(
        "LAMBDA_STREAM_WEB_ADAPTER",
        "aws-lambda-web-adapter's lambda-adapter binary (cargo install lambda_web_adapter)",
    ) else {
        return;
    };
    if !have_curl() || !have_python() {
        return;
    }
    // The layer as it unpacks under /opt: the adapter as an external extension, and the
    // exec wrapper that runs the function's handler (a start script) instead of the runtime.
    let layer = mark_file("web-adapter-layer");
    let _ = std::fs::remove_dir_all(&layer);
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::os::unix::fs::symlink(&adapter, layer.join("extensions/lambda-adapter")).unwrap();
    let wrapper = layer.join("bootstrap");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec \"$LAMBDA_TASK_ROOT/$_HANDLER\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webapp");
    let flags = [
        "--layer",
        layer.to_str().unwrap(),
        "--task-root",
        app.to_str().unwrap(),
        "--handler",
        "run.sh",
        "--env",
        "AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap",
        "--env",
        "AWS_LWA_INVOKE_MODE=response_stream",
    ];
    let env = [("PORT", port.as_str()), ("AWS_LWA_PORT", port.as_str())];
    // The command stands for the managed runtime the wrapper replaces.
    let mut host = Host::start(&flags, &["python3"], &env);

    // The web app runs in the environment (its cold start, before the stream is timed).
    let pid = pid_of(&curl(&[&host.url("/pid")]).text());
    let seen = curl(&["-i", &host.url("/stream")]);
    assert_eq!(seen.code, Some(0));
    let text = seen.text();
    assert!(
        text.to_ascii_lowercase().contains("\nx-app: plain\n"),
        "{text}"
    );
    assert!(text.ends_with("\n\nline 1\nline 2\nline 3\n"), "{text}");
    let body = &seen.arrivals()[seen.lines.len() - 3..];
    assert_each_before_the_next(body, Duration::from_secs(1));

    // The web app ends with its environment.
    let (status, took) = host.stop();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_millis(2500),
        "the shutdown took {took:?}"
    );
    assert!(!alive(pid), "the web app outlived the host");
}
