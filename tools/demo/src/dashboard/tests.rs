//! The page as a whole: panels from the template, data from the samples.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::samples::MetricKey;

const FIXTURE: &str = r#"
Parameters:
  MetricsNamespace:
    Type: String
    Default: OrderEventsPipeline
Resources:
  EmailNotificationFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: email-notification
  SagaLogGroup:
    Type: AWS::Logs::LogGroup
  SagaFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: order-saga-step
    Properties:
      LoggingConfig:
        LogGroup: !Ref SagaLogGroup
  Board:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub "${AWS::StackName}-pipeline"
      DashboardBody: !Sub |
        {"widgets":[
          {"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"title":"${EmailNotificationFunction} in ${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[["${MetricsNamespace}","RecordsReceived","FunctionName","${EmailNotificationFunction}"],["${MetricsNamespace}","RecordsProcessed","FunctionName","${EmailNotificationFunction}"]]}},
          {"type":"alarm","x":12,"y":0,"width":12,"height":3,"properties":{"title":"Alarms","alarms":[]}},
          {"type":"log","x":0,"y":6,"width":24,"height":6,"properties":{"title":"Outcomes","view":"timeSeries","query":"SOURCE '${SagaLogGroup}' | filter to = \"COMPLETED\" or to = \"FAILED\" | stats count(*) by to, bin(5m)"}}
        ]}
"#;

const T0: i64 = 1_700_000_000_000;

fn locals() -> Locals {
    Locals {
        stack: "demo".into(),
        region: "eu-west-1".into(),
        values: BTreeMap::new(),
    }
}

fn render_with(template: &str, samples: &Samples) -> String {
    render(&Source {
        template,
        locals: &locals(),
        samples,
    })
}

/// The HTML of the panel at grid position `grid`.
fn panel<'a>(html: &'a str, grid: &str) -> &'a str {
    let start = html
        .find(&format!(r#"data-grid="{grid}""#))
        .unwrap_or_else(|| panic!("no panel at {grid}"));
    let end = html[start..]
        .find("</section>")
        .unwrap_or(html.len() - start);
    &html[start..start + end]
}

fn dots(panel: &str, series: usize) -> usize {
    panel
        .matches(&format!(r#"class="pt" data-series="{series}""#))
        .count()
}

fn received(samples: &Samples, at_ms: i64, value: f64) {
    let key = MetricKey::new(
        "OrderEventsPipeline",
        "RecordsReceived",
        &[("FunctionName", "email-notification")],
    );
    samples.put(key, Sample { at_ms, value });
}

#[test]
fn each_template_widget_is_a_panel_with_its_title_and_position() {
    let html = render_with(TEMPLATE, &Samples::default());
    let dashboard = Template::parse(TEMPLATE).dashboard(&locals()).unwrap();
    let body: serde_json::Value = serde_json::from_str(&dashboard.body).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 8, "{} widgets", widgets.len());
    assert_eq!(
        html.matches("<section class=\"panel\"").count(),
        widgets.len()
    );
    for widget in widgets {
        let grid = ["x", "y", "width", "height"].map(|k| widget[k].as_u64().unwrap().to_string());
        let panel = panel(&html, &grid.join(","));
        let title = escape(widget["properties"]["title"].as_str().unwrap());
        assert!(panel.contains(&format!(">{title}</h2>")), "{panel}");
    }
    assert!(html.contains("demo-pipeline: the CloudWatch dashboard"));
}

#[test]
fn placeholders_are_substituted_in_the_page() {
    let html = render_with(FIXTURE, &Samples::default());
    assert!(
        html.contains(">email-notification in eu-west-1</h2>"),
        "{html}"
    );
    assert!(!html.contains("${"), "{html}");
    let real = render_with(TEMPLATE, &Samples::default());
    assert!(!real.contains("${"));
}

#[test]
fn a_series_draws_one_point_per_second_with_data() {
    let samples = Samples::default();
    received(&samples, T0, 3.0);
    received(&samples, T0 + 400, 2.0);
    received(&samples, T0 + 2_000, 1.0);
    received(&samples, T0 + 5_100, 4.0);
    let html = render_with(FIXTURE, &samples);
    let chart = panel(&html, "0,0,12,6");
    assert_eq!(dots(chart, 0), 3, "{chart}");
    assert_eq!(dots(chart, 1), 0, "RecordsProcessed has no data");
    assert!(
        chart.contains("RecordsReceived<span class=\"sum\">total 10</span>"),
        "{chart}"
    );
    assert!(chart.contains("RecordsProcessed<span class=\"sum\">no data</span>"));
    assert!(chart.contains("1 s periods (CloudWatch: 5 min)"));
}

#[test]
fn an_unknown_widget_is_a_panel_saying_what_was_not_drawn() {
    let html = render_with(FIXTURE, &Samples::default());
    let alarms = panel(&html, "12,0,12,3");
    assert!(alarms.contains(">Alarms</h2>"));
    assert!(
        alarms.contains("Not drawn: widget type `alarm` is not drawn locally"),
        "{alarms}"
    );
    assert!(!alarms.contains("<svg"));
}

#[test]
fn the_log_widget_counts_saga_outcomes_per_value() {
    let samples = Samples::default();
    let at = |ms: i64| UNIX_EPOCH + Duration::from_millis(ms as u64);
    samples.saga_ended("order-saga-step", "o-1", true, at(T0));
    samples.saga_ended("order-saga-step", "o-2", true, at(T0 + 1_500));
    samples.saga_ended("order-saga-step", "o-3", false, at(T0 + 1_600));
    samples.saga_ended("elsewhere", "o-4", false, at(T0 + 1_700));
    let html = render_with(FIXTURE, &samples);
    let outcomes = panel(&html, "0,6,24,6");
    assert_eq!((dots(outcomes, 0), dots(outcomes, 1)), (2, 1), "{outcomes}");
    assert!(outcomes.contains("COMPLETED<span class=\"sum\">total 2</span>"));
    assert!(outcomes.contains("FAILED<span class=\"sum\">total 1</span>"));
    assert!(outcomes.contains("1 s periods (CloudWatch: bin(5m))"));
}

#[test]
fn a_template_without_a_dashboard_gives_a_page_that_says_so() {
    let html = render_with(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
        &Samples::default(),
    );
    assert!(html.contains("could not be read"));
    assert!(html.contains("no AWS::CloudWatch::Dashboard"));
    let broken = FIXTURE.replace(r#"{"widgets":["#, r#"{"widgets":[ oops"#);
    assert!(render_with(&broken, &Samples::default()).contains("not JSON"));
}

#[test]
fn times_are_written_in_utc() {
    assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc(T0), "2023-11-14 22:13:20 UTC");
    assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
}

#[test]
fn the_page_goes_to_the_target_directory_unless_told_otherwise() {
    let path = default_path();
    assert!(path.is_absolute());
    if std::env::var_os("DEMO_DASHBOARD").is_none() {
        assert!(path.ends_with("demo/dashboard.html"), "{}", path.display());
    }
}
