//! The handler over in-memory and scripted stores: the read-decide-write
//! loop, redeliveries, lost races and store failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use order_events::{Event, EventKind};

use super::*;
use crate::saga::{Compensation, Phase, SagaStatus};
use crate::store::InMemorySagaStore;
use crate::testing::{delivery, quick_retries};

const PLACED: &str = r#"{"orderId":"o-1","userId":"u-1","email":"jane@example.com","items":[{"productId":"p-1","quantity":2,"price":"9.50"}]}"#;
const RESERVED: &str =
    r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p-1","quantity":2}]}"#;
const REPLY: &str = r#"{"orderId":"o-1","sagaId":"o-1"}"#;
const CANCELLED: &str = r#"{"orderId":"o-1"}"#;

/// The event `event_id`, as one record on the stream: every call gives a
/// delivery of the same record (same position).
fn incoming(kind: EventKind, payload: &str, event_id: &str) -> IncomingEvent {
    let event = Event::parse(kind, payload).unwrap();
    delivery(event, event_id, &format!("seq-of-{event_id}"))
}

/// Another record carrying the same event (a producer's retry).
fn copy_of(mut event: IncomingEvent) -> IncomingEvent {
    event.origin.sequence_number.push_str("-copy");
    event
}

/// The race policy of these tests: four attempts.
fn quick() -> RetryPolicy {
    quick_retries(4)
}

fn kinds(handled: &Handled) -> Vec<EventKind> {
    match handled {
        Handled::Done { emit } | Handled::Duplicate { emit } => {
            emit.iter().map(|r| r.kind).collect()
        }
        Handled::Skipped { .. } => Vec::new(),
    }
}

async fn placed(handler: &SagaHandler<Arc<InMemorySagaStore>>) {
    let handled = handler
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap();
    assert_eq!(kinds(&handled), [EventKind::ReserveInventory]);
}

#[tokio::test]
async fn a_saga_runs_to_completion_and_redeliveries_resend_only_the_latest_records() {
    let store = Arc::new(InMemorySagaStore::new());
    let handler = SagaHandler::new(store.clone());
    placed(&handler).await;

    let first = handler
        .handle(incoming(EventKind::InventoryReserved, RESERVED, "e-2"))
        .await
        .unwrap();
    let Handled::Done { emit: sent } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(kinds(&first), [EventKind::ProcessPayment]);

    // Redelivered after a failed publish: the same records, byte for byte.
    let again = handler
        .handle(incoming(EventKind::InventoryReserved, RESERVED, "e-2"))
        .await
        .unwrap();
    assert_eq!(again, Handled::Duplicate { emit: sent.clone() });
    // Another copy of the event: its first copy's redelivery covers a
    // failed publish, so nothing is sent for it.
    let copy = handler
        .handle(copy_of(incoming(
            EventKind::InventoryReserved,
            RESERVED,
            "e-2",
        )))
        .await
        .unwrap();
    assert_eq!(copy, Handled::duplicate());
    // An older event: applied, but superseded; nothing is sent.
    let older = handler
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap();
    assert_eq!(older, Handled::duplicate());

    let paid = handler
        .handle(incoming(EventKind::PaymentProcessed, REPLY, "e-3"))
        .await
        .unwrap();
    assert_eq!(kinds(&paid), [EventKind::ShipOrder]);
    let shipped = handler
        .handle(incoming(EventKind::OrderShipped, REPLY, "e-4"))
        .await
        .unwrap();
    assert_eq!(kinds(&shipped), [EventKind::OrderCompleted]);

    let stored = store.get("o-1").unwrap();
    assert_eq!(stored.saga.status(), SagaStatus::Completed);
    assert_eq!(stored.saga.version, 4);
    let Handled::Done { emit } = shipped else {
        unreachable!()
    };
    assert_eq!(
        stored.outbox, emit,
        "the outbox is the last transition's records"
    );
}

#[tokio::test]
async fn events_that_change_nothing_are_skipped_and_write_nothing() {
    let store = Arc::new(InMemorySagaStore::new());
    let handler = SagaHandler::new(store.clone());
    let handled = handler
        .handle(incoming(EventKind::PaymentProcessed, REPLY, "e-9"))
        .await
        .unwrap();
    assert_eq!(
        handled,
        Handled::Skipped {
            reason: "no saga for this order"
        }
    );
    assert!(store.all().is_empty());

    placed(&handler).await;
    let handled = handler
        .handle(incoming(EventKind::OrderShipped, REPLY, "e-10"))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Skipped { .. }), "{handled:?}");
    assert_eq!(store.get("o-1").unwrap().saga.version, 1);
}

#[tokio::test]
async fn an_order_that_can_never_be_paid_is_dead_lettered() {
    let store = Arc::new(InMemorySagaStore::new());
    let handler = SagaHandler::new(store.clone());
    let unpriced = r#"{"orderId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2}]}"#;
    let err = handler
        .handle(incoming(EventKind::OrderPlaced, unpriced, "e-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HandlerError::Permanent(reason) if reason.contains("no total")),
        "{err}"
    );
    assert!(store.all().is_empty());
}

/// An in-memory store whose first `racers` loads all wait for each other,
/// so that many deliveries read the same version before any of them writes.
struct RacingStore {
    inner: InMemorySagaStore,
    barrier: tokio::sync::Barrier,
    racers: usize,
    loads: AtomicUsize,
    conflicts: AtomicUsize,
}

impl RacingStore {
    fn new(inner: InMemorySagaStore, racers: usize) -> Self {
        Self {
            inner,
            barrier: tokio::sync::Barrier::new(racers),
            racers,
            loads: AtomicUsize::new(0),
            conflicts: AtomicUsize::new(0),
        }
    }
}

impl SagaStore for RacingStore {
    async fn load(&self, order_id: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        let read = self.inner.load(order_id).await;
        if self.loads.fetch_add(1, Ordering::SeqCst) < self.racers {
            self.barrier.wait().await;
        }
        read
    }

    async fn save(&self, record: &SagaRecord, read_version: Option<u64>) -> Result<(), StoreError> {
        let result = self.inner.save(record, read_version).await;
        if matches!(result, Err(StoreError::Conflict)) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

async fn store_after_placed() -> InMemorySagaStore {
    let store = Arc::new(InMemorySagaStore::new());
    placed(&SagaHandler::new(store.clone())).await;
    Arc::try_unwrap(store).unwrap()
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_advance_the_saga_once() {
    let store = Arc::new(RacingStore::new(store_after_placed().await, 3));
    let handler = SagaHandler::new(store.clone()).with_race_policy(quick());
    let deliver = || handler.handle(incoming(EventKind::InventoryReserved, RESERVED, "e-2"));
    let (a, b, c) = tokio::join!(deliver(), deliver(), deliver());
    let results = [a.unwrap(), b.unwrap(), c.unwrap()];

    let done: Vec<_> = results
        .iter()
        .filter(|h| matches!(h, Handled::Done { .. }))
        .collect();
    assert_eq!(
        done.len(),
        1,
        "exactly one delivery advances the saga: {results:?}"
    );
    let Handled::Done { emit } = done[0] else {
        unreachable!()
    };
    for other in results
        .iter()
        .filter(|h| !matches!(h, Handled::Done { .. }))
    {
        // The losers read again, find the event applied, and re-send the
        // same records (harmless duplicates), never new ones.
        assert_eq!(other, &Handled::Duplicate { emit: emit.clone() });
    }
    assert_eq!(store.conflicts.load(Ordering::SeqCst), 2);
    let saga = store.inner.get("o-1").unwrap().saga;
    assert_eq!(saga.version, 2);
    assert_eq!(
        saga.phase,
        Phase::Running {
            awaiting: crate::saga::Step::ProcessPayment
        }
    );
}

#[tokio::test]
async fn concurrent_different_events_never_lose_an_update() {
    let store = Arc::new(RacingStore::new(store_after_placed().await, 2));
    let handler = SagaHandler::new(store.clone()).with_race_policy(quick());
    let (reserved, cancelled) = tokio::join!(
        handler.handle(incoming(EventKind::InventoryReserved, RESERVED, "e-2")),
        handler.handle(incoming(EventKind::OrderCancelled, CANCELLED, "e-3")),
    );
    let (reserved, cancelled) = (reserved.unwrap(), cancelled.unwrap());
    assert_eq!(
        store.conflicts.load(Ordering::SeqCst),
        1,
        "one writer lost and read again"
    );
    let saga = store.inner.get("o-1").unwrap().saga;
    assert!(
        matches!(cancelled, Handled::Done { .. }),
        "a running saga always takes the cancel"
    );
    match reserved {
        // The reservation came first: the cancel then undoes the payment
        // request in flight and the reservation.
        Handled::Done { .. } => {
            assert_eq!(saga.version, 3);
            assert_eq!(
                saga.phase,
                Phase::Compensating {
                    pending: vec![Compensation::RefundPayment, Compensation::ReleaseInventory]
                }
            );
        }
        // The cancel came first: the reservation reply is then out of date.
        Handled::Skipped { .. } => {
            assert_eq!(saga.version, 2);
            assert_eq!(
                saga.phase,
                Phase::Compensating {
                    pending: vec![Compensation::ReleaseInventory]
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A store that fails in a chosen way.
#[derive(Default)]
struct FailingStore {
    load_error: Option<fn() -> StoreError>,
    saves: AtomicUsize,
}

impl SagaStore for FailingStore {
    async fn load(&self, _: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        match self.load_error {
            Some(error) => Err(error()),
            None => Ok(None),
        }
    }

    async fn save(&self, _: &SagaRecord, _: Option<u64>) -> Result<(), StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        Err(StoreError::Conflict)
    }
}

#[tokio::test]
async fn a_saga_that_keeps_changing_is_left_for_a_later_retry() {
    let handler = SagaHandler::new(FailingStore::default()).with_race_policy(quick());
    let err = handler
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    assert_eq!(
        handler.store().saves.load(Ordering::SeqCst),
        5,
        "bounded by the race policy: the unread start, then one write per attempt"
    );
}

#[tokio::test]
async fn store_failures_are_retried_and_unreadable_sagas_dead_lettered() {
    let unavailable = SagaHandler::new(FailingStore {
        load_error: Some(|| StoreError::Unavailable(anyhow::anyhow!("throttled"))),
        ..FailingStore::default()
    });
    let err = unavailable
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");

    let corrupt = SagaHandler::new(FailingStore {
        load_error: Some(|| StoreError::Corrupt("attribute status: unknown status `X`".into())),
        ..FailingStore::default()
    });
    let err = corrupt
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HandlerError::Permanent(r) if r.contains("unknown status")),
        "{err}"
    );
}

/// Counts the reads of the saga store it wraps.
#[derive(Default)]
struct CountingReads {
    inner: InMemorySagaStore,
    loads: AtomicUsize,
}

impl SagaStore for CountingReads {
    async fn load(&self, order_id: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(order_id).await
    }

    async fn save(&self, record: &SagaRecord, read: Option<u64>) -> Result<(), StoreError> {
        self.inner.save(record, read).await
    }
}

#[tokio::test]
async fn an_order_placed_starts_its_saga_without_a_read_and_a_redelivery_reads_it() {
    let handler = SagaHandler::new(CountingReads::default()).with_race_policy(quick());
    let first = handler
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap();
    assert!(
        matches!(&first, Handled::Done { emit } if emit.len() == 1),
        "{first:?}"
    );
    assert_eq!(handler.store().loads.load(Ordering::SeqCst), 0);

    let again = handler
        .handle(incoming(EventKind::OrderPlaced, PLACED, "e-1"))
        .await
        .unwrap();
    assert!(matches!(again, Handled::Duplicate { .. }), "{again:?}");
    assert_eq!(handler.store().loads.load(Ordering::SeqCst), 1);
}
