//! A time-series chart as inline SVG: seconds since the run started along
//! the bottom, a left axis and, when a line asks for it, a right one; one
//! polyline and one dot per data point for each line.

use std::fmt::Write as _;

use super::escape;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub color: &'static str,
    /// (seconds since the start, value).
    pub points: Vec<(f64, f64)>,
    pub right: bool,
}

/// The chart's size in pixels and the time it spans in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub seconds: f64,
}

const TOP: f64 = 8.0;
const BOTTOM: f64 = 18.0;
const SIDE: f64 = 40.0;
const EDGE: f64 = 12.0;

/// Where the plot sits inside the frame, and its scales.
struct Plot {
    left: f64,
    right: f64,
    bottom: f64,
    seconds: f64,
    left_max: f64,
    right_max: f64,
}

impl Plot {
    fn new(frame: &Frame, lines: &[Line]) -> Self {
        let has_right = lines.iter().any(|l| l.right);
        Self {
            left: SIDE,
            right: frame.width - if has_right { SIDE } else { EDGE },
            bottom: frame.height - BOTTOM,
            seconds: frame.seconds.max(1.0),
            left_max: nice_max(max_of(lines, false)),
            right_max: nice_max(max_of(lines, true)),
        }
    }

    fn x(&self, seconds: f64) -> f64 {
        self.left + (self.right - self.left) * seconds / self.seconds
    }

    fn y(&self, value: f64, right: bool) -> f64 {
        let max = if right { self.right_max } else { self.left_max };
        self.bottom - (self.bottom - TOP) * value / max
    }
}

fn max_of(lines: &[Line], right: bool) -> f64 {
    let values = lines.iter().filter(|l| l.right == right);
    values
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
}

/// The chart.
pub fn svg(frame: &Frame, lines: &[Line]) -> String {
    let plot = Plot::new(frame, lines);
    let (w, h) = (frame.width, frame.height);
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-size="10" fill="#5f6b7a">"##
    );
    y_axis(&mut out, &plot, false);
    if lines.iter().any(|l| l.right) {
        y_axis(&mut out, &plot, true);
    }
    x_axis(&mut out, &plot);
    for (i, line) in lines.iter().enumerate() {
        draw_line(&mut out, &plot, i, line);
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        let (cx, cy) = ((plot.left + plot.right) / 2.0, (TOP + plot.bottom) / 2.0);
        let _ = write!(
            out,
            r#"<text x="{cx:.1}" y="{cy:.1}" text-anchor="middle" font-size="12">No data points in this run</text>"#
        );
    }
    out.push_str("</svg>");
    out
}

/// Gridlines and labels of one axis.
fn y_axis(out: &mut String, plot: &Plot, right: bool) {
    let max = if right { plot.right_max } else { plot.left_max };
    let step = nice_step(max, 4);
    let (x, anchor) = if right {
        (plot.right + 4.0, "start")
    } else {
        (plot.left - 4.0, "end")
    };
    let mut value = 0.0;
    while value <= max * 1.0001 {
        let y = plot.y(value, right);
        if !right {
            let _ = write!(
                out,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e6ea"/>"##,
                plot.left, plot.right
            );
        }
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            y + 3.0,
            escape(&short(value))
        );
        value += step;
    }
}

/// The time axis: seconds since the run started.
fn x_axis(out: &mut String, plot: &Plot) {
    let step = [
        1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ]
    .into_iter()
    .find(|s| plot.seconds / s <= 8.0)
    .unwrap_or(plot.seconds / 8.0);
    let _ = write!(
        out,
        r##"<line x1="{:.1}" x2="{:.1}" y1="{b:.1}" y2="{b:.1}" stroke="#aab2bd"/>"##,
        plot.left,
        plot.right,
        b = plot.bottom
    );
    let mut at = 0.0;
    while at <= plot.seconds + 1e-9 {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            plot.x(at),
            plot.bottom + 13.0,
            seconds_label(at)
        );
        at += step;
    }
}

fn draw_line(out: &mut String, plot: &Plot, index: usize, line: &Line) {
    let coordinates: Vec<(f64, f64)> = line
        .points
        .iter()
        .map(|&(s, v)| (plot.x(s), plot.y(v, line.right)))
        .collect();
    if coordinates.len() > 1 {
        let points: Vec<String> = coordinates
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        // Lines against the right axis are dashed, as they share the
        // plot with lines of another scale.
        let dash = if line.right {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5"{dash} points="{}"/>"#,
            line.color,
            points.join(" ")
        );
    }
    for (x, y) in coordinates {
        let _ = write!(
            out,
            r#"<circle class="pt" data-series="{index}" cx="{x:.1}" cy="{y:.1}" r="2.6" fill="{}"/>"#,
            line.color
        );
    }
}

/// The smallest round number at or above `max` (1 when there is nothing).
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let step = nice_step(max, 4);
    (max / step).ceil() * step
}

/// A round step (1, 2 or 5 times a power of ten) cutting `range` into at
/// most `ticks` parts.
fn nice_step(range: f64, ticks: u32) -> f64 {
    let raw = range.max(1e-9) / f64::from(ticks);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// A value as an axis shows it: `12`, `2.5`, `1.2k`, `3M`.
pub fn short(value: f64) -> String {
    let trim = |text: String| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        }
    };
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(format!("{:.1}", value / 1e6)))
    } else if magnitude >= 1e4 {
        format!("{}k", trim(format!("{:.1}", value / 1e3)))
    } else if magnitude >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        trim(format!("{value:.2}"))
    }
}

fn seconds_label(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    match (whole / 60, whole % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            width: 400.0,
            height: 150.0,
            seconds: 20.0,
        }
    }

    fn dots(svg: &str, series: usize) -> usize {
        svg.matches(&format!(r#"class="pt" data-series="{series}""#))
            .count()
    }

    #[test]
    fn each_data_point_is_a_dot_on_its_line() {
        let lines = [
            Line {
                color: "#1f77b4",
                points: vec![(0.0, 1.0), (3.0, 4.0), (7.0, 2.0)],
                right: false,
            },
            Line {
                color: "#ff7f0e",
                points: vec![(5.0, 10.0)],
                right: true,
            },
        ];
        let svg = svg(&frame(), &lines);
        assert_eq!(dots(&svg, 0), 3);
        assert_eq!(dots(&svg, 1), 1);
        assert_eq!(
            svg.matches("<polyline").count(),
            1,
            "one point draws no line"
        );
        assert!(!svg.contains("No data"));
        // The right axis has its own scale, up to 10.
        assert!(svg.contains(r#"text-anchor="start">10</text>"#), "{svg}");
    }

    #[test]
    fn points_stay_inside_the_plot() {
        let lines = [Line {
            color: "#000",
            points: vec![(0.0, 0.0), (20.0, 97.0)],
            right: false,
        }];
        let plot = Plot::new(&frame(), &lines);
        assert_eq!(plot.left_max, 100.0);
        assert!(plot.y(97.0, false) >= TOP && plot.y(0.0, false) <= plot.bottom);
        assert_eq!(plot.x(20.0), plot.right);
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = svg(&frame(), &[]);
        assert!(svg.contains("No data points in this run"));
        assert_eq!(dots(&svg, 0), 0);
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(250.0), "250");
        assert_eq!(short(12_500.0), "12.5k");
        assert_eq!(short(3_000_000.0), "3M");
        assert_eq!(seconds_label(90.0), "1m30s");
        assert_eq!(seconds_label(120.0), "2m");
        assert_eq!(nice_step(97.0, 4), 50.0);
    }
}
