//! `PutRecords` on Kinesis, by stream name or ARN.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
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

    /// One `PutRecords` call with entries the caller built (a producer that
    /// sets explicit hash keys), and each entry's result in order.
    pub async fn send(
        &self,
        entries: impl IntoIterator<Item = PutRecordsRequestEntry>,
    ) -> anyhow::Result<Vec<EntryResult>> {
        let request = match &self.stream {
            StreamRef::Name(name) => self.client.put_records().stream_name(name),
            StreamRef::Arn(arn) => self.client.put_records().stream_arn(arn),
        };
        let output = request
            .set_records(Some(entries.into_iter().collect()))
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

impl PutRecordsApi for KinesisPutRecords {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        let entries = entries
            .iter()
            .map(|entry| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(entry.data.clone()))
                    .partition_key(&entry.partition_key)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.send(entries).await
    }
}
