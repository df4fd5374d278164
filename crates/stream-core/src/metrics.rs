//! Per-invocation counters, written once per invocation as one CloudWatch
//! Embedded Metric Format line on stdout (CloudWatch turns it into metrics
//! with no API call on the hot path).

use std::io::Write;
use std::time::Duration;

use serde_json::json;

/// The identifiers Lambda gives an invocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationIds<'a> {
    pub request_id: &'a str,
    pub xray_trace_id: Option<&'a str>,
}

/// What happened to the records of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// User records seen (after deaggregation).
    pub received: usize,
    /// Handled now.
    pub processed: usize,
    /// Not for this function (unknown or unhandled type, or skipped by it).
    pub skipped: usize,
    /// Redeliveries that changed nothing.
    pub duplicates: usize,
    /// Failed with a transient error (reported for retry).
    pub transient_failures: usize,
    /// Dead-lettered and acknowledged.
    pub permanent_failures: usize,
    /// Of the permanent failures, those whose bytes were not a valid event.
    pub invalid_records: usize,
    /// Not attempted: an earlier record of the same key failed, or the
    /// deadline was near. Reported for retry.
    pub not_attempted: usize,
    /// Emitted records that could not be published (their source records
    /// are reported for retry).
    pub unpublished: usize,
    /// `PutRecords` calls made for emitted records.
    pub publish_calls: u32,
    pub duration: Duration,
}

impl BatchReport {
    /// The EMF document for this batch.
    pub fn to_emf(
        &self,
        namespace: &str,
        function_name: &str,
        epoch_millis: u128,
    ) -> serde_json::Value {
        let metrics = [
            ("RecordsReceived", self.received as f64, "Count"),
            ("RecordsProcessed", self.processed as f64, "Count"),
            ("RecordsSkipped", self.skipped as f64, "Count"),
            ("DuplicatesSkipped", self.duplicates as f64, "Count"),
            (
                "TransientFailures",
                (self.transient_failures + self.not_attempted + self.unpublished) as f64,
                "Count",
            ),
            ("PermanentFailures", self.permanent_failures as f64, "Count"),
            ("InvalidRecords", self.invalid_records as f64, "Count"),
            (
                "BatchDuration",
                self.duration.as_secs_f64() * 1000.0,
                "Milliseconds",
            ),
        ];
        let mut doc = json!({
            "_aws": {
                "Timestamp": epoch_millis as u64,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
                }],
            },
            "FunctionName": function_name,
        });
        if let Some(obj) = doc.as_object_mut() {
            for (name, value, _) in metrics {
                obj.insert(name.to_owned(), json!(value));
            }
        }
        doc
    }

    /// The EMF document with the invocation's ids and `level`, as written.
    pub fn to_log_line(
        &self,
        namespace: &str,
        function_name: &str,
        epoch_millis: u128,
        invocation: &InvocationIds<'_>,
        level: &str,
    ) -> serde_json::Value {
        let mut doc = self.to_emf(namespace, function_name, epoch_millis);
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("level".to_owned(), json!(level));
            obj.insert("requestId".to_owned(), json!(invocation.request_id));
            if let Some(trace) = invocation.xray_trace_id {
                obj.insert("xrayTraceId".to_owned(), json!(trace));
            }
        }
        doc
    }

    /// Writes the EMF line to stdout, where CloudWatch picks it up.
    ///
    /// The line carries the invocation's ids as properties (searchable in
    /// the logs, not dimensions: one metric per request would be useless
    /// and costly) and, as `level`, the lowest level the function keeps:
    /// Lambda's log-level filter drops a JSON line below its level and
    /// counts a line without one as INFO, which a WARN setting would drop
    /// with the metrics in it.
    pub fn emit(&self, namespace: &str, function_name: &str, invocation: &InvocationIds<'_>) {
        let now = crate::idempotency::epoch_now().as_millis();
        let doc = self.to_log_line(
            namespace,
            function_name,
            now,
            invocation,
            crate::logging::configured_level(),
        );
        let line = doc.to_string();
        let mut out = std::io::stdout().lock();
        // A lost metrics line must not fail the batch.
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_names_every_metric_and_carries_values() {
        let report = BatchReport {
            received: 10,
            processed: 6,
            skipped: 1,
            duplicates: 1,
            transient_failures: 1,
            permanent_failures: 1,
            invalid_records: 1,
            duration: Duration::from_millis(12),
            ..Default::default()
        };
        let doc = report.to_emf("NS", "fn", 1_700_000_000_000);
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(doc.get(*name).is_some(), "{name} declared without a value");
        }
        assert_eq!(doc["RecordsReceived"], 10.0);
        assert_eq!(doc["PermanentFailures"], 1.0);
        assert_eq!(doc["BatchDuration"], 12.0);
        assert_eq!(doc["FunctionName"], "fn");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
    }

    #[test]
    fn the_written_line_keeps_the_metrics_and_adds_level_and_ids() {
        let report = BatchReport {
            processed: 3,
            ..Default::default()
        };
        let ids = InvocationIds {
            request_id: "req-9",
            xray_trace_id: Some("Root=1-2-3"),
        };
        let line = report.to_log_line("NS", "fn", 1, &ids, "WARN");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["requestId"], "req-9");
        assert_eq!(line["xrayTraceId"], "Root=1-2-3");
        assert_eq!(line["RecordsProcessed"], 3.0);
        let dimensions = &line["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert_eq!(dimensions, &serde_json::json!([["FunctionName"]]));
        let untraced = report.to_log_line("NS", "fn", 1, &InvocationIds::default(), "INFO");
        assert!(untraced.get("xrayTraceId").is_none());
    }
}
