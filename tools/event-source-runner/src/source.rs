//! The stream port: the four Kinesis calls a mapping makes, behind a narrow
//! trait so the shard logic runs against a scripted fake in tests and
//! against Kinesis (or the local emulator) for real.

use std::future::Future;
use std::time::SystemTime;

use stream_core::StreamRef;

/// One record as read from a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    pub approximate_arrival: SystemTime,
}

/// A shard as listed; the parents say which shards must be read to their
/// end before this one (after a split or merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
}

impl ShardInfo {
    pub fn new(shard_id: impl Into<String>) -> Self {
        Self {
            shard_id: shard_id.into(),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
        }
    }

    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent_shard_id
            .iter()
            .chain(self.adjacent_parent_shard_id.iter())
            .map(String::as_str)
    }
}

/// Where an iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IteratorPosition {
    TrimHorizon,
    Latest,
    AtTimestamp(SystemTime),
    AfterSequenceNumber(String),
}

/// One `GetRecords` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsPage {
    pub records: Vec<StreamRecord>,
    /// `None` once a closed shard has been read to its end.
    pub next_iterator: Option<String>,
    /// How far the read is behind the shard's newest record; an empty page
    /// with a positive value does not mean the shard is drained.
    pub millis_behind_latest: Option<i64>,
}

/// Why a stream call failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The iterator is older than five minutes; get a new one.
    #[error("shard iterator expired")]
    ExpiredIterator,
    /// The stream or shard does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// The Kinesis calls a mapping makes.
pub trait StreamSource: Send + Sync {
    /// The stream's ARN (also checks that it exists).
    fn stream_arn(
        &self,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<String, SourceError>> + Send;

    /// Every shard, open and closed.
    fn list_shards(
        &self,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<Vec<ShardInfo>, SourceError>> + Send;

    fn shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        position: &IteratorPosition,
    ) -> impl Future<Output = Result<String, SourceError>> + Send;

    fn get_records(
        &self,
        stream: &StreamRef,
        iterator: &str,
        limit: u32,
    ) -> impl Future<Output = Result<RecordsPage, SourceError>> + Send;
}

impl<T: StreamSource> StreamSource for std::sync::Arc<T> {
    fn stream_arn(
        &self,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<String, SourceError>> + Send {
        (**self).stream_arn(stream)
    }

    fn list_shards(
        &self,
        stream: &StreamRef,
    ) -> impl Future<Output = Result<Vec<ShardInfo>, SourceError>> + Send {
        (**self).list_shards(stream)
    }

    fn shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        position: &IteratorPosition,
    ) -> impl Future<Output = Result<String, SourceError>> + Send {
        (**self).shard_iterator(stream, shard_id, position)
    }

    fn get_records(
        &self,
        stream: &StreamRef,
        iterator: &str,
        limit: u32,
    ) -> impl Future<Output = Result<RecordsPage, SourceError>> + Send {
        (**self).get_records(stream, iterator, limit)
    }
}

/// The stream port over the Kinesis SDK client.
#[derive(Debug, Clone)]
pub struct KinesisSource {
    client: aws_sdk_kinesis::Client,
}

impl KinesisSource {
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        Self { client }
    }

    pub fn from_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_kinesis::Client::new(sdk))
    }
}

fn classify<E>(what: &str, err: aws_sdk_kinesis::error::SdkError<E>) -> SourceError
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_kinesis::error::ProvideErrorMetadata as _;
    match err.code() {
        Some("ExpiredIteratorException") => SourceError::ExpiredIterator,
        Some("ResourceNotFoundException") => SourceError::NotFound(format!(
            "{what}: {}",
            err.message().unwrap_or("resource not found")
        )),
        _ => SourceError::Other(anyhow::anyhow!(
            "{what}: {}",
            aws_sdk_kinesis::error::DisplayErrorContext(err)
        )),
    }
}

impl StreamSource for KinesisSource {
    async fn stream_arn(&self, stream: &StreamRef) -> Result<String, SourceError> {
        let request = self.client.describe_stream_summary();
        let request = match stream {
            StreamRef::Name(name) => request.stream_name(name),
            StreamRef::Arn(arn) => request.stream_arn(arn),
        };
        let output = request
            .send()
            .await
            .map_err(|e| classify("DescribeStreamSummary", e))?;
        output
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned())
            .ok_or_else(|| {
                SourceError::Other(anyhow::anyhow!("DescribeStreamSummary returned no summary"))
            })
    }

    async fn list_shards(&self, stream: &StreamRef) -> Result<Vec<ShardInfo>, SourceError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let request = self.client.list_shards();
            // ListShards rejects the stream together with a token.
            let request = match (&next_token, stream) {
                (Some(token), _) => request.next_token(token),
                (None, StreamRef::Name(name)) => request.stream_name(name),
                (None, StreamRef::Arn(arn)) => request.stream_arn(arn),
            };
            let output = request
                .send()
                .await
                .map_err(|e| classify("ListShards", e))?;
            shards.extend(output.shards().iter().map(|s| ShardInfo {
                shard_id: s.shard_id().to_owned(),
                parent_shard_id: s.parent_shard_id().map(str::to_owned),
                adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(str::to_owned),
            }));
            next_token = output.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }

    async fn shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        position: &IteratorPosition,
    ) -> Result<String, SourceError> {
        use aws_sdk_kinesis::types::ShardIteratorType;
        let request = self.client.get_shard_iterator().shard_id(shard_id);
        let request = match stream {
            StreamRef::Name(name) => request.stream_name(name),
            StreamRef::Arn(arn) => request.stream_arn(arn),
        };
        let request = match position {
            IteratorPosition::TrimHorizon => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            IteratorPosition::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            IteratorPosition::AtTimestamp(at) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from(*at)),
            IteratorPosition::AfterSequenceNumber(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
        };
        let output = request
            .send()
            .await
            .map_err(|e| classify("GetShardIterator", e))?;
        output.shard_iterator().map(str::to_owned).ok_or_else(|| {
            SourceError::Other(anyhow::anyhow!("GetShardIterator returned no iterator"))
        })
    }

    async fn get_records(
        &self,
        stream: &StreamRef,
        iterator: &str,
        limit: u32,
    ) -> Result<RecordsPage, SourceError> {
        let mut request = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit.clamp(1, 10_000) as i32);
        if let StreamRef::Arn(arn) = stream {
            request = request.stream_arn(arn);
        }
        let output = request
            .send()
            .await
            .map_err(|e| classify("GetRecords", e))?;
        let millis_behind_latest = output.millis_behind_latest();
        let next_iterator = output.next_shard_iterator().map(str::to_owned);
        let records = output
            .records
            .into_iter()
            .map(|r| StreamRecord {
                approximate_arrival: r
                    .approximate_arrival_timestamp()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or_else(SystemTime::now),
                sequence_number: r.sequence_number,
                partition_key: r.partition_key.unwrap_or_default(),
                data: r.data.into_inner(),
            })
            .collect();
        Ok(RecordsPage {
            records,
            next_iterator,
            millis_behind_latest,
        })
    }
}
