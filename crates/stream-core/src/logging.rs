//! Structured logs. With `AWS_LAMBDA_LOG_FORMAT=JSON` every line is one
//! JSON object whose fields sit at the top level (`eventId`, `outcome`,
//! `processingTime`...), which is what Logs Insights queries expect, and
//! every line written while an invocation runs also carries that
//! invocation's `requestId` and `xrayTraceId`, so a line leads to its
//! invocation and its trace.

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The span every invocation runs in; its fields are copied onto each line.
pub const INVOCATION_SPAN: &str = "invocation";

/// The span of one invocation, with the fields Lambda gives it.
pub fn invocation_span(request_id: &str, xray_trace_id: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        target: module_path!(),
        INVOCATION_SPAN,
        requestId = request_id,
        xrayTraceId = xray_trace_id
    )
}

/// The level the function is configured with: Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`. Read once; both the
/// log filter and the metrics line follow it.
fn level_setting() -> &'static str {
    static SETTING: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SETTING.get_or_init(|| {
        std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .ok()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "info".to_owned())
    })
}

/// The level names Lambda's log-level filter knows, from the configured
/// level: a line that must never be filtered out (the metrics line) is
/// written at the lowest level the function is configured to keep.
pub fn configured_level() -> &'static str {
    lambda_level_name(level_setting())
}

fn lambda_level_name(level: &str) -> &'static str {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "TRACE",
        "DEBUG" => "DEBUG",
        "WARN" | "WARNING" => "WARN",
        "ERROR" => "ERROR",
        "FATAL" | "OFF" => "FATAL",
        _ => "INFO",
    }
}

fn filter() -> Targets {
    level_filter(level_setting())
}

/// The filter for a level (`info`, Lambda's `WARN`, `FATAL`...) or for
/// `RUST_LOG`-style targets (`warn,stream_core=debug`); anything unreadable
/// is `info`. Plain targets rather than a regex-based filter: the functions
/// are configured with a level, and a regex engine would only add size.
pub fn level_filter(level: &str) -> Targets {
    let level = match level.trim().to_ascii_lowercase().as_str() {
        // Lambda's names that tracing does not know.
        "fatal" => "error".to_owned(),
        "warning" => "warn".to_owned(),
        other => other.to_owned(),
    };
    level
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO))
}

fn json_wanted() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

/// Installs the process-wide subscriber: the log lines, and X-Ray
/// subsegments when Lambda's tracing is active ([`crate::xray`]). Call
/// once, first thing in `main`.
pub fn init() {
    if json_wanted() {
        let subscriber =
            json_subscriber(std::io::stdout, filter()).with(crate::xray::export_layer());
        let _ = tracing::subscriber::set_global_default(subscriber);
    } else {
        // The text format already prints the span's fields before each line.
        let text = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_filter(lines_filter(filter()));
        let subscriber = tracing_subscriber::registry()
            .with(text)
            .with(crate::xray::export_layer());
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
}

/// The JSON subscriber, writing to `writer`; tests use it to capture and
/// inspect every line a run writes. The level filter is the log lines'
/// own, so other layers (X-Ray's) may see spans the logs leave out.
pub fn json_subscriber<W>(
    writer: W,
    filter: Targets,
) -> impl tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(writer)
        .event_format(WithInvocation(
            format::format()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false),
        ))
        .with_filter(lines_filter(filter));
    tracing_subscriber::registry()
        .with(InvocationFields)
        .with(json)
}

/// The configured level, and the invocation span whatever the level: a
/// WARN line still names its invocation.
fn lines_filter<S>(levels: Targets) -> impl tracing_subscriber::layer::Filter<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::filter::FilterExt as _;
    tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span() && meta.name() == INVOCATION_SPAN && meta.target() == module_path!()
    })
    .or(levels)
}

/// The invocation's identifiers, kept on its span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Invocation {
    request_id: Option<String>,
    xray_trace_id: Option<String>,
}

impl Visit for Invocation {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "requestId" => self.request_id = Some(value.to_owned()),
            "xrayTraceId" => self.xray_trace_id = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

/// Keeps the invocation span's identifiers where the formatter finds them.
struct InvocationFields;

impl<S> Layer<S> for InvocationFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != INVOCATION_SPAN {
            return;
        }
        let mut invocation = Invocation::default();
        attrs.record(&mut invocation);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(invocation);
        }
    }
}

/// The JSON line of `F`, with the enclosing invocation's identifiers as its
/// first fields.
struct WithInvocation<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithInvocation<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let invocation = ctx.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<Invocation>().cloned())
        });
        let Some(invocation) = invocation else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let Some(rest) = line.strip_prefix('{') else {
            return writer.write_str(&line);
        };
        writer.write_char('{')?;
        for (name, value) in [
            ("requestId", &invocation.request_id),
            ("xrayTraceId", &invocation.xray_trace_id),
        ] {
            if let Some(value) = value {
                let value = serde_json::to_string(value).map_err(|_| std::fmt::Error)?;
                write!(writer, "\"{name}\":{value},")?;
            }
        }
        writer.write_str(rest)
    }
}

#[cfg(any(test, feature = "test-util"))]
/// A writer that keeps everything written to it, for tests.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "test-util"))]
impl CapturedLogs {
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Every line, parsed; lines that are not JSON are a test failure.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "test-util"))]
impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(run: impl FnOnce()) -> Vec<serde_json::Value> {
        lines_at("info", run)
    }

    fn lines_at(level: &str, run: impl FnOnce()) -> Vec<serde_json::Value> {
        let logs = CapturedLogs::default();
        let subscriber = json_subscriber(logs.clone(), level_filter(level));
        tracing::subscriber::with_default(subscriber, run);
        logs.lines()
    }

    #[test]
    fn a_function_logging_only_errors_still_names_the_invocation() {
        let lines = lines_at("ERROR", || {
            let span = invocation_span("req-3", Some("Root=1-abc;Sampled=0"));
            let _entered = span.enter();
            tracing::warn!("filtered out");
            tracing::error!("kept");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["message"], "kept");
        assert_eq!(lines[0]["requestId"], "req-3");
        assert_eq!(lines[0]["xrayTraceId"], "Root=1-abc;Sampled=0");
    }

    #[test]
    fn lines_inside_an_invocation_carry_its_ids_at_the_top_level() {
        let lines = lines_of(|| {
            let span = invocation_span("req-1\"quoted\"", Some("Root=1-abc;Sampled=1"));
            let _entered = span.enter();
            tracing::info!(outcome = "processed", eventId = "e-1", "done");
            tracing::debug!("below the level");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["requestId"], "req-1\"quoted\"");
        assert_eq!(line["xrayTraceId"], "Root=1-abc;Sampled=1");
        assert_eq!(line["outcome"], "processed");
        assert_eq!(line["eventId"], "e-1");
        assert_eq!(line["level"], "INFO");
    }

    #[test]
    fn an_invocation_without_a_trace_id_has_only_its_request_id() {
        let lines = lines_of(|| {
            let span = invocation_span("req-2", None);
            let _entered = span.enter();
            let inner = tracing::info_span!("record", eventId = "e-2");
            let _inner = inner.enter();
            tracing::warn!("nested");
        });
        assert_eq!(lines[0]["requestId"], "req-2");
        assert!(lines[0].get("xrayTraceId").is_none(), "{:?}", lines[0]);
    }

    #[test]
    fn lines_outside_an_invocation_have_no_ids() {
        let lines = lines_of(|| tracing::info!("starting"));
        assert!(lines[0].get("requestId").is_none(), "{:?}", lines[0]);
        assert_eq!(lines[0]["message"], "starting");
    }

    #[test]
    fn lambda_level_names_cover_every_setting() {
        for (set, name) in [
            ("trace", "TRACE"),
            ("DEBUG", "DEBUG"),
            ("", "INFO"),
            ("info", "INFO"),
            ("Warn", "WARN"),
            ("error", "ERROR"),
            ("FATAL", "FATAL"),
            ("nonsense", "INFO"),
        ] {
            assert_eq!(lambda_level_name(set), name, "{set}");
        }
    }
}
