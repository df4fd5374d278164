//! The HTML page: the widgets placed on CloudWatch's 24-column grid, each
//! a titled panel with its chart (or notice) and legend. Inline CSS only;
//! no script, no external resource.

use std::fmt::Write as _;

use super::chart::{self, Frame, Line};
use super::escape;

/// Pixels per grid column and per grid row.
pub const COLUMN: f64 = 57.0;
pub const ROW: f64 = 39.0;
const GAP: f64 = 8.0;
const HEADER: f64 = 26.0;
const LEGEND_ROW: f64 = 17.0;
const CHAR: f64 = 6.3;

/// One legend entry: the line's colour, label and what it came to.
#[derive(Debug, Clone)]
pub struct Entry {
    pub color: &'static str,
    pub label: String,
    pub summary: String,
}

/// What a panel holds.
#[derive(Debug, Clone)]
pub enum Content {
    Chart(Vec<Line>, Vec<Entry>),
    Notice(String),
}

/// One widget, ready to draw.
#[derive(Debug, Clone)]
pub struct Panel {
    /// x, y, width, height on the grid.
    pub grid: [u64; 4],
    pub title: String,
    /// Said beside the title (the period).
    pub aside: String,
    pub content: Content,
}

/// The page around the panels.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub notes: Vec<String>,
    pub seconds: f64,
    pub panels: Vec<Panel>,
}

const STYLE: &str = "body{margin:0;padding:12px 16px;background:#f2f3f3;color:#16191f;\
font:13px/1.35 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif}\
h1{font-size:18px;margin:0 0 4px}p.note{margin:2px 0;color:#545b64;font-size:12px;max-width:1360px}\
.grid{position:relative;margin-top:10px}\
.panel{position:absolute;box-sizing:border-box;background:#fff;border:1px solid #d5dbdb;\
border-radius:3px;padding:4px 8px;overflow:hidden;display:flex;flex-direction:column}\
.panel header{display:flex;justify-content:space-between;align-items:baseline;gap:8px;\
height:20px;white-space:nowrap}\
.panel h2{font-size:13px;margin:0;overflow:hidden;text-overflow:ellipsis}\
.aside{color:#879596;font-size:11px}\
ul.legend{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:0 12px;font-size:11px}\
ul.legend li{white-space:nowrap}ul.legend i{display:inline-block;width:9px;height:9px;\
margin-right:4px;border-radius:2px}ul.legend .sum{color:#687078;margin-left:3px}\
.notice{flex:1;display:flex;align-items:center;justify-content:center;text-align:center;\
color:#8a6d3b;background:#fcf8e3;border-radius:3px;padding:8px;margin-bottom:4px}";

/// The whole page.
pub fn html(page: &Page) -> String {
    let rows = page.panels.iter().map(|p| p.grid[1] + p.grid[3]).max();
    let height = rows.unwrap_or(0) as f64 * ROW;
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&page.title),
        escape(&page.title)
    );
    for note in &page.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(note));
    }
    let _ = writeln!(
        out,
        "<div class=\"grid\" style=\"width:{:.0}px;height:{height:.0}px\">",
        24.0 * COLUMN
    );
    for panel in &page.panels {
        out.push_str(&panel_html(panel, page.seconds));
    }
    out.push_str("</div>\n</body></html>\n");
    out
}

fn panel_html(panel: &Panel, seconds: f64) -> String {
    let [x, y, w, h] = panel.grid.map(|n| n as f64);
    let (width, height) = (w * COLUMN - GAP, h * ROW - GAP);
    let mut out = format!(
        "<section class=\"panel\" data-grid=\"{},{},{},{}\" style=\"left:{:.0}px;top:{:.0}px;width:{width:.0}px;height:{height:.0}px\">\
<header><h2 title=\"{t}\">{t}</h2><span class=\"aside\">{}</span></header>",
        panel.grid[0],
        panel.grid[1],
        panel.grid[2],
        panel.grid[3],
        x * COLUMN,
        y * ROW,
        escape(&panel.aside),
        t = escape(&panel.title),
    );
    let inner_width = width - 18.0;
    match &panel.content {
        Content::Notice(text) => {
            let _ = write!(out, "<div class=\"notice\">{}</div>", escape(text));
        }
        Content::Chart(lines, entries) => {
            let legend_height = legend_rows(entries, inner_width) as f64 * LEGEND_ROW;
            let frame = Frame {
                width: inner_width,
                height: (height - HEADER - legend_height - 8.0).max(40.0),
                seconds,
            };
            out.push_str(&chart::svg(&frame, lines));
            out.push_str(&legend(entries));
        }
    }
    out.push_str("</section>\n");
    out
}

fn legend(entries: &[Entry]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for entry in entries {
        let _ = write!(
            out,
            "<li><i style=\"background:{}\"></i>{}<span class=\"sum\">{}</span></li>",
            entry.color,
            escape(&entry.label),
            escape(&entry.summary)
        );
    }
    out.push_str("</ul>");
    out
}

/// How many rows the legend wraps into, at about `CHAR` pixels a letter.
fn legend_rows(entries: &[Entry], width: f64) -> usize {
    let mut rows = 0;
    let mut used = f64::INFINITY;
    for entry in entries {
        let chars = entry.label.chars().count() + entry.summary.chars().count();
        let item = chars as f64 * CHAR + 28.0;
        if used + item > width {
            rows += 1;
            used = 0.0;
        }
        used += item;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str) -> Entry {
        Entry {
            color: "#000",
            label: label.to_owned(),
            summary: String::new(),
        }
    }

    #[test]
    fn a_panel_sits_where_the_grid_says() {
        let page = Page {
            title: "t <&>".into(),
            notes: vec!["n".into()],
            seconds: 10.0,
            panels: vec![Panel {
                grid: [12, 6, 12, 6],
                title: "Dead letters".into(),
                aside: "1 s".into(),
                content: Content::Notice("nothing".into()),
            }],
        };
        let html = html(&page);
        assert!(html.contains(r#"data-grid="12,6,12,6""#));
        let left = format!("left:{:.0}px;top:{:.0}px", 12.0 * COLUMN, 6.0 * ROW);
        assert!(html.contains(&left), "{html}");
        assert!(html.contains("<h1>t &lt;&amp;&gt;</h1>"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn the_legend_wraps_by_width() {
        let entries: Vec<Entry> = ["RecordsReceived", "RecordsProcessed", "RecordsSkipped"]
            .map(entry)
            .into();
        assert_eq!(legend_rows(&entries, 1000.0), 1);
        assert_eq!(legend_rows(&entries, 150.0), 3);
        assert_eq!(legend_rows(&[], 150.0), 0);
    }
}
