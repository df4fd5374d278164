//! The sweep: finds sagas whose step deadline has passed and applies
//! [`crate::machine::on_deadline`] to each, then publishes what that
//! emitted through the same publisher as the function (commands to
//! `ORDER_COMMANDS_STREAM`, ORDER_FAILED to `ORDER_EVENTS_STREAM`).
//!
//! It runs as its own Lambda function (binary `order-saga-sweep`), invoked
//! on a schedule by EventBridge, and in-process through [`sweep`] or
//! [`Sweeper`], with the time passed in, so a local demo can sweep "an hour
//! later" without waiting an hour.
//!
//! # One run
//!
//! 1. Scan `SAGA_TABLE` for due sagas (RUNNING or COMPENSATING with
//!    `stepDeadline <= now`, or with no deadline stored, plus ended sagas
//!    whose outbox is marked unpublished), page by page
//!    ([`crate::store::SweepStore::scan_due`]).
//! 2. For each, decide with the pure machine and write the result with the
//!    same conditional write as the handler (on the version read). If a
//!    reply got there first the write fails, the saga is read again and
//!    judged again: by then it is usually not due, and nothing is written.
//!    So a reply racing the sweep and the sweep never both apply.
//! 3. Publish every record decided, after every write. A saga that ended
//!    in this run is written with its outbox marked unpublished and the
//!    mark is cleared once its ORDER_FAILED has landed; if publishing
//!    fails, the next run publishes it again (same `eventId`). A saga that
//!    goes on needs no mark: its command is sent again at its next
//!    deadline anyway.
//!
//! # Bounded work
//!
//! A run evaluates at most [`SweepOptions::max_pages`] pages of
//! [`SweepOptions::page_size`] items, acts on at most
//! [`SweepOptions::max_sagas`] sagas, and stops when the invocation's
//! deadline is near. It then returns where it stopped
//! ([`SweepReport::resume`]); a [`Sweeper`] (the Lambda binary holds one)
//! starts its next run there, so a table larger than one run's budget is
//! still covered, one slice per run. A cold start begins at the start of
//! the table again, which is safe: the scan finds only what is due.
//!
//! A scan reads every item of the table, ended sagas included. That is
//! fine for thousands of sagas; for a large table a sparse global secondary
//! index on the deadline replaces it (see [`crate::store::dynamodb`]), and
//! only [`crate::store::SweepStore::scan_due`] changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_runtime::{service_fn, LambdaEvent};
use order_events::{OrderId, OutgoingRecord, Timestamp};
use serde_json::{json, Value};
use stream_core::config::ProcessEnv;
use stream_core::{Deadline, RecordPublisher};

use crate::config::SweepConfig;
use crate::machine::{on_deadline, DeadlineDecision, Emit, TimeoutAction, Timing};
use crate::saga::Saga;
use crate::store::DynamoDbSagaStore;
use crate::store::{SagaRecord, ScanCursor, StoreError, SweepStore, Unreadable};
use crate::text;
use crate::{saga_publisher, SagaPublisher};

/// How much one run does, and how long a participant has to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepOptions {
    /// `SAGA_STEP_TIMEOUT_SECONDS`: the deadline of every command the sweep
    /// (re-)sends.
    pub step_timeout: Duration,
    /// Items evaluated per `Scan` call (its `Limit`).
    pub page_size: u32,
    /// `Scan` calls per run.
    pub max_pages: u32,
    /// Sagas written or republished per run.
    pub max_sagas: usize,
    /// No saga is started when less than this is left of the invocation.
    pub deadline_margin: Duration,
    /// Reads of one saga when its write keeps losing races.
    pub race_attempts: u32,
}

impl SweepOptions {
    pub const DEFAULT_PAGE_SIZE: u32 = 100;
    pub const DEFAULT_MAX_PAGES: u32 = 50;
    pub const DEFAULT_MAX_SAGAS: usize = 200;

    /// The defaults with `step_timeout`.
    pub fn new(step_timeout: Duration) -> Self {
        Self {
            step_timeout,
            page_size: Self::DEFAULT_PAGE_SIZE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            max_sagas: Self::DEFAULT_MAX_SAGAS,
            deadline_margin: Duration::from_secs(2),
            race_attempts: 3,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Items the scan evaluated, due or not.
    pub scanned: usize,
    /// Items the scan found due.
    pub due: usize,
    /// RUNNING sagas whose awaited reply was overdue: their compensation
    /// started (or they failed at once).
    pub timed_out: usize,
    /// Compensation commands sent again because their reply was overdue.
    pub compensations_resent: usize,
    /// Compensations given up after every re-send.
    pub compensations_given_up: usize,
    /// Sagas that ended FAILED in this run.
    pub failed: usize,
    /// Sagas stored without a deadline that got one.
    pub clocks_started: usize,
    /// Ended sagas whose unpublished outbox was published again.
    pub republished: usize,
    /// Sagas that a reply (or another sweep) moved first: nothing written.
    pub superseded: usize,
    /// Items that do not read as sagas; left alone and logged.
    pub unreadable: usize,
    /// Store calls that failed (a failed scan page included); what they
    /// concerned is retried by a later run.
    pub store_errors: usize,
    /// Scan pages that failed.
    pub scan_failures: usize,
    /// Records that did not land; the next run or deadline sends them again.
    pub unpublished: usize,
    /// Where the next run should go on; `None`: this run reached the end
    /// of the table.
    pub resume: Option<ScanCursor>,
}

impl SweepReport {
    /// The report as the Lambda function answers it.
    pub fn to_json(&self) -> Value {
        json!({
            "scanned": self.scanned,
            "due": self.due,
            "timedOut": self.timed_out,
            "compensationsResent": self.compensations_resent,
            "compensationsGivenUp": self.compensations_given_up,
            "failed": self.failed,
            "clocksStarted": self.clocks_started,
            "republished": self.republished,
            "superseded": self.superseded,
            "unreadable": self.unreadable,
            "storeErrors": self.store_errors,
            "unpublished": self.unpublished,
            "complete": self.resume.is_none(),
        })
    }

    /// One CloudWatch Embedded Metric Format document for the run.
    pub fn to_emf(&self, namespace: &str, function_name: &str, epoch_millis: u64) -> Value {
        let metrics = [
            ("SagasScanned", self.scanned),
            ("SagasDue", self.due),
            ("StepsTimedOut", self.timed_out),
            ("CompensationsResent", self.compensations_resent),
            ("CompensationsGivenUp", self.compensations_given_up),
            ("SagasFailedByDeadline", self.failed),
            ("OutboxesRepublished", self.republished),
            ("SweepRacesLost", self.superseded),
            ("UnreadableSagas", self.unreadable),
            ("SweepStoreErrors", self.store_errors),
            ("RecordsUnpublished", self.unpublished),
        ];
        let mut doc = json!({
            "_aws": {
                "Timestamp": epoch_millis,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics
                        .iter()
                        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
                        .collect::<Vec<_>>(),
                }],
            },
            "FunctionName": function_name,
        });
        if let Some(object) = doc.as_object_mut() {
            for (name, value) in metrics {
                object.insert(name.to_owned(), json!(value));
            }
        }
        doc
    }
}

/// Records decided for one saga, and whether its unpublished mark is to be
/// cleared once they land.
struct Decided {
    order_id: OrderId,
    version: u64,
    records: Vec<OutgoingRecord>,
    confirm: bool,
}

/// One run of the sweep at `now_ms` (milliseconds since the Unix epoch),
/// starting after `start` (`None`: at the start of the table), stopping
/// before `deadline`. See the module documentation.
pub async fn sweep<S: SweepStore, P: RecordPublisher>(
    store: &S,
    publisher: &P,
    options: &SweepOptions,
    now_ms: u64,
    start: Option<ScanCursor>,
    deadline: Deadline,
) -> SweepReport {
    let timing = Timing::new(now_ms, options.step_timeout);
    let mut report = SweepReport::default();
    let mut decided: Vec<Decided> = Vec::new();
    let mut cursor = start;
    let mut finished = false;
    'pages: for _ in 0..options.max_pages.max(1) {
        if decided.len() >= options.max_sagas || deadline.is_near(options.deadline_margin) {
            break;
        }
        let page = match store
            .scan_due(now_ms, cursor.as_ref(), options.page_size)
            .await
        {
            Ok(page) => page,
            Err(err) => {
                report.store_errors += 1;
                report.scan_failures += 1;
                tracing::warn!(error = %text::echo(&err.to_string()), "saga scan failed; the next run tries again");
                break;
            }
        };
        report.scanned = report.scanned.saturating_add(page.scanned);
        for entry in page.sagas {
            if decided.len() >= options.max_sagas || deadline.is_near(options.deadline_margin) {
                break 'pages;
            }
            report.due += 1;
            match entry {
                Err(unreadable) => {
                    if let Some(key) = left_alone(unreadable, &mut report) {
                        cursor = Some(ScanCursor(key));
                    }
                }
                Ok(record) => {
                    let order_id = record.saga.order_id.clone();
                    if let Some(done) = settle(store, record, timing, options, &mut report).await {
                        decided.push(done);
                    }
                    cursor = Some(ScanCursor(order_id.as_str().to_owned()));
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                finished = true;
                break;
            }
        }
    }
    report.resume = if finished { None } else { cursor };
    publish(store, publisher, decided, deadline, &mut report).await;
    report
}

/// Counts and logs an item that does not read as a saga; its key, where
/// the scan goes on.
fn left_alone(unreadable: Unreadable, report: &mut SweepReport) -> Option<String> {
    report.unreadable += 1;
    tracing::warn!(
        orderId = %text::echo(unreadable.key.as_deref().unwrap_or("?")),
        error = %unreadable.error,
        "a saga item is unreadable; the sweep leaves it alone"
    );
    unreadable.key
}

/// Applies the deadline to one due saga; the records to publish if it
/// wrote anything.
async fn settle<S: SweepStore>(
    store: &S,
    mut record: SagaRecord,
    timing: Timing,
    options: &SweepOptions,
    report: &mut SweepReport,
) -> Option<Decided> {
    let order_id = record.saga.order_id.clone();
    for attempt in 1..=options.race_attempts.max(1) {
        if record.outbox_pending {
            return Some(republish(record, report));
        }
        let (next, emit, action) = match on_deadline(&record.saga, timing) {
            DeadlineDecision::NotDue { reason } => {
                if attempt > 1 {
                    report.superseded += 1;
                }
                tracing::debug!(orderId = %order_id, reason, "saga not due");
                return None;
            }
            DeadlineDecision::Apply { saga, emit, action } => (saga, emit, action),
        };
        let written = to_write(&record, next, &emit, action, report)?;
        match store.save(&written, Some(record.saga.version)).await {
            Ok(()) => return Some(written_and_counted(&record, written, action, report)),
            Err(StoreError::Conflict) => {
                tracing::debug!(orderId = %order_id, attempt, "the saga moved while the sweep decided; reading it again");
                record = read_again(store, &order_id, report).await?;
            }
            Err(err) => {
                report.store_errors += 1;
                tracing::warn!(orderId = %order_id, error = %text::echo(&err.to_string()), "saga write failed; the next run tries again");
                return None;
            }
        }
    }
    report.superseded += 1;
    None
}

/// An ended saga whose records are not known to have landed: they are
/// published again, and the mark cleared once they land.
fn republish(record: SagaRecord, report: &mut SweepReport) -> Decided {
    report.republished += 1;
    tracing::info!(
        orderId = %record.saga.order_id,
        status = record.saga.status().as_str(),
        records = record.outbox.len(),
        "publishing a saga's records again: their first publish is not confirmed"
    );
    Decided {
        order_id: record.saga.order_id,
        version: record.saga.version,
        records: record.outbox,
        confirm: true,
    }
}

/// What to write for `next`, decided from `read` by `action`; `None`
/// (logged and counted) when a record of `emit` cannot be encoded.
fn to_write(
    read: &SagaRecord,
    next: Saga,
    emit: &[Emit],
    action: TimeoutAction,
    report: &mut SweepReport,
) -> Option<SagaRecord> {
    let now = Timestamp::now();
    let outbox = match emit
        .iter()
        .map(|e| OutgoingRecord::new(e.event_id.clone(), now, &e.event))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(outbox) => outbox,
        Err(err) => {
            tracing::error!(
                orderId = %read.saga.order_id,
                error = %text::echo(&err.to_string()),
                "a record of the saga cannot be written; the saga is left as it is"
            );
            report.store_errors += 1;
            return None;
        }
    };
    let ended = next.status().is_final();
    Some(match action {
        // Nothing is sent: the outbox of the last event stays, so its
        // redelivery can still re-send it.
        TimeoutAction::ClockStarted => SagaRecord {
            saga: next,
            outbox: read.outbox.clone(),
            source: read.source.clone(),
            outbox_pending: false,
        },
        _ => SagaRecord {
            saga: next,
            outbox,
            source: None,
            outbox_pending: ended,
        },
    })
}

/// Counts and logs a write of the sweep; the records it decided.
fn written_and_counted(
    before: &SagaRecord,
    written: SagaRecord,
    action: TimeoutAction,
    report: &mut SweepReport,
) -> Decided {
    let ended = written.saga.status().is_final();
    count(report, action, ended);
    log_applied(before, &written, action);
    let records = match action {
        TimeoutAction::ClockStarted => Vec::new(),
        _ => written.outbox,
    };
    Decided {
        order_id: written.saga.order_id,
        version: written.saga.version,
        records,
        confirm: ended,
    }
}

/// The saga of `order_id` after a lost race; `None` when it is gone or
/// cannot be read (logged and counted).
async fn read_again<S: SweepStore>(
    store: &S,
    order_id: &OrderId,
    report: &mut SweepReport,
) -> Option<SagaRecord> {
    match store.load(order_id).await {
        Ok(current) => current,
        Err(err) => {
            report.store_errors += 1;
            tracing::warn!(orderId = %order_id, error = %text::echo(&err.to_string()), "saga read failed");
            None
        }
    }
}

fn count(report: &mut SweepReport, action: TimeoutAction, ended: bool) {
    match action {
        TimeoutAction::TimedOut => report.timed_out += 1,
        TimeoutAction::Resent => report.compensations_resent += 1,
        TimeoutAction::GaveUp => report.compensations_given_up += 1,
        TimeoutAction::ClockStarted => report.clocks_started += 1,
    }
    if ended {
        report.failed += 1;
    }
}

fn log_applied(before: &SagaRecord, after: &SagaRecord, action: TimeoutAction) {
    let saga = &after.saga;
    let emitted: Vec<&str> = after.outbox.iter().map(|r| r.kind.as_str()).collect();
    if action == TimeoutAction::GaveUp {
        tracing::error!(
            orderId = %saga.order_id,
            from = before.saga.status().as_str(),
            to = saga.status().as_str(),
            step = saga.phase.step_name(),
            version = saga.version,
            unconfirmed = ?saga.unconfirmed.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            detail = saga.detail.as_deref(),
            emitted = ?emitted,
            "a compensation never answered and was given up: its effect may not be undone"
        );
    } else {
        tracing::info!(
            orderId = %saga.order_id,
            action = ?action,
            from = before.saga.status().as_str(),
            to = saga.status().as_str(),
            step = saga.phase.step_name(),
            version = saga.version,
            reason = saga.reason.map(|r| r.code()),
            detail = saga.detail.as_deref(),
            stepDeadline = saga.step_deadline,
            emitted = ?emitted,
            "saga step deadline passed"
        );
    }
}

/// Publishes every record decided, then clears the unpublished mark of the
/// ended sagas whose records all landed.
async fn publish<S: SweepStore, P: RecordPublisher>(
    store: &S,
    publisher: &P,
    decided: Vec<Decided>,
    deadline: Deadline,
    report: &mut SweepReport,
) {
    let mut records = Vec::new();
    let mut owner = Vec::new();
    for (index, saga) in decided.iter().enumerate() {
        records.extend(saga.records.iter().cloned());
        owner.extend(std::iter::repeat_n(index, saga.records.len()));
    }
    let mut landed = vec![true; decided.len()];
    if !records.is_empty() {
        let published = publisher.publish(&records, deadline).await;
        report.unpublished = published.failed.len();
        for failed in published.failed {
            if let Some(slot) = owner.get(failed).and_then(|&o| landed.get_mut(o)) {
                *slot = false;
            }
        }
    }
    for (saga, landed) in decided.iter().zip(landed) {
        if !landed {
            tracing::warn!(
                orderId = %saga.order_id,
                "the saga's records were not published; a later run or deadline sends them again"
            );
            continue;
        }
        if !saga.confirm {
            continue;
        }
        match store.confirm_published(&saga.order_id, saga.version).await {
            Ok(_) => {}
            Err(err) => {
                report.store_errors += 1;
                tracing::warn!(
                    orderId = %saga.order_id,
                    error = %text::echo(&err.to_string()),
                    "could not mark the saga's records published; the next run sends them again"
                );
            }
        }
    }
}

/// The sweep with its store, publisher and options, remembering where its
/// last run stopped so the next one goes on from there.
pub struct Sweeper<S, P> {
    store: S,
    publisher: P,
    options: SweepOptions,
    resume: Mutex<Option<ScanCursor>>,
}

/// The sweep as the Lambda binary runs it.
pub type SagaSweeper = Sweeper<DynamoDbSagaStore, SagaPublisher>;

impl<S: SweepStore, P: RecordPublisher> Sweeper<S, P> {
    pub fn new(store: S, publisher: P, options: SweepOptions) -> Self {
        Self {
            store,
            publisher,
            options,
            resume: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn options(&self) -> &SweepOptions {
        &self.options
    }

    /// One run at `now_ms`, going on where the previous run stopped.
    pub async fn run(&self, now_ms: u64, deadline: Deadline) -> SweepReport {
        let start = self.resume.lock().ok().and_then(|mut r| r.take());
        let report = sweep(
            &self.store,
            &self.publisher,
            &self.options,
            now_ms,
            start,
            deadline,
        )
        .await;
        if let Ok(mut resume) = self.resume.lock() {
            resume.clone_from(&report.resume);
        }
        report
    }
}

/// The sweep over `SAGA_TABLE` and the two streams, from one SDK
/// configuration.
pub fn build_sweeper(sdk: &aws_config::SdkConfig, config: &SweepConfig) -> SagaSweeper {
    Sweeper::new(
        DynamoDbSagaStore::new(
            stream_core::aws::dynamodb_client(sdk),
            config.saga_table.clone(),
        ),
        saga_publisher(
            &stream_core::aws::kinesis_client(sdk),
            &config.commands_stream,
            &config.events_stream,
        ),
        SweepOptions::new(config.step_timeout),
    )
}

/// The Lambda entry point of `order-saga-sweep`. Its event is an
/// EventBridge scheduled event, but any JSON is accepted and none of it is
/// read: each invocation is one run. It answers the run's report, and
/// fails the invocation when the table could not be scanned at all (so the
/// function's error alarm sees an unreachable table).
pub async fn run() -> Result<(), lambda_runtime::Error> {
    stream_core::logging::init();
    let config = match SweepConfig::from_vars(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => stream_core::lambda::exit_on_config_error(&err),
    };
    tracing::info!(
        stepTimeoutSeconds = config.step_timeout.as_secs(),
        "order saga sweep starting"
    );
    let sdk = stream_core::aws::load_config().await;
    let sweeper = Arc::new(build_sweeper(&sdk, &config));
    let config = Arc::new(config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let sweeper = Arc::clone(&sweeper);
        let config = Arc::clone(&config);
        async move {
            let deadline = invocation_deadline(event.context.deadline);
            let report = sweeper.run(crate::now_millis(), deadline).await;
            emit_metrics(&report, &config);
            tracing::info!(report = %report.to_json(), "sweep finished");
            if report.scan_failures > 0 && report.scanned == 0 {
                return Err(lambda_runtime::Error::from(
                    "the saga table could not be scanned",
                ));
            }
            Ok::<Value, lambda_runtime::Error>(report.to_json())
        }
    }))
    .await
}

fn emit_metrics(report: &SweepReport, config: &SweepConfig) {
    use std::io::Write as _;
    let line = report
        .to_emf(
            &config.metrics_namespace,
            &config.function_name,
            crate::now_millis(),
        )
        .to_string();
    // A lost metrics line must not fail the run.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The invocation's deadline from Lambda's (epoch ms), trusted only within
/// Lambda's 15-minute limit: `cargo lambda watch` sends a fixed moment in
/// January 1970, and a value past the limit is not a real deadline.
pub fn invocation_deadline(epoch_millis: u64) -> Deadline {
    const LONGEST: Duration = Duration::from_secs(15 * 60);
    let left = Duration::from_millis(epoch_millis.saturating_sub(crate::now_millis()));
    if left.is_zero() || left > LONGEST {
        return Deadline::in_(LONGEST);
    }
    Deadline::in_(left)
}

#[cfg(test)]
mod tests;
