//! Dead letters: a record that can never succeed is sent, with its bytes,
//! its origin and the reason, to a queue, and only then acknowledged. Lambda's
//! own on-failure destination gets metadata only, which is why the core
//! keeps the data itself.

use std::future::Future;
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::RecordOrigin;

/// SQS's classic message limit. Queues may allow more, but a message this
/// size fits every queue.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One dead-lettered record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
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
        let mut letter = Self {
            reason: reason.into(),
            function_name: function_name.to_owned(),
            event_source_arn: origin.event_source_arn.clone(),
            shard_id: origin.shard_id.clone(),
            event_id: origin.event_id.clone(),
            sequence_number: origin.sequence_number.clone(),
            sub_sequence_number: origin.sub_sequence_number,
            partition_key: origin.partition_key.clone(),
            approximate_arrival_timestamp: origin.approximate_arrival_timestamp,
            data: None,
            data_sha256: hex::encode(Sha256::digest(data)),
            data_length: data.len(),
            dead_lettered_at: order_events::Timestamp::now().to_rfc3339(),
        };
        // base64 grows data by a third; leave room for the metadata.
        if data.len() / 3 * 4 + 4 + 4096 + letter.reason.len() <= MAX_MESSAGE_BYTES {
            letter.data = Some(base64::engine::general_purpose::STANDARD.encode(data));
        }
        letter
    }

    pub fn to_json(&self) -> String {
        // Only strings and numbers: serialising cannot fail.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"reason\":\"unserialisable dead letter: {e}\"}}"))
    }
}

/// Where dead letters go.
pub trait DeadLetterSink: Send + Sync {
    fn send(&self, letter: &DeadLetter) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl DeadLetterSink for SqsDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        use anyhow::Context as _;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(letter.to_json())
            .send()
            .await
            .context("sending a dead letter to SQS")?;
        Ok(())
    }
}

/// Keeps dead letters in memory, for tests.
#[derive(Debug, Default)]
pub struct InMemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
    fail: std::sync::atomic::AtomicBool,
}

impl InMemoryDeadLetters {
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Makes every later send fail, to test that a record is not
    /// acknowledged when its dead letter could not be written.
    pub fn fail_sends(&self, fail: bool) {
        self.fail.store(fail, std::sync::atomic::Ordering::SeqCst);
    }
}

impl DeadLetterSink for InMemoryDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("dead-letter queue unavailable");
        }
        self.letters
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .push(letter.clone());
        Ok(())
    }
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
    fn oversized_records_keep_origin_and_hash_only() {
        let big = vec![b'x'; 300 * 1024];
        let letter = DeadLetter::new("fn", &origin(), &big, "too big");
        assert!(letter.data.is_none());
        assert_eq!(letter.data_length, big.len());
        assert_eq!(letter.data_sha256, hex::encode(Sha256::digest(&big)));
        assert!(letter.to_json().len() < MAX_MESSAGE_BYTES);
    }
}
