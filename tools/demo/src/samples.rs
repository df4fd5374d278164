//! The data points a run produces, as CloudWatch would receive them from a
//! deployed stack: each invocation's metrics line (the functions' own EMF
//! document, `BatchReport::to_emf`), what Lambda publishes for a stream
//! consumer (`IteratorAge`, `Duration`), the dead-letter queue's depth and
//! the saga step's outcome log lines. The dashboard draws them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Lambda's own metrics.
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";
/// SQS's metrics; the queue's depth is `ApproximateNumberOfMessagesVisible`.
pub const SQS_NAMESPACE: &str = "AWS/SQS";
const QUEUE_DEPTH: &str = "ApproximateNumberOfMessagesVisible";

/// A metric: namespace, name and dimensions (sorted by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> Self {
        let mut dimensions: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        dimensions.sort();
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
        }
    }
}

/// One data point: when (milliseconds since the epoch) and what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at_ms: i64,
    pub value: f64,
}

/// One structured log line, as Logs Insights sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub group: String,
    pub at_ms: i64,
    pub fields: BTreeMap<String, String>,
}

/// The log group of a function run locally (Lambda's default name).
pub fn log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// One invocation, as the demo's tap saw it.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    pub function: &'a str,
    pub started: SystemTime,
    /// How long the function took (Lambda's `Duration`).
    pub wall: Duration,
    /// The oldest record's approximate arrival time.
    pub oldest_arrival: Option<SystemTime>,
    /// The function's metrics line, when it ran in process.
    pub metrics: Option<&'a Value>,
}

/// Every data point of a run, collected while the functions run.
#[derive(Debug, Default)]
pub struct Samples {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    metrics: BTreeMap<MetricKey, Vec<Sample>>,
    logs: Vec<LogLine>,
    ended: BTreeSet<String>,
    dead_letters: f64,
    queue: Option<String>,
}

impl Samples {
    /// Samples that also follow the depth of the dead-letter queue `queue`
    /// (its name), which nothing reads while the demo runs.
    pub fn with_queue(queue: &str) -> Self {
        let samples = Self::default();
        samples.with(|inner| inner.queue = Some(queue.to_owned()));
        samples
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    pub fn put(&self, key: MetricKey, sample: Sample) {
        self.with(|inner| inner.metrics.entry(key).or_default().push(sample));
    }

    /// Every metric of an EMF document.
    pub fn put_emf(&self, doc: &Value) {
        for (key, sample) in emf_samples(doc) {
            self.put(key, sample);
        }
    }

    /// What Lambda and the function publish for one invocation.
    pub fn invocation(&self, call: &Invocation<'_>) {
        let at_ms = epoch_ms(call.started);
        let function = [("FunctionName", call.function)];
        let lambda = |name| MetricKey::new(LAMBDA_NAMESPACE, name, &function);
        if let Some(oldest) = call.oldest_arrival {
            let age = (at_ms - epoch_ms(oldest)).max(0) as f64;
            self.put(lambda("IteratorAge"), Sample { at_ms, value: age });
        }
        let wall = call.wall.as_secs_f64() * 1000.0;
        self.put(lambda("Duration"), Sample { at_ms, value: wall });
        if let Some(doc) = call.metrics {
            self.put_emf(doc);
            let written = doc["_aws"]["Timestamp"].as_i64().unwrap_or(at_ms);
            self.dead_lettered(written, number(doc, "PermanentFailures"));
        }
    }

    /// The queue's depth after `count` more dead letters, written by
    /// `at_ms` (when the function's metrics line says it finished).
    fn dead_lettered(&self, at_ms: i64, count: f64) {
        let depth = self.with(|inner| {
            inner.dead_letters += count;
            inner.queue.clone().map(|q| (q, inner.dead_letters))
        });
        if let Some((queue, value)) = depth {
            let key = MetricKey::new(SQS_NAMESPACE, QUEUE_DEPTH, &[("QueueName", &queue)]);
            self.put(key, Sample { at_ms, value });
        }
    }

    /// The saga step's log line for a saga that ended (once per order),
    /// at the time its outcome event reached the stream.
    pub fn saga_ended(&self, saga_function: &str, order: &str, completed: bool, at: SystemTime) {
        if !self.with(|inner| inner.ended.insert(order.to_owned())) {
            return;
        }
        let to = if completed { "COMPLETED" } else { "FAILED" };
        let fields = [("orderId", order), ("to", to)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        self.log(LogLine {
            group: log_group(saga_function),
            at_ms: epoch_ms(at),
            fields,
        });
    }

    pub fn log(&self, line: LogLine) {
        self.with(|inner| inner.logs.push(line));
    }

    /// The data points of `key`, in the order they came.
    pub fn metric(&self, key: &MetricKey) -> Vec<Sample> {
        self.with(|inner| inner.metrics.get(key).cloned().unwrap_or_default())
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.with(|inner| inner.logs.clone())
    }

    /// The first and last moments with data, in epoch milliseconds.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.with(|inner| {
            let metric_times = inner.metrics.values().flatten().map(|s| s.at_ms);
            let log_times = inner.logs.iter().map(|l| l.at_ms);
            let times: Vec<i64> = metric_times.chain(log_times).collect();
            Some((*times.iter().min()?, *times.iter().max()?))
        })
    }
}

pub fn epoch_ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    }
}

fn number(doc: &Value, name: &str) -> f64 {
    doc.get(name).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The data points an EMF document declares: each metric of each
/// directive, once per dimension set, at the document's timestamp.
pub fn emf_samples(doc: &Value) -> Vec<(MetricKey, Sample)> {
    let aws = &doc["_aws"];
    let at_ms = aws["Timestamp"].as_i64().unwrap_or(0);
    let mut out = Vec::new();
    for directive in aws["CloudWatchMetrics"].as_array().into_iter().flatten() {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        for dimension_set in directive["Dimensions"].as_array().into_iter().flatten() {
            let dims = dimension_values(doc, dimension_set);
            let dims: Vec<(&str, &str)> = dims.iter().map(|(k, v)| (*k, v.as_str())).collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default();
                let Some(value) = doc.get(name).and_then(Value::as_f64) else {
                    continue;
                };
                out.push((
                    MetricKey::new(namespace, name, &dims),
                    Sample { at_ms, value },
                ));
            }
        }
    }
    out
}

fn dimension_values<'a>(doc: &Value, names: &'a Value) -> Vec<(&'a str, String)> {
    names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| (name, doc[name].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::BatchReport;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn an_emf_document_gives_one_point_per_metric() {
        let report = BatchReport {
            received: 5,
            permanent_failures: 2,
            ..Default::default()
        };
        let doc = report.to_emf("NS", "inventory-update", 1_000);
        let points = emf_samples(&doc);
        assert_eq!(points.len(), 8);
        let received = MetricKey::new(
            "NS",
            "RecordsReceived",
            &[("FunctionName", "inventory-update")],
        );
        assert!(points.contains(&(
            received,
            Sample {
                at_ms: 1_000,
                value: 5.0
            }
        )));
    }

    #[test]
    fn an_invocation_records_lambda_metrics_and_the_queue_depth() {
        let samples = Samples::with_queue("dlq");
        let doc = BatchReport {
            permanent_failures: 2,
            ..Default::default()
        }
        .to_emf("NS", "f", 10_500);
        for _ in 0..2 {
            samples.invocation(&Invocation {
                function: "f",
                started: at(10_000),
                wall: Duration::from_millis(40),
                oldest_arrival: Some(at(7_000)),
                metrics: Some(&doc),
            });
        }
        let lambda = |name| MetricKey::new(LAMBDA_NAMESPACE, name, &[("FunctionName", "f")]);
        assert_eq!(samples.metric(&lambda("IteratorAge"))[0].value, 3_000.0);
        assert_eq!(samples.metric(&lambda("Duration"))[0].value, 40.0);
        let depth = MetricKey::new(SQS_NAMESPACE, QUEUE_DEPTH, &[("QueueName", "dlq")]);
        let values: Vec<f64> = samples.metric(&depth).iter().map(|s| s.value).collect();
        assert_eq!(values, [2.0, 4.0]);
        assert_eq!(samples.metric(&depth)[0].at_ms, 10_500);
        assert_eq!(samples.span(), Some((10_000, 10_500)));
    }

    #[test]
    fn a_saga_outcome_is_logged_once_per_order() {
        let samples = Samples::default();
        samples.saga_ended("order-saga-step", "o-1", true, at(1));
        samples.saga_ended("order-saga-step", "o-1", true, at(2));
        samples.saga_ended("order-saga-step", "o-2", false, at(3));
        let logs = samples.logs();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].group, "/aws/lambda/order-saga-step");
        assert_eq!(logs[1].fields["to"], "FAILED");
    }
}
