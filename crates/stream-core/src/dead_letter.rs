//! Dead letters: a record that can never succeed is sent, with its bytes,
//! its origin and the reason, to a queue, and only then acknowledged. Lambda's
//! own on-failure destination gets metadata only, which is why the core
//! keeps the data itself.

use std::future::Future;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::RecordOrigin;

#[cfg(any(test, feature = "test-util"))]
mod memory;
mod sqs;

#[cfg(any(test, feature = "test-util"))]
pub use memory::InMemoryDeadLetters;
pub use sqs::SqsDeadLetters;

/// SQS's classic message limit. Queues may allow more, but a message this
/// size fits every queue.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Longest reason and partition key a letter carries, in characters.
const MAX_FIELD_CHARS: usize = 1024;

/// One dead-lettered record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The same for every dead letter of one record (function, stream,
    /// sequence and sub-sequence number), so a letter sent twice (a send
    /// retried after a lost answer) is recognisable as one.
    #[serde(default)]
    pub dead_letter_id: String,
    pub reason: String,
    pub function_name: String,
    pub event_source_arn: Option<String>,
    pub shard_id: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    pub sequence_number: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_sequence_number: Option<u64>,
    pub partition_key: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approximate_arrival_timestamp: Option<f64>,
    /// The record's bytes, base64; absent when too large for a message, in
    /// which case the origin and the hash let it be re-read from the stream.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<String>,
    pub data_sha256: String,
    pub data_length: usize,
    pub dead_lettered_at: String,
}

impl DeadLetter {
    pub fn new(
        function_name: &str,
        origin: &RecordOrigin,
        data: &[u8],
        reason: impl Into<String>,
    ) -> Self {
        let reason: String = reason.into();
        let mut letter = Self {
            dead_letter_id: dead_letter_id(function_name, origin),
            reason: order_events::values::clip(&reason, MAX_FIELD_CHARS).into_owned(),
            function_name: function_name.to_owned(),
            event_source_arn: origin.event_source_arn.clone(),
            shard_id: origin.shard_id.clone(),
            event_id: origin.event_id.clone(),
            sequence_number: origin.sequence_number.clone(),
            sub_sequence_number: origin.sub_sequence_number,
            partition_key: order_events::values::clip(&origin.partition_key, MAX_FIELD_CHARS)
                .into_owned(),
            approximate_arrival_timestamp: origin.approximate_arrival_timestamp,
            data: Some(base64::engine::general_purpose::STANDARD.encode(data)),
            data_sha256: hex::encode(Sha256::digest(data)),
            data_length: data.len(),
            dead_lettered_at: order_events::Timestamp::now().to_rfc3339(),
        };
        if letter.to_json().len() > MAX_MESSAGE_BYTES {
            // The origin and the hash let the record be re-read from the
            // stream within its retention.
            letter.data = None;
        }
        letter
    }

    /// The message body: JSON that SQS accepts whatever the input held.
    /// serde_json escapes control characters; SQS also refuses the
    /// non-characters U+FFFE and U+FFFF, which serde_json writes as they
    /// are, so those are escaped here (inside JSON strings, where alone
    /// they can occur, `\uFFFE` is the same text).
    pub fn to_json(&self) -> String {
        // Only strings and numbers: serialising cannot fail.
        let json = serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"reason\":\"unserialisable dead letter: {e}\"}}"));
        escape_for_sqs(json)
    }
}

/// Escapes every character outside the set SQS accepts in a message
/// (`#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`).
/// Rust strings hold no surrogates, and serde_json already escapes the
/// control characters below U+0020, so only U+FFFE and U+FFFF remain.
fn escape_for_sqs(json: String) -> String {
    if !json.contains(['\u{fffe}', '\u{ffff}']) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '\u{fffe}' => out.push_str("\\ufffe"),
            '\u{ffff}' => out.push_str("\\uffff"),
            other => out.push(other),
        }
    }
    out
}

/// True when SQS accepts every character of `body`.
pub fn sqs_accepts(body: &str) -> bool {
    body.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    })
}

fn dead_letter_id(function_name: &str, origin: &RecordOrigin) -> String {
    let mut hash = Sha256::new();
    for part in [
        function_name,
        origin.event_source_arn.as_deref().unwrap_or_default(),
        &origin.sequence_number,
    ] {
        hash.update(part.as_bytes());
        hash.update([0xff]);
    }
    hash.update(origin.sub_sequence_number.unwrap_or(u64::MAX).to_be_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// Where dead letters go.
pub trait DeadLetterSink: Send + Sync {
    fn send(&self, letter: &DeadLetter) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl<T: DeadLetterSink> DeadLetterSink for std::sync::Arc<T> {
    fn send(&self, letter: &DeadLetter) -> impl Future<Output = anyhow::Result<()>> + Send {
        (**self).send(letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> RecordOrigin {
        RecordOrigin {
            event_source_arn: Some("arn:aws:kinesis:us-east-1:1:stream/s".into()),
            event_id: Some("shardId-000000000000:42".into()),
            shard_id: Some("shardId-000000000000".into()),
            sequence_number: "42".into(),
            sub_sequence_number: None,
            partition_key: "o-1".into(),
            approximate_arrival_timestamp: Some(1.5),
        }
    }

    #[test]
    fn carries_data_origin_and_reason() {
        let letter = DeadLetter::new("fn", &origin(), b"not json", "undecodable");
        let json: serde_json::Value = serde_json::from_str(&letter.to_json()).unwrap();
        assert_eq!(json["reason"], "undecodable");
        assert_eq!(json["functionName"], "fn");
        assert_eq!(json["shardId"], "shardId-000000000000");
        assert_eq!(json["eventID"], "shardId-000000000000:42");
        assert_eq!(json["sequenceNumber"], "42");
        assert_eq!(
            json["eventSourceArn"],
            "arn:aws:kinesis:us-east-1:1:stream/s"
        );
        assert_eq!(json["data"], "bm90IGpzb24=");
    }

    #[test]
    fn hostile_input_still_makes_a_message_sqs_accepts() {
        let mut odd = origin();
        odd.partition_key = format!("k\u{ffff}\u{fffe}\u{0}\u{202e}{}", "p".repeat(5000));
        let reason = format!("bad value `\u{ffff}\u{1}\u{7f}` {}", "r".repeat(300_000));
        let letter = DeadLetter::new("fn", &odd, &vec![0xff; 1000], reason);
        let body = letter.to_json();
        assert!(sqs_accepts(&body), "SQS would refuse the body");
        assert!(body.len() <= MAX_MESSAGE_BYTES);
        let back: DeadLetter = serde_json::from_str(&body).unwrap();
        assert!(back
            .partition_key
            .starts_with("k\u{ffff}\u{fffe}\u{0}\u{202e}"));
        assert!(back.reason.chars().count() < 1100, "reason is bounded");
        assert!(back.data.is_some(), "small data is kept");
        assert!(!sqs_accepts("a\u{ffff}"));
    }

    #[test]
    fn one_record_has_one_dead_letter_id() {
        let a = DeadLetter::new("fn", &origin(), b"x", "one");
        let b = DeadLetter::new("fn", &origin(), b"x", "another reason");
        assert_eq!(a.dead_letter_id, b.dead_letter_id);
        let mut next = origin();
        next.sub_sequence_number = Some(1);
        assert_ne!(
            a.dead_letter_id,
            DeadLetter::new("fn", &next, b"x", "one").dead_letter_id
        );
        assert_ne!(
            a.dead_letter_id,
            DeadLetter::new("other", &origin(), b"x", "one").dead_letter_id
        );
    }

    #[test]
    fn oversized_records_keep_origin_and_hash_only() {
        let big = vec![b'x'; 300 * 1024];
        let letter = DeadLetter::new("fn", &origin(), &big, "too big");
        assert!(letter.data.is_none());
        assert_eq!(letter.data_length, big.len());
        assert_eq!(letter.data_sha256, hex::encode(Sha256::digest(&big)));
        assert!(letter.to_json().len() < MAX_MESSAGE_BYTES);
        // Just below the limit once encoded: the data stays.
        let fits = vec![b'x'; 180 * 1024];
        assert!(DeadLetter::new("fn", &origin(), &fits, "r").data.is_some());
    }
}
