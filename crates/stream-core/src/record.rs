//! Where a record came from, kept with it so a failure can be reported and
//! a dead letter can point back to the exact bytes on the stream.

use serde::Serialize;

/// The origin of one (user) record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOrigin {
    /// The stream ARN from the event source mapping.
    pub event_source_arn: Option<String>,
    /// Lambda's `eventID` (`shardId-...:sequenceNumber`).
    pub event_id: Option<String>,
    pub shard_id: Option<String>,
    pub sequence_number: String,
    /// Position inside a KPL-aggregated record; `None` for plain records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<u64>,
    pub partition_key: String,
    /// Seconds since the Unix epoch at which Kinesis accepted the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<f64>,
}

/// The shard id is the part of Lambda's `eventID` before the colon.
pub fn shard_id_from_event_id(event_id: &str) -> Option<&str> {
    event_id
        .split_once(':')
        .map(|(shard, _)| shard)
        .filter(|s| !s.is_empty())
}

/// The stream name inside a stream ARN (`arn:aws:kinesis:region:acct:stream/NAME`).
pub fn stream_name_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":stream/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shard_and_stream_names() {
        assert_eq!(
            shard_id_from_event_id("shardId-000000000003:4959"),
            Some("shardId-000000000003")
        );
        assert_eq!(shard_id_from_event_id("no-colon"), None);
        assert_eq!(
            stream_name_from_arn("arn:aws:kinesis:us-east-1:123456789012:stream/orders"),
            Some("orders")
        );
        assert_eq!(
            stream_name_from_arn("arn:aws:kinesis:us-east-1:1:stream/orders/consumer/c:1"),
            Some("orders")
        );
        assert_eq!(stream_name_from_arn("orders"), None);
    }
}
