//! Putting records on a stream.

use std::future::Future;

use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use stream_core::StreamRef;

/// Most entries in one `PutRecords` call.
pub const MAX_ENTRIES_PER_CALL: usize = 500;
/// Most bytes (data plus partition keys) in one `PutRecords` call.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;

/// One record to put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub data: &'a [u8],
    pub partition_key: &'a str,
}

/// What became of one entry of a `PutRecords` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Ok {
        shard_id: String,
        sequence_number: String,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// A `PutRecords` call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub message: String,
    /// Throttling, timeouts, 5xx: worth another attempt.
    pub transient: bool,
}

/// The `PutRecords` call: one narrow port, faked in the unit tests.
pub trait Streams: Sync {
    /// One result per entry, in request order.
    fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[Entry<'_>],
    ) -> impl Future<Output = Result<Vec<EntryResult>, CallError>> + Send;
}

/// Kinesis.
#[derive(Debug, Clone)]
pub struct KinesisStreams {
    client: aws_sdk_kinesis::Client,
}

impl KinesisStreams {
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        Self { client }
    }
}

impl Streams for KinesisStreams {
    async fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[Entry<'_>],
    ) -> Result<Vec<EntryResult>, CallError> {
        let mut request = self.client.put_records();
        request = match stream {
            StreamRef::Name(name) => request.stream_name(name),
            StreamRef::Arn(arn) => request.stream_arn(arn),
        };
        for entry in entries {
            let record = PutRecordsRequestEntry::builder()
                .data(Blob::new(entry.data.to_vec()))
                .partition_key(entry.partition_key)
                .build()
                .map_err(|err| CallError {
                    message: format!("PutRecords entry: {err}"),
                    transient: false,
                })?;
            request = request.records(record);
        }
        let output = request.send().await.map_err(|err| CallError {
            transient: stream_core::aws::is_transient(&err),
            message: format!("PutRecords: {}", DisplayErrorContext(err)),
        })?;
        Ok(output
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => EntryResult::Ok {
                    shard_id: r.shard_id().unwrap_or_default().to_owned(),
                    sequence_number: r.sequence_number().unwrap_or_default().to_owned(),
                },
                Some(code) => EntryResult::Failed {
                    code: code.to_owned(),
                    message: r.error_message().unwrap_or_default().to_owned(),
                },
            })
            .collect())
    }
}
