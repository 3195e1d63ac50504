//! A default `tracing` subscriber for Lambda (feature `logging`).
//!
//! [`init_default_subscriber`] installs a subscriber that writes to stdout (Lambda sends it to
//! CloudWatch Logs) as the function's log configuration asks:
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON`: one JSON object a line, with `timestamp` (RFC 3339, UTC),
//!   `level`, `message`, `requestId` (of the invocation the line belongs to, also under
//!   concurrency: it comes from the runtime's `invocation` span), `tenantId` (for
//!   tenant-isolated functions), `target`, and the event's own fields. Always JSON on Lambda Managed Instances
//!   (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`), which require it.
//! - otherwise (`Text`, or unset): tracing's plain text lines, without colours and without a
//!   time (CloudWatch stamps each line), with the span context, which names the request id.
//!
//! In both, an error recorded as one (`error = &err as &dyn std::error::Error`) is written as
//! its message and its sources', `": "`-separated, each said once (a wrapper error that
//! prints its source and also returns it does not make it appear twice).
//! - `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`): the least
//!   severe level written. When it is unset, `RUST_LOG` is honoured in its
//!   `target=level,...` form (`info`, `my_crate=debug,hyper=warn`; no span or field filters);
//!   `INFO` when neither is set.
//!
//! Lean on purpose: `tracing-subscriber` with its `fmt` feature only (no `env-filter`, `json`,
//! `ansi` or `chrono`); the JSON lines are written here with `serde_json`, which the runtime
//! already uses, and stamped with `tracing-subscriber`'s own RFC 3339 time.
//!
//! # Example
//!
//! ```no_run
//! # async fn doc() -> Result<(), lambda_stream::Error> {
//! lambda_stream::logging::init_default_subscriber();
//! tracing::info!("cold start");
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::filter::{FilterFn, LevelFilter, Targets};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::Config;

/// Installs the default subscriber, configured from `AWS_LAMBDA_LOG_FORMAT` and
/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`); see the module docs. Does nothing if a global
/// subscriber is already set.
pub fn init_default_subscriber() {
    let config = Config::from_env();
    // Managed Instances require JSON logs: the default there, whatever the variable says.
    let format = if config.initialization_type == "lambda-managed-instances" {
        Some("JSON")
    } else {
        config.log_format.as_deref()
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    let level = Level::new(config.log_level.as_deref(), rust_log.as_deref());
    let subscriber = subscriber(format, level, io::stdout);
    // Already set (by the user, or a second call): theirs stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// What is written: a level from `AWS_LAMBDA_LOG_LEVEL`, or `RUST_LOG`'s targets.
enum Level {
    Max(LevelFilter),
    Targets(Targets),
}

impl Level {
    /// `AWS_LAMBDA_LOG_LEVEL` when set, else `RUST_LOG` when it parses, else `INFO`.
    fn new(lambda_level: Option<&str>, rust_log: Option<&str>) -> Self {
        if let Some(level) = lambda_level {
            return Level::Max(parse_level(Some(level)));
        }
        match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
            None => Level::Max(LevelFilter::INFO),
            Some(spec) => match spec.parse::<Targets>() {
                Ok(targets) => Level::Targets(targets),
                Err(e) => {
                    eprintln!("ignoring RUST_LOG={spec:?}: {e}");
                    Level::Max(LevelFilter::INFO)
                }
            },
        }
    }

    fn enables(&self, meta: &Metadata<'_>) -> bool {
        match self {
            Level::Max(level) => *level >= *meta.level(),
            Level::Targets(targets) => targets.would_enable(meta.target(), meta.level()),
        }
    }

    fn max(&self) -> LevelFilter {
        match self {
            Level::Max(level) => *level,
            Level::Targets(targets) => targets
                .iter()
                .map(|(_, level)| level)
                .chain(targets.default_level())
                .max()
                .unwrap_or(LevelFilter::OFF),
        }
    }
}

/// The subscriber for a log format and level, writing to `writer`.
fn subscriber<W>(format: Option<&str>, level: Level, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let hint = level.max().max(LevelFilter::INFO);
    // Events below the level are dropped; the runtime's own spans are always kept, so that a
    // WARN line still knows its invocation.
    let filter = FilterFn::new(move |meta: &Metadata<'_>| {
        level.enables(meta) || (meta.is_span() && meta.target().starts_with("lambda_stream"))
    })
    .with_max_level_hint(hint);
    let json = format.is_some_and(|f| f.trim().eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        Box::new(
            registry.with(InvocationLayer).with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLines)
                    .with_writer(writer),
            ),
        )
    } else {
        Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .without_time()
                    .with_ansi(false)
                    .fmt_fields(TextFields)
                    .with_writer(writer),
            ),
        )
    }
}

fn parse_level(level: Option<&str>) -> LevelFilter {
    match level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") | Some("FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// The request id and tenant id of an `invocation` span, kept in its extensions.
#[derive(Default)]
struct Invocation {
    request_id: Option<String>,
    tenant_id: Option<String>,
}

impl Visit for Invocation {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "request_id" => self.request_id = Some(value.to_owned()),
            "tenant_id" => self.tenant_id = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "request_id" | "tenant_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// Records the `request_id` and `tenant_id` fields of the runtime's `invocation` spans.
struct InvocationLayer;

impl<S> Layer<S> for InvocationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if attrs.metadata().name() != "invocation" {
            return;
        }
        let mut found = Invocation::default();
        attrs.record(&mut found);
        if let (Some(_), Some(span)) = (&found.request_id, ctx.span(id)) {
            span.extensions_mut().insert(found);
        }
    }
}

/// `{"timestamp":..,"level":..,"message":..,"requestId":..,"target":.., fields..}` lines.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let scope = ctx.event_scope();
        let span = scope.and_then(|scope| {
            scope
                .into_iter()
                .find(|span| span.extensions().get::<Invocation>().is_some())
        });
        let extensions = span.as_ref().map(|span| span.extensions());
        let invocation = extensions.as_ref().and_then(|e| e.get::<Invocation>());

        let mut line = String::with_capacity(160);
        line.push_str("{\"timestamp\":\"");
        SystemTime.format_time(&mut Writer::new(&mut line))?;
        line.push_str("\",\"level\":\"");
        line.push_str(event.metadata().level().as_str());
        line.push_str("\",\"message\":");
        json_string(&mut line, fields.message.as_deref().unwrap_or(""));
        if let Some(id) = invocation.and_then(|i| i.request_id.as_deref()) {
            line.push_str(",\"requestId\":");
            json_string(&mut line, id);
        }
        if let Some(id) = invocation.and_then(|i| i.tenant_id.as_deref()) {
            line.push_str(",\"tenantId\":");
            json_string(&mut line, id);
        }
        line.push_str(",\"target\":");
        json_string(&mut line, event.metadata().target());
        for (name, value) in &fields.rest {
            line.push(',');
            json_string(&mut line, name);
            line.push(':');
            line.push_str(value);
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// An event's fields: its message, and the others as `(name, JSON value)`.
#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    rest: Vec<(&'static str, String)>,
}

impl JsonFields {
    fn push(&mut self, field: &Field, json: String) {
        let name = match field.name() {
            "timestamp" | "level" | "requestId" | "tenantId" | "target" => "field.reserved",
            name => name,
        };
        self.rest.push((name, json));
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            let mut s = String::new();
            json_string(&mut s, value);
            self.push(field, s);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let json = serde_json::Number::from_f64(value)
            .map_or_else(|| "null".to_owned(), |n| n.to_string());
        self.push(field, json);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_str(field, &crate::error::error_chain(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// tracing's own text fields, but an error field is its chain with each message said once
/// (see [`error_chain`](crate::error::error_chain)), as in the JSON lines: tracing's form,
/// `error=.. error.sources=[..]`, repeats the message of a wrapper error (axum's) that also
/// returns its source.
struct TextFields;

impl<'w> MakeVisitor<Writer<'w>> for TextFields {
    type Visitor = TextVisitor<'w>;

    fn make_visitor(&self, target: Writer<'w>) -> TextVisitor<'w> {
        TextVisitor(DefaultVisitor::new(target, true))
    }
}

struct TextVisitor<'w>(DefaultVisitor<'w>);

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.record_str(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // No escape sequence of the message reaches a terminal, as in tracing's own form.
        let chain = crate::error::error_chain(value).replace('\u{1b}', "\\x1b");
        self.0.record_debug(field, &format_args!("{chain}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.record_debug(field, value);
    }
}

impl VisitOutput<fmt::Result> for TextVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.0.finish()
    }
}

impl VisitFmt for TextVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        self.0.writer()
    }
}

fn json_string(out: &mut String, s: &str) {
    // Serialising a str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    fn capture(format: Option<&str>, level: Option<&str>, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, Level::new(level, None), buffer.clone());
        tracing::subscriber::with_default(subscriber, log);
        let out = buffer.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    /// Logs as the runtime and a handler do: inside the runtime's invocation span.
    fn invocation(request_id: &str, log: impl FnOnce()) {
        // The span's target must be the runtime's, as in src/runtime.rs.
        let span = tracing::info_span!(target: "lambda_stream::runtime", "invocation", request_id = %request_id, xray_trace_id = "Root=1", tenant_id = None::<&str>);
        span.in_scope(log);
    }

    /// An error that says its source's message and returns it, as axum's does.
    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Context(Wrapper);
    impl fmt::Display for Context {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot stream")
        }
    }
    impl std::error::Error for Context {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_fields_say_each_message_once() {
        let err = Context(Wrapper(std::io::Error::other("the body failed midway")));
        let err = &err as &(dyn std::error::Error + 'static);
        let out = capture(Some("Text"), None, || tracing::warn!(error = err, "failed"));
        assert!(
            out.contains("failed error=cannot stream: the body failed midway\n"),
            "{out}"
        );
        let out = capture(Some("JSON"), None, || tracing::warn!(error = err, "failed"));
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            line["error"], "cannot stream: the body failed midway",
            "{out}"
        );
    }

    #[test]
    fn json_lines_carry_timestamp_level_message_and_request_id() {
        let out = capture(Some("JSON"), None, || {
            tracing::info!("cold start");
            invocation("req-1", || {
                tracing::warn!(attempt = 2, error = "db \"slow\"", "retrying");
                tracing::debug!("not at info");
            });
        });
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "cold start");
        assert!(lines[0].get("requestId").is_none());
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["message"], "retrying");
        assert_eq!(lines[1]["requestId"], "req-1");
        assert_eq!(lines[1]["attempt"], 2);
        assert_eq!(lines[1]["error"], "db \"slow\"");
        assert!(lines[1].get("tenantId").is_none());
        let ts = lines[1]["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-27T01:02:03.456789Z".len(), "{ts}");
        let b = ts.as_bytes();
        assert!(
            ts.ends_with('Z') && b[4] == b'-' && b[10] == b'T' && b[19] == b'.',
            "{ts}"
        );
        assert!(ts.starts_with("20"), "{ts}");
    }

    #[test]
    fn the_level_filters_events_but_keeps_the_request_id() {
        let out = capture(Some("json"), Some("ERROR"), || {
            invocation("req-2", || {
                tracing::warn!("dropped");
                tracing::error!("kept");
            });
        });
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{out}");
        assert_eq!(lines[0]["message"], "kept");
        assert_eq!(lines[0]["requestId"], "req-2");

        let out = capture(Some("JSON"), Some("debug"), || tracing::debug!("shown"));
        assert!(out.contains("\"message\":\"shown\""), "{out}");
    }

    #[test]
    fn text_lines_name_the_request_id_in_the_span_context() {
        let out = capture(Some("Text"), None, || {
            invocation("req-3", || tracing::info!("hello"));
        });
        assert!(out.contains("request_id=req-3"), "{out}");
        assert!(out.contains("hello"), "{out}");
        assert!(!out.contains('\u{1b}'), "no ansi colours: {out}");
    }

    #[test]
    fn json_lines_carry_the_tenant_id_of_tenant_isolated_functions() {
        let out = capture(Some("JSON"), None, || {
            let span = tracing::info_span!(target: "lambda_stream::runtime", "invocation", request_id = "req-t", xray_trace_id = "", tenant_id = Some("tenant-7"));
            span.in_scope(|| tracing::info!("for a tenant"));
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["requestId"], "req-t");
        assert_eq!(line["tenantId"], "tenant-7");
    }

    fn capture_with(level: Level, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(Some("JSON"), level, buffer.clone());
        tracing::subscriber::with_default(subscriber, log);
        let out = buffer.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rust_log_is_honoured_when_the_lambda_level_is_unset() {
        let log = || {
            tracing::debug!(target: "my_app::db", "db debug");
            tracing::debug!(target: "hyper", "hyper debug");
            tracing::info!(target: "hyper", "hyper info");
            tracing::warn!(target: "other", "other warn");
            tracing::info!(target: "other", "other info");
        };
        let out = capture_with(Level::new(None, Some("warn,my_app=debug")), log);
        assert!(out.contains("db debug"), "{out}");
        assert!(out.contains("other warn"), "{out}");
        assert!(!out.contains("hyper"), "{out}");
        assert!(!out.contains("other info"), "{out}");

        // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG.
        let out = capture_with(Level::new(Some("ERROR"), Some("trace")), log);
        assert!(out.is_empty(), "{out}");
        // Unparsable RUST_LOG: INFO.
        let out = capture_with(Level::new(None, Some("my_app=loud")), log);
        assert!(
            out.contains("hyper info") && !out.contains("debug"),
            "{out}"
        );
        // Neither: INFO.
        let out = capture_with(Level::new(None, None), log);
        assert!(
            out.contains("other info") && !out.contains("debug"),
            "{out}"
        );
    }
}
