//! The widgets of a `DashboardBody`, as CloudWatch reads them: position on
//! the 24-column grid, title, and what each draws. Time-series metric and
//! log widgets are drawn; anything else becomes a notice naming what could
//! not be drawn.

use serde_json::Value;

use super::query::Query;
use super::stats::Stat;
use crate::samples::MetricKey;

/// One widget.
#[derive(Debug, Clone)]
pub struct Widget {
    pub x: u64,
    pub y: u64,
    pub width: u64,
    pub height: u64,
    pub title: String,
    /// The period CloudWatch draws it with, in seconds.
    pub period: Option<u64>,
    pub body: Body,
}

/// What a widget draws.
#[derive(Debug, Clone)]
pub enum Body {
    Metric(Vec<SeriesSpec>),
    Log(Result<Query, String>),
    /// What could not be drawn, and why.
    Notice(String),
}

/// One line of a metric widget.
#[derive(Debug, Clone)]
pub struct SeriesSpec {
    /// The metric, or why it is not one that has data points.
    pub key: Result<MetricKey, String>,
    pub label: String,
    pub stat: Result<Stat, String>,
    /// Drawn against the right axis.
    pub right: bool,
}

/// Every widget of a dashboard body.
pub fn parse(body: &str) -> Result<Vec<Widget>, String> {
    let body: Value =
        serde_json::from_str(body).map_err(|e| format!("DashboardBody is not JSON: {e}"))?;
    let widgets = body["widgets"]
        .as_array()
        .ok_or("DashboardBody has no `widgets` list")?;
    Ok(widgets.iter().map(widget).collect())
}

fn widget(value: &Value) -> Widget {
    let number = |key: &str, default: u64| value[key].as_u64().unwrap_or(default);
    let properties = &value["properties"];
    Widget {
        x: number("x", 0),
        y: number("y", 0),
        width: number("width", 6),
        height: number("height", 6),
        title: properties["title"]
            .as_str()
            .unwrap_or("(untitled)")
            .to_owned(),
        period: properties["period"].as_u64(),
        body: body(value["type"].as_str().unwrap_or("(none)"), properties),
    }
}

fn body(kind: &str, properties: &Value) -> Body {
    let default_view = if kind == "log" { "table" } else { "timeSeries" };
    let view = properties["view"].as_str().unwrap_or(default_view);
    match kind {
        "metric" | "log" if view != "timeSeries" => Body::Notice(format!(
            "a {kind} widget's `{view}` view is not drawn locally"
        )),
        "metric" => Body::Metric(metric_series(properties)),
        "log" => Body::Log(
            properties["query"]
                .as_str()
                .ok_or_else(|| "the widget has no query".to_owned())
                .and_then(Query::parse),
        ),
        _ => Body::Notice(format!("widget type `{kind}` is not drawn locally")),
    }
}

/// The widget's `metrics` rows; `"."` repeats the row above's item.
fn metric_series(properties: &Value) -> Vec<SeriesSpec> {
    let default_stat = properties["stat"].as_str().unwrap_or("Average");
    let mut previous: Vec<String> = Vec::new();
    let rows = properties["metrics"].as_array().into_iter().flatten();
    rows.map(|row| {
        let items = row.as_array().map(Vec::as_slice).unwrap_or_default();
        let options = items
            .last()
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_default();
        let names = row_names(items, &previous);
        let spec = series(&names, &options, default_stat);
        previous = names;
        spec
    })
    .collect()
}

fn row_names(items: &[Value], previous: &[String]) -> Vec<String> {
    items
        .iter()
        .filter_map(Value::as_str)
        .enumerate()
        .map(|(i, item)| match item {
            "." => previous.get(i).cloned().unwrap_or_default(),
            _ => item.to_owned(),
        })
        .collect()
}

fn series(names: &[String], options: &Value, default_stat: &str) -> SeriesSpec {
    let stat_name = options["stat"].as_str().unwrap_or(default_stat);
    let stat =
        Stat::parse(stat_name).ok_or(format!("statistic `{stat_name}` is not computed locally"));
    let key = metric_key(names, options);
    let fallback = match &key {
        Ok(key) => key.name.clone(),
        Err(_) => options["id"].as_str().unwrap_or("expression").to_owned(),
    };
    SeriesSpec {
        key,
        label: options["label"].as_str().map_or(fallback, str::to_owned),
        stat,
        right: options["yAxis"].as_str() == Some("right"),
    }
}

fn metric_key(names: &[String], options: &Value) -> Result<MetricKey, String> {
    if let Some(expression) = options["expression"].as_str() {
        return Err(format!(
            "the expression `{expression}` is not computed locally"
        ));
    }
    match names {
        [namespace, name, dimensions @ ..] if dimensions.len() % 2 == 0 && !name.is_empty() => {
            let pairs: Vec<(&str, &str)> = dimensions
                .chunks(2)
                .map(|pair| (pair[0].as_str(), pair[1].as_str()))
                .collect();
            Ok(MetricKey::new(namespace, name, &pairs))
        }
        _ => Err(format!(
            "the row {names:?} is not a metric this page can read"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(widget: &str) -> Widget {
        let body = format!(r#"{{"widgets":[{widget}]}}"#);
        parse(&body).unwrap().remove(0)
    }

    #[test]
    fn a_metric_widget_keeps_position_title_and_series() {
        let widget = one(
            r#"{"type":"metric","x":8,"y":6,"width":8,"height":5,"properties":{"title":"T","stat":"Sum","period":300,"metrics":[["NS","A","FunctionName","f"],[".","B",".","."],["NS","C","FunctionName","f",{"label":"c","stat":"p99","yAxis":"right"}]]}}"#,
        );
        assert_eq!(
            (widget.x, widget.y, widget.width, widget.height),
            (8, 6, 8, 5)
        );
        assert_eq!((widget.title.as_str(), widget.period), ("T", Some(300)));
        let Body::Metric(series) = widget.body else {
            panic!("not a metric widget");
        };
        let b = series[1].key.as_ref().unwrap();
        assert_eq!(b, &MetricKey::new("NS", "B", &[("FunctionName", "f")]));
        assert_eq!(
            (series[1].label.as_str(), series[1].stat.clone()),
            ("B", Ok(Stat::Sum))
        );
        assert_eq!(series[2].label, "c");
        assert_eq!(series[2].stat, Ok(Stat::Percentile(99.0)));
        assert!(series[2].right && !series[0].right);
    }

    #[test]
    fn what_cannot_be_drawn_is_a_notice_or_a_series_error() {
        let text = one(
            r##"{"type":"text","x":0,"y":0,"width":6,"height":2,"properties":{"markdown":"# hi"}}"##,
        );
        assert!(
            matches!(&text.body, Body::Notice(n) if n.contains("`text`")),
            "{text:?}"
        );
        let gauge = one(r#"{"type":"metric","properties":{"view":"gauge","metrics":[]}}"#);
        assert!(matches!(&gauge.body, Body::Notice(n) if n.contains("`gauge`")));
        let odd = one(
            r#"{"type":"metric","properties":{"metrics":[[{"expression":"m1*2","label":"double"}],["NS","A",{"stat":"TM(10%:90%)"}]]}}"#,
        );
        let Body::Metric(series) = odd.body else {
            panic!("not a metric widget");
        };
        assert!(series[0].key.as_ref().unwrap_err().contains("m1*2"));
        assert!(series[1].stat.as_ref().unwrap_err().contains("TM(10%:90%)"));
        assert!(parse("[]").is_err());
    }
}
