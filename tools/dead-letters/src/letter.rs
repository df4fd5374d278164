//! What a message in the dead-letter queue says.
//!
//! The queue holds two kinds of message: the functions' own dead letters
//! (stream-core's `DeadLetter`: the record's bytes, origin and reason) and
//! Lambda's on-failure records for batches the event source mapping gave up
//! on (metadata only). Both are read leniently: every field is optional and
//! a field of an unexpected type reads as absent, so an odd message is
//! reported, never a reason to stop.

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

/// A dead letter as the functions write it, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeadLetter {
    #[serde(deserialize_with = "lenient_string")]
    pub reason: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub function_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub event_source_arn: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub shard_id: Option<String>,
    #[serde(rename = "eventID", deserialize_with = "lenient_string")]
    pub event_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub sequence_number: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub sub_sequence_number: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub partition_key: Option<String>,
    /// The record's bytes, base64; absent when they did not fit a message.
    #[serde(deserialize_with = "lenient_string")]
    pub data: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub data_sha256: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub data_length: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub dead_lettered_at: Option<String>,
    /// Identifies the dead-lettered record; two letters with one id are the
    /// same record dead-lettered twice.
    #[serde(deserialize_with = "lenient_string")]
    pub dead_letter_id: Option<String>,
}

/// Lambda's on-failure record for a Kinesis batch: where the batch was, not
/// what it held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnFailureRecord {
    pub function_arn: Option<String>,
    /// `RetryAttemptsExhausted`, `RecordAgeExceeded`, ...
    pub condition: Option<String>,
    pub stream_arn: Option<String>,
    pub shard_id: Option<String>,
    pub start_sequence_number: Option<String>,
    pub end_sequence_number: Option<String>,
    pub batch_size: Option<u64>,
}

impl OnFailureRecord {
    /// The function's name, from its ARN (`...:function:NAME[:qualifier]`).
    pub fn function_name(&self) -> Option<&str> {
        let arn = self.function_arn.as_deref()?;
        let (_, rest) = arn.split_once(":function:")?;
        rest.split(':').next().filter(|name| !name.is_empty())
    }
}

/// One queue message, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Letter(DeadLetter),
    OnFailure(OnFailureRecord),
    /// Not a JSON object: the reason.
    Unreadable(String),
}

/// Reads a message body. Never fails: what cannot be read says why.
pub fn parse(body: &str) -> Message {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(err) => return Message::Unreadable(format!("not JSON: {err}")),
    };
    let Some(object) = value.as_object() else {
        return Message::Unreadable("not a JSON object".to_owned());
    };
    if let Some(batch) = object.get("KinesisBatchInfo") {
        let context = object.get("requestContext");
        let text = |parent: Option<&serde_json::Value>, key: &str| {
            parent.and_then(|p| p.get(key)).and_then(scalar_string)
        };
        return Message::OnFailure(OnFailureRecord {
            function_arn: text(context, "functionArn"),
            condition: text(context, "condition"),
            stream_arn: text(Some(batch), "streamArn"),
            shard_id: text(Some(batch), "shardId"),
            start_sequence_number: text(Some(batch), "startSequenceNumber"),
            end_sequence_number: text(Some(batch), "endSequenceNumber"),
            batch_size: batch.get("batchSize").and_then(scalar_u64),
        });
    }
    match DeadLetter::deserialize(&value) {
        Ok(letter) => Message::Letter(letter),
        Err(err) => Message::Unreadable(format!("not a dead letter: {err}")),
    }
}

impl DeadLetter {
    /// The record's bytes, checked against the letter's hash and length
    /// when it has them. `Ok(None)`: the letter carries no data.
    pub fn decoded_data(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(encoded) = self.data.as_deref() else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|err| format!("data is not base64: {err}"))?;
        if let Some(expected) = self.data_sha256.as_deref() {
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(format!(
                    "data does not match dataSha256 (expected {expected}, got {actual})"
                ));
            }
        }
        if let Some(expected) = self.data_length {
            if bytes.len() as u64 != expected {
                return Err(format!(
                    "data is {} bytes long, dataLength says {expected}",
                    bytes.len()
                ));
            }
        }
        Ok(Some(bytes))
    }

    /// The shard: `shardId`, or the part of the Lambda `eventID` before the
    /// colon.
    pub fn shard(&self) -> Option<&str> {
        self.shard_id.as_deref().or_else(|| {
            self.event_id
                .as_deref()
                .and_then(|id| id.split_once(':'))
                .map(|(shard, _)| shard)
        })
    }
}

fn scalar_string(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn scalar_u64(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(scalar_string(&value))
}

fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(scalar_u64(&value))
}

/// Orders decimal sequence numbers (up to 56 digits, beyond any integer
/// type) numerically.
pub fn compare_sequence_numbers(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// True for a non-empty string of ASCII digits.
pub fn is_sequence_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(body: &str) -> DeadLetter {
        match parse(body) {
            Message::Letter(letter) => letter,
            other => panic!("expected a letter, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_dead_letter_as_the_functions_write_it() {
        let data = br#"{"eventType":"ORDER_PLACED"}"#;
        let body = serde_json::json!({
            "reason": "undecodable record: not JSON",
            "functionName": "inventory-update",
            "eventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
            "shardId": "shardId-000000000001",
            "eventID": "shardId-000000000001:49",
            "sequenceNumber": "49",
            "subSequenceNumber": 2,
            "partitionKey": "o-1",
            "approximateArrivalTimestamp": 1761825600.0,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "dataSha256": hex::encode(Sha256::digest(data)),
            "dataLength": data.len(),
            "deadLetteredAt": "2025-10-30T12:00:01.000Z",
            "deadLetterId": "dl-1",
            "somethingNew": {"nested": true}
        })
        .to_string();
        let letter = letter(&body);
        assert_eq!(letter.function_name.as_deref(), Some("inventory-update"));
        assert_eq!(letter.sequence_number.as_deref(), Some("49"));
        assert_eq!(letter.sub_sequence_number, Some(2));
        assert_eq!(letter.partition_key.as_deref(), Some("o-1"));
        assert_eq!(letter.dead_letter_id.as_deref(), Some("dl-1"));
        assert_eq!(letter.decoded_data(), Ok(Some(data.to_vec())));
    }

    #[test]
    fn odd_fields_read_as_absent_and_odd_messages_say_why() {
        let letter = letter(
            r#"{"reason": ["a", "list"], "sequenceNumber": 4959, "dataLength": "x", "data": null}"#,
        );
        assert_eq!(letter.reason, None);
        assert_eq!(letter.sequence_number.as_deref(), Some("4959"));
        assert_eq!(letter.data_length, None);
        assert_eq!(letter.decoded_data(), Ok(None));

        assert!(
            matches!(parse("not json"), Message::Unreadable(why) if why.starts_with("not JSON"))
        );
        assert!(matches!(parse("[1, 2]"), Message::Unreadable(why) if why == "not a JSON object"));
        assert_eq!(parse("{}"), Message::Letter(DeadLetter::default()));
    }

    #[test]
    fn data_that_does_not_match_its_hash_or_length_is_refused() {
        let good = base64::engine::general_purpose::STANDARD.encode(b"abc");
        let mut letter = DeadLetter {
            data: Some(good.clone()),
            data_sha256: Some(hex::encode(Sha256::digest(b"abd"))),
            ..DeadLetter::default()
        };
        assert!(letter
            .decoded_data()
            .is_err_and(|e| e.contains("dataSha256")));
        letter.data_sha256 = None;
        letter.data_length = Some(4);
        assert!(letter
            .decoded_data()
            .is_err_and(|e| e.contains("dataLength")));
        letter.data_length = Some(3);
        assert_eq!(letter.decoded_data(), Ok(Some(b"abc".to_vec())));
        letter.data = Some("%%%".to_owned());
        assert!(letter.decoded_data().is_err_and(|e| e.contains("base64")));
    }

    #[test]
    fn reads_lambdas_on_failure_record() {
        let body = r#"{
          "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:stack-InventoryUpdate-X:$LATEST",
                             "condition": "RecordAgeExceeded", "approximateInvokeCount": 3},
          "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
          "version": "1.0", "timestamp": "2019-11-14T00:38:06.021Z",
          "KinesisBatchInfo": {"shardId": "shardId-000000000001", "startSequenceNumber": "100", "endSequenceNumber": "200",
                               "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z", "batchSize": 500,
                               "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events"}
        }"#;
        let Message::OnFailure(record) = parse(body) else {
            panic!("expected an on-failure record");
        };
        assert_eq!(record.function_name(), Some("stack-InventoryUpdate-X"));
        assert_eq!(record.condition.as_deref(), Some("RecordAgeExceeded"));
        assert_eq!(record.shard_id.as_deref(), Some("shardId-000000000001"));
        assert_eq!(record.start_sequence_number.as_deref(), Some("100"));
        assert_eq!(record.end_sequence_number.as_deref(), Some("200"));
        assert_eq!(record.batch_size, Some(500));
    }

    #[test]
    fn the_shard_falls_back_to_the_event_id() {
        let letter = DeadLetter {
            event_id: Some("shardId-000000000007:4959".to_owned()),
            ..DeadLetter::default()
        };
        assert_eq!(letter.shard(), Some("shardId-000000000007"));
        assert_eq!(DeadLetter::default().shard(), None);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_sequence_numbers("9", "10"), Less);
        assert_eq!(
            compare_sequence_numbers(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692538361571095921575989136588899"
            ),
            Less
        );
        assert_eq!(compare_sequence_numbers("007", "7"), Equal);
        assert!(is_sequence_number("4959"));
        assert!(!is_sequence_number("49a") && !is_sequence_number(""));
    }
}
