//! Building blocks for tests and local tools (the `test-util` feature,
//! never in a Lambda build): a delivered event, a publisher over fake
//! streams that retries at once, and a store wrapper that lets a reply
//! overtake the writer it wraps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use order_events::{DedupKey, Event, OrderId};
use stream_core::{
    Deadline, FakePutRecords, Handled, Handler, IncomingEvent, OrderedPublisher, RecordOrigin,
    RetryPolicy, SplitPublisher,
};

use crate::handler::SagaHandler;
use crate::store::{DuePage, SagaRecord, SagaStore, ScanCursor, StoreError, SweepStore};

/// `max_attempts` attempts a millisecond apart, so tests of retries do not
/// wait.
pub fn quick_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        deadline_margin: Duration::from_millis(1),
    }
}

/// The saga's publisher over two fake streams.
pub type FakeSagaPublisher =
    SplitPublisher<OrderedPublisher<Arc<FakePutRecords>>, OrderedPublisher<Arc<FakePutRecords>>>;

/// Commands to `commands`, outcome events to `events`, each put tried
/// `max_attempts` times.
pub fn fake_publisher(
    commands: &Arc<FakePutRecords>,
    events: &Arc<FakePutRecords>,
    max_attempts: u32,
) -> FakeSagaPublisher {
    SplitPublisher {
        commands: OrderedPublisher::new(commands.clone(), quick_retries(max_attempts)),
        events: OrderedPublisher::new(events.clone(), quick_retries(max_attempts)),
    }
}

/// `event` as delivered from shard 0 at `sequence_number`, deduplicated by
/// the event id `event_id`. Two calls with the same arguments are two
/// deliveries of the same stream record.
pub fn delivery(event: Event, event_id: &str, sequence_number: &str) -> IncomingEvent {
    IncomingEvent {
        dedup_key: DedupKey::EventId(event_id.to_owned()),
        timestamp: None,
        origin: RecordOrigin {
            event_source_arn: None,
            event_id: None,
            shard_id: Some("shardId-000000000000".into()),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: None,
            partition_key: event.partition_key().to_owned(),
            approximate_arrival_timestamp: None,
        },
        event,
        deadline: Deadline::in_(Duration::from_secs(60)),
    }
}

/// A store over which `reply` is handled just before the first write: the
/// reply reads and writes first, so that first write finds another
/// version. Stands for a reply racing the sweep.
pub struct ReplyBeforeFirstSave<S> {
    inner: S,
    reply: IncomingEvent,
    handled: Mutex<Option<Handled>>,
    saves: AtomicUsize,
}

impl<S: SagaStore + Clone> ReplyBeforeFirstSave<S> {
    pub fn new(inner: S, reply: IncomingEvent) -> Self {
        Self {
            inner,
            reply,
            handled: Mutex::new(None),
            saves: AtomicUsize::new(0),
        }
    }

    /// What handling the reply came to; `None` before the first write or
    /// when the handler failed.
    pub fn reply_handled(&self) -> Option<Handled> {
        self.handled.lock().ok()?.clone()
    }
}

impl<S: SagaStore + Clone> SagaStore for ReplyBeforeFirstSave<S> {
    async fn load(&self, order_id: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn save(&self, record: &SagaRecord, read: Option<u64>) -> Result<(), StoreError> {
        if self.saves.fetch_add(1, Ordering::SeqCst) == 0 {
            let handler = SagaHandler::new(self.inner.clone());
            let handled = handler.handle(self.reply.clone()).await.ok();
            if let Ok(mut slot) = self.handled.lock() {
                *slot = handled;
            }
        }
        self.inner.save(record, read).await
    }
}

impl<S: SweepStore + Clone> SweepStore for ReplyBeforeFirstSave<S> {
    async fn scan_due(
        &self,
        now_ms: u64,
        start: Option<&ScanCursor>,
        limit: u32,
    ) -> Result<DuePage, StoreError> {
        self.inner.scan_due(now_ms, start, limit).await
    }

    async fn confirm_published(
        &self,
        order_id: &OrderId,
        version: u64,
    ) -> Result<bool, StoreError> {
        self.inner.confirm_published(order_id, version).await
    }
}
