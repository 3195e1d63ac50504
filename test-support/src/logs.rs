//! Captures what is logged on this thread: on a current-thread runtime (`#[tokio::test]`
//! without a flavor) the tasks of the runtime, the test kit and the local server log here too.
//!
//! tracing decides once per log statement, process-wide, whether anyone listens to it. With one
//! subscriber alive, it asks the thread that first reaches the statement: a test beside this
//! one that logs there with no subscriber would silence the statement for the capture too.
//! Every capture therefore keeps a second subscriber alive that listens to everything and
//! is no thread's default: the decision is then taken over every subscriber alive.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

/// What a tripwire looks for: the worker that logs `kill the worker <id>` dies.
const TRIPWIRE: &str = "kill the worker";

/// The captured log lines.
#[derive(Clone, Debug, Default)]
pub struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
    /// With [`Logs::tripwire`]: the ids it has tripped on.
    tripped: Option<Arc<Mutex<HashSet<String>>>>,
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(tripped) = &self.tripped {
            let line = String::from_utf8_lossy(buf);
            if let Some(at) = line.find(TRIPWIRE) {
                let id: String = line[at + TRIPWIRE.len()..]
                    .trim_start_matches(' ')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if tripped.lock().unwrap().insert(id) {
                    panic!("the log writer exploded");
                }
            }
        }
        self.text.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Starts capturing at `INFO` and above; the capture ends when the guard is dropped.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        Logs::install(Logs::default(), tracing::Level::INFO)
    }

    /// Starts capturing at `level` and above.
    pub fn capture_at(level: tracing::Level) -> (Logs, tracing::subscriber::DefaultGuard) {
        Logs::install(Logs::default(), level)
    }

    /// Captures, and panics in the writer (once for each id) on a line that says
    /// `kill the worker <id>` (or just `kill the worker`): code of the function's that runs in
    /// the worker outside the handler (the runtime logs the handler's error there), so the
    /// worker that logs it dies. A panic in the handler, or in dropping its values, does not.
    /// Once per id, because the formatter keeps the line it could not write and writes it
    /// again with the next one.
    pub fn tripwire() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs {
            tripped: Some(Arc::default()),
            ..Logs::default()
        };
        Logs::install(logs, tracing::Level::INFO)
    }

    fn install(logs: Logs, level: tracing::Level) -> (Logs, tracing::subscriber::DefaultGuard) {
        static LISTENS_TO_ALL: OnceLock<tracing::Dispatch> = OnceLock::new();
        LISTENS_TO_ALL.get_or_init(|| {
            tracing::Dispatch::new(
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::TRACE)
                    .with_writer(std::io::sink)
                    .finish(),
            )
        });
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }

    /// Everything logged so far, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// Lines that contain every one of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.text()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }
}
