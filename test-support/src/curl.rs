//! curl, as a user runs it against the local server: the lines of a streamed body with when
//! each arrived ([`lines`], [`lines_blocking`]), or a whole response with its head
//! ([`response`]).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt as _;

use crate::skip;

/// What curl printed, line by line with when each arrived (from curl's start), and its exit
/// code (`18` when the transfer was cut short).
#[derive(Debug)]
pub struct Lines {
    /// Each line (without its `\n`), with when it arrived.
    pub lines: Vec<(Duration, String)>,
    /// curl's exit code.
    pub code: Option<i32>,
}

impl Lines {
    /// The lines, each with its `\n`.
    pub fn text(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When each line arrived.
    pub fn arrivals(&self) -> Vec<Duration> {
        self.lines.iter().map(|(at, _)| *at).collect()
    }
}

/// Runs `curl` with `args` on tokio (so that a server on the same runtime goes on serving),
/// reading its stdout line by line as it arrives. `None` (after [`skip`]) without curl.
pub async fn lines(args: &[&str]) -> Option<Lines> {
    let started = Instant::now();
    let mut child = match tokio::process::Command::new("curl")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            skip(&format!("cannot run curl: {e}"));
            return None;
        }
    };
    let stdout = child.stdout.take()?;
    let mut reader = tokio::io::BufReader::new(stdout).lines();
    let mut lines = vec![];
    while let Some(line) = reader.next_line().await.unwrap() {
        lines.push((started.elapsed(), line));
    }
    let code = child.wait().await.unwrap().code();
    Some(Lines { lines, code })
}

/// [`lines`], blocking the thread: for tests whose server is another process.
pub fn lines_blocking(args: &[&str]) -> Option<Lines> {
    let started = Instant::now();
    let mut child = match Command::new("curl")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            skip(&format!("cannot run curl: {e}"));
            return None;
        }
    };
    let stdout = child.stdout.take()?;
    let mut lines = vec![];
    for line in BufReader::new(stdout).lines() {
        lines.push((started.elapsed(), line.unwrap()));
    }
    let code = child.wait().unwrap().code();
    Some(Lines { lines, code })
}

/// A whole response as curl saw it: `curl -s -D -`.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs curl with `args` (after `-s -D -`) on tokio and reads the response it printed.
/// `None` (after [`skip`]) without curl.
pub async fn response(args: &[&str]) -> Option<Response> {
    let out = match tokio::process::Command::new("curl")
        .args(["-s", "-D", "-"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            skip(&format!("cannot run curl: {e}"));
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(parse(&text).unwrap_or_else(|| panic!("no response from curl {args:?}: {text:?}")))
}

/// The response in what `curl -D -` printed: its head, a blank line, its body.
fn parse(text: &str) -> Option<Response> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_as_curl_prints_it() {
        let r =
            parse("HTTP/1.1 403 Forbidden\r\nX-Amzn-ErrorType: Nope\r\nA: b: c\r\n\r\n{}").unwrap();
        assert_eq!(r.status, 403);
        assert_eq!(r.header("x-amzn-errortype"), Some("Nope"));
        assert_eq!(r.header("a"), Some("b: c"));
        assert_eq!(r.body, "{}");
        assert!(parse("garbage").is_none());
    }
}
