//! The stream-batch pipeline: one Kinesis batch in, one
//! `batchItemFailures` answer out.
//!
//! 1. Every record is expanded into user records (KPL deaggregation).
//! 2. User records are grouped by partition key, keeping stream order
//!    within a key.
//! 3. Keys run concurrently, at most `max_concurrency` at once; within a key
//!    records run one after another, and after a failure no later record of
//!    that key runs in this invocation.
//! 4. Each record is parsed; undecodable and invalid records are
//!    dead-lettered and acknowledged; unknown or unhandled types are skipped.
//! 5. Records emitted by handlers are published at the end, batched, in
//!    order per key; a record whose emits did not land is reported failed.
//! 6. Near the deadline no new record starts; those left are reported.
//! 7. A panic while handling one record is that record's permanent failure
//!    (dead-lettered as "internal error"), never the end of the process.
//! 8. When records failed transiently (a dependency is down), the answer
//!    waits, with a backoff that grows over consecutive failing invocations,
//!    so Lambda's immediate redeliveries do not burn through an outage.
//!
//! The answer names only sequence numbers from the batch, each once, so
//! Lambda checkpoints before the first failed record and redelivers it and
//! everything after it in the shard. Everything redelivered that had
//! succeeded is idempotent downstream, so redelivery changes nothing.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use tracing::Instrument as _;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use kinesis_deagg::{deaggregate, Deaggregated};
use order_events::values::clip;
use order_events::{Envelope, OutgoingRecord};

use crate::config::CoreConfig;
use crate::dead_letter::{DeadLetter, DeadLetterSink};
use crate::deadline::Deadline;
use crate::handler::{Handled, Handler, HandlerError, IncomingEvent};
use crate::metrics::BatchReport;
use crate::publisher::{NoPublisher, RecordPublisher};
use crate::record::{shard_id_from_event_id, RecordOrigin};
use crate::retry::{retry, RetryPolicy};

/// The answer to Lambda and what happened.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    pub response: KinesisEventResponse,
    pub report: BatchReport,
}

impl BatchOutcome {
    /// The reported sequence numbers, in order.
    pub fn failed_sequence_numbers(&self) -> Vec<&str> {
        self.response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.as_deref())
            .collect()
    }
}

/// One user record: a whole Kinesis record, or one record inside a KPL
/// aggregate.
struct Unit<'a> {
    record: &'a KinesisEventRecord,
    sub_sequence_number: Option<u64>,
    partition_key: &'a str,
    data: &'a [u8],
}

/// End of a group's linked list.
const NONE: usize = usize::MAX;

/// What became of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Processed,
    Duplicate,
    Skipped,
    DeadLettered { invalid: bool },
    Failed,
    NotAttempted,
}

impl Fate {
    fn must_retry(self) -> bool {
        matches!(self, Fate::Failed | Fate::NotAttempted)
    }

    /// The `outcome` a record's log line gives it.
    fn outcome(self) -> &'static str {
        match self {
            Fate::Processed => "processed",
            Fate::Duplicate => "duplicate",
            Fate::Skipped => "skipped",
            Fate::DeadLettered { .. } => "dead_lettered",
            Fate::Failed => "transient_failure",
            Fate::NotAttempted => "not_attempted",
        }
    }
}

/// The pipeline, generic over the function's handler and its side-effect
/// ports so tests can run it with fakes.
pub struct Pipeline<H, D, P = NoPublisher> {
    handler: H,
    dead_letters: D,
    publisher: P,
    config: CoreConfig,
    dead_letter_retry: RetryPolicy,
    /// Longest wait before answering with transient failures; zero turns
    /// the wait off (tests, local tools).
    failure_backoff_max: Duration,
    /// Consecutive invocations of this process that ended with transient
    /// failures: the wait doubles with each.
    failing_streak: AtomicU32,
}

/// What makes a record a dead letter, for the one place that sends it.
struct Verdict<'a> {
    reason: &'a str,
    /// The bytes were not a valid event (counted as invalid).
    invalid: bool,
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
}

/// Who a decoded record is about, for its log line.
struct About {
    event_id: String,
    event_type: &'static str,
    order_id: String,
}

/// What every log line of a handled record says: who it is about, where
/// it is in the stream, and how long it took.
struct RecordLine<'a> {
    about: &'a About,
    sequence: &'a str,
    started: Instant,
}

/// Writes a handled record's log line at `$level`: the fields of its
/// [`RecordLine`], then the ones given.
macro_rules! record_line {
    ($level:ident, $line:expr, $($fields:tt)+) => {
        tracing::$level!(
            eventId = %$line.about.event_id,
            eventType = $line.about.event_type,
            orderId = %$line.about.order_id,
            sequenceNumber = $line.sequence,
            processingTime = $line.started.elapsed().as_secs_f64() * 1000.0,
            $($fields)+
        )
    };
}

impl RecordLine<'_> {
    /// Logs a record the handler dealt with (processed or a duplicate).
    fn handled(&self, fate: Fate, emit: &[OutgoingRecord]) -> Fate {
        record_line!(
            info,
            self,
            outcome = fate.outcome(),
            emitted = emit.len(),
            "record handled"
        );
        fate
    }
}

/// Why a record's bytes are not a valid event.
struct Rejected {
    reason: String,
    event_id: Option<String>,
    event_type: Option<String>,
}

/// Longest reason a dead letter or a log line carries: reasons can quote
/// input (a parser naming the value it rejected).
const MAX_REASON_CHARS: usize = 1024;

/// The wait before answering after the first failing invocation.
const FAILURE_BACKOFF_BASE: Duration = Duration::from_millis(250);

impl<H: Handler, D: DeadLetterSink> Pipeline<H, D, NoPublisher> {
    pub fn new(handler: H, dead_letters: D, config: CoreConfig) -> Self {
        Self {
            handler,
            dead_letters,
            publisher: NoPublisher,
            config,
            dead_letter_retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::from_secs(1),
                deadline_margin: Duration::from_millis(200),
            },
            failure_backoff_max: Duration::ZERO,
            failing_streak: AtomicU32::new(0),
        }
    }
}

impl<H: Handler, D: DeadLetterSink, P: RecordPublisher> Pipeline<H, D, P> {
    /// Publishes records handlers emit through `publisher`.
    pub fn with_publisher<Q: RecordPublisher>(self, publisher: Q) -> Pipeline<H, D, Q> {
        Pipeline {
            handler: self.handler,
            dead_letters: self.dead_letters,
            publisher,
            config: self.config,
            dead_letter_retry: self.dead_letter_retry,
            failure_backoff_max: self.failure_backoff_max,
            failing_streak: self.failing_streak,
        }
    }

    /// Waits up to `max` (within the deadline) before answering when
    /// records failed transiently; see the module documentation.
    pub fn with_failure_backoff(mut self, max: Duration) -> Self {
        self.failure_backoff_max = max;
        self
    }

    /// How dead-letter sends are retried before the record is reported.
    pub fn with_dead_letter_retry(mut self, policy: RetryPolicy) -> Self {
        self.dead_letter_retry = policy;
        self
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Processes one batch: decode and handle every record, in order per
    /// key and keys concurrently; publish what the handlers emitted; then
    /// settle each record's fate into the answer and the report.
    pub async fn process(&self, event: &KinesisEvent, deadline: Deadline) -> BatchOutcome {
        let started = Instant::now();
        let units = expand(event);
        let (mut fates, emitted) = self.run_keys(&units, deadline).await;
        let mut report = BatchReport {
            received: units.len(),
            ..BatchReport::default()
        };
        self.publish(&units, emitted, &mut fates, &mut report, deadline)
            .await;
        let response = settle(&units, &fates, &mut report);
        self.back_off_after_failures(report.transient_failures + report.unpublished, deadline)
            .await;
        report.duration = started.elapsed();
        BatchOutcome { response, report }
    }

    /// Runs every key's records: a fixed pool of workers takes whole keys
    /// from a shared cursor, so at most `max_concurrency` keys are in
    /// flight with one future per worker rather than one per key. Returns
    /// each unit's fate and the records emitted, tagged with their source.
    async fn run_keys(
        &self,
        units: &[Unit<'_>],
        deadline: Deadline,
    ) -> (Vec<Fate>, Vec<(usize, OutgoingRecord)>) {
        let (heads, next_in_group) = group_by_key(units);
        let cursor = std::sync::atomic::AtomicUsize::new(0);
        let workers = self.config.max_concurrency.max(1).min(heads.len().max(1));
        let (heads_ref, next_ref, cursor_ref) = (&heads, &next_in_group, &cursor);
        let results: Vec<Vec<(usize, Fate, Vec<OutgoingRecord>)>> =
            futures::future::join_all((0..workers).map(|_| async move {
                let mut out = Vec::new();
                loop {
                    let group = cursor_ref.fetch_add(1, Ordering::Relaxed);
                    let Some(&head) = heads_ref.get(group) else {
                        break;
                    };
                    self.run_group(units, head, next_ref, deadline, &mut out)
                        .await;
                }
                out
            }))
            .await;
        let mut fates = vec![Fate::NotAttempted; units.len()];
        let mut emitted: Vec<(usize, OutgoingRecord)> = Vec::new();
        for (index, fate, emit) in results.into_iter().flatten() {
            fates[index] = fate;
            emitted.extend(emit.into_iter().map(|r| (index, r)));
        }
        (fates, emitted)
    }

    /// Publishes the emitted records, in stream order of their sources so
    /// each key's emits keep their order; a source whose emits did not all
    /// land fails, so Lambda redelivers it and it emits them again.
    async fn publish(
        &self,
        units: &[Unit<'_>],
        mut emitted: Vec<(usize, OutgoingRecord)>,
        fates: &mut [Fate],
        report: &mut BatchReport,
        deadline: Deadline,
    ) {
        if emitted.is_empty() {
            return;
        }
        emitted.sort_by_key(|(source, _)| *source);
        let (sources, records): (Vec<usize>, Vec<OutgoingRecord>) = emitted.into_iter().unzip();
        let published = self.publisher.publish(&records, deadline).await;
        report.publish_calls = published.calls;
        report.unpublished = published.failed.len();
        for failed in published.failed {
            let Some(&source) = sources.get(failed) else {
                continue;
            };
            if fates[source] != Fate::Failed {
                tracing::warn!(
                    sequenceNumber = %units[source].record.kinesis.sequence_number,
                    effect = "unpublished",
                    "emitted record could not be published; the source record will be retried"
                );
            }
            fates[source] = Fate::Failed;
        }
    }

    /// Holds the answer for a while when records failed transiently, so the
    /// redelivery that follows at once does not meet the same outage; the
    /// wait doubles over consecutive failing invocations up to the maximum,
    /// and never eats into the deadline margin.
    async fn back_off_after_failures(&self, transient_failures: usize, deadline: Deadline) {
        if transient_failures == 0 {
            self.failing_streak.store(0, Ordering::Relaxed);
            return;
        }
        let streak = self.failing_streak.fetch_add(1, Ordering::Relaxed);
        if self.failure_backoff_max.is_zero() {
            return;
        }
        let factor = 1u32.checked_shl(streak.min(16)).unwrap_or(u32::MAX);
        let wait = FAILURE_BACKOFF_BASE
            .saturating_mul(factor)
            .min(self.failure_backoff_max)
            .min(
                deadline
                    .remaining()
                    .saturating_sub(self.config.deadline_margin),
            );
        if !wait.is_zero() {
            tracing::warn!(
                transientFailures = transient_failures,
                consecutiveFailingInvocations = streak + 1,
                waitMs = wait.as_millis() as u64,
                "records failed transiently; waiting before reporting them"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn run_group(
        &self,
        units: &[Unit<'_>],
        head: usize,
        next_in_group: &[usize],
        deadline: Deadline,
        out: &mut Vec<(usize, Fate, Vec<OutgoingRecord>)>,
    ) {
        let mut stopped = false;
        let mut index = head;
        while index != NONE {
            if stopped {
                out.push((index, Fate::NotAttempted, Vec::new()));
            } else if deadline.is_near(self.config.deadline_margin) {
                tracing::warn!(
                    sequenceNumber = %units[index].record.kinesis.sequence_number,
                    outcome = Fate::NotAttempted.outcome(),
                    remainingMs = deadline.remaining().as_millis() as u64,
                    "deadline near; leaving the record for the next invocation"
                );
                stopped = true;
                out.push((index, Fate::NotAttempted, Vec::new()));
            } else {
                let (fate, emit) = self.run_contained(&units[index], deadline).await;
                if fate == Fate::Failed {
                    stopped = true;
                }
                out.push((index, fate, emit));
            }
            index = next_in_group[index];
        }
    }

    /// Runs one record in its own span (an X-Ray subsegment when tracing
    /// is on, holding the record's AWS calls).
    async fn run_contained(
        &self,
        unit: &Unit<'_>,
        deadline: Deadline,
    ) -> (Fate, Vec<OutgoingRecord>) {
        let span = crate::xray::record_span(
            &unit.record.kinesis.sequence_number,
            Some(unit.partition_key),
        );
        // Boxed: a handler's future nests deep already, and one more layer
        // of wrapping pushes some past the compiler's layout depth limit.
        let contained: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
            Box::pin(self.contain(unit, deadline));
        let (fate, emit) = contained.instrument(span.clone()).await;
        crate::xray::record_outcome(&span, fate.outcome());
        (fate, emit)
    }

    /// Runs one record so that a panic anywhere in its decoding or its
    /// handler fails that record alone: it is dead-lettered as an internal
    /// error, and its neighbours and the process carry on.
    async fn contain(&self, unit: &Unit<'_>, deadline: Deadline) -> (Fate, Vec<OutgoingRecord>) {
        let started = Instant::now();
        // Nothing the future borrows is left half-updated for others to
        // see: the unit is read-only and each record's outcome is its own.
        match AssertUnwindSafe(self.run_unit(unit, deadline))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(panic) => {
                tracing::error!(
                    sequenceNumber = %unit.record.kinesis.sequence_number,
                    panic = %clip(&panic_message(&*panic), 512),
                    "handling the record panicked"
                );
                let verdict = Verdict {
                    reason: "internal error",
                    invalid: false,
                    event_id: None,
                    event_type: None,
                };
                (
                    self.dead_letter(unit, &verdict, deadline, started).await,
                    Vec::new(),
                )
            }
        }
    }

    /// One record: decode it, then hand it to the handler.
    async fn run_unit(&self, unit: &Unit<'_>, deadline: Deadline) -> (Fate, Vec<OutgoingRecord>) {
        let started = Instant::now();
        match self.decode(unit, deadline, started) {
            Ok(Some((incoming, about))) => self.handle(unit, incoming, about, started).await,
            Ok(None) => (Fate::Skipped, Vec::new()),
            Err(rejected) => {
                let verdict = Verdict {
                    reason: &rejected.reason,
                    invalid: true,
                    event_id: rejected.event_id.as_deref(),
                    event_type: rejected.event_type.as_deref(),
                };
                (
                    self.dead_letter(unit, &verdict, deadline, started).await,
                    Vec::new(),
                )
            }
        }
    }

    /// Reads the record into an event for this function: `Ok(None)` for a
    /// type it does not handle (skipped, logged here), `Err` for bytes that
    /// are not a valid event.
    fn decode(
        &self,
        unit: &Unit<'_>,
        deadline: Deadline,
        started: Instant,
    ) -> Result<Option<(IncomingEvent, About)>, Rejected> {
        let envelope = Envelope::parse(unit.data).map_err(|err| Rejected {
            reason: format!("undecodable record: {err}"),
            event_id: None,
            event_type: None,
        })?;
        let Some(kind) = envelope.kind().filter(|k| self.handler.handles(*k)) else {
            tracing::info!(
                eventId = envelope.event_id().unwrap_or_default(),
                eventType = envelope.event_type(),
                sequenceNumber = %unit.record.kinesis.sequence_number,
                outcome = Fate::Skipped.outcome(),
                processingTime = started.elapsed().as_secs_f64() * 1000.0,
                "event type not handled by this function"
            );
            return Ok(None);
        };
        let invalid = |err: order_events::InvalidEvent| Rejected {
            reason: err.to_string(),
            event_id: envelope.event_id().map(str::to_owned),
            event_type: Some(kind.as_str().to_owned()),
        };
        let event = envelope.event(kind).map_err(invalid)?;
        let timestamp = envelope.timestamp().map_err(invalid)?;
        let dedup_key = envelope.dedup_key();
        let about = About {
            event_id: envelope
                .event_id()
                .map_or_else(|| dedup_key.to_string(), str::to_owned),
            event_type: kind.as_str(),
            order_id: event
                .order_id()
                .map(|o| o.as_str().to_owned())
                .unwrap_or_default(),
        };
        let incoming = IncomingEvent {
            event,
            dedup_key,
            timestamp,
            origin: origin_of(unit),
            deadline,
        };
        Ok(Some((incoming, about)))
    }

    /// Hands a decoded event to the handler and turns its answer into the
    /// record's fate, with the record's one log line.
    async fn handle(
        &self,
        unit: &Unit<'_>,
        incoming: IncomingEvent,
        about: About,
        started: Instant,
    ) -> (Fate, Vec<OutgoingRecord>) {
        let deadline = incoming.deadline;
        let line = RecordLine {
            about: &about,
            sequence: unit.record.kinesis.sequence_number.as_str(),
            started,
        };
        match self.handler.handle(incoming).await {
            Ok(Handled::Done { emit }) => (line.handled(Fate::Processed, &emit), emit),
            Ok(Handled::Duplicate { emit }) => (line.handled(Fate::Duplicate, &emit), emit),
            Ok(Handled::Skipped { reason }) => {
                record_line!(
                    info,
                    line,
                    outcome = Fate::Skipped.outcome(),
                    reason,
                    "event skipped"
                );
                (Fate::Skipped, Vec::new())
            }
            Err(HandlerError::Transient(err)) => {
                record_line!(
                    warn,
                    line,
                    outcome = Fate::Failed.outcome(),
                    error = %clip(&format!("{err:#}"), MAX_REASON_CHARS),
                    "record failed; reported for retry"
                );
                (Fate::Failed, Vec::new())
            }
            Err(HandlerError::Permanent(reason)) => {
                let verdict = Verdict {
                    reason: &reason,
                    invalid: false,
                    event_id: Some(&about.event_id),
                    event_type: Some(about.event_type),
                };
                (
                    self.dead_letter(unit, &verdict, deadline, started).await,
                    Vec::new(),
                )
            }
        }
    }

    /// Sends the record to the dead-letter queue, retrying the send with
    /// backoff within the deadline. Only once the letter is there is the
    /// record acknowledged; if the queue cannot take it, the record is
    /// reported for retry instead, so it is never lost.
    async fn dead_letter(
        &self,
        unit: &Unit<'_>,
        verdict: &Verdict<'_>,
        deadline: Deadline,
        started: Instant,
    ) -> Fate {
        let reason = clip(verdict.reason, MAX_REASON_CHARS);
        let letter = DeadLetter::new(
            &self.config.function_name,
            &origin_of(unit),
            unit.data,
            reason.as_ref(),
        );
        let sent = retry(
            &self.dead_letter_retry,
            deadline,
            |_| true,
            |_| self.dead_letters.send(&letter),
        )
        .await;
        let event_id = clip(verdict.event_id.unwrap_or_default(), 256);
        let event_type = verdict.event_type.unwrap_or_default();
        match sent {
            Ok(()) => {
                let fate = Fate::DeadLettered {
                    invalid: verdict.invalid,
                };
                tracing::error!(
                    eventId = %event_id,
                    eventType = event_type,
                    sequenceNumber = %unit.record.kinesis.sequence_number,
                    partitionKey = %order_events::values::mask_email(unit.partition_key),
                    deadLetterId = %letter.dead_letter_id,
                    outcome = fate.outcome(),
                    reason = %reason,
                    processingTime = started.elapsed().as_secs_f64() * 1000.0,
                    "record can never succeed; sent to the dead-letter queue"
                );
                fate
            }
            Err(err) => {
                tracing::error!(
                    eventId = %event_id,
                    eventType = event_type,
                    sequenceNumber = %unit.record.kinesis.sequence_number,
                    outcome = Fate::Failed.outcome(),
                    reason = %reason,
                    error = %clip(&format!("{:#}", err.into_inner()), MAX_REASON_CHARS),
                    processingTime = started.elapsed().as_secs_f64() * 1000.0,
                    "dead-letter queue unavailable; record reported for retry"
                );
                Fate::Failed
            }
        }
    }
}

/// Groups units by partition key: keys in first-seen order, records in
/// stream order within a key, as linked lists over the unit indexes (the
/// heads, and each unit's successor), so grouping allocates nothing per key.
fn group_by_key(units: &[Unit<'_>]) -> (Vec<usize>, Vec<usize>) {
    let mut group_of: HashMap<&str, usize> = HashMap::with_capacity(units.len());
    let mut heads: Vec<usize> = Vec::new();
    let mut tails: Vec<usize> = Vec::new();
    let mut next_in_group: Vec<usize> = vec![NONE; units.len()];
    for (index, unit) in units.iter().enumerate() {
        match group_of.entry(unit.partition_key) {
            std::collections::hash_map::Entry::Occupied(group) => {
                let tail = &mut tails[*group.get()];
                next_in_group[*tail] = index;
                *tail = index;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(heads.len());
                heads.push(index);
                tails.push(index);
            }
        }
    }
    (heads, next_in_group)
}

/// Counts every unit's fate and names the ones to retry: batch sequence
/// numbers only, each once (sub-records of one aggregate share theirs).
fn settle(units: &[Unit<'_>], fates: &[Fate], report: &mut BatchReport) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    let mut reported: HashSet<&str> = HashSet::new();
    for (unit, fate) in units.iter().zip(fates) {
        match fate {
            Fate::Processed => report.processed += 1,
            Fate::Duplicate => report.duplicates += 1,
            Fate::Skipped => report.skipped += 1,
            Fate::DeadLettered { invalid } => {
                report.permanent_failures += 1;
                report.invalid_records += usize::from(*invalid);
            }
            Fate::Failed => report.transient_failures += 1,
            Fate::NotAttempted => report.not_attempted += 1,
        }
        let sequence = unit.record.kinesis.sequence_number.as_str();
        if fate.must_retry() && reported.insert(sequence) {
            response.add_failure(sequence);
        }
    }
    response
}

fn expand(event: &KinesisEvent) -> Vec<Unit<'_>> {
    let mut units = Vec::with_capacity(event.records.len());
    for record in &event.records {
        let data: &[u8] = &record.kinesis.data.0;
        let parent_key = record.kinesis.partition_key.as_str();
        match deaggregate(data) {
            Deaggregated::Single { data, .. } => units.push(Unit {
                record,
                sub_sequence_number: None,
                partition_key: parent_key,
                data,
            }),
            Deaggregated::Aggregated(users) => {
                for user in users {
                    units.push(Unit {
                        record,
                        sub_sequence_number: Some(user.sub_sequence_number),
                        partition_key: user.partition_key.unwrap_or(parent_key),
                        data: user.data,
                    });
                }
            }
        }
    }
    units
}

/// The text a panic was raised with (empty when it carried none).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|m| (*m).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn origin_of(unit: &Unit<'_>) -> RecordOrigin {
    let record = unit.record;
    let arrival = record
        .kinesis
        .approximate_arrival_timestamp
        .0
        .timestamp_millis() as f64
        / 1000.0;
    RecordOrigin {
        event_source_arn: record.event_source_arn.clone(),
        event_id: record.event_id.clone(),
        shard_id: record
            .event_id
            .as_deref()
            .and_then(shard_id_from_event_id)
            .map(str::to_owned),
        sequence_number: record.kinesis.sequence_number.clone(),
        sub_sequence_number: unit.sub_sequence_number,
        partition_key: unit.partition_key.to_owned(),
        approximate_arrival_timestamp: (arrival > 0.0).then_some(arrival),
    }
}
