//! Lambda's Kinesis event, built field by field as Lambda fills it.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::kinesis::KinesisRecord;
use stream_core::{KinesisEvent, KinesisEventRecord};

use crate::source::StreamRecord;

/// Lambda's limit on a synchronous invocation's payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// What every record of a mapping carries besides its own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    pub stream_arn: String,
    pub region: String,
    pub account: String,
    pub invoke_identity_arn: String,
}

impl EventSource {
    /// From the stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`).
    pub fn from_stream_arn(stream_arn: &str, invoke_identity_arn: Option<&str>) -> Self {
        let mut parts = stream_arn.split(':');
        let region = parts.nth(3).unwrap_or_default().to_owned();
        let account = parts.next().unwrap_or_default().to_owned();
        let invoke_identity_arn = invoke_identity_arn
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/lambda-role"));
        Self {
            stream_arn: stream_arn.to_owned(),
            region,
            account,
            invoke_identity_arn,
        }
    }

    /// The ARN Lambda would give a function of that name.
    pub fn function_arn(&self, function_name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{function_name}",
            self.region, self.account
        )
    }

    /// One Lambda record.
    pub fn record(&self, shard_id: &str, record: &StreamRecord) -> KinesisEventRecord {
        let mut kinesis = KinesisRecord::default();
        kinesis.kinesis_schema_version = Some("1.0".to_owned());
        kinesis.partition_key = record.partition_key.clone();
        kinesis.sequence_number = record.sequence_number.clone();
        // Both wrappers are non-exhaustive: fill the defaults' fields.
        kinesis.data.0 = record.data.clone();
        kinesis.approximate_arrival_timestamp.0 =
            chrono::DateTime::from_timestamp_millis(unix_millis(record.approximate_arrival))
                .unwrap_or_default();
        let mut out = KinesisEventRecord::default();
        out.kinesis = kinesis;
        out.event_source = Some("aws:kinesis".to_owned());
        out.event_version = Some("1.0".to_owned());
        out.event_id = Some(format!("{shard_id}:{}", record.sequence_number));
        out.event_name = Some("aws:kinesis:record".to_owned());
        out.invoke_identity_arn = Some(self.invoke_identity_arn.clone());
        out.aws_region = Some(self.region.clone());
        out.event_source_arn = Some(self.stream_arn.clone());
        out
    }

    /// One Lambda event for `records` of one shard.
    pub fn event<'a>(
        &self,
        shard_id: &str,
        records: impl IntoIterator<Item = &'a StreamRecord>,
    ) -> KinesisEvent {
        let mut event = KinesisEvent::default();
        event.records = records
            .into_iter()
            .map(|r| self.record(shard_id, r))
            .collect();
        event
    }

    /// An upper bound of the JSON size `record` adds to an event, to keep
    /// each invocation under Lambda's payload limit.
    pub fn record_size(&self, shard_id: &str, record: &StreamRecord) -> usize {
        const FIXED: usize = 400;
        record.data.len().div_ceil(3) * 4
            + record.partition_key.len() * 2
            + record.sequence_number.len() * 2
            + shard_id.len()
            + self.stream_arn.len()
            + self.invoke_identity_arn.len()
            + self.region.len()
            + FIXED
    }
}

/// The event as Lambda puts it on the wire. `aws_lambda_events` writes
/// `approximateArrivalTimestamp` as a string; Lambda sends a number, and a
/// function in another language may insist on one.
pub fn to_lambda_json(event: &KinesisEvent) -> serde_json::Value {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    let records = value
        .get_mut("Records")
        .and_then(serde_json::Value::as_array_mut);
    for record in records.into_iter().flatten() {
        if let Some(timestamp) = record.pointer_mut("/kinesis/approximateArrivalTimestamp") {
            if let Some(number) = timestamp
                .as_str()
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64)
            {
                *timestamp = serde_json::Value::Number(number);
            }
        }
    }
    value
}

pub(crate) fn unix_millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn builds_records_exactly_as_lambda_sends_them() {
        let source = EventSource::from_stream_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
            None,
        );
        let record = StreamRecord {
            sequence_number: "49590338271490256608559692538361571095921575989136588898".into(),
            partition_key: "o-1".into(),
            data: br#"{"eventType":"ORDER_PLACED"}"#.to_vec(),
            approximate_arrival: UNIX_EPOCH + Duration::from_millis(1_545_084_650_987),
        };
        let event = source.event("shardId-000000000006", [&record]);
        let json = to_lambda_json(&event);
        let expected = serde_json::json!({
            "Records": [{
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "o-1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": "eyJldmVudFR5cGUiOiJPUkRFUl9QTEFDRUQifQ==",
                    "approximateArrivalTimestamp": 1545084650.987,
                    "encryptionType": "NONE"
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events"
            }]
        });
        assert_eq!(json, expected);
        // Data is carried decoded; the JSON has it once in base64.
        assert_eq!(event.records[0].kinesis.data.0, record.data);
        // What a function deserialises is what was built.
        let back: KinesisEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let serialised = serde_json::to_string(&event).unwrap();
        assert!(source.record_size("shardId-000000000006", &record) > serialised.len());
        assert_eq!(
            source.function_arn("fn"),
            "arn:aws:lambda:us-east-1:123456789012:function:fn"
        );
    }
}
