//! lambda-stream against lambda_http, side by side: one Runtime API mock, two release-built
//! functions with the same handler (`src/lib.rs`), driven in turn (A B A B ...). The binary
//! size row is of two other binaries, the same small function on each framework
//! (`src/bin/size_lambda_stream.rs`, `src/bin/size_lambda_http.rs`).
//!
//! ```text
//! cargo bench --manifest-path benches/compare/Cargo.toml --bench compare
//! ```
//!
//! `--quick` (after `--`) runs a tenth of the invocations, for a smoke test. Prints the
//! markdown tables of BENCHMARKS.md.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use support::{Done, Mock};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// One function under test.
struct Function {
    name: &'static str,
    exe: &'static str,
    /// The binary whose size the table gives: the same small function on each framework
    /// (`src/bin/size_*.rs`), not the harness's function, which holds every entry point.
    size_exe: &'static str,
}

const FUNCTIONS: [Function; 2] = [
    Function {
        name: "lambda-stream",
        exe: env!("CARGO_BIN_EXE_fn_lambda_stream"),
        size_exe: env!("CARGO_BIN_EXE_size_lambda_stream"),
    },
    Function {
        name: "lambda_http",
        exe: env!("CARGO_BIN_EXE_fn_lambda_http"),
        size_exe: env!("CARGO_BIN_EXE_size_lambda_http"),
    },
];

const FIXTURE: &str = include_str!("../../../tests/fixtures/events/function-url-get.json");
const WAIT: Duration = Duration::from_secs(60);

/// The function URL fixture, asking for `path`.
fn event(path: &str) -> Result<Bytes> {
    let mut v: serde_json::Value = serde_json::from_str(FIXTURE)?;
    v["rawPath"] = path.into();
    v["requestContext"]["http"]["path"] = path.into();
    Ok(serde_json::to_vec(&v)?.into())
}

/// A running function process, killed on drop.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::env::var_os("COMPARE_WRAP").is_some() {
            // A tracer writes its summary once its tracee ends: stop the traced function.
            let pid = self.child.id();
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for child in children.split_whitespace() {
                let _ = Command::new("kill").args(["-TERM", child]).status();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the whole process, from `/proc/PID/stat`, in clock ticks.
    fn cpu_ticks(&self) -> Result<u64> {
        let (user, system) = self.user_system_ticks()?;
        Ok(user + system)
    }

    /// utime and stime of the whole process, from `/proc/PID/stat`, in clock ticks.
    fn user_system_ticks(&self) -> Result<(u64, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = stat.rsplit_once(')').ok_or("bad /proc/PID/stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state); utime is field 14, stime field 15.
        let utime: u64 = fields.get(11).ok_or("no utime")?.parse()?;
        let stime: u64 = fields.get(12).ok_or("no stime")?.parse()?;
        Ok((utime, stime))
    }

    /// CPU time of all live threads, from `/proc/PID/task/*/schedstat`, in nanoseconds.
    fn cpu_ns(&self) -> Result<u64> {
        threads_cpu_ns(&self.pid().to_string())
    }

    /// Peak resident set size (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .ok_or("no VmHWM")?;
        Ok(line.split_whitespace().nth(1).ok_or("bad VmHWM")?.parse()?)
    }
}

impl Function {
    /// The executable: `COMPARE_EXE_0` / `COMPARE_EXE_1` replace the first / second function's
    /// (to compare a runtime change before and after with the same harness).
    fn exe(&self) -> String {
        let i = usize::from(self.name != FUNCTIONS[0].name);
        std::env::var(format!("COMPARE_EXE_{i}")).unwrap_or_else(|_| self.exe.to_owned())
    }

    /// The binary whose size is measured: `COMPARE_SIZE_EXE_0` / `COMPARE_SIZE_EXE_1` replace
    /// the first / second one (e.g. a `--features local-release` build of `size_lambda_stream`).
    fn size_exe(&self) -> String {
        let i = usize::from(self.name != FUNCTIONS[0].name);
        std::env::var(format!("COMPARE_SIZE_EXE_{i}")).unwrap_or_else(|_| self.size_exe.to_owned())
    }
}

/// CPU time of the live threads of process `pid` (or `self`), in nanoseconds.
fn threads_cpu_ns(pid: &str) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let s = std::fs::read_to_string(task?.path().join("schedstat"))?;
        total += s
            .split_whitespace()
            .next()
            .ok_or("bad schedstat")?
            .parse::<u64>()?;
    }
    Ok(total)
}

fn spawn(f: &Function, mock: &mut Mock) -> Result<Process> {
    spawn_with(f, mock, &[])
}

/// Starts `f` with `env` added to the function's environment.
fn spawn_with(f: &Function, mock: &mut Mock, env: &[(&str, &str)]) -> Result<Process> {
    mock.new_generation();
    // COMPARE_WRAP="strace -f -c -o /tmp/x": run the functions under a profiler (the CPU and
    // RSS figures are then the wrapper's).
    let wrap = std::env::var("COMPARE_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(f.exe());
            c
        }
        None => Command::new(f.exe()),
    };
    let child = command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", mock.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_REGION", "us-east-1")
        // The token stream's knobs (see BENCHMARKS.md), passed on when set; a variant's own
        // (the one-slot table's capacity) win.
        .envs(
            ["BENCH_TOKEN_CHANNEL", "BENCH_TOKEN_ALLOC"]
                .into_iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k, v))),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Process { child })
}

async fn finished(mock: &mut Mock, f: &Function) -> Result<Done> {
    let done = mock
        .finished(WAIT)
        .await
        .ok_or_else(|| format!("{}: no response within {WAIT:?}", f.name))?;
    if !done.complete {
        return Err(format!("{}: response {} incomplete", f.name, done.request_id).into());
    }
    Ok(done)
}

/// Runs `n` invocations of `payload` one after another, all queued up front.
async fn invocations(
    mock: &mut Mock,
    f: &Function,
    tag: &str,
    n: usize,
    payload: &Bytes,
) -> Result<Vec<Done>> {
    for i in 0..n {
        mock.push(format!("{tag}-{i}"), payload.clone());
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(finished(mock, f).await?);
    }
    Ok(out)
}

#[derive(Default)]
struct Figures {
    cold_start: Vec<Duration>,
    size: u64,
    first_byte: Vec<Duration>,
    small_invocations: usize,
    small_elapsed: Duration,
    small_ticks: u64,
    small_ns: u64,
    small_mock_ns: u64,
    large_mbps: Vec<f64>,
    large_rss_kib: Vec<u64>,
    large_cpu_ns: Vec<u64>,
    paced_delay: Vec<Vec<Duration>>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn cold_start(f: &Function, mock: &mut Mock, fig: &mut Figures) -> Result<()> {
    let start = Instant::now();
    let process = spawn(f, mock)?;
    let arrived = mock
        .next_arrival(WAIT)
        .await
        .ok_or_else(|| format!("{}: no GET /next within {WAIT:?}", f.name))?;
    fig.cold_start
        .push(arrived.saturating_duration_since(start));
    drop(process);
    Ok(())
}

async fn small(f: &Function, mock: &mut Mock, n: usize, fig: &mut Figures) -> Result<()> {
    let payload = event("/small")?;
    let process = spawn(f, mock)?;
    // Warm up: connection made, code paged in, allocator settled.
    invocations(mock, f, "warm", 20, &payload).await?;
    let ticks = process.cpu_ticks()?;
    let ns = process.cpu_ns()?;
    let mock_ns = threads_cpu_ns("self")?;
    let done = invocations(mock, f, "small", n, &payload).await?;
    fig.small_ticks += process.cpu_ticks()? - ticks;
    fig.small_ns += process.cpu_ns()? - ns;
    fig.small_mock_ns += threads_cpu_ns("self")? - mock_ns;
    let (Some(first), Some(last)) = (done.first(), done.last()) else {
        return Ok(());
    };
    fig.small_elapsed += last.end.saturating_duration_since(first.handed_out);
    fig.small_invocations += done.len();
    for d in &done {
        if d.body_bytes != 16 {
            return Err(format!("{}: small body of {} bytes", f.name, d.body_bytes).into());
        }
        let first_body = d.first_body.ok_or("no body")?;
        fig.first_byte
            .push(first_body.saturating_duration_since(d.handed_out));
    }
    Ok(())
}

async fn large(f: &Function, mock: &mut Mock, fig: &mut Figures) -> Result<()> {
    let payload = event("/large")?;
    let process = spawn(f, mock)?;
    // Ready once it waits for its first event.
    mock.next_arrival(WAIT)
        .await
        .ok_or_else(|| format!("{}: no GET /next within {WAIT:?}", f.name))?;
    let ns = process.cpu_ns()?;
    let done = invocations(mock, f, "large", 1, &payload).await?;
    fig.large_cpu_ns.push(process.cpu_ns()? - ns);
    let d = &done[0];
    if d.body_bytes != bench_fn::LARGE_BYTES {
        return Err(format!("{}: large body of {} bytes", f.name, d.body_bytes).into());
    }
    let secs = d.end.saturating_duration_since(d.handed_out).as_secs_f64();
    fig.large_mbps.push(d.body_bytes as f64 / 1e6 / secs);
    fig.large_rss_kib.push(process.peak_rss_kib()?);
    Ok(())
}

async fn paced(f: &Function, mock: &mut Mock, fig: &mut Figures) -> Result<()> {
    let payload = event("/paced")?;
    let _process = spawn(f, mock)?;
    let done = invocations(mock, f, "paced", 1, &payload).await?;
    let mut delays = Vec::new();
    for (arrived, chunk) in &done[0].kept {
        // A chunk may hold several stamps if they were coalesced: each counts.
        for line in String::from_utf8_lossy(chunk).lines() {
            let Some(nanos) = line.strip_prefix("t=").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let written = UNIX_EPOCH + Duration::from_nanos(nanos);
            delays.push(arrived.duration_since(written).unwrap_or_default());
        }
    }
    if delays.len() != bench_fn::PACED_CHUNKS as usize {
        return Err(format!("{}: {} paced chunks", f.name, delays.len()).into());
    }
    fig.paced_delay.push(delays);
    Ok(())
}

/// One way of serving the token stream: a function binary and what its environment picks.
struct Variant {
    name: &'static str,
    function: usize,
    env: &'static [(&'static str, &'static str)],
    /// The table it belongs to: [`CAPACITY_32`] or [`CAPACITY_1`].
    table: usize,
}

/// The token stream's default table: the channel of [`bench_fn::TOKEN_CHANNEL`] (32) slots,
/// or `BENCH_TOKEN_CHANNEL`; `--only tokens`.
const CAPACITY_32: usize = 0;
/// The token stream through one-slot channels (`lambda_runtime::streaming::channel()`,
/// `mpsc::channel(1)`, the writer's `channel_capacity(1)`); `--only tokens1`.
const CAPACITY_1: usize = 1;

/// The token stream's variants, in the order of their tables. Ratios are taken against the
/// lambda_http ones of the same table (`ANCHORS`).
const VARIANTS: [Variant; 18] = [
    Variant {
        name: "lambda-stream: run",
        function: 0,
        env: &[],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: run_concurrent",
        function: 0,
        env: &[("BENCH_ENTRY", "concurrent")],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: stream_fn (writer), run",
        function: 0,
        env: &[("BENCH_ENTRY", "writer")],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: run, current_thread",
        function: 0,
        env: &[("BENCH_FLAVOR", "current_thread")],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: run_concurrent, current_thread",
        function: 0,
        env: &[
            ("BENCH_ENTRY", "concurrent"),
            ("BENCH_FLAVOR", "current_thread"),
        ],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: stream_fn (writer), current_thread",
        function: 0,
        env: &[
            ("BENCH_ENTRY", "writer"),
            ("BENCH_FLAVOR", "current_thread"),
        ],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda_http: run_with_streaming_response, same body",
        function: 1,
        env: &[],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda_http: run_with_streaming_response, streaming::channel",
        function: 1,
        env: &[("BENCH_ENTRY", "channel")],
        table: CAPACITY_32,
    },
    Variant {
        name: "lambda-stream: run, streaming::channel()",
        function: 0,
        env: &[("BENCH_BODY", "channel")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: run, mpsc::channel(1)",
        function: 0,
        env: &[("BENCH_TOKEN_CHANNEL", "1")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: run_concurrent, streaming::channel()",
        function: 0,
        env: &[("BENCH_ENTRY", "concurrent"), ("BENCH_BODY", "channel")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: run_concurrent, mpsc::channel(1)",
        function: 0,
        env: &[("BENCH_ENTRY", "concurrent"), ("BENCH_TOKEN_CHANNEL", "1")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: stream_fn (writer), run, channel_capacity(1)",
        function: 0,
        env: &[("BENCH_ENTRY", "writer"), ("BENCH_WRITER_CHANNEL", "1")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: run, current_thread, streaming::channel()",
        function: 0,
        env: &[
            ("BENCH_FLAVOR", "current_thread"),
            ("BENCH_BODY", "channel"),
        ],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: run_concurrent, current_thread, streaming::channel()",
        function: 0,
        env: &[
            ("BENCH_ENTRY", "concurrent"),
            ("BENCH_FLAVOR", "current_thread"),
            ("BENCH_BODY", "channel"),
        ],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda-stream: stream_fn (writer), current_thread, channel_capacity(1)",
        function: 0,
        env: &[
            ("BENCH_ENTRY", "writer"),
            ("BENCH_FLAVOR", "current_thread"),
            ("BENCH_WRITER_CHANNEL", "1"),
        ],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda_http: run_with_streaming_response, streaming::channel()",
        function: 1,
        env: &[("BENCH_BODY", "channel")],
        table: CAPACITY_1,
    },
    Variant {
        name: "lambda_http: run_with_streaming_response, same body, mpsc::channel(1)",
        function: 1,
        env: &[("BENCH_TOKEN_CHANNEL", "1")],
        table: CAPACITY_1,
    },
];

/// The variants ratios are taken against, per table.
const ANCHORS: [&[usize]; 2] = [&[6, 7], &[16, 17]];

/// What one round of the token stream measured.
#[derive(Clone, Copy)]
struct TokenRound {
    /// Event handed out → end of the body (ms).
    wall: f64,
    /// The function's CPU time over the invocation, schedstat (ms).
    cpu: f64,
    /// TCP segments with data that the mock received on the function's connections (`ss`'s
    /// `data_segs_in`), if `ss` could tell.
    segments: Option<u64>,
    /// Write-family system calls of the function (`syscw` of `/proc/PID/io`: `writev` of the
    /// body, and `write` to the runtime's wake-up eventfd).
    writes: Option<u64>,
}

/// Data segments received on each of the mock's established connections (`ss -ti`'s
/// `data_segs_in`, by peer address): what the function sent, counted per socket, so that other
/// loopback traffic on the machine does not count.
fn mock_data_segments(port: u16) -> Option<std::collections::HashMap<String, u64>> {
    let out = Command::new("ss")
        .args([
            "-tinH",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{port}"),
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sockets = std::collections::HashMap::new();
    let mut peer = None;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // `Recv-Q Send-Q Local Peer`, the socket's line; its TCP info follows.
            peer = line.split_whitespace().nth(3).map(str::to_owned);
            continue;
        }
        let Some(peer) = &peer else { continue };
        for word in line.split_whitespace() {
            if let Some(n) = word.strip_prefix("data_segs_in:") {
                sockets.insert(peer.clone(), n.parse::<u64>().ok()?);
            }
        }
    }
    Some(sockets)
}

/// The data segments between two [`mock_data_segments`] counts (a connection opened between
/// them counts from 0).
fn segments_between(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> u64 {
    after
        .iter()
        .map(|(peer, n)| n.saturating_sub(before.get(peer).copied().unwrap_or(0)))
        .sum()
}

/// The `syscw` (write-family system calls) of process `pid`.
fn write_calls(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
}

/// One round of the token stream.
async fn tokens(v: &Variant, mock: &mut Mock) -> Result<TokenRound> {
    let f = &FUNCTIONS[v.function];
    let payload = event("/tokens")?;
    let process = spawn_with(f, mock, v.env)?;
    mock.next_arrival(WAIT)
        .await
        .ok_or_else(|| format!("{}: no GET /next within {WAIT:?}", v.name))?;
    let port = mock.addr.port();
    let segments = mock_data_segments(port);
    let writes = write_calls(process.pid());
    let ns = process.cpu_ns()?;
    let done = invocations(mock, f, "tokens", 1, &payload).await?;
    let cpu = (process.cpu_ns()? - ns) as f64 / 1e6;
    let writes = writes.zip(write_calls(process.pid())).map(|(a, b)| b - a);
    let segments = segments
        .zip(mock_data_segments(port))
        .map(|(a, b)| segments_between(&a, &b));
    let d = &done[0];
    if d.body_bytes != bench_fn::TOKEN_BYTES {
        return Err(format!("{}: token body of {} bytes", v.name, d.body_bytes).into());
    }
    Ok(TokenRound {
        wall: ms(d.end.saturating_duration_since(d.handed_out)),
        cpu,
        segments,
        writes,
    })
}

/// Runs `rounds` rounds of the chosen variants of `table` (each round in the reverse order
/// of the last, so that load elsewhere hits all alike) and prints its table.
async fn token_table(mock: &mut Mock, table: usize, rounds: usize, chosen: &[usize]) -> Result<()> {
    let chosen: Vec<usize> = chosen
        .iter()
        .copied()
        .filter(|&i| VARIANTS[i].table == table)
        .collect();
    if chosen.is_empty() {
        return Ok(());
    }
    let mut runs: Vec<Vec<TokenRound>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..rounds {
        let mut order = chosen.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let r = tokens(&VARIANTS[i], mock).await?;
            runs[i].push(r);
        }
    }
    let anchors: Vec<usize> = ANCHORS[table]
        .iter()
        .copied()
        .filter(|a| chosen.contains(a))
        .collect();
    let chunks = (bench_fn::TOKEN_BYTES / bench_fn::TOKEN_CHUNK as u64) as f64;
    let what = if table == CAPACITY_1 {
        "one-slot channels".to_owned()
    } else {
        let cap = std::env::var("BENCH_TOKEN_CHANNEL")
            .unwrap_or_else(|_| bench_fn::TOKEN_CHANNEL.to_string());
        format!("a channel of {cap}")
    };
    println!(
        "| 10 MB in 100-byte chunks from a producer task, {what} ({rounds} rounds) | wall, median (ms) | CPU, median (ms) | data segments per chunk, median | write syscalls per chunk, median |{}",
        anchors
            .iter()
            .map(|&a| format!(" wall / CPU vs {} (per-round median) |", VARIANTS[a].name))
            .collect::<String>()
    );
    println!("|---|---:|---:|---:|---:|{}", "---:|".repeat(anchors.len()));
    let per_chunk = |v: Vec<Option<u64>>| -> String {
        let mut v: Vec<f64> = v.into_iter().flatten().map(|n| n as f64 / chunks).collect();
        if v.is_empty() {
            return "-".into();
        }
        format!("{:.4}", median(&mut v))
    };
    for &i in &chosen {
        let mut wall: Vec<f64> = runs[i].iter().map(|r| r.wall).collect();
        let mut cpu: Vec<f64> = runs[i].iter().map(|r| r.cpu).collect();
        let segments = per_chunk(runs[i].iter().map(|r| r.segments).collect());
        let writes = per_chunk(runs[i].iter().map(|r| r.writes).collect());
        let mut cells = String::new();
        for &a in &anchors {
            // Ratios of the same round, then their median.
            let mut w: Vec<f64> = runs[i]
                .iter()
                .zip(&runs[a])
                .map(|(x, y)| x.wall / y.wall)
                .collect();
            let mut c: Vec<f64> = runs[i]
                .iter()
                .zip(&runs[a])
                .map(|(x, y)| x.cpu / y.cpu)
                .collect();
            cells += &format!(" {:.2}x / {:.2}x |", median(&mut w), median(&mut c));
        }
        println!(
            "| {} | {:.0} | {:.0} | {segments} | {writes} |{cells}",
            VARIANTS[i].name,
            median(&mut wall),
            median(&mut cpu)
        );
    }
    println!();
    Ok(())
}

/// One row of the many-streams table (`--only many`): `n` invocations at once in one process
/// (`AWS_LAMBDA_MAX_CONCURRENCY=n`), each `/many/T/G` (paced tokens) or `/bulk/C` (unpaced
/// 64 KiB chunks).
struct ManyRow {
    n: usize,
    /// Tokens per stream (paced rows), or 0.
    tokens: u32,
    /// 64 KiB chunks per stream (the unpaced row), or 0.
    chunks: u64,
}

/// The gap between two tokens of a paced stream.
const MANY_GAP_MS: u64 = 20;

impl ManyRow {
    fn path(&self) -> String {
        if self.tokens > 0 {
            format!("/many/{}/{MANY_GAP_MS}", self.tokens)
        } else {
            format!("/bulk/{}", self.chunks)
        }
    }

    fn label(&self) -> String {
        if self.tokens > 0 {
            format!("{} × {} tokens", self.n, self.tokens)
        } else {
            format!("{} × {} unpaced 64 KiB chunks", self.n, self.chunks)
        }
    }

    /// Chunks the function writes in the row: tokens, or 64 KiB chunks.
    fn units(&self) -> u64 {
        self.n as u64
            * if self.tokens > 0 {
                u64::from(self.tokens)
            } else {
                self.chunks
            }
    }
}

/// What one round of a many-streams row measured.
#[derive(Clone, Default)]
struct ManyRound {
    /// The function's CPU over the row (events queued → last body ended), schedstat (ns).
    cpu_ns: u64,
    /// `VmHWM` at the end of the row (KiB).
    peak_rss_kib: u64,
    /// Every token's arrival past its schedule (ns), sorted.
    lags: Vec<i64>,
    /// `/next` reply → first body byte, per stream, sorted.
    first_byte: Vec<Duration>,
    /// Streams whose body was complete and exact (every token, in order, on schedule).
    exact: usize,
    /// Events queued → last body ended.
    wall: Duration,
    /// User and system CPU over the row, `/proc/PID/stat` (clock ticks).
    user_ticks: u64,
    system_ticks: u64,
    /// Write-family system calls of the function over the row (`syscw`).
    writes: Option<u64>,
    /// Data segments the mock received on the function's connections over the row.
    segments: Option<u64>,
}

fn vm_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("no such field in /proc/PID/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("bad status")?
        .parse()?)
}

/// The soft limit on open files of this process (`ulimit -n`), if `/proc` tells.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The load average of the last minute.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// One round of `row` on function `f`, served concurrently.
async fn many(f: &Function, mock: &mut Mock, row: &ManyRow) -> Result<ManyRound> {
    let payload = event(&row.path())?;
    let n = row.n.to_string();
    let process = spawn_with(
        f,
        mock,
        &[
            ("BENCH_ENTRY", "concurrent"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", n.as_str()),
        ],
    )?;
    // Ready once every worker waits for an event.
    for _ in 0..row.n {
        mock.next_arrival(WAIT)
            .await
            .ok_or_else(|| format!("{}: fewer than {n} GET /next within {WAIT:?}", f.name))?;
    }
    let port = mock.addr.port();
    let segments = mock_data_segments(port);
    let writes = write_calls(process.pid());
    let (user, system) = process.user_system_ticks()?;
    let ns = process.cpu_ns()?;
    let start = Instant::now();
    let tag = if row.tokens > 0 { "many" } else { "bulk" };
    let done = invocations(mock, f, tag, row.n, &payload).await?;
    let wall = start.elapsed();
    let cpu_ns = process.cpu_ns()? - ns;
    let (user_after, system_after) = process.user_system_ticks()?;
    let writes = writes.zip(write_calls(process.pid())).map(|(a, b)| b - a);
    let segments = segments
        .zip(mock_data_segments(port))
        .map(|(a, b)| segments_between(&a, &b));
    let peak_rss_kib = vm_kib(process.pid(), "VmHWM:")?;
    let mut round = ManyRound {
        cpu_ns,
        peak_rss_kib,
        wall,
        user_ticks: user_after - user,
        system_ticks: system_after - system,
        writes,
        segments,
        ..ManyRound::default()
    };
    let gap_ns = MANY_GAP_MS * 1_000_000;
    for d in &done {
        if let Some(first) = d.first_body {
            round
                .first_byte
                .push(first.saturating_duration_since(d.handed_out));
        }
        let exact = if row.tokens > 0 {
            round.lags.extend(d.tokens.iter().map(|&(_, lag)| lag));
            d.tokens.len() == row.tokens as usize
                && d.body_bytes == 8 * u64::from(row.tokens)
                && d.tokens
                    .iter()
                    .enumerate()
                    .all(|(i, &(due, _))| due == d.tokens[0].0 + i as u64 * gap_ns)
        } else {
            d.body_bytes == row.chunks * bench_fn::LARGE_CHUNK as u64
        };
        round.exact += usize::from(exact && d.complete);
    }
    round.lags.sort_unstable();
    round.first_byte.sort_unstable();
    Ok(round)
}

fn pct_i64(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64 / 1e6
}

/// The many-streams table: each row's rounds alternate the two functions (A B, then B A).
async fn many_table(mock: &mut Mock, rounds: usize, tokens: u32, ns: &[usize]) -> Result<()> {
    let mut rows = vec![ManyRow {
        n: 1,
        tokens,
        chunks: 0,
    }];
    rows.extend(ns.iter().map(|&n| ManyRow {
        n,
        tokens,
        chunks: 0,
    }));
    rows.push(ManyRow {
        n: 64,
        tokens: 0,
        chunks: 64,
    });
    // One socket per stream on each side: the mock's (here) and the function's (which
    // inherits this limit). Rows that would run out are left out, and say so.
    if let Some(limit) = open_files_limit() {
        rows.retain(|r| {
            let fits = r.n as u64 + 128 <= limit;
            if !fits {
                eprintln!(
                    "many: {} streams need more open files than `ulimit -n` allows ({limit}); \
                     left out (raise it, e.g. `ulimit -n 4096`)",
                    r.n
                );
            }
            fits
        });
    }
    eprintln!(
        "many: {rounds} rounds of each row, alternating; load average {} at the start",
        load()
    );
    let mut results: Vec<[Vec<ManyRound>; 2]> = Vec::new();
    for row in &rows {
        let mut runs: [Vec<ManyRound>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for i in [0, 1] {
                let i = if round % 2 == 0 { i } else { 1 - i };
                let r = many(&FUNCTIONS[i], mock, row).await?;
                runs[i].push(r);
            }
        }
        eprintln!("many: {} done, load average {}", row.label(), load());
        results.push(runs);
    }
    println!(
        "| N streams at once, one process ({rounds} alternating rounds, medians) | figure | lambda-stream | lambda_http | ratio |"
    );
    println!("|---|---|---:|---:|---:|");
    // Per round: one figure of each function, and the median of their per-round ratios.
    let line = |label: &str,
                what: &str,
                runs: &[Vec<ManyRound>; 2],
                f: &dyn Fn(&ManyRound) -> f64,
                digits: usize| {
        let mut a: Vec<f64> = runs[0].iter().map(f).collect();
        let mut b: Vec<f64> = runs[1].iter().map(f).collect();
        let mut r: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        let r = median(&mut r);
        println!(
            "| {label} | {what} | {:.digits$} | {:.digits$} | {} |",
            median(&mut a),
            median(&mut b),
            if r.is_finite() {
                ratio(r, 1.0)
            } else {
                "-".into()
            }
        );
    };
    let base_peak: [f64; 2] = [0, 1].map(|i| {
        median(
            &mut results[0][i]
                .iter()
                .map(|r| r.peak_rss_kib as f64)
                .collect::<Vec<_>>(),
        )
    });
    for (row, runs) in rows.iter().zip(&results) {
        let label = row.label();
        let units = row.units() as f64;
        let unit = if row.tokens > 0 {
            "token"
        } else {
            "64 KiB chunk"
        };
        line(
            &label,
            &format!("CPU per {unit} (µs)"),
            runs,
            &|r| r.cpu_ns as f64 / 1e3 / units,
            2,
        );
        // The share of it in the kernel, over all rounds (10 ms ticks are coarse per round).
        let split: [String; 2] = [0, 1].map(|i| {
            let user: u64 = runs[i].iter().map(|r| r.user_ticks).sum();
            let system: u64 = runs[i].iter().map(|r| r.system_ticks).sum();
            format!(
                "{:.0}%",
                100.0 * system as f64 / (user + system).max(1) as f64
            )
        });
        println!(
            "| {label} | of which in the kernel, /proc/PID/stat, all rounds | {} | {} | - |",
            split[0], split[1]
        );
        let per_unit = |v: Option<u64>| v.map_or(f64::NAN, |n| n as f64 / units);
        line(
            &label,
            &format!("write system calls per {unit} (syscw)"),
            runs,
            &|r| per_unit(r.writes),
            3,
        );
        line(
            &label,
            &format!("data segments the mock received per {unit}"),
            runs,
            &|r| per_unit(r.segments),
            3,
        );
        line(
            &label,
            "peak RSS, VmHWM (MiB)",
            runs,
            &|r| r.peak_rss_kib as f64 / 1024.0,
            1,
        );
        if row.n > 1 {
            let extra = (row.n - 1) as f64;
            let per: [f64; 2] = [0, 1].map(|i| {
                let mut v: Vec<f64> = runs[i].iter().map(|r| r.peak_rss_kib as f64).collect();
                (median(&mut v) - base_peak[i]) / extra
            });
            println!(
                "| {label} | RSS per extra stream, over 1 × {tokens} (KiB) | {:.1} | {:.1} | {} |",
                per[0],
                per[1],
                ratio(per[0], per[1])
            );
        }
        if row.tokens > 0 {
            for (what, p) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
                line(
                    &label,
                    &format!("token lag past its schedule, {what} (ms)"),
                    runs,
                    &|r| pct_i64(&r.lags, p),
                    3,
                );
            }
        } else {
            line(
                &label,
                "wall, events queued → last body end (ms)",
                runs,
                &|r| ms(r.wall),
                0,
            );
        }
        line(
            &label,
            "/next reply → first body byte, p99 (ms)",
            runs,
            &|r| ms(pct(&r.first_byte, 0.99)),
            3,
        );
        let exact: [usize; 2] = [0, 1].map(|i| runs[i].iter().map(|r| r.exact).sum());
        let all = row.n * runs[0].len();
        println!(
            "| {label} | streams complete and exact | {}/{all} | {}/{all} | - |",
            exact[0], exact[1]
        );
    }
    println!();
    println!("many: load average {} at the end", load());
    println!();
    Ok(())
}

/// What loopback itself carries: 256 MiB in 64 KiB writes, one thread each side.
fn loopback_throughput() -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    let chunk = vec![b'x'; bench_fn::LARGE_CHUNK];
    let start = Instant::now();
    let mut left = bench_fn::LARGE_BYTES;
    while left > 0 {
        s.write_all(&chunk)?;
        left -= chunk.len() as u64;
    }
    drop(s);
    let total = reader.join().map_err(|_| "reader panicked")??;
    Ok(total as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// What loopback itself costs a small message: 16-byte ping-pong round trips, `TCP_NODELAY`.
fn loopback_round_trip(n: usize) -> Result<(Duration, Duration)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 16];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut times = Vec::with_capacity(n);
    let mut buf = [0u8; 16];
    for _ in 0..n {
        let start = Instant::now();
        s.write_all(b"0123456789abcdef")?;
        s.read_exact(&mut buf)?;
        times.push(start.elapsed());
    }
    drop(s);
    let _ = echo.join();
    times.sort();
    Ok((pct(&times, 0.5), pct(&times, 0.99)))
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        return "-".into();
    }
    let r = ours / theirs;
    // Three significant digits or so, however small the ratio.
    let digits = if r >= 10.0 {
        0
    } else if r >= 0.1 {
        2
    } else {
        ((-r.log10()).ceil() as usize + 2).min(6)
    };
    format!("{r:.digits$}x")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only small,large`: run only these scenarios (cold, small, large, paced, tokens,
    // tokens1).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |s: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == s));
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    // `--variants 0,6`: only these token stream variants (indices into VARIANTS).
    let chosen: Vec<usize> = match arg("--variants") {
        Some(list) => list
            .split(',')
            .map(|x| x.parse::<usize>())
            .collect::<Result<_, _>>()?,
        None => (0..VARIANTS.len()).collect(),
    };
    // `--token-rounds N`: rounds of the token stream.
    let token_rounds: usize = match arg("--token-rounds") {
        Some(n) => n.parse()?,
        None if quick => 1,
        None => 5,
    };
    let rounds = 2;
    // Small invocations per function per round (2,000 per function in all).
    let per_round = if quick { 100 } else { 1000 };
    let cold_starts = if quick { 4 } else { 20 };
    let mut mock = Mock::start().await?;
    let mut figs = [Figures::default(), Figures::default()];
    let started = Instant::now();

    for (f, fig) in FUNCTIONS.iter().zip(figs.iter_mut()) {
        fig.size = std::fs::metadata(f.size_exe())?.len();
    }
    eprintln!("cold start: {cold_starts} starts each, alternating");
    for _ in 0..if runs("cold") { cold_starts } else { 0 } {
        for (f, fig) in FUNCTIONS.iter().zip(figs.iter_mut()) {
            cold_start(f, &mut mock, fig).await?;
        }
    }
    eprintln!("small: {rounds} rounds of {per_round} invocations each, alternating");
    for _ in 0..if runs("small") { rounds } else { 0 } {
        for (f, fig) in FUNCTIONS.iter().zip(figs.iter_mut()) {
            small(f, &mut mock, per_round, fig).await?;
        }
    }
    // Short rounds (~0.2 s), so many of them, in A B B A order: a burst of load elsewhere
    // on the machine then hits both functions alike.
    let large_rounds = if quick { 2 } else { 12 };
    eprintln!("large: {large_rounds} rounds of 256 MiB each, in A B B A order");
    for round in 0..if runs("large") { large_rounds } else { 0 } {
        for i in [0, 1] {
            let i = if round % 2 == 0 { i } else { 1 - i };
            large(&FUNCTIONS[i], &mut mock, &mut figs[i]).await?;
        }
    }
    let paced_rounds = if !runs("paced") {
        0
    } else if quick {
        1
    } else {
        rounds
    };
    eprintln!("paced: {paced_rounds} rounds of 3 chunks 1 s apart, alternating");
    for _ in 0..paced_rounds {
        for (f, fig) in FUNCTIONS.iter().zip(figs.iter_mut()) {
            paced(f, &mut mock, fig).await?;
        }
    }
    if runs("tokens") {
        eprintln!(
            "tokens: {token_rounds} rounds of 10 MB in 100-byte chunks, order reversed each round"
        );
        token_table(&mut mock, CAPACITY_32, token_rounds, &chosen).await?;
    }
    if runs("many") {
        // `--many-rounds R` (5), `--many-tokens T` (100), `--many-n 64,256,1024`.
        let many_rounds: usize = match arg("--many-rounds") {
            Some(n) => n.parse()?,
            None if quick => 1,
            None => 5,
        };
        let many_tokens: u32 = match arg("--many-tokens") {
            Some(n) => n.parse()?,
            None if quick => 20,
            None => 100,
        };
        let many_n: Vec<usize> = match arg("--many-n") {
            Some(list) => list
                .split(',')
                .map(|x| x.parse::<usize>())
                .collect::<Result<_, _>>()?,
            None => vec![64, 256, 1024],
        };
        many_table(&mut mock, many_rounds, many_tokens, &many_n).await?;
    }
    if runs("tokens1") {
        eprintln!(
            "tokens1: {token_rounds} rounds of 10 MB in 100-byte chunks through one-slot channels"
        );
        token_table(&mut mock, CAPACITY_1, token_rounds, &chosen).await?;
    }
    eprintln!("loopback baselines");
    let loop_mbps = loopback_throughput()?;
    let (rtt50, rtt99) = loopback_round_trip(2000)?;
    let elapsed = started.elapsed();

    let clk_tck = 100.0; // USER_HZ on Linux; `getconf CLK_TCK`
    let rows = figs
        .iter_mut()
        .map(|fig| {
            fig.cold_start.sort();
            fig.first_byte.sort();
            let n = fig.small_invocations.max(1) as f64;
            let paced: Vec<f64> = (0..bench_fn::PACED_CHUNKS as usize)
                .map(|i| {
                    let v: Vec<f64> = fig.paced_delay.iter().map(|d| ms(d[i])).collect::<Vec<_>>();
                    mean(&v)
                })
                .collect();
            vec![
                fig.small_invocations as f64 / fig.small_elapsed.as_secs_f64(),
                ms(pct(&fig.first_byte, 0.5)),
                ms(pct(&fig.first_byte, 0.99)),
                fig.small_ticks as f64 / clk_tck * 1e6 / n,
                fig.small_ns as f64 / 1e3 / n,
                fig.small_mock_ns as f64 / 1e3 / n,
                median(&mut fig.large_mbps),
                median(
                    &mut fig
                        .large_cpu_ns
                        .iter()
                        .map(|&n| n as f64 / 1e6)
                        .collect::<Vec<_>>(),
                ),
                fig.large_rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
                paced[0],
                paced[1],
                paced[2],
                ms(pct(&fig.cold_start, 0.5)),
                fig.size as f64 / 1024.0,
            ]
        })
        .collect::<Vec<_>>();
    let labels = [
        ("small: invocations/s", 0),
        ("small: /next reply → first body byte, p50 (ms)", 3),
        ("small: /next reply → first body byte, p99 (ms)", 3),
        ("small: CPU per invocation, /proc/PID/stat (µs)", 0),
        ("small: CPU per invocation, schedstat (µs)", 1),
        ("small: the mock's CPU per invocation, schedstat (µs)", 1),
        ("large: 256 MiB in 64 KiB chunks, median (MB/s)", 0),
        (
            "large: CPU of the function per 256 MiB, schedstat, median (ms)",
            1,
        ),
        ("large: peak RSS, VmHWM (MiB)", 1),
        ("paced: chunk 1 write → arrival (ms)", 3),
        ("paced: chunk 2 write → arrival (ms)", 3),
        ("paced: chunk 3 write → arrival (ms)", 3),
        ("cold start: exec → first GET /next, median (ms)", 2),
        ("stripped release binary, streaming_numbers (KiB)", 0),
    ];
    println!("| figure | lambda-stream | lambda_http | ratio |");
    println!("|---|---:|---:|---:|");
    for (i, (label, digits)) in labels.iter().enumerate() {
        let (a, b) = (rows[0][i], rows[1][i]);
        if !(a.is_finite() && b.is_finite()) || (a == 0.0 && b == 0.0) {
            println!("| {label} | not run | not run | - |");
            continue;
        }
        println!(
            "| {label} | {a:.digits$} | {b:.digits$} | {} |",
            ratio(a, b),
            digits = *digits
        );
    }
    println!();
    println!("| loopback baseline | value |");
    println!("|---|---:|");
    println!("| 256 MiB in 64 KiB writes, one thread each side (MB/s) | {loop_mbps:.0} |");
    println!(
        "| 16-byte ping-pong round trip, TCP_NODELAY, p50 / p99 (ms) | {:.3} / {:.3} |",
        ms(rtt50),
        ms(rtt99)
    );
    println!();
    println!(
        "small: {} invocations per function; cold start: {} starts each; run took {:.0} s",
        figs[0].small_invocations,
        figs[0].cold_start.len(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
