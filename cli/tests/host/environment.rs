//! An execution environment is its processes: under `lambda-stream local`, a `bootstrap` that
//! is a shell script (without `exec`) and the children it starts in the background end with
//! their environment, however it ends (a timeout, a crash, the host's stop); its memory is
//! all of theirs; and a caller that stopped reading does not hold a dead environment's slot.
//!
//! Real processes over real sockets: the `lambda-stream` binary, `sh`, `sleep`, the Python
//! runtime of `fixtures/runtime.py`, curl, and a caller on a bare TCP socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

/// The running (not zombie) processes of process group `pgid`, from `/proc`.
fn group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?;
        let pgrp: u32 = fields.nth(1)?.parse().ok()?;
        (pgrp == pgid && state != "Z").then_some(pid)
    })
    .collect()
}

/// Waits (up to 5 s) until no process of group `pgid` runs; asserts it.
fn assert_gone(pgid: u32, after: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    while !group(pgid).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = group(pgid);
    assert!(
        left.is_empty(),
        "after {after}, processes of the environment remain: {left:?}"
    );
}

/// The `pgid=` a `/pid` answer names.
fn pgid_of(text: &str) -> u32 {
    let pgid = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pgid="));
    pgid.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pgid in {text:?}"))
}

/// A directory of its own for the test `name`, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("environment-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `bootstrap` shell script in `dir` that runs `before` (in the background), then the
/// Python runtime, without `exec`: the shell stays, as in many custom runtimes.
fn bootstrap(dir: &Path, before: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("bootstrap");
    let script = format!(
        "#!/bin/sh\n{before}\npython3 '{}'\necho \"the runtime exited: $?\"\n",
        runtime_py().display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_bootstrap_script_and_its_background_child_end_with_their_environment() {
    if !have_curl() || !have_python() {
        return;
    }
    let dir = scratch("group");
    let exe = bootstrap(&dir, "sleep 1000 &");
    let mut host = Host::start(&["--timeout", "1"], &[&exe], &[]);
    let who = |host: &Host| curl(&[&host.url("/pid")]).text();

    // The runtime is a child of the shell, in the environment's group with `sleep`.
    let first = who(&host);
    let pgid = pgid_of(&first);
    assert_ne!(pgid, pid_of(&first), "the shell leads the group");
    assert!(
        group(pgid).len() >= 3,
        "sh, sleep, python: {:?}",
        group(pgid)
    );

    // A timeout ends all of them; the next invocation runs in a fresh environment.
    let seen = curl(&["-o", "/dev/null", &host.url("/hang")]);
    assert_eq!(seen.code, Some(18), "not a clean end");
    assert_gone(pgid, "a timeout");
    let second = who(&host);
    assert_ne!(pgid_of(&second), pgid);

    // A crash of the runtime: the shell and its sleep go with it.
    let pgid = pgid_of(&second);
    let seen = curl(&[&host.url("/crash")]);
    assert_eq!(seen.code, Some(18), "not a clean end");
    assert_gone(pgid, "a crash");
    let third = who(&host);
    assert_ne!(pgid_of(&third), pgid);

    // The host's stop.
    let pgid = pgid_of(&third);
    let (status, _) = host.stop();
    assert!(status.success(), "{status}");
    assert_gone(pgid, "the host's stop");
}

#[test]
fn the_hosts_exit_by_a_signal_ends_every_environment() {
    if !have_curl() || !have_python() {
        return;
    }
    let dir = scratch("signals");
    let exe = bootstrap(&dir, "sleep 1000 &");
    for signal_name in ["INT", "HUP"] {
        let mut host = Host::start(&[], &[&exe], &[]);
        let pgid = pgid_of(&curl(&[&host.url("/pid")]).text());
        signal(host.child.id(), signal_name);
        let status = wait_timeout(&mut host.child, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("the host did not stop on SIG{signal_name}"));
        assert!(status.success(), "SIG{signal_name}: {status}");
        assert_gone(pgid, &format!("the host's SIG{signal_name}"));
    }
}

#[test]
fn max_memory_used_counts_every_process_of_the_environment() {
    if !have_curl() || !have_python() {
        return;
    }
    let dir = scratch("memory");
    let ready = dir.join("ready");
    // A child that holds 200 MB while the shell and the runtime hold a few: the environment's
    // memory is theirs together.
    let hold = format!(
        "python3 -c 'import time; b = b\"x\" * (200 << 20); open(\"{}\", \"w\").close(); time.sleep(1000)' &\n\
         while [ ! -e '{}' ]; do sleep 0.05; done",
        ready.display(),
        ready.display()
    );
    let exe = bootstrap(&dir, &hold);
    let host = Host::start(&[], &[&exe], &[]);
    assert_eq!(curl(&[&host.url("/")]).text(), "hello\n");
    let log = host.wait_for_stdout("REPORT RequestId: ", 1);
    let used: u64 = log
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|mb| mb.parse().ok())
        .unwrap_or_else(|| panic!("no Max Memory Used in {log}"));
    assert!(
        (200..1024).contains(&used),
        "Max Memory Used: {used} MB: {log}"
    );
}

#[test]
fn a_caller_that_stops_reading_does_not_hold_a_dead_environments_slot() {
    if !have_curl() || !have_python() {
        return;
    }
    let host = Host::start(&["--concurrency", "1"], &python_function(), &[]);
    // A caller that asks for a stream far larger than every buffer on its way, and does not
    // read it; the runtime, blocked on it, dies a second later.
    let mut stalled = TcpStream::connect(&host.addr).unwrap();
    let request = format!(
        "GET /flood HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host.addr
    );
    stalled.write_all(request.as_bytes()).unwrap();
    let log = host.wait_for_stdout("exit status 7", 1);
    assert!(log.contains("Status: error"), "{log}");

    // The environment is gone and its slot free: the next caller is served, not 429.
    let seen = curl(&["-w", "%{http_code}\n", &host.url("/pid")]);
    let text = seen.text();
    assert!(text.ends_with("\n200\n"), "{text}");
    assert_ne!(pid_of(&text), 0);

    // The stalled caller, reading again, gets what was sent and then its failure: a stream
    // cut before its end, not one that looks complete.
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let read = stalled.read_to_end(&mut got);
    assert!(
        read.is_ok() || got.len() > 1024,
        "the stream did not end: {read:?} after {} bytes",
        got.len()
    );
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &got[..got.len().min(64)]
    );
    assert!(!got.ends_with(b"0\r\n\r\n"), "the cut stream ended cleanly");
    assert!(
        got.len() < 1 << 30,
        "all of it arrived: {} bytes",
        got.len()
    );
}
