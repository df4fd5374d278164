//! Per-invocation counters, written once per invocation as one CloudWatch
//! Embedded Metric Format line on stdout (CloudWatch turns it into metrics
//! with no API call on the hot path).

use std::io::Write;
use std::time::Duration;

use serde_json::json;

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

    /// Writes the EMF line to stdout, where the Lambda agent picks it up.
    pub fn emit(&self, namespace: &str, function_name: &str) {
        let now = crate::idempotency::epoch_now().as_millis();
        let line = self.to_emf(namespace, function_name, now).to_string();
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
}
