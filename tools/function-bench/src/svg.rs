//! The chart: CPU per record and wall time per batch against the AWS
//! latency and against the partition keys, one line per function, as a
//! plain SVG file. The y axes are logarithmic, as Rust and Python differ
//! by an order of magnitude.

use std::fmt::Write as _;

use crate::bench::{Cell, CellResult};
use crate::report::{reference_cell, Report};

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 260.0;
const MARGIN: f64 = 60.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// One panel: a measure against one axis of the matrix, the others fixed.
struct Panel {
    title: String,
    x_label: &'static str,
    /// The x positions (latencies or key counts), in order.
    xs: Vec<usize>,
    /// Per function: label and (x, y) points.
    series: Vec<(String, Vec<(usize, f64)>)>,
}

pub fn render(report: &Report) -> String {
    let Some(fixed) = reference_cell(&report.settings.cells) else {
        return empty();
    };
    let panels = [
        panel(report, fixed, Axis::Latency, Measure::Cpu),
        panel(report, fixed, Axis::Keys, Measure::Cpu),
        panel(report, fixed, Axis::Latency, Measure::Wall),
        panel(report, fixed, Axis::Keys, Measure::Wall),
    ];
    let width = 2.0 * (PANEL_W + MARGIN) + MARGIN;
    let height = 2.0 * (PANEL_H + 2.0 * MARGIN) + MARGIN;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, panel) in panels.iter().enumerate() {
        let x0 = MARGIN + (i % 2) as f64 * (PANEL_W + MARGIN);
        let y0 = MARGIN + (i / 2) as f64 * (PANEL_H + 2.0 * MARGIN);
        draw(&mut svg, panel, x0, y0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn empty() -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"40\"><text x=\"10\" y=\"25\">no cells measured</text></svg>\n".to_owned()
}

#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Latency,
    Keys,
}

#[derive(Clone, Copy)]
enum Measure {
    Cpu,
    Wall,
}

fn panel(report: &Report, fixed: Cell, axis: Axis, measure: Measure) -> Panel {
    let on_axis = |c: &Cell| match axis {
        Axis::Latency => c.records == fixed.records && c.keys == fixed.keys,
        Axis::Keys => c.records == fixed.records && c.latency_ms == fixed.latency_ms,
    };
    let x_of = |c: &Cell| match axis {
        Axis::Latency => c.latency_ms as usize,
        Axis::Keys => c.keys,
    };
    let mut xs: Vec<usize> = report
        .settings
        .cells
        .iter()
        .filter(|c| on_axis(c))
        .map(x_of)
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let y_of = |c: &CellResult| match measure {
        Measure::Cpu => c.cpu_us_per_record,
        Measure::Wall => c.wall_ms,
    };
    let series = report
        .functions
        .iter()
        .map(|f| {
            let points = f
                .cells
                .iter()
                .filter(|c| on_axis(&c.cell))
                .map(|c| (x_of(&c.cell), y_of(c)))
                .collect();
            (f.label.clone(), points)
        })
        .collect();
    let what = match measure {
        Measure::Cpu => "CPU µs per record",
        Measure::Wall => "wall ms per batch",
    };
    let (x_label, fixed_text) = match axis {
        Axis::Latency => ("AWS latency (ms)", format!("{} keys", fixed.keys)),
        Axis::Keys => (
            "partition keys",
            format!("{} ms per AWS call", fixed.latency_ms),
        ),
    };
    Panel {
        title: format!("{what}, {} records, {fixed_text}", fixed.records),
        x_label,
        xs,
        series,
    }
}

fn draw(svg: &mut String, panel: &Panel, x0: f64, y0: f64) {
    let values = panel
        .series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || panel.xs.is_empty() {
        return;
    }
    let (lo, hi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let x_at = |x: usize| {
        let i = panel.xs.iter().position(|&v| v == x).unwrap_or(0) as f64;
        let steps = (panel.xs.len().max(2) - 1) as f64;
        x0 + 20.0 + i / steps * (PANEL_W - 40.0)
    };
    let y_at = |v: f64| y0 + PANEL_H - (v.max(1e-9).log10() - lo) / (hi - lo) * PANEL_H;
    let _ = writeln!(
        svg,
        "<text x=\"{x0}\" y=\"{}\" font-size=\"13\">{}</text>\n<rect x=\"{x0}\" y=\"{y0}\" width=\"{PANEL_W}\" height=\"{PANEL_H}\" fill=\"none\" stroke=\"#999\"/>",
        y0 - 8.0,
        panel.title
    );
    for decade in lo as i32..=hi as i32 {
        let y = y_at(10f64.powi(decade));
        let _ = writeln!(
            svg,
            "<line x1=\"{x0}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 + PANEL_W,
            x0 - 4.0,
            y + 4.0,
            10f64.powi(decade)
        );
    }
    for &x in &panel.xs {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x}</text>",
            x_at(x),
            y0 + PANEL_H + 14.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        x0 + PANEL_W / 2.0,
        y0 + PANEL_H + 30.0,
        panel.x_label
    );
    for (i, (label, points)) in panel.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_at(x), y_at(y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        let legend_y = y0 + 14.0 + i as f64 * 13.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{legend_y}\" fill=\"{colour}\">{label}</text>",
            x0 + 8.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_still_makes_an_svg() {
        assert!(empty().starts_with("<svg"));
    }
}
