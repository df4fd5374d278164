//! A scripted in-memory stream: shards to put records in, short pages,
//! failing or expiring reads and shard splits on demand. The shard logic's
//! tests run against it; anyone can use it to drive a function through a
//! mapping without an emulator.

use std::sync::Mutex;
use std::time::SystemTime;

use stream_core::StreamRef;

use crate::source::{
    IteratorPosition, RecordsPage, ShardInfo, SourceError, StreamRecord, StreamSource,
};

#[derive(Debug)]
struct FakeShard {
    info: ShardInfo,
    records: Vec<StreamRecord>,
    closed: bool,
}

#[derive(Debug)]
struct State {
    shards: Vec<FakeShard>,
    next_sequence: u64,
    /// Iterators handed out before this generation are expired.
    generation: u64,
    page_size: Option<usize>,
    failing_reads: u32,
    get_records_calls: u64,
}

/// An in-memory stream with any number of shards.
#[derive(Debug)]
pub struct FakeStream {
    name: String,
    arn: String,
    state: Mutex<State>,
}

fn shard_name(index: usize) -> String {
    format!("shardId-{index:012}")
}

impl FakeStream {
    pub fn new(name: &str, shards: usize) -> Self {
        Self {
            name: name.to_owned(),
            arn: format!("arn:aws:kinesis:us-east-1:123456789012:stream/{name}"),
            state: Mutex::new(State {
                shards: (0..shards)
                    .map(|i| FakeShard {
                        info: ShardInfo::new(shard_name(i)),
                        records: Vec::new(),
                        closed: false,
                    })
                    .collect(),
                next_sequence: 1,
                generation: 0,
                page_size: None,
                failing_reads: 0,
                get_records_calls: 0,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// A reference to this stream by name.
    pub fn stream_ref(&self) -> StreamRef {
        StreamRef::Name(self.name.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock only happens in a failing test.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a record to shard `shard` (an index), arriving now; returns
    /// its sequence number.
    pub fn put(&self, shard: usize, partition_key: &str, data: impl Into<Vec<u8>>) -> String {
        self.put_at(shard, partition_key, data, SystemTime::now())
    }

    /// Appends a record that arrived at `arrival`.
    pub fn put_at(
        &self,
        shard: usize,
        partition_key: &str,
        data: impl Into<Vec<u8>>,
        arrival: SystemTime,
    ) -> String {
        let mut state = self.lock();
        let sequence = format!("{:020}", state.next_sequence);
        state.next_sequence += 1;
        let shard = &mut state.shards[shard];
        assert!(
            !shard.closed,
            "cannot put into closed shard {}",
            shard.info.shard_id
        );
        shard.records.push(StreamRecord {
            sequence_number: sequence.clone(),
            partition_key: partition_key.to_owned(),
            data: data.into(),
            approximate_arrival: arrival,
        });
        sequence
    }

    /// Makes every `GetRecords` return at most `records` records.
    pub fn limit_page_size(&self, records: usize) {
        self.lock().page_size = Some(records.max(1));
    }

    /// Makes the next `times` `GetRecords` calls fail.
    pub fn fail_reads(&self, times: u32) {
        self.lock().failing_reads = times;
    }

    /// Expires every iterator handed out so far.
    pub fn expire_iterators(&self) {
        self.lock().generation += 1;
    }

    /// Closes shard `shard` and adds two children; returns their indexes.
    pub fn split(&self, shard: usize) -> (usize, usize) {
        let mut state = self.lock();
        state.shards[shard].closed = true;
        let parent = state.shards[shard].info.shard_id.clone();
        let first = state.shards.len();
        for index in [first, first + 1] {
            state.shards.push(FakeShard {
                info: ShardInfo {
                    parent_shard_id: Some(parent.clone()),
                    ..ShardInfo::new(shard_name(index))
                },
                records: Vec::new(),
                closed: false,
            });
        }
        (first, first + 1)
    }

    pub fn get_records_calls(&self) -> u64 {
        self.lock().get_records_calls
    }

    fn check_stream(&self, stream: &StreamRef) -> Result<(), SourceError> {
        let matches = match stream {
            StreamRef::Name(name) => *name == self.name,
            StreamRef::Arn(arn) => *arn == self.arn,
        };
        if matches {
            Ok(())
        } else {
            Err(SourceError::NotFound(format!("stream {stream:?}")))
        }
    }

    fn shard_index(state: &State, shard_id: &str) -> Result<usize, SourceError> {
        state
            .shards
            .iter()
            .position(|s| s.info.shard_id == shard_id)
            .ok_or_else(|| SourceError::NotFound(format!("shard {shard_id}")))
    }
}

/// An iterator is `generation:shard index:next record index`.
fn encode(generation: u64, shard: usize, next: usize) -> String {
    format!("{generation}:{shard}:{next}")
}

fn decode(iterator: &str) -> Option<(u64, usize, usize)> {
    let mut parts = iterator.split(':');
    let generation = parts.next()?.parse().ok()?;
    let shard = parts.next()?.parse().ok()?;
    let next = parts.next()?.parse().ok()?;
    Some((generation, shard, next))
}

impl StreamSource for FakeStream {
    async fn stream_arn(&self, stream: &StreamRef) -> Result<String, SourceError> {
        self.check_stream(stream)?;
        Ok(self.arn.clone())
    }

    async fn list_shards(&self, stream: &StreamRef) -> Result<Vec<ShardInfo>, SourceError> {
        self.check_stream(stream)?;
        Ok(self.lock().shards.iter().map(|s| s.info.clone()).collect())
    }

    async fn shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        position: &IteratorPosition,
    ) -> Result<String, SourceError> {
        self.check_stream(stream)?;
        let state = self.lock();
        let index = Self::shard_index(&state, shard_id)?;
        let records = &state.shards[index].records;
        let next = match position {
            IteratorPosition::TrimHorizon => 0,
            IteratorPosition::Latest => records.len(),
            IteratorPosition::AtTimestamp(at) => records
                .iter()
                .position(|r| r.approximate_arrival >= *at)
                .unwrap_or(records.len()),
            IteratorPosition::AfterSequenceNumber(sequence) => records
                .iter()
                .position(|r| r.sequence_number == *sequence)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    SourceError::Other(anyhow::anyhow!("no record {sequence} in {shard_id}"))
                })?,
        };
        Ok(encode(state.generation, index, next))
    }

    async fn get_records(
        &self,
        stream: &StreamRef,
        iterator: &str,
        limit: u32,
    ) -> Result<RecordsPage, SourceError> {
        self.check_stream(stream)?;
        let mut state = self.lock();
        state.get_records_calls += 1;
        if state.failing_reads > 0 {
            state.failing_reads -= 1;
            return Err(SourceError::Other(anyhow::anyhow!(
                "scripted GetRecords failure"
            )));
        }
        let (generation, index, next) = decode(iterator)
            .ok_or_else(|| SourceError::Other(anyhow::anyhow!("bad iterator {iterator}")))?;
        if generation != state.generation {
            return Err(SourceError::ExpiredIterator);
        }
        let shard = state
            .shards
            .get(index)
            .ok_or_else(|| SourceError::NotFound(format!("shard {index}")))?;
        let limit = (limit.max(1) as usize).min(state.page_size.unwrap_or(usize::MAX));
        let end = (next + limit).min(shard.records.len());
        let records = shard.records.get(next..end).unwrap_or_default().to_vec();
        let at_end = end == shard.records.len();
        Ok(RecordsPage {
            records,
            next_iterator: (!(shard.closed && at_end)).then(|| encode(generation, index, end)),
            millis_behind_latest: Some(if at_end { 0 } else { 1 }),
        })
    }
}
