//! The on-failure destination. As in Lambda, it receives metadata only (the
//! shard and the range of sequence numbers skipped), never the data: the
//! records stay on the stream until they expire and can be re-read from
//! the range. Each message is Lambda's invocation record, so tools written
//! for the real destination read it unchanged.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Why a batch was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureCondition {
    /// Failed more than `max_retry_attempts` times.
    RetryAttemptsExhausted,
    /// Older than `max_record_age`. Lambda documents no value of its own for
    /// this case; this is the runner's name for it.
    RecordAgeExceeded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub request_id: String,
    pub function_arn: String,
    pub condition: FailureCondition,
    pub approximate_invoke_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    pub status_code: u16,
    pub executed_version: String,
    /// `Unhandled` when the last attempt was a function error or timeout;
    /// absent when the function answered with `batchItemFailures`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub approximate_arrival_of_first_record: String,
    pub approximate_arrival_of_last_record: String,
    pub batch_size: usize,
    pub stream_arn: String,
}

/// One message to the destination: Lambda's invocation record for Kinesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnFailureRecord {
    pub request_context: RequestContext,
    /// Absent when no invocation was made (records too old to deliver).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_context: Option<ResponseContext>,
    pub version: String,
    pub timestamp: String,
    #[serde(rename = "KinesisBatchInfo")]
    pub kinesis_batch_info: KinesisBatchInfo,
}

impl OnFailureRecord {
    pub fn to_json(&self) -> String {
        // Strings and numbers only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Keeps on-failure records in memory.
#[derive(Debug, Default)]
pub struct InMemoryOnFailure {
    records: Mutex<Vec<OnFailureRecord>>,
    failing: std::sync::atomic::AtomicBool,
}

impl InMemoryOnFailure {
    pub fn records(&self) -> Vec<OnFailureRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Makes later sends fail (the destination is down).
    pub fn fail_sends(&self, fail: bool) {
        self.failing
            .store(fail, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Where skipped batches are reported.
#[derive(Debug, Clone)]
pub enum OnFailureDestination {
    /// An SQS queue, as a Lambda on-failure destination.
    Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    },
    /// A list in memory, for tests and local runs.
    Memory(Arc<InMemoryOnFailure>),
}

impl OnFailureDestination {
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self::Sqs {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// A memory destination and a handle to read it.
    pub fn memory() -> (Self, Arc<InMemoryOnFailure>) {
        let memory = Arc::new(InMemoryOnFailure::default());
        (Self::Memory(Arc::clone(&memory)), memory)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Sqs { queue_url, .. } => queue_url.clone(),
            Self::Memory(_) => "memory".to_owned(),
        }
    }

    pub async fn send(&self, record: &OnFailureRecord) -> anyhow::Result<()> {
        match self {
            Self::Sqs { client, queue_url } => {
                client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(record.to_json())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "sending an on-failure record to {queue_url}: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        )
                    })?;
                Ok(())
            }
            Self::Memory(memory) => {
                if memory.failing.load(std::sync::atomic::Ordering::SeqCst) {
                    anyhow::bail!("on-failure destination unavailable");
                }
                memory
                    .records
                    .lock()
                    .map_err(|_| anyhow::anyhow!("lock poisoned"))?
                    .push(record.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_lambdas_invocation_record() {
        let record = OnFailureRecord {
            request_context: RequestContext {
                request_id: "c9b8fa9f-5a7f-4a2b-af9c-0c604cde93a5".into(),
                function_arn: "arn:aws:lambda:us-east-2:123456789012:function:myfunction".into(),
                condition: FailureCondition::RetryAttemptsExhausted,
                approximate_invoke_count: 1,
            },
            response_context: Some(ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".into(),
                function_error: Some("Unhandled".into()),
            }),
            version: "1.0".into(),
            timestamp: "2019-11-14T00:38:06.021Z".into(),
            kinesis_batch_info: KinesisBatchInfo {
                shard_id: "shardId-000000000001".into(),
                start_sequence_number: "4960".into(),
                end_sequence_number: "4961".into(),
                approximate_arrival_of_first_record: "2019-11-14T00:38:04.835Z".into(),
                approximate_arrival_of_last_record: "2019-11-14T00:38:05.580Z".into(),
                batch_size: 500,
                stream_arn: "arn:aws:kinesis:us-east-2:123456789012:stream/mystream".into(),
            },
        };
        let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "requestContext": {
                    "requestId": "c9b8fa9f-5a7f-4a2b-af9c-0c604cde93a5",
                    "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 1
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "version": "1.0",
                "timestamp": "2019-11-14T00:38:06.021Z",
                "KinesisBatchInfo": {
                    "shardId": "shardId-000000000001",
                    "startSequenceNumber": "4960",
                    "endSequenceNumber": "4961",
                    "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
                    "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
                    "batchSize": 500,
                    "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
                }
            })
        );
        let back: OnFailureRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
