//! Builders for Lambda Kinesis events, for tests and local tools: the same
//! shape Lambda delivers, made from partition keys and data.

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};

/// The stream ARN the builders use.
pub const TEST_STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events";

/// One Lambda record with sequence number `sequence` on shard 0.
pub fn kinesis_record(
    sequence: u64,
    partition_key: &str,
    data: impl Into<Vec<u8>>,
) -> KinesisEventRecord {
    let mut kinesis = KinesisRecord::default();
    kinesis.partition_key = partition_key.to_owned();
    kinesis.sequence_number = format!("{sequence:056}");
    *kinesis.data = data.into();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    *kinesis.approximate_arrival_timestamp = chrono_now();
    let mut record = KinesisEventRecord::default();
    record.kinesis = kinesis;
    record.event_id = Some(format!("shardId-000000000000:{sequence:056}"));
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

/// The sequence number `kinesis_record` gives to `n`.
pub fn sequence(n: u64) -> String {
    format!("{n:056}")
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
