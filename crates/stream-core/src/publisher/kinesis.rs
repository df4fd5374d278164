//! `PutRecords` on Kinesis, by stream name or ARN.

use order_events::OutgoingRecord;

use super::{EntryResult, PutRecordsApi};
use crate::config::StreamRef;

/// `PutRecords` against Kinesis.
#[derive(Debug, Clone)]
pub struct KinesisPutRecords {
    client: aws_sdk_kinesis::Client,
    stream: StreamRef,
}

impl KinesisPutRecords {
    pub fn new(client: aws_sdk_kinesis::Client, stream: StreamRef) -> Self {
        Self { client, stream }
    }
}

impl PutRecordsApi for KinesisPutRecords {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        use aws_sdk_kinesis::primitives::Blob;
        use aws_sdk_kinesis::types::PutRecordsRequestEntry;
        let mut request = self.client.put_records();
        request = match &self.stream {
            StreamRef::Name(name) => request.stream_name(name),
            StreamRef::Arn(arn) => request.stream_arn(arn),
        };
        for entry in entries {
            request = request.records(
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(entry.data.clone()))
                    .partition_key(&entry.partition_key)
                    .build()?,
            );
        }
        let output = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_kinesis::error::DisplayErrorContext(e)))?;
        Ok(output
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => EntryResult::Ok,
                Some(code) => EntryResult::Failed {
                    code: code.to_owned(),
                    message: r.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }
}
