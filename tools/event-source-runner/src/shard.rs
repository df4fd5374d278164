//! One shard: read, filter, batch, invoke, and checkpoint the way Lambda
//! does with `ReportBatchItemFailures`.
//!
//! Records read from the shard wait in a buffer that starts right after the
//! checkpoint, so a redelivery is a new batch taken from the buffer's front,
//! exactly the records Lambda would re-read from the checkpoint.
//!
//! The answer to an invocation decides what happens next:
//! - no failures: the batch is acknowledged (the checkpoint moves to its
//!   last record);
//! - failures naming records of the batch: the records before the lowest
//!   named one are acknowledged, and the next batch starts at it;
//! - an invoke error, a timeout, or a null, empty or unknown identifier: the
//!   whole batch failed. With `bisect_on_error` a batch of more than one
//!   record is split in two and the halves are delivered one after the
//!   other (splits are not retries); otherwise it is retried;
//! - a failure at the same record more than `max_retry_attempts` times in
//!   a row: the records from it to the end of the batch are reported to the
//!   on-failure destination and acknowledged;
//! - records older than `max_record_age` at the front are reported and
//!   acknowledged without an invocation;
//! - a function that cannot be reached is retried later without using up
//!   retry attempts.
//!
//! One batch per shard is in flight at a time (Lambda's default
//! `ParallelizationFactor` of 1), which is what keeps each partition key
//! in order.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use stream_core::{Deadline, KinesisEventResponse};

use crate::checkpoint::ShardCheckpoint;
use crate::config::MappingConfig;
use crate::event::{EventSource, MAX_PAYLOAD_BYTES};
use crate::filter::FilterVerdict;
use crate::invoke::{Invoke, InvokeError};
use crate::on_failure::{
    FailureCondition, KinesisBatchInfo, OnFailureRecord, RequestContext, ResponseContext,
};
use crate::source::{IteratorPosition, ShardInfo, SourceError, StreamRecord, StreamSource};
use crate::stats::MappingStats;

/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The shortest wait after a failed stream call or an unreachable function,
/// so a broken dependency is not hammered.
const MIN_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// Most records one `GetRecords` may return.
const MAX_READ: usize = 10_000;

/// What a shard needs from its mapping.
pub(crate) struct ShardContext<'a, I, S> {
    pub invoker: &'a I,
    pub source: &'a S,
    pub config: &'a MappingConfig,
    pub event_source: &'a EventSource,
    /// When the mapping started: where a `LATEST` shard resumes if its first
    /// iterator expires before anything was read.
    pub started_at: SystemTime,
}

/// What one step of a shard came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Progress was made (records read, a batch invoked or skipped): step
    /// again at once.
    Worked,
    /// Something is pending (a batching window, a retry backoff): step
    /// again at this instant, or earlier to read more.
    WaitUntil(Instant),
    /// Drained: the last read found nothing new and nothing is pending.
    Idle,
    /// A closed shard read to its end, everything acknowledged.
    Finished,
}

/// How the function answered a batch, in Lambda's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    /// The lowest reported record, as an index into the batch.
    FailedFrom(usize),
    WholeBatch {
        reason: String,
        function_error: bool,
    },
}

/// Reads a `batchItemFailures` answer as Lambda does.
pub(crate) fn judge<'a>(
    batch: impl Iterator<Item = &'a str>,
    response: &KinesisEventResponse,
) -> Verdict {
    if response.batch_item_failures.is_empty() {
        return Verdict::Success;
    }
    let index: HashMap<&str, usize> = batch.enumerate().map(|(i, s)| (s, i)).collect();
    let mut lowest = usize::MAX;
    for failure in &response.batch_item_failures {
        let reason = match failure.item_identifier.as_deref() {
            None => "a batch item failure has a null itemIdentifier".to_owned(),
            Some("") => "a batch item failure has an empty itemIdentifier".to_owned(),
            Some(id) => match index.get(id) {
                Some(&i) => {
                    lowest = lowest.min(i);
                    continue;
                }
                None => format!("itemIdentifier `{id}` is not a sequence number of the batch"),
            },
        };
        return Verdict::WholeBatch {
            reason,
            function_error: false,
        };
    }
    Verdict::FailedFrom(lowest)
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn system_now() -> SystemTime {
    SystemTime::now()
}

struct Buffered {
    record: StreamRecord,
    /// Position in the order read, to tell redeliveries apart.
    ordinal: u64,
}

/// Consecutive failures at one record.
struct Streak {
    sequence_number: String,
    attempts: u32,
    function_error: bool,
}

/// A skip whose report could not be sent yet.
struct PendingSkip {
    count: usize,
    condition: FailureCondition,
    invoke_count: u32,
    function_error: Option<bool>,
}

enum Read {
    /// Nothing was read (the buffer is full, or the shard ended).
    Skipped,
    Page {
        records: usize,
        caught_up: bool,
    },
    /// The iterator had expired; a new one is taken on the next read.
    Expired,
}

/// One shard's reader and checkpointer.
pub(crate) struct ShardState {
    pub info: ShardInfo,
    iterator: Option<String>,
    /// Where a new iterator starts.
    resume: IteratorPosition,
    end_of_shard: bool,
    finished: bool,
    buffer: VecDeque<Buffered>,
    next_ordinal: u64,
    delivered_through: Option<u64>,
    checkpoint: Option<String>,
    last_read: Option<String>,
    window_opened: Option<Instant>,
    /// After a bisection: the sizes of the pieces still to deliver, front
    /// first.
    segments: VecDeque<usize>,
    streak: Option<Streak>,
    pending_skip: Option<PendingSkip>,
    error_streak: u32,
    not_before: Option<Instant>,
    pub stats: MappingStats,
    /// The checkpoint changed since the mapping last saved it.
    pub dirty: bool,
}

impl ShardState {
    pub fn new(info: ShardInfo, start: IteratorPosition, saved: Option<&ShardCheckpoint>) -> Self {
        let checkpoint = saved.and_then(|s| s.sequence_number.clone());
        let resume = match &checkpoint {
            Some(sequence) => IteratorPosition::AfterSequenceNumber(sequence.clone()),
            None => start,
        };
        Self {
            info,
            iterator: None,
            resume,
            end_of_shard: false,
            finished: saved.is_some_and(|s| s.finished),
            buffer: VecDeque::new(),
            next_ordinal: 0,
            delivered_through: None,
            last_read: checkpoint.clone(),
            checkpoint,
            window_opened: None,
            segments: VecDeque::new(),
            streak: None,
            pending_skip: None,
            error_streak: 0,
            not_before: None,
            stats: MappingStats::default(),
            dirty: false,
        }
    }

    pub fn id(&self) -> &str {
        &self.info.shard_id
    }

    pub fn checkpoint(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn saved(&self) -> ShardCheckpoint {
        ShardCheckpoint {
            sequence_number: self.checkpoint.clone(),
            finished: self.finished,
        }
    }

    /// Takes the iterator now, so that `LATEST` means "after the mapping
    /// started" rather than "after the first poll".
    pub async fn prime<S: StreamSource>(
        &mut self,
        source: &S,
        config: &MappingConfig,
    ) -> Result<(), SourceError> {
        if self.iterator.is_none() && !self.finished {
            self.iterator = Some(
                source
                    .shard_iterator(&config.stream, &self.info.shard_id, &self.resume)
                    .await?,
            );
        }
        Ok(())
    }

    /// Reads, then invokes at most one batch.
    pub async fn step<I: Invoke, S: StreamSource>(&mut self, ctx: &ShardContext<'_, I, S>) -> Step {
        if self.finished {
            return Step::Finished;
        }
        let now = Instant::now();
        if let Some(at) = self.not_before {
            if at > now {
                return Step::WaitUntil(at);
            }
            self.not_before = None;
        }
        if let Some(pending) = self.pending_skip.take() {
            return self.skip(ctx, pending).await;
        }
        let read = match self.read_if_room(ctx).await {
            Ok(read) => read,
            Err(wait) => return wait,
        };
        if let Some(expired) = self.expired_at_front(ctx) {
            let skip = PendingSkip {
                count: expired,
                condition: FailureCondition::RecordAgeExceeded,
                invoke_count: self.streak_attempts_at_front(),
                function_error: None,
            };
            return self.skip(ctx, skip).await;
        }
        if self.buffer.is_empty() {
            return self.drained(ctx, read);
        }
        let size = self.batch_size(ctx);
        if let Some(closes) = self.window_closes(ctx, size, now) {
            return Step::WaitUntil(closes);
        }
        self.window_opened = None;
        self.deliver(ctx, size).await
    }

    /// Reads when the buffer has room for more than a batch; a failed read
    /// is the wait before the next try.
    async fn read_if_room<I, S: StreamSource>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
    ) -> Result<Read, Step> {
        if self.end_of_shard || self.buffer.len() >= ctx.config.batch_size {
            return Ok(Read::Skipped);
        }
        match self.read(ctx).await {
            Ok(read) => {
                self.error_streak = 0;
                Ok(read)
            }
            Err(err) => {
                self.stats.source_errors += 1;
                tracing::warn!(
                    function = %ctx.config.function_name,
                    shard = %self.info.shard_id,
                    error = %err,
                    "reading the shard failed; retrying"
                );
                Err(self.error_wait(ctx))
            }
        }
    }

    /// How many records at the front of the next batch are older than
    /// `max_record_age`, if any.
    fn expired_at_front<I, S>(&self, ctx: &ShardContext<'_, I, S>) -> Option<usize> {
        let max_age = ctx.config.max_record_age?;
        let now = system_now();
        let expired = self
            .buffer
            .iter()
            .take(ctx.config.batch_size)
            .take_while(|b| {
                now.duration_since(b.record.approximate_arrival)
                    .unwrap_or_default()
                    > max_age
            })
            .count();
        (expired > 0).then_some(expired)
    }

    /// Nothing buffered: a closed shard is finished, an open one idle once
    /// a read found nothing new.
    fn drained<I, S>(&mut self, ctx: &ShardContext<'_, I, S>, read: Read) -> Step {
        self.window_opened = None;
        if self.end_of_shard {
            self.finished = true;
            self.dirty = true;
            tracing::info!(
                function = %ctx.config.function_name,
                shard = %self.info.shard_id,
                "closed shard read to its end"
            );
            // Work done: the children it was holding back may now start.
            return Step::Worked;
        }
        match read {
            Read::Page {
                records: 0,
                caught_up: true,
            }
            | Read::Skipped => Step::Idle,
            Read::Page { .. } | Read::Expired => Step::Worked,
        }
    }

    /// When the batching window of a batch of `size` closes, if the batch
    /// must wait for it: not for a full batch, a redelivery, the end of a
    /// shard or a piece of a bisection.
    fn window_closes<I, S>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
        size: usize,
        now: Instant,
    ) -> Option<Instant> {
        let window = ctx.config.batching_window;
        let limit = self.limit(ctx);
        let full = size == limit || size < self.buffer.len().min(limit);
        if full
            || self.is_redelivery(0)
            || window.is_zero()
            || self.end_of_shard
            || !self.segments.is_empty()
        {
            return None;
        }
        let closes = *self.window_opened.get_or_insert(now) + window;
        (now < closes).then_some(closes)
    }

    /// The most records the next batch may hold.
    fn limit<I, S>(&self, ctx: &ShardContext<'_, I, S>) -> usize {
        self.segments
            .front()
            .copied()
            .unwrap_or(ctx.config.batch_size)
            .min(ctx.config.batch_size)
    }

    /// Records in the next batch: up to the limit and Lambda's payload cap.
    fn batch_size<I, S>(&self, ctx: &ShardContext<'_, I, S>) -> usize {
        let mut bytes = 16;
        let mut count = 0;
        for buffered in self.buffer.iter().take(self.limit(ctx)) {
            let size = ctx
                .event_source
                .record_size(&self.info.shard_id, &buffered.record);
            if count > 0 && bytes + size > MAX_PAYLOAD_BYTES {
                break;
            }
            bytes += size;
            count += 1;
        }
        count
    }

    fn is_redelivery(&self, index: usize) -> bool {
        match (self.buffer.get(index), self.delivered_through) {
            (Some(b), Some(through)) => b.ordinal <= through,
            _ => false,
        }
    }

    fn streak_attempts_at_front(&self) -> u32 {
        match (&self.streak, self.buffer.front()) {
            (Some(streak), Some(front))
                if streak.sequence_number == front.record.sequence_number =>
            {
                streak.attempts
            }
            _ => 0,
        }
    }

    fn wait(&mut self, delay: Duration) -> Step {
        if delay.is_zero() {
            return Step::Worked;
        }
        let at = Instant::now() + delay;
        self.not_before = Some(at);
        Step::WaitUntil(at)
    }

    /// The wait after a failed call to the stream, the function or the
    /// destination, growing with each one in a row.
    fn error_wait<I, S>(&mut self, ctx: &ShardContext<'_, I, S>) -> Step {
        self.error_streak += 1;
        self.wait(backoff(
            ctx.config.retry_delay.max(MIN_ERROR_BACKOFF),
            self.error_streak,
        ))
    }

    async fn read<I, S: StreamSource>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
    ) -> Result<Read, SourceError> {
        let iterator = match self.iterator.take() {
            Some(iterator) => iterator,
            None => {
                ctx.source
                    .shard_iterator(&ctx.config.stream, &self.info.shard_id, &self.resume)
                    .await?
            }
        };
        let limit = MAX_READ.saturating_sub(self.buffer.len()).max(1) as u32;
        let page = match ctx
            .source
            .get_records(&ctx.config.stream, &iterator, limit)
            .await
        {
            Ok(page) => page,
            Err(SourceError::ExpiredIterator) => {
                if self.last_read.is_none() && self.resume == IteratorPosition::Latest {
                    self.resume = IteratorPosition::AtTimestamp(ctx.started_at);
                }
                tracing::info!(
                    function = %ctx.config.function_name,
                    shard = %self.info.shard_id,
                    "shard iterator expired; taking a new one"
                );
                return Ok(Read::Expired);
            }
            Err(err) => {
                self.iterator = Some(iterator);
                return Err(err);
            }
        };
        self.iterator = page.next_iterator;
        self.end_of_shard = self.iterator.is_none();
        let records = page.records.len();
        let was_empty = self.buffer.is_empty();
        for record in page.records {
            self.admit(ctx, record);
        }
        if let Some(last) = &self.last_read {
            self.resume = IteratorPosition::AfterSequenceNumber(last.clone());
            // Records the filter dropped need no invocation: with nothing
            // waiting before them, the checkpoint passes them at once.
            if was_empty && self.buffer.is_empty() && self.checkpoint.as_ref() != Some(last) {
                self.checkpoint = Some(last.clone());
                self.dirty = true;
            }
        }
        Ok(Read::Page {
            records,
            caught_up: records == 0 && page.millis_behind_latest.unwrap_or(0) <= 0,
        })
    }

    /// Buffers a record read from the shard, or counts it dropped by the
    /// filter.
    fn admit<I, S>(&mut self, ctx: &ShardContext<'_, I, S>, record: StreamRecord) {
        self.stats.records_read += 1;
        self.last_read = Some(record.sequence_number.clone());
        let verdict = ctx
            .config
            .filter
            .as_ref()
            .map_or(FilterVerdict::Deliver, |f| f.check(&record.data));
        match verdict {
            FilterVerdict::Deliver => {
                self.buffer.push_back(Buffered {
                    record,
                    ordinal: self.next_ordinal,
                });
                self.next_ordinal += 1;
            }
            FilterVerdict::Drop => self.stats.filtered_out += 1,
            FilterVerdict::DropNotJson => {
                self.stats.filtered_out += 1;
                self.stats.filtered_non_json += 1;
                tracing::warn!(
                    function = %ctx.config.function_name,
                    shard = %self.info.shard_id,
                    sequenceNumber = %record.sequence_number,
                    partitionKey = %record.partition_key,
                    bytes = record.data.len(),
                    "record data is not a JSON object; dropped by the filter, as Lambda does"
                );
            }
        }
    }

    /// Invokes the function with the first `size` buffered records and
    /// acts on its answer.
    async fn deliver<I: Invoke, S>(&mut self, ctx: &ShardContext<'_, I, S>, size: usize) -> Step {
        match self.invoke(ctx, size).await {
            Ok(verdict) => {
                self.error_streak = 0;
                self.answer(ctx, size, verdict).await
            }
            Err(wait) => wait,
        }
    }

    /// One invocation, counted; an unreachable function is the wait before
    /// the next try, without using up a retry attempt.
    async fn invoke<I: Invoke, S>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
        size: usize,
    ) -> Result<Verdict, Step> {
        let event = ctx.event_source.event(
            &self.info.shard_id,
            self.buffer.iter().take(size).map(|b| &b.record),
        );
        let redelivered = (0..size).filter(|&i| self.is_redelivery(i)).count();
        self.stats.invocations += 1;
        self.stats.records_delivered += size as u64;
        self.stats.redelivered += redelivered as u64;
        if let Some(last) = self.buffer.get(size - 1) {
            self.delivered_through = Some(
                self.delivered_through
                    .map_or(last.ordinal, |d| d.max(last.ordinal)),
            );
        }
        tracing::debug!(
            function = %ctx.config.function_name,
            shard = %self.info.shard_id,
            records = size,
            redelivered,
            firstSequenceNumber = %self.buffer[0].record.sequence_number,
            "invoking"
        );
        let timeout = ctx.config.timeout;
        let result =
            tokio::time::timeout(timeout, ctx.invoker.invoke(event, Deadline::in_(timeout)))
                .await
                .unwrap_or(Err(InvokeError::Timeout(timeout)));
        match result {
            Ok(response) => Ok(judge(
                self.buffer
                    .iter()
                    .take(size)
                    .map(|b| b.record.sequence_number.as_str()),
                &response,
            )),
            Err(InvokeError::Unavailable(err)) => {
                self.stats.unavailable += 1;
                tracing::warn!(
                    function = %ctx.config.function_name,
                    shard = %self.info.shard_id,
                    error = %format!("{err:#}"),
                    "function unavailable; retrying without using up retry attempts"
                );
                Err(self.error_wait(ctx))
            }
            Err(err) => {
                self.stats.function_errors += 1;
                Ok(Verdict::WholeBatch {
                    reason: err.to_string(),
                    function_error: true,
                })
            }
        }
    }

    /// Acts on the function's answer to a batch of `size`.
    async fn answer<I, S>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
        size: usize,
        verdict: Verdict,
    ) -> Step {
        match verdict {
            Verdict::Success => {
                self.stats.successful_invocations += 1;
                self.acknowledge(size);
                self.streak = None;
                Step::Worked
            }
            Verdict::FailedFrom(index) => {
                self.stats.partial_failures += 1;
                self.acknowledge(index);
                let reason = format!(
                    "the function reported record {} failed",
                    self.buffer
                        .front()
                        .map_or("", |b| b.record.sequence_number.as_str())
                );
                self.failed(ctx, size - index, false, &reason).await
            }
            Verdict::WholeBatch {
                reason,
                function_error,
            } => {
                self.stats.whole_batch_failures += 1;
                if ctx.config.bisect_on_error && size > 1 {
                    self.bisect(ctx, size, &reason);
                    return Step::Worked;
                }
                self.failed(ctx, size, function_error, &reason).await
            }
        }
    }

    /// Splits a failed batch of `size` in two halves, delivered in turn.
    fn bisect<I, S>(&mut self, ctx: &ShardContext<'_, I, S>, size: usize, reason: &str) {
        self.stats.bisections += 1;
        let first = size.div_ceil(2);
        self.consume_segments(size);
        self.segments.push_front(size - first);
        self.segments.push_front(first);
        tracing::info!(
            function = %ctx.config.function_name,
            shard = %self.info.shard_id,
            records = size,
            reason = %reason,
            "batch failed as a whole; splitting it in two"
        );
    }

    /// The `remaining` records at the front failed (the first of them was
    /// named, or the batch failed as a whole): retry, or skip them once the
    /// retries are used up.
    async fn failed<I, S>(
        &mut self,
        ctx: &ShardContext<'_, I, S>,
        remaining: usize,
        function_error: bool,
        reason: &str,
    ) -> Step {
        let Some(front) = self.buffer.front() else {
            return Step::Worked;
        };
        let sequence = front.record.sequence_number.clone();
        let attempts = match &mut self.streak {
            Some(streak) if streak.sequence_number == sequence => {
                streak.attempts += 1;
                streak.function_error = function_error;
                streak.attempts
            }
            _ => {
                self.streak = Some(Streak {
                    sequence_number: sequence.clone(),
                    attempts: 1,
                    function_error,
                });
                1
            }
        };
        if ctx
            .config
            .retry_limit()
            .is_some_and(|limit| attempts > limit)
        {
            let skip = PendingSkip {
                count: remaining,
                condition: FailureCondition::RetryAttemptsExhausted,
                invoke_count: attempts,
                function_error: Some(function_error),
            };
            return self.skip(ctx, skip).await;
        }
        tracing::info!(
            function = %ctx.config.function_name,
            shard = %self.info.shard_id,
            sequenceNumber = %sequence,
            records = remaining,
            attempt = attempts,
            reason,
            "batch failed; redelivering from the lowest failed record"
        );
        self.wait(backoff(ctx.config.retry_delay, attempts))
    }

    /// Reports the first `skip.count` records to the on-failure destination
    /// and acknowledges them; if the destination cannot take the report,
    /// nothing is acknowledged and the report is retried.
    async fn skip<I, S>(&mut self, ctx: &ShardContext<'_, I, S>, skip: PendingSkip) -> Step {
        let count = skip.count.min(self.buffer.len());
        let Some(report) = self.failure_report(ctx, &skip, count) else {
            return Step::Worked;
        };
        let info = &report.kinesis_batch_info;
        // The same fields whatever became of the records.
        macro_rules! skipped {
            ($level:ident, $($rest:tt)*) => {
                tracing::$level!(
                    function = %ctx.config.function_name,
                    shard = %info.shard_id,
                    condition = ?skip.condition,
                    startSequenceNumber = %info.start_sequence_number,
                    endSequenceNumber = %info.end_sequence_number,
                    records = count,
                    $($rest)*
                )
            };
        }
        match &ctx.config.on_failure {
            Some(destination) => {
                if let Err(err) = destination.send(&report).await {
                    self.stats.destination_errors += 1;
                    tracing::error!(
                        function = %ctx.config.function_name,
                        shard = %info.shard_id,
                        destination = %destination.describe(),
                        error = %format!("{err:#}"),
                        "on-failure destination unavailable; the records stay until it takes the report"
                    );
                    self.pending_skip = Some(skip);
                    return self.error_wait(ctx);
                }
                self.stats.on_failure_batches += 1;
                self.stats.on_failure_records += count as u64;
                skipped!(
                    warn,
                    destination = %destination.describe(),
                    "records skipped and reported to the on-failure destination"
                );
            }
            None => {
                self.stats.discarded_batches += 1;
                self.stats.discarded_records += count as u64;
                skipped!(
                    error,
                    "records skipped with no on-failure destination; they are lost to this function"
                );
            }
        }
        if skip.condition == FailureCondition::RecordAgeExceeded {
            self.stats.expired_records += count as u64;
        }
        self.error_streak = 0;
        self.acknowledge(count);
        self.streak = None;
        Step::Worked
    }

    /// Lambda's on-failure record of the first `count` buffered records.
    fn failure_report<I, S>(
        &self,
        ctx: &ShardContext<'_, I, S>,
        skip: &PendingSkip,
        count: usize,
    ) -> Option<OnFailureRecord> {
        let first = &self.buffer.front()?.record;
        let last = &self.buffer.get(count.saturating_sub(1))?.record;
        let arrival = |r: &StreamRecord| {
            order_events::Timestamp::from_unix_millis(crate::event::unix_millis(
                r.approximate_arrival,
            ))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
        };
        Some(OnFailureRecord {
            request_context: RequestContext {
                request_id: uuid::Uuid::new_v4().to_string(),
                function_arn: ctx.event_source.function_arn(&ctx.config.function_name),
                condition: skip.condition,
                approximate_invoke_count: skip.invoke_count,
            },
            response_context: skip.function_error.map(|function_error| ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".to_owned(),
                function_error: function_error.then(|| "Unhandled".to_owned()),
            }),
            version: "1.0".to_owned(),
            timestamp: order_events::Timestamp::now().to_rfc3339(),
            kinesis_batch_info: KinesisBatchInfo {
                shard_id: self.info.shard_id.clone(),
                start_sequence_number: first.sequence_number.clone(),
                end_sequence_number: last.sequence_number.clone(),
                approximate_arrival_of_first_record: arrival(first),
                approximate_arrival_of_last_record: arrival(last),
                batch_size: count,
                stream_arn: ctx.event_source.stream_arn.clone(),
            },
        })
    }

    /// Acknowledges the first `count` buffered records.
    fn acknowledge(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        for _ in 0..count {
            if let Some(done) = self.buffer.pop_front() {
                self.checkpoint = Some(done.record.sequence_number);
            }
        }
        if self.buffer.is_empty() && self.last_read.is_some() {
            // Records dropped by the filter after the batch are passed too.
            self.checkpoint = self.last_read.clone();
        }
        self.consume_segments(count);
        self.dirty = true;
    }

    fn consume_segments(&mut self, mut count: usize) {
        while count > 0 {
            let Some(front) = self.segments.front_mut() else {
                return;
            };
            if *front <= count {
                count -= *front;
                self.segments.pop_front();
            } else {
                *front -= count;
                count = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(ids: &[Option<&str>]) -> KinesisEventResponse {
        let mut response = KinesisEventResponse::default();
        response.set_failures(ids.iter().flatten().copied());
        if ids.iter().any(Option::is_none) {
            let mut null = aws_lambda_events::event::streams::KinesisBatchItemFailure::default();
            null.item_identifier = None;
            response.batch_item_failures.push(null);
        }
        response
    }

    #[test]
    fn judges_answers_as_lambda_does() {
        let batch = ["1", "2", "3", "4"];
        assert_eq!(judge(batch.into_iter(), &response(&[])), Verdict::Success);
        assert_eq!(
            judge(batch.into_iter(), &response(&[Some("4"), Some("2")])),
            Verdict::FailedFrom(1)
        );
        assert_eq!(
            judge(batch.into_iter(), &response(&[Some("1")])),
            Verdict::FailedFrom(0)
        );
        for bad in [vec![None], vec![Some("")], vec![Some("2"), Some("9")]] {
            assert!(
                matches!(
                    judge(batch.into_iter(), &response(&bad)),
                    Verdict::WholeBatch {
                        function_error: false,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), base);
        assert_eq!(backoff(base, 3), Duration::from_millis(400));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
    }
}
