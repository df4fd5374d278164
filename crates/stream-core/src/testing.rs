//! For tests and local tools: builders for Lambda Kinesis events (the same
//! shape Lambda delivers, made from partition keys and data), the one
//! checker of a function's sample events, and the in-memory fakes of the
//! ports, re-exported from where each lives beside its port.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use futures::FutureExt as _;

use crate::pipeline::{panic_message, BatchOutcome};

pub use crate::dead_letter::InMemoryDeadLetters;
pub use crate::idempotency::InMemoryIdempotencyStore;
pub use crate::publisher::FakePutRecords;

/// The stream ARN the builders use.
pub const TEST_STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events";

/// One Lambda record with sequence number `sequence` on shard 0, arrived
/// now.
pub fn kinesis_record(
    sequence: u64,
    partition_key: &str,
    data: impl Into<Vec<u8>>,
) -> KinesisEventRecord {
    let mut kinesis = KinesisRecord::default();
    kinesis.partition_key = partition_key.to_owned();
    kinesis.sequence_number = self::sequence(sequence);
    *kinesis.data = data.into();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    *kinesis.approximate_arrival_timestamp = SystemTime::now().into();
    let mut record = KinesisEventRecord::default();
    record.kinesis = kinesis;
    record.event_id = Some(format!("shardId-000000000000:{}", self::sequence(sequence)));
    record.event_source = Some("aws:kinesis".to_owned());
    record.event_name = Some("aws:kinesis:record".to_owned());
    record.event_version = Some("1.0".to_owned());
    record.event_source_arn = Some(TEST_STREAM_ARN.to_owned());
    record.aws_region = Some("us-east-1".to_owned());
    record.invoke_identity_arn = Some("arn:aws:iam::123456789012:role/lambda-role".to_owned());
    record
}

/// A batch of records with sequence numbers 1, 2, 3... in order.
pub fn kinesis_event<K: AsRef<str>, D: Into<Vec<u8>>>(
    records: impl IntoIterator<Item = (K, D)>,
) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, data))| kinesis_record(i as u64 + 1, key.as_ref(), data))
        .collect();
    event
}

/// `event` with every record arrived at `at` (the builders stamp the time
/// they ran): a test about a record's age sets it here.
pub fn arrived_at(mut event: KinesisEvent, at: SystemTime) -> KinesisEvent {
    for record in &mut event.records {
        *record.kinesis.approximate_arrival_timestamp = at.into();
    }
    event
}

/// `event` with every record read from the stream `arn` (the builders use
/// [`TEST_STREAM_ARN`]).
pub fn from_stream(mut event: KinesisEvent, arn: &str) -> KinesisEvent {
    for record in &mut event.records {
        record.event_source_arn = Some(arn.to_owned());
    }
    event
}

/// The bytes of one contract envelope of `event_type` with `payload`, at a
/// fixed timestamp.
pub fn envelope(event_type: &str, event_id: &str, payload: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": "2025-10-30T12:00:00.000Z",
        "payload": payload,
    })
    .to_string()
    .into_bytes()
}

/// The sequence number `kinesis_record` gives to `n`.
pub fn sequence(n: u64) -> String {
    format!("{n:056}")
}

/// The folder of a function's sample events, `events/<function>/` at the
/// root of the workspace.
pub fn sample_events_dir(function: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(function)
}

/// One sample event, `<name>.json`: a whole Lambda Kinesis event whose
/// documented answer is the sibling `<name>.expected.json`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub path: PathBuf,
    pub event: KinesisEvent,
}

impl Sample {
    /// Reads and parses the sample at `path`; the error names the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let name = sample_name(path);
        let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
        let event: KinesisEvent = serde_json::from_str(&text)
            .map_err(|e| format!("{name}: not a Lambda Kinesis event: {e}"))?;
        if event.records.is_empty() {
            return Err(format!("{name}: no records"));
        }
        Ok(Self {
            name,
            path: path.to_owned(),
            event,
        })
    }

    /// The sample `name` of `function`, for tests about one case; panics
    /// with the file's name when it is missing or unreadable.
    pub fn named(function: &str, name: &str) -> Self {
        Self::load(&sample_events_dir(function).join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{function}: {e}"))
    }

    /// The documented answer, from `<name>.expected.json`.
    pub fn expected_response(&self) -> Result<serde_json::Value, String> {
        let path = self
            .path
            .with_file_name(format!("{}.expected.json", self.name));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: no expected response {}: {e}",
                self.name,
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: unreadable expected response: {e}", self.name))
    }
}

fn sample_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The sample events in `dir` (every `.json` but the `.expected.json`
/// answers), in name order.
pub fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path.to_string_lossy();
            name.ends_with(".json") && !name.ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

/// Runs every sample event of `function` (at least `at_least` of them,
/// each with fresh fakes from `run`) and holds each to its expected
/// response and to `effects`, the function's own checks of what the run
/// left behind. Every mismatch is collected under its sample's name, and
/// the test fails once, listing them all.
pub async fn check_sample_events<H, Run, Fut>(
    function: &str,
    at_least: usize,
    mut run: Run,
    mut effects: impl FnMut(&Sample, &BatchOutcome, &H),
) where
    Run: FnMut(KinesisEvent) -> Fut,
    Fut: Future<Output = (BatchOutcome, H)>,
{
    let mismatches = mismatches_in(
        &sample_events_dir(function),
        at_least,
        &mut run,
        &mut effects,
    )
    .await;
    assert!(
        mismatches.is_empty(),
        "the {function} samples do not answer as documented:\n{}",
        mismatches.join("\n")
    );
}

/// Every mismatch of the samples in `dir`, by sample name.
async fn mismatches_in<H, Run, Fut>(
    dir: &Path,
    at_least: usize,
    run: &mut Run,
    effects: &mut impl FnMut(&Sample, &BatchOutcome, &H),
) -> Vec<String>
where
    Run: FnMut(KinesisEvent) -> Fut,
    Fut: Future<Output = (BatchOutcome, H)>,
{
    let files = sample_files(dir);
    let mut mismatches = Vec::new();
    if files.len() < at_least {
        mismatches.push(format!(
            "expected at least {at_least} samples, found {files:?}"
        ));
    }
    for path in &files {
        let loaded = Sample::load(path).and_then(|sample| {
            let expected = sample.expected_response()?;
            Ok((sample, expected))
        });
        let (sample, expected) = match loaded {
            Ok(loaded) => loaded,
            Err(mismatch) => {
                mismatches.push(mismatch);
                continue;
            }
        };
        match AssertUnwindSafe(run(sample.event.clone()))
            .catch_unwind()
            .await
        {
            Ok((outcome, harness)) => {
                mismatches.extend(judge(&sample, &expected, &outcome, |sample, outcome| {
                    effects(sample, outcome, &harness)
                }))
            }
            Err(panic) => mismatches.push(format!(
                "{}: the run panicked: {}",
                sample.name,
                panic_message(&*panic)
            )),
        }
    }
    mismatches
}

/// What is wrong with one sample's answer and effects.
fn judge(
    sample: &Sample,
    expected: &serde_json::Value,
    outcome: &BatchOutcome,
    effects: impl FnOnce(&Sample, &BatchOutcome),
) -> Vec<String> {
    let name = &sample.name;
    let mut mismatches = Vec::new();
    match serde_json::to_value(&outcome.response) {
        Ok(actual) if actual == *expected => {}
        Ok(actual) => mismatches.push(format!(
            "{name}: response {actual} differs from the expected {expected}"
        )),
        Err(e) => mismatches.push(format!("{name}: unserialisable response: {e}")),
    }
    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| effects(sample, outcome)));
    if let Err(panic) = checked {
        mismatches.push(format!("{name}: {}", panic_message(&*panic)));
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::BatchOutcome;
    use crate::BatchReport;

    /// A folder of samples: `(name, event, expected answer)`.
    fn samples(cases: &[(&str, &KinesisEvent, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("samples-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, event, expected) in cases {
            let event = serde_json::to_string(event).unwrap();
            std::fs::write(dir.join(format!("{name}.json")), event).unwrap();
            std::fs::write(dir.join(format!("{name}.expected.json")), expected).unwrap();
        }
        dir
    }

    /// Answers every event with its own sequence numbers reported failed.
    async fn fail_all(event: KinesisEvent) -> (BatchOutcome, usize) {
        let mut response = crate::KinesisEventResponse::default();
        for record in &event.records {
            response.add_failure(record.kinesis.sequence_number.clone());
        }
        let outcome = BatchOutcome {
            response,
            report: BatchReport::default(),
        };
        (outcome, event.records.len())
    }

    #[test]
    fn arrival_and_stream_can_be_set_for_a_whole_batch() {
        let long_ago = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_761_825_600);
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/order-commands";
        let event = from_stream(
            arrived_at(kinesis_event([("a", "1"), ("b", "2")]), long_ago),
            arn,
        );
        for record in &event.records {
            let arrived = SystemTime::from(*record.kinesis.approximate_arrival_timestamp);
            assert_eq!(arrived, long_ago);
            assert_eq!(record.event_source_arn.as_deref(), Some(arn));
        }
    }

    #[tokio::test]
    async fn every_mismatch_is_reported_by_sample_name() {
        let one = kinesis_event([("k", "a")]);
        let failed_one = format!(
            r#"{{"batchItemFailures":[{{"itemIdentifier":"{}"}}]}}"#,
            sequence(1)
        );
        let dir = samples(&[
            ("as-documented", &one, &failed_one),
            ("other-answer", &one, r#"{"batchItemFailures":[]}"#),
            (
                "wrong-effect",
                &kinesis_event([("k", "a"), ("k", "b")]),
                &failed_one,
            ),
        ]);
        let mut run = fail_all;
        let mut one_record_each = |sample: &Sample, _: &BatchOutcome, records: &usize| {
            assert_eq!(*records, 1, "records of {}", sample.name);
        };
        let mismatches = mismatches_in(&dir, 4, &mut run, &mut one_record_each).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(mismatches.len(), 4, "{mismatches:#?}");
        assert!(mismatches[0].starts_with("expected at least 4 samples"));
        assert!(mismatches[1].starts_with("other-answer: response"));
        assert!(mismatches[2].starts_with("wrong-effect: response"));
        assert!(
            mismatches[3].starts_with("wrong-effect: assertion"),
            "{}",
            mismatches[3]
        );
    }
}
