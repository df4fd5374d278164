//! The CloudWatch dashboard the template deploys, drawn from a local run:
//! the panels come from the template's `AWS::CloudWatch::Dashboard`
//! (`DashboardBody`, placeholders given local values), the data points
//! from the run ([`Samples`]). One self-contained HTML page, inline SVG.
//!
//! - [`template`]: finding the dashboard and substituting placeholders.
//! - [`widget`]: the widgets, their grid positions and series.
//! - [`stats`]: CloudWatch statistics, per one-second period.
//! - [`query`]: the Logs Insights subset log widgets use.
//! - [`chart`]: one time-series chart as SVG.
//! - [`page`]: the page and its panels.

pub mod chart;
pub mod page;
pub mod query;
pub mod stats;
pub mod template;
pub mod widget;

use std::path::{Path, PathBuf};

pub use template::Locals;

use crate::samples::{LogLine, Sample, Samples};
use chart::{short, Line};
use page::{Content, Entry, Page, Panel};
use stats::{per_period, Stat};
use template::Template;
use widget::{Body, SeriesSpec, Widget};

/// The project's SAM template, as built into the demo.
pub const TEMPLATE: &str = include_str!("../../../../template.yaml");

/// CloudWatch's line colours, in order.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// What the page is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub template: &'a str,
    pub locals: &'a Locals,
    pub samples: &'a Samples,
}

/// The run's data, on one time axis.
struct Data<'a> {
    samples: &'a Samples,
    logs: Vec<LogLine>,
    /// The first second with data, in epoch milliseconds.
    origin_ms: i64,
}

impl Data<'_> {
    fn points(&self, samples: &[Sample], stat: Stat) -> Vec<(f64, f64)> {
        per_period(samples, stat, self.origin_ms)
    }
}

/// The page.
pub fn render(source: &Source<'_>) -> String {
    let span = source.samples.span();
    let origin_ms = span.map_or(0, |(first, _)| first.div_euclid(1000) * 1000);
    let seconds = span.map_or(1.0, |(_, last)| ((last - origin_ms) as f64 / 1000.0).ceil());
    let data = Data {
        samples: source.samples,
        logs: source.samples.logs(),
        origin_ms,
    };
    let (title, panels) = match read(source) {
        Ok((name, widgets)) => (name, widgets.iter().map(|w| panel(w, &data)).collect()),
        Err(why) => ("dashboard".to_owned(), vec![unreadable(why)]),
    };
    page::html(&Page {
        title: format!("{title}: the CloudWatch dashboard, drawn from this demo run"),
        notes: notes(span, seconds),
        seconds: seconds.max(1.0),
        panels,
    })
}

/// Writes the page to `path`, creating its directory.
pub fn write(path: &Path, source: &Source<'_>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(source))
}

/// Where `make demo` writes the page: `DEMO_DASHBOARD`, or
/// `demo/dashboard.html` in the build's target directory.
pub fn default_path() -> PathBuf {
    let path = std::env::var_os("DEMO_DASHBOARD")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("demo").join("dashboard.html"));
    std::path::absolute(&path).unwrap_or(path)
}

/// `CARGO_TARGET_DIR`, else the directory cargo built this program in
/// (the one holding `CACHEDIR.TAG`), else the workspace's `target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    let exe = std::env::current_exe().ok();
    let built_in = exe
        .iter()
        .flat_map(|exe| exe.ancestors())
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf);
    built_in.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn read(source: &Source<'_>) -> Result<(String, Vec<Widget>), String> {
    let dashboard = Template::parse(source.template).dashboard(source.locals)?;
    let widgets = widget::parse(&dashboard.body)?;
    Ok((dashboard.name, widgets))
}

fn unreadable(why: String) -> Panel {
    Panel {
        grid: [0, 0, 24, 6],
        title: "The template's dashboard could not be read".to_owned(),
        aside: String::new(),
        content: Content::Notice(why),
    }
}

fn notes(span: Option<(i64, i64)>, seconds: f64) -> Vec<String> {
    let when = match span {
        Some((first, _)) => format!("Run started {}, data for {seconds:.0} s.", utc(first)),
        None => "The run left no data points.".to_owned(),
    };
    vec![
        format!(
            "{when} Time runs in seconds from the start; each point is one 1-second period. \
             CloudWatch draws these widgets with 1- to 5-minute periods, where a whole demo \
             run would be a point or two."
        ),
        "Records per outcome, batch duration and dead letters are the functions' own metrics \
         lines (EMF); iterator age is the invocation time minus the oldest record's arrival \
         in the stream; duration is the in-process invocation's wall time; the queue's depth \
         counts the dead letters written so far (nothing reads the queue during the demo); \
         saga outcomes are the sagas that ended, at the time their outcome event reached the \
         stream. Series of functions the demo does not run (the scheduled sweep) have no data."
            .to_owned(),
    ]
}

fn panel(widget: &Widget, data: &Data<'_>) -> Panel {
    let content = match &widget.body {
        Body::Metric(series) => metric_chart(series, data),
        Body::Log(Ok(query)) => log_chart(query, data),
        Body::Log(Err(why)) => Content::Notice(format!("The query could not be drawn: {why}")),
        Body::Notice(why) => Content::Notice(format!("Not drawn: {why}")),
    };
    let deployed = match &widget.body {
        Body::Log(Ok(query)) => query.bin.clone(),
        _ => widget.period.map(period_label),
    };
    let aside = match deployed {
        Some(period) => format!("1 s periods (CloudWatch: {period})"),
        None => "1 s periods".to_owned(),
    };
    Panel {
        grid: [widget.x, widget.y, widget.width, widget.height],
        title: widget.title.clone(),
        aside,
        content,
    }
}

fn metric_chart(series: &[SeriesSpec], data: &Data<'_>) -> Content {
    let (lines, entries) = series
        .iter()
        .enumerate()
        .map(|(i, spec)| metric_line(i, spec, data))
        .unzip();
    Content::Chart(lines, entries)
}

fn metric_line(index: usize, spec: &SeriesSpec, data: &Data<'_>) -> (Line, Entry) {
    let points = match (&spec.key, &spec.stat) {
        (Ok(key), Ok(stat)) => Ok((data.points(&data.samples.metric(key), *stat), *stat)),
        (Err(why), _) | (_, Err(why)) => Err(why.clone()),
    };
    let summary = match &points {
        Ok((points, stat)) => summary(points, *stat),
        Err(why) => format!("not drawn: {why}"),
    };
    drawn(
        index,
        &spec.label,
        points.map(|p| p.0).unwrap_or_default(),
        spec.right,
        summary,
    )
}

fn log_chart(query: &query::Query, data: &Data<'_>) -> Content {
    let (lines, entries) = query
        .series(&data.logs)
        .iter()
        .enumerate()
        .map(|(i, (value, samples))| {
            let points = data.points(samples, Stat::Sum);
            let summary = summary(&points, Stat::Sum);
            drawn(i, value, points, false, summary)
        })
        .unzip();
    Content::Chart(lines, entries)
}

fn drawn(
    index: usize,
    label: &str,
    points: Vec<(f64, f64)>,
    right: bool,
    summary: String,
) -> (Line, Entry) {
    let color = PALETTE[index % PALETTE.len()];
    let label = if right {
        format!("{label} (right axis)")
    } else {
        label.to_owned()
    };
    let line = Line {
        color,
        points,
        right,
    };
    let entry = Entry {
        color,
        label,
        summary,
    };
    (line, entry)
}

/// What a series came to over the run: its total when periods add up,
/// else its highest period.
fn summary(points: &[(f64, f64)], stat: Stat) -> String {
    let values = points.iter().map(|p| p.1);
    if points.is_empty() {
        "no data".to_owned()
    } else if stat.adds_up() {
        format!("total {}", short(values.sum()))
    } else {
        format!("max {}", short(values.fold(f64::MIN, f64::max)))
    }
}

fn period_label(seconds: u64) -> String {
    match seconds {
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `2024-05-01 12:00:00 UTC`.
fn utc(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02} UTC")
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
