//! The whole path: Lambda `KinesisEvent` JSON text, serde deserialisation,
//! `stream_core::Pipeline::process` with fakes for every effect, and the
//! response. Shared by the scripted-handler target and the three
//! functions' targets.
//!
//! Every case draws its own settings from the input's hash (so a saved
//! input replays the same way): concurrency, a dead-letter queue that is
//! down, a deadline already passed, `PutRecords` entries that fail.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use kinesis_deagg::{deaggregate, Deaggregated};
use order_events::{Envelope, EventKind, OutgoingRecord};
use serde_json::Value;
use stream_core::{
    BatchOutcome, CoreConfig, DeadLetter, DeadLetterSink, Deadline, Handler, KinesisEvent,
    Pipeline, RecordPublisher, RetryPolicy,
};

use crate::engine::{check, Violation};
use crate::gen;
use crate::mutate;
use crate::rng::{fnv1a, Rng};
use crate::targets::decoders::mutate_kpl;

/// The function name the pipelines are configured with.
pub const FUNCTION_NAME: &str = "fuzz";

/// One user record, found independently of the pipeline.
#[derive(Debug, Clone)]
pub struct Unit {
    pub seq: String,
    pub sub: Option<u64>,
    /// The key the pipeline orders by: the user record's, else the record's.
    pub key: String,
    pub data: Vec<u8>,
}

/// The user records of a batch, in stream order.
pub fn units_of(event: &KinesisEvent) -> Vec<Unit> {
    let mut units = Vec::new();
    for record in &event.records {
        let seq = &record.kinesis.sequence_number;
        let key = &record.kinesis.partition_key;
        match deaggregate(&record.kinesis.data.0) {
            Deaggregated::Single { data, .. } => units.push(Unit {
                seq: seq.clone(),
                sub: None,
                key: key.clone(),
                data: data.to_vec(),
            }),
            Deaggregated::Aggregated(users) => {
                for user in users {
                    units.push(Unit {
                        seq: seq.clone(),
                        sub: Some(user.sub_sequence_number),
                        key: user.partition_key.unwrap_or(key).to_owned(),
                        data: user.data.to_vec(),
                    });
                }
            }
        }
    }
    units
}

/// Per-case settings, drawn from the input's hash.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub salt: u64,
    pub max_concurrency: usize,
    pub dead_letters_down: bool,
    pub deadline_passed: bool,
    pub publish_fails: bool,
    pub redeliver: bool,
}

impl Case {
    pub fn of(input: &[u8]) -> Self {
        let salt = fnv1a(input);
        Self {
            salt,
            max_concurrency: 1 + (salt % 6) as usize,
            dead_letters_down: (salt >> 8) % 10 == 0,
            deadline_passed: (salt >> 16) % 25 == 0,
            publish_fails: (salt >> 24) % 5 == 0,
            redeliver: (salt >> 32) % 4 == 0,
        }
    }

    pub fn pipeline_config(&self) -> CoreConfig {
        CoreConfig {
            max_concurrency: self.max_concurrency,
            deadline_margin: Duration::from_millis(1),
            ..CoreConfig::new(FUNCTION_NAME)
        }
    }

    pub fn deadline(&self) -> Deadline {
        if self.deadline_passed {
            Deadline::in_(Duration::ZERO)
        } else {
            Deadline::in_(Duration::from_secs(120))
        }
    }

    /// Whether the fake `PutRecords` fails this entry (every time).
    pub fn fails_entry(publish_fails: bool, record: &OutgoingRecord) -> bool {
        publish_fails && fnv1a(record.event_id.as_str().as_bytes()) % 4 == 0
    }
}

/// Retries without waiting, so a case never sleeps.
pub fn no_wait(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        deadline_margin: Duration::ZERO,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Runs one batch.
pub fn process<H: Handler, D: DeadLetterSink, P: RecordPublisher>(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Pipeline<H, D, P>,
    event: &KinesisEvent,
    case: &Case,
) -> BatchOutcome {
    runtime.block_on(pipeline.process(event, case.deadline()))
}

/// The properties every batch outcome must have, whatever the handler.
// Long: one property after another, each a few lines, read top to bottom.
pub fn check_outcome(
    event: &KinesisEvent,
    units: &[Unit],
    outcome: &BatchOutcome,
    letters: &[DeadLetter],
    case: &Case,
) -> Result<(), Violation> {
    let r = &outcome.report;
    check(
        r.received == units.len(),
        "received counts every user record",
        || format!("received {} of {} user records", r.received, units.len()),
    )?;
    let fates = r.processed
        + r.duplicates
        + r.skipped
        + r.permanent_failures
        + r.transient_failures
        + r.not_attempted;
    check(
        fates == r.received,
        "every user record has exactly one fate",
        || format!("received {} but fates add up to {fates}: {r:?}", r.received),
    )?;
    check(
        r.invalid_records <= r.permanent_failures,
        "invalid records are permanent failures",
        || format!("{r:?}"),
    )?;

    // The response as Lambda reads it.
    let json = serde_json::to_value(&outcome.response)
        .map_err(|e| Violation::new("the response serialises", e.to_string()))?;
    let failures = json
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .ok_or_else(|| Violation::new("the response has batchItemFailures", json.to_string()))?;
    let batch: HashMap<&str, usize> = event
        .records
        .iter()
        .map(|r| (r.kinesis.sequence_number.as_str(), 0))
        .collect();
    let mut reported: HashMap<&str, usize> = HashMap::new();
    for failure in failures {
        let id = failure.get("itemIdentifier");
        let Some(id) = id.and_then(Value::as_str) else {
            return Err(Violation::new(
                "itemIdentifier is never null",
                format!("batch item failure {failure}"),
            ));
        };
        check(
            batch.contains_key(id),
            "itemIdentifier is a sequence number of the batch",
            || format!("{id:?} is not in the batch"),
        )?;
        *reported.entry(id).or_default() += 1;
    }
    if let Some((id, n)) = reported.iter().find(|(_, n)| **n > 1) {
        return Err(Violation::new(
            "each itemIdentifier appears once",
            format!("{id:?} reported {n} times"),
        ));
    }
    let must_retry = r.transient_failures + r.not_attempted;
    check(
        (must_retry == 0) == failures.is_empty(),
        "failures are reported exactly when a record must be retried",
        || format!("{must_retry} to retry, {} reported: {r:?}", failures.len()),
    )?;
    if case.deadline_passed {
        check(
            r.not_attempted == r.received,
            "no record starts past the deadline",
            || format!("{r:?}"),
        )?;
    }

    // Dead letters: one per permanent failure, each pointing at its record.
    if case.dead_letters_down {
        check(
            r.permanent_failures == 0,
            "a record is acknowledged only once dead-lettered",
            || {
                format!(
                    "{} permanent failures with the queue down",
                    r.permanent_failures
                )
            },
        )?;
    } else {
        check(
            letters.len() == r.permanent_failures,
            "one dead letter per permanent failure",
            || {
                format!(
                    "{} letters for {} permanent failures",
                    letters.len(),
                    r.permanent_failures
                )
            },
        )?;
    }
    let mut available: HashMap<(&str, Option<u64>), Vec<&Unit>> = HashMap::new();
    for unit in units {
        available
            .entry((unit.seq.as_str(), unit.sub))
            .or_default()
            .push(unit);
    }
    for letter in letters {
        let key = (letter.sequence_number.as_str(), letter.sub_sequence_number);
        let candidates = available.get_mut(&key);
        let Some(candidates) = candidates.filter(|c| !c.is_empty()) else {
            return Err(Violation::new(
                "each dead letter names a user record of the batch",
                format!("letter for {key:?} ({})", letter.reason),
            ));
        };
        let data = letter
            .data
            .as_deref()
            .map(|d| base64::engine::general_purpose::STANDARD.decode(d));
        let position = candidates.iter().position(|u| {
            u.data.len() == letter.data_length
                && key_matches(&letter.partition_key, &u.key)
                && data
                    .as_ref()
                    .is_none_or(|d| d.as_ref().is_ok_and(|d| *d == u.data))
        });
        let Some(position) = position else {
            return Err(Violation::new(
                "a dead letter carries its record's data and key",
                format!(
                    "letter for {key:?}: {} bytes, key {:?}",
                    letter.data_length, letter.partition_key
                ),
            ));
        };
        candidates.swap_remove(position);
        check(
            letter.function_name == FUNCTION_NAME && !letter.reason.is_empty(),
            "a dead letter names the function and the reason",
            || format!("{letter:?}"),
        )?;
        check_deliverable(letter)?;
    }
    Ok(())
}

/// A dead letter's message is one SQS accepts: within the size limit, only
/// characters SQS allows, and JSON that reads back as the same letter.
fn check_deliverable(letter: &DeadLetter) -> Result<(), Violation> {
    let json = letter.to_json();
    check(
        json.len() <= stream_core::dead_letter::MAX_MESSAGE_BYTES,
        "a dead letter fits an SQS message",
        || format!("{} bytes for {:?}", json.len(), letter.sequence_number),
    )?;
    let allowed = |c: char| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    check(
        json.chars().all(allowed),
        "a dead letter holds only characters SQS accepts",
        || {
            let bad = json.chars().find(|c| !allowed(*c)).unwrap_or_default();
            format!(
                "U+{:04X} in the letter for {:?}",
                bad as u32, letter.sequence_number
            )
        },
    )?;
    let back: Result<DeadLetter, _> = serde_json::from_str(&json).map(|mut back: DeadLetter| {
        // The arrival time is a float: read back within a rounding.
        if let (Some(a), Some(b)) = (
            back.approximate_arrival_timestamp,
            letter.approximate_arrival_timestamp,
        ) {
            if (a - b).abs() <= b.abs() * 1e-12 {
                back.approximate_arrival_timestamp = Some(b);
            }
        }
        back
    });
    check(
        back.as_ref().is_ok_and(|b| b == letter),
        "a dead letter's message reads back as the letter",
        || format!("{:?}: {back:?}", letter.sequence_number),
    )
}

/// A dead letter keeps the partition key, or its beginning when the key is
/// too long for a message (`<prefix>...[N bytes in all]`).
fn key_matches(written: &str, key: &str) -> bool {
    written == key
        || written
            .rsplit_once("...[")
            .is_some_and(|(prefix, _)| key.len() > prefix.len() && key.starts_with(prefix))
}

/// Every record a function wrote must be a valid event by the contract.
pub fn check_written(records: &[OutgoingRecord]) -> Result<(), Violation> {
    for record in records {
        let text = String::from_utf8_lossy(&record.data);
        let env = Envelope::parse(&record.data).map_err(|e| {
            Violation::new(
                "written records are valid envelopes",
                format!("{e}: {text}"),
            )
        })?;
        check(
            env.kind() == Some(record.kind) && env.event_id() == Some(record.event_id.as_str()),
            "written records carry their type and eventId",
            || text.to_string(),
        )?;
        let event = env.event(record.kind).map_err(|e| {
            Violation::new("written records are valid events", format!("{e}: {text}"))
        })?;
        check(
            event.partition_key() == record.partition_key,
            "written records are keyed by their order",
            || format!("key {:?}: {text}", record.partition_key),
        )?;
        check(
            env.timestamp().is_ok_and(|t| t.is_some()),
            "written records carry a readable timestamp",
            || text.to_string(),
        )?;
    }
    Ok(())
}

/// A coarse signature of an outcome, for keeping inputs that lead
/// somewhere new.
pub fn outcome_signature(outcome: &BatchOutcome, extra: u64) -> u64 {
    let r = &outcome.report;
    let fates = [
        r.processed,
        r.duplicates,
        r.skipped,
        r.permanent_failures,
        r.invalid_records,
        r.transient_failures,
        r.not_attempted,
        r.unpublished,
    ];
    let mut signature = extra;
    for count in fates {
        signature = signature.wrapping_mul(31).wrapping_add(count.min(3) as u64);
    }
    signature
}

/// The kind and validity of a unit, as the pipeline would see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Not an envelope: dead-lettered.
    Undecodable,
    /// An envelope with a type the contract does not know.
    Unknown,
    /// A known kind; `valid` when the payload and timestamp are.
    Kind { kind: EventKind, valid: bool },
}

pub fn read(data: &[u8]) -> Read {
    let Ok(env) = Envelope::parse(data) else {
        return Read::Undecodable;
    };
    match env.kind() {
        None => Read::Unknown,
        Some(kind) => Read::Kind {
            kind,
            valid: env.event(kind).is_ok() && env.timestamp().is_ok(),
        },
    }
}

/// The order ids of the batch's events, read as the pipeline reads them
/// (for the stock invariants).
pub fn order_ids(units: &[Unit]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for unit in units {
        let Ok(env) = Envelope::parse(&unit.data) else {
            continue;
        };
        for &kind in EventKind::ALL {
            let Ok(event) = env.event(kind) else {
                continue;
            };
            if let Some(id) = event.order_id() {
                if !ids.iter().any(|i| i == id.as_str()) {
                    ids.push(id.as_str().to_owned());
                }
            }
        }
    }
    ids
}

// ------------------------------------------------------------------ inputs

/// A fresh Lambda event.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    gen::kinesis_event(rng)
}

fn records_mut(value: &mut Value) -> Option<&mut Vec<Value>> {
    value.get_mut("Records")?.as_array_mut()
}

fn data_of(record: &Value) -> Option<Vec<u8>> {
    let text = record.get("kinesis")?.get("data")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn set_data(record: &mut Value, data: &[u8]) {
    if let Some(kinesis) = record.get_mut("kinesis").and_then(Value::as_object_mut) {
        kinesis.insert(
            "data".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(data)),
        );
    }
}

/// Mutates a Lambda event: a record's data (as JSON, or inside a KPL
/// aggregate), the records themselves (duplicated, dropped, reordered,
/// merged into an aggregate, sequence numbers and keys), or the text.
pub fn mutate(input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
    let Ok(mut value) = serde_json::from_slice::<Value>(input) else {
        mutate::mutate_bytes(input, rng, other);
        return;
    };
    let other_records: Vec<Value> = other
        .and_then(|o| serde_json::from_slice::<Value>(o).ok())
        .and_then(|mut o| records_mut(&mut o).map(std::mem::take))
        .unwrap_or_default();
    let choice = rng.below(12);
    let Some(records) = records_mut(&mut value).filter(|r| !r.is_empty() && choice < 10) else {
        mutate::mutate_document(input, rng, other);
        return;
    };
    let i = rng.below(records.len());
    match choice {
        0..=4 => {
            let Some(mut data) = data_of(&records[i]) else {
                mutate::mutate_document(input, rng, other);
                return;
            };
            if kinesis_deagg::is_aggregated(&data) {
                mutate_kpl(&mut data, rng, None);
            } else {
                mutate::mutate_document(&mut data, rng, None);
            }
            set_data(&mut records[i], &data);
        }
        5 => {
            let copy = records[i].clone();
            let at = rng.below(records.len() + 1);
            records.insert(at, copy);
        }
        6 => {
            records.remove(i);
        }
        7 => {
            // Cross over: records of another input.
            if !other_records.is_empty() {
                let from = rng.below(other_records.len());
                let take = rng.range(1, 3).min(other_records.len() - from);
                let at = rng.below(records.len() + 1);
                for (k, record) in other_records[from..from + take].iter().enumerate() {
                    records.insert(at + k, record.clone());
                }
            } else {
                let j = rng.below(records.len());
                records.swap(i, j);
            }
        }
        8 => {
            // Several records' data as one aggregate.
            let take = rng.range(1, 4).min(records.len() - i);
            let users: Vec<gen::UserRecord> = records[i..i + take]
                .iter()
                .filter_map(|r| {
                    Some(gen::UserRecord {
                        partition_key: r.get("kinesis")?.get("partitionKey")?.as_str()?.to_owned(),
                        explicit_hash_key: None,
                        data: data_of(r)?,
                    })
                })
                .collect();
            let data = gen::aggregate(&users, rng);
            set_data(&mut records[i], &data);
            records.drain(i + 1..i + take);
        }
        _ => {
            // Keys and sequence numbers: shared, repeated, odd.
            let j = rng.below(records.len());
            let field = if rng.chance(1, 2) {
                "partitionKey"
            } else {
                "sequenceNumber"
            };
            let replacement = if rng.chance(2, 3) {
                records[j]
                    .get("kinesis")
                    .and_then(|k| k.get(field))
                    .cloned()
            } else {
                Some(Value::String(mutate::hostile_string(rng)))
            };
            if let (Some(kinesis), Some(replacement)) = (
                records[i].get_mut("kinesis").and_then(Value::as_object_mut),
                replacement,
            ) {
                kinesis.insert(field.into(), replacement);
            }
        }
    }
    *input = serde_json::to_vec(&value).unwrap_or_default();
}

/// Smaller variants for reducing a failure: one record dropped, or one
/// record's data reduced.
pub fn reductions(input: &[u8]) -> Vec<Vec<u8>> {
    let Ok(value) = serde_json::from_slice::<Value>(input) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let count = value
        .get("Records")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..count {
        let mut copy = value.clone();
        if let Some(records) = records_mut(&mut copy) {
            records.remove(i);
        }
        out.push(serde_json::to_vec(&copy).unwrap_or_default());
        let Some(data) = value["Records"].get(i).and_then(data_of) else {
            continue;
        };
        let mut smaller: Vec<Vec<u8>> = crate::engine::json_reductions(&data);
        if let Some(users) = crate::targets::decoders::user_records_of(&data) {
            for drop in 0..users.len() {
                let mut fewer = users.clone();
                fewer.remove(drop);
                smaller.push(gen::aggregate(&fewer, &mut Rng::new(0)));
            }
            for user in &users {
                smaller.push(user.data.clone());
            }
        }
        for candidate in smaller {
            let mut copy = value.clone();
            if let Some(record) = records_mut(&mut copy).and_then(|r| r.get_mut(i)) {
                set_data(record, &candidate);
            }
            out.push(serde_json::to_vec(&copy).unwrap_or_default());
        }
    }
    out
}

/// Deserialises the Lambda event as the runtime does; inputs that are not
/// one are not this code's concern (Lambda never sends them).
pub fn deserialise(input: &[u8]) -> Option<KinesisEvent> {
    serde_json::from_slice(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::{BatchReport, KinesisEventResponse};

    fn two_records() -> (KinesisEvent, Vec<Unit>) {
        let records = vec![
            gen::KinesisRecord {
                partition_key: "o-1".into(),
                sequence_number: "1".into(),
                data: b"{}".to_vec(),
            },
            gen::KinesisRecord {
                partition_key: "o-2".into(),
                sequence_number: "2".into(),
                data: b"{}".to_vec(),
            },
        ];
        let event = deserialise(&gen::kinesis_event_json(&records, &mut Rng::new(1))).unwrap();
        let units = units_of(&event);
        (event, units)
    }

    fn outcome(response: &str, report: BatchReport) -> BatchOutcome {
        BatchOutcome {
            response: serde_json::from_str::<KinesisEventResponse>(response).unwrap(),
            report,
        }
    }

    fn calm() -> Case {
        Case {
            salt: 0,
            max_concurrency: 1,
            dead_letters_down: false,
            deadline_passed: false,
            publish_fails: false,
            redeliver: false,
        }
    }

    #[test]
    fn outcome_checks_catch_lost_and_bad_reports() {
        let (event, units) = two_records();
        let processed = BatchReport {
            received: 2,
            processed: 2,
            ..Default::default()
        };
        let one_failed = BatchReport {
            received: 2,
            processed: 1,
            transient_failures: 1,
            ..Default::default()
        };
        let check = |response: &str, report: &BatchReport| {
            check_outcome(
                &event,
                &units,
                &outcome(response, report.clone()),
                &[],
                &calm(),
            )
            .err()
            .map(|v| v.property)
        };
        assert_eq!(check(r#"{"batchItemFailures":[]}"#, &processed), None);
        assert_eq!(
            check(
                r#"{"batchItemFailures":[{"itemIdentifier":"2"}]}"#,
                &one_failed
            ),
            None
        );
        let lost = BatchReport {
            received: 2,
            processed: 1,
            ..Default::default()
        };
        assert_eq!(
            check(r#"{"batchItemFailures":[]}"#, &lost),
            Some("every user record has exactly one fate")
        );
        let miscounted = BatchReport {
            received: 1,
            processed: 1,
            ..Default::default()
        };
        assert_eq!(
            check(r#"{"batchItemFailures":[]}"#, &miscounted),
            Some("received counts every user record")
        );
        assert_eq!(
            check(r#"{"batchItemFailures":[]}"#, &one_failed),
            Some("failures are reported exactly when a record must be retried")
        );
        assert_eq!(
            check(
                r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
                &one_failed
            ),
            Some("itemIdentifier is never null")
        );
        assert_eq!(
            check(
                r#"{"batchItemFailures":[{"itemIdentifier":"9"}]}"#,
                &one_failed
            ),
            Some("itemIdentifier is a sequence number of the batch")
        );
        assert_eq!(
            check(
                r#"{"batchItemFailures":[{"itemIdentifier":"2"},{"itemIdentifier":"2"}]}"#,
                &one_failed
            ),
            Some("each itemIdentifier appears once")
        );
    }

    #[test]
    fn dead_letters_must_match_permanent_failures_and_records() {
        let (event, units) = two_records();
        let report = BatchReport {
            received: 2,
            processed: 1,
            permanent_failures: 1,
            ..Default::default()
        };
        let origin = |seq: &str, key: &str| stream_core::RecordOrigin {
            event_source_arn: None,
            event_id: None,
            shard_id: None,
            sequence_number: seq.into(),
            sub_sequence_number: None,
            partition_key: key.into(),
            approximate_arrival_timestamp: None,
        };
        let good = DeadLetter::new(FUNCTION_NAME, &origin("2", "o-2"), b"{}", "invalid");
        let stray = DeadLetter::new(FUNCTION_NAME, &origin("7", "o-2"), b"{}", "invalid");
        let other_data = DeadLetter::new(FUNCTION_NAME, &origin("2", "o-2"), b"[]", "invalid");
        let run = |letters: &[DeadLetter]| {
            check_outcome(
                &event,
                &units,
                &outcome(r#"{"batchItemFailures":[]}"#, report.clone()),
                letters,
                &calm(),
            )
            .err()
            .map(|v| v.property)
        };
        assert_eq!(run(std::slice::from_ref(&good)), None);
        assert_eq!(run(&[]), Some("one dead letter per permanent failure"));
        assert_eq!(
            run(&[stray]),
            Some("each dead letter names a user record of the batch")
        );
        assert_eq!(
            run(&[other_data]),
            Some("a dead letter carries its record's data and key")
        );
    }

    #[test]
    fn clipped_keys_match_their_record() {
        assert!(key_matches("o-1", "o-1"));
        assert!(key_matches(
            "abc...[5000 bytes in all]",
            &"abc".repeat(2000)
        ));
        assert!(!key_matches(
            "abd...[5000 bytes in all]",
            &"abc".repeat(2000)
        ));
        assert!(!key_matches("o-2", "o-1"));
    }

    #[test]
    fn units_expand_aggregates() {
        let mut rng = Rng::new(11);
        let users = gen::user_records(&mut rng, 3);
        let records = vec![
            gen::KinesisRecord {
                partition_key: "o-1".into(),
                sequence_number: "1".into(),
                data: gen::aggregate(&users, &mut rng),
            },
            gen::KinesisRecord {
                partition_key: "o-2".into(),
                sequence_number: "2".into(),
                data: b"{}".to_vec(),
            },
        ];
        let event = deserialise(&gen::kinesis_event_json(&records, &mut rng)).unwrap();
        let units = units_of(&event);
        assert_eq!(units.len(), 4);
        assert_eq!(units[2].sub, Some(2));
        assert_eq!(units[3].seq, "2");
    }

    #[test]
    fn mutations_keep_most_events_deserialisable() {
        let mut rng = Rng::new(13);
        let mut ok = 0;
        for _ in 0..300 {
            let mut input = generate(&mut rng);
            let other = generate(&mut rng);
            mutate(&mut input, &mut rng, Some(&other));
            let event = crate::engine::quietly(|| deserialise(&input));
            ok += usize::from(matches!(event, Ok(Some(_))));
        }
        assert!(ok > 150, "only {ok} of 300 mutated events deserialise");
    }
}
