//! The sweep over the in-memory store and fake streams: what it changes,
//! what it leaves alone, what it publishes, how it bounds a run, and how it
//! loses a race to a reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use order_events::{DedupKey, Event, EventKind, FailureReason};
use stream_core::{FakePutRecords, Handled, Handler, IncomingEvent};

use super::*;
use crate::handler::SagaHandler;
use crate::machine::{transition, Decision};
use crate::saga::{Phase, Step};
use crate::store::{InMemorySagaStore, SagaStore};
use crate::testing::{delivery, fake_publisher, FakeSagaPublisher, ReplyBeforeFirstSave};

const T0: u64 = 1_761_825_600_000;
const TIMEOUT: Duration = Duration::from_secs(300);
const TIMEOUT_MS: u64 = 300_000;

struct World {
    store: Arc<InMemorySagaStore>,
    commands: Arc<FakePutRecords>,
    events: Arc<FakePutRecords>,
    publisher: Arc<FakeSagaPublisher>,
}

impl World {
    fn new() -> Self {
        Self::with_events(FakePutRecords::default())
    }

    fn with_events(events: FakePutRecords) -> Self {
        let commands = Arc::new(FakePutRecords::default());
        let events = Arc::new(events);
        Self {
            store: Arc::new(InMemorySagaStore::new()),
            publisher: Arc::new(fake_publisher(&commands, &events, 3)),
            commands,
            events,
        }
    }

    /// Places `order` at `at` and applies `replies` right after.
    async fn saga(&self, order: &str, at: u64, replies: &[EventKind]) {
        let timing = Timing {
            now_ms: at,
            step_timeout_ms: TIMEOUT_MS,
        };
        let placed = Event::parse(
            EventKind::OrderPlaced,
            &format!(
                r#"{{"orderId":"{order}","userId":"u-1","email":"jane@example.com","total":"9.90","items":[{{"productId":"p-1","quantity":1}}]}}"#
            ),
        )
        .unwrap();
        let mut state: Option<SagaRecord> = None;
        let events = std::iter::once(placed).chain(replies.iter().map(|kind| {
            let payload = match kind {
                EventKind::InventoryReserved => format!(
                    r#"{{"orderId":"{order}","sagaId":"{order}","items":[{{"productId":"p-1","quantity":1}}]}}"#
                ),
                _ => format!(r#"{{"orderId":"{order}","sagaId":"{order}","reason":"no"}}"#),
            };
            Event::parse(*kind, &payload).unwrap()
        }));
        for (n, event) in events.enumerate() {
            let read = state.as_ref().map(|r| r.saga.version);
            let key = DedupKey::EventId(format!("{order}-{n}"));
            let Decision::Apply { saga, .. } =
                transition(state.as_ref().map(|r| &r.saga), &event, &key, timing)
            else {
                panic!("{} does not apply", event.kind());
            };
            let record = SagaRecord {
                saga,
                outbox: Vec::new(),
                source: None,
                outbox_pending: false,
            };
            self.store.save(&record, read).await.unwrap();
            state = Some(record);
        }
    }

    async fn sweep_at(&self, now: u64, options: &SweepOptions) -> SweepReport {
        sweep(
            &self.store,
            &self.publisher,
            options,
            now,
            None,
            Deadline::in_(Duration::from_secs(30)),
        )
        .await
    }

    fn saga_of(&self, order: &str) -> SagaRecord {
        self.store.get(order).unwrap()
    }

    fn commands_of(&self, order: &str) -> Vec<OutgoingRecord> {
        self.commands
            .landed()
            .into_iter()
            .filter(|r| r.partition_key == order)
            .collect()
    }
}

fn kinds(records: &[OutgoingRecord]) -> Vec<EventKind> {
    records.iter().map(|r| r.kind).collect()
}

fn reason_of(record: &OutgoingRecord) -> String {
    let envelope = order_events::Envelope::parse(&record.data).unwrap();
    let payload: Value = serde_json::from_str(envelope.payload_text()).unwrap();
    payload["reason"].as_str().unwrap().to_owned()
}

fn options() -> SweepOptions {
    SweepOptions {
        deadline_margin: Duration::from_millis(10),
        ..SweepOptions::new(TIMEOUT)
    }
}

#[tokio::test]
async fn overdue_sagas_are_compensated_and_the_others_left_alone() {
    let world = World::new();
    world
        .saga("o-late", T0, &[EventKind::InventoryReserved])
        .await;
    world.saga("o-fresh", T0 + 60_000, &[]).await;
    world
        .saga("o-done", T0, &[EventKind::InventoryReservationFailed])
        .await;

    let report = world.sweep_at(T0 + TIMEOUT_MS, &options()).await;
    assert_eq!(
        report,
        SweepReport {
            scanned: 3,
            due: 1,
            timed_out: 1,
            ..SweepReport::default()
        }
    );
    let late = world.saga_of("o-late");
    assert_eq!(
        late.saga.phase,
        Phase::Compensating {
            pending: vec![
                crate::saga::Compensation::RefundPayment,
                crate::saga::Compensation::ReleaseInventory
            ]
        }
    );
    assert_eq!(late.saga.reason, Some(FailureReason::TimedOut));
    assert_eq!(late.saga.step_deadline, Some(T0 + 2 * TIMEOUT_MS));
    assert!(!late.outbox_pending, "a saga that goes on needs no mark");
    assert_eq!(
        late.outbox,
        world.commands_of("o-late"),
        "the outbox is what was sent"
    );
    assert_eq!(
        kinds(&world.commands_of("o-late")),
        [EventKind::RefundPayment]
    );

    // Within its deadline, or ended: untouched, nothing sent.
    assert_eq!(world.saga_of("o-fresh").saga.version, 1);
    assert_eq!(world.saga_of("o-done").saga.version, 2);
    assert!(world.commands_of("o-fresh").is_empty());
    assert!(world.events.landed().is_empty());

    // The same moment again: nothing is due any more.
    let again = world.sweep_at(T0 + TIMEOUT_MS, &options()).await;
    assert_eq!((again.due, again.timed_out), (0, 0));
}

#[tokio::test]
async fn participants_that_never_answer_end_the_saga_failed_timed_out() {
    let world = World::new();
    world.saga("o-1", T0, &[]).await;
    let mut sweeps = 0;
    let mut totals = SweepReport::default();
    while !world.saga_of("o-1").saga.status().is_final() {
        let deadline = world.saga_of("o-1").saga.step_deadline.unwrap();
        let report = world.sweep_at(deadline, &options()).await;
        totals.timed_out += report.timed_out;
        totals.compensations_resent += report.compensations_resent;
        totals.compensations_given_up += report.compensations_given_up;
        totals.failed += report.failed;
        sweeps += 1;
        assert!(sweeps <= 10, "the saga never ended");
    }
    // Timed out, 5 re-sends of the release, given up.
    assert_eq!(sweeps, 7);
    assert_eq!(
        (
            totals.timed_out,
            totals.compensations_resent,
            totals.compensations_given_up,
            totals.failed
        ),
        (1, 5, 1, 1)
    );
    let releases = world.commands_of("o-1");
    assert_eq!(releases.len(), 6);
    assert!(releases
        .iter()
        .all(|r| r.kind == EventKind::ReleaseInventory && r.event_id == releases[0].event_id));
    let events = world.events.landed();
    assert_eq!(kinds(&events), [EventKind::OrderFailed]);
    assert_eq!(reason_of(&events[0]), "TIMED_OUT");

    let ended = world.saga_of("o-1");
    assert_eq!(ended.saga.step_deadline, None);
    assert!(!ended.outbox_pending, "confirmed once ORDER_FAILED landed");
    assert_eq!(
        ended.saga.unconfirmed,
        [crate::saga::Compensation::ReleaseInventory]
    );
    // An ended saga is never found again.
    let later = world.sweep_at(T0 + 100 * TIMEOUT_MS, &options()).await;
    assert_eq!((later.due, later.republished), (0, 0));
    assert_eq!(world.events.landed().len(), 1);
}

#[tokio::test]
async fn an_order_failed_that_did_not_land_is_published_by_the_next_run() {
    let outage = Arc::new(AtomicBool::new(true));
    let during = outage.clone();
    let world = World::with_events(FakePutRecords::failing(move |_, _| {
        during.load(Ordering::SeqCst)
    }));
    // Compensating with the last compensation given up next time.
    world
        .saga(
            "o-1",
            T0,
            &[EventKind::InventoryReserved, EventKind::PaymentFailed],
        )
        .await;
    let mut record = world.saga_of("o-1");
    record.saga.resends = crate::machine::MAX_COMPENSATION_RESENDS;
    world
        .store
        .save(&record, Some(record.saga.version))
        .await
        .unwrap();
    let now = record.saga.step_deadline.unwrap();

    let first = world.sweep_at(now, &options()).await;
    assert_eq!((first.failed, first.unpublished), (1, 1));
    let stored = world.saga_of("o-1");
    assert_eq!(stored.saga.status(), crate::saga::SagaStatus::Failed);
    assert!(stored.outbox_pending, "the mark stays until it lands");
    assert!(world.events.landed().is_empty());

    outage.store(false, Ordering::SeqCst);
    let second = world.sweep_at(now, &options()).await;
    assert_eq!(
        (second.due, second.republished, second.unpublished),
        (1, 1, 0)
    );
    let events = world.events.landed();
    assert_eq!(kinds(&events), [EventKind::OrderFailed]);
    assert_eq!(reason_of(&events[0]), "TIMED_OUT");
    assert_eq!(
        events[0], stored.outbox[0],
        "the stored record, byte for byte"
    );
    assert!(!world.saga_of("o-1").outbox_pending);
    assert_eq!(world.saga_of("o-1").saga.version, stored.saga.version);

    let third = world.sweep_at(now, &options()).await;
    assert_eq!(third.due, 0);
    assert_eq!(world.events.landed().len(), 1);
}

fn reply(kind: EventKind, order: &str) -> IncomingEvent {
    let payload = match kind {
        EventKind::InventoryReserved => format!(
            r#"{{"orderId":"{order}","sagaId":"{order}","items":[{{"productId":"p-1","quantity":1}}]}}"#
        ),
        _ => format!(r#"{{"orderId":"{order}","sagaId":"{order}"}}"#),
    };
    let event = Event::parse(kind, &payload).unwrap();
    delivery(event, &format!("reply-{order}"), "7")
}

#[tokio::test]
async fn a_reply_that_lands_between_the_sweeps_read_and_write_wins_alone() {
    let world = World::new();
    // Placed long ago by the clock the handler reads: overdue now.
    world.saga("o-1", 0, &[]).await;
    let racing = ReplyBeforeFirstSave::new(
        world.store.clone(),
        reply(EventKind::InventoryReserved, "o-1"),
    );
    let now = crate::now_millis();
    let report = sweep(
        &racing,
        &world.publisher,
        &options(),
        now,
        None,
        Deadline::in_(Duration::from_secs(30)),
    )
    .await;

    assert!(
        matches!(racing.reply_handled(), Some(Handled::Done { .. })),
        "the reply applied"
    );
    assert_eq!((report.due, report.timed_out, report.superseded), (1, 0, 1));
    let saga = world.saga_of("o-1").saga;
    assert_eq!(
        saga.phase,
        Phase::Running {
            awaiting: Step::ProcessPayment
        }
    );
    assert_eq!(saga.version, 2, "one write: the reply's");
    assert!(world.commands.landed().is_empty(), "the sweep sent nothing");
}

#[tokio::test]
async fn a_reply_after_the_sweep_is_out_of_date() {
    let world = World::new();
    world.saga("o-1", 0, &[]).await;
    let report = world.sweep_at(crate::now_millis(), &options()).await;
    assert_eq!(report.timed_out, 1);
    let handled = SagaHandler::new(world.store.clone())
        .handle(reply(EventKind::InventoryReserved, "o-1"))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Skipped { .. }), "{handled:?}");
    let saga = world.saga_of("o-1").saga;
    assert_eq!(
        (saga.status(), saga.version),
        (crate::saga::SagaStatus::Compensating, 2)
    );
}

#[tokio::test]
async fn work_per_run_is_bounded_and_the_next_run_goes_on() {
    let world = World::new();
    for n in 0..5 {
        world.saga(&format!("o-{n}"), T0, &[]).await;
    }
    let now = T0 + TIMEOUT_MS;
    let bounded = SweepOptions {
        page_size: 2,
        max_sagas: 2,
        ..options()
    };
    let sweeper = Sweeper::new(world.store.clone(), world.publisher.clone(), bounded);
    let deadline = || Deadline::in_(Duration::from_secs(30));
    let first = sweeper.run(now, deadline()).await;
    assert_eq!(first.timed_out, 2);
    assert_eq!(first.resume, Some(ScanCursor("o-1".into())));
    let second = sweeper.run(now, deadline()).await;
    assert_eq!(second.timed_out, 2);
    assert_eq!(second.resume, Some(ScanCursor("o-3".into())));
    let third = sweeper.run(now, deadline()).await;
    assert_eq!((third.timed_out, third.resume.clone()), (1, None));
    assert_eq!(world.commands.landed().len(), 5, "each saga once");

    // Pages are bounded too.
    let world = World::new();
    for n in 0..5 {
        world.saga(&format!("o-{n}"), T0, &[]).await;
    }
    let paged = SweepOptions {
        page_size: 1,
        max_pages: 2,
        ..options()
    };
    let report = world.sweep_at(now, &paged).await;
    assert_eq!((report.scanned, report.timed_out), (2, 2));
    assert_eq!(report.resume, Some(ScanCursor("o-1".into())));

    // No time left: nothing is started.
    let report = sweep(
        &world.store,
        &world.publisher,
        &options(),
        now,
        None,
        Deadline::in_(Duration::from_millis(1)),
    )
    .await;
    assert_eq!((report.scanned, report.timed_out), (0, 0));
}

#[tokio::test]
async fn a_saga_stored_without_a_deadline_gets_one_and_keeps_its_outbox() {
    let world = World::new();
    world.saga("o-1", T0, &[]).await;
    let mut record = world.saga_of("o-1");
    record.saga.step_deadline = None;
    record.source = Some("shardId-000000000000:1".into());
    world.store.save(&record, Some(1)).await.unwrap();

    let report = world.sweep_at(T0, &options()).await;
    assert_eq!((report.due, report.clocks_started), (1, 1));
    let after = world.saga_of("o-1");
    assert_eq!(after.saga.step_deadline, Some(T0 + TIMEOUT_MS));
    assert_eq!(after.source, record.source);
    assert_eq!(after.saga.applied, record.saga.applied);
    assert!(world.commands.landed().is_empty());
}

#[test]
fn the_report_names_what_it_counts() {
    let report = SweepReport {
        scanned: 10,
        due: 3,
        timed_out: 1,
        compensations_resent: 1,
        failed: 1,
        resume: Some(ScanCursor("o-9".into())),
        ..SweepReport::default()
    };
    let json = report.to_json();
    assert_eq!(json["scanned"], 10);
    assert_eq!(json["timedOut"], 1);
    assert_eq!(json["compensationsResent"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["complete"], false);
    let emf = report.to_emf("NS", "order-saga-sweep", 1);
    let declared = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap();
    assert!(declared.len() >= 10);
    for metric in declared {
        let name = metric["Name"].as_str().unwrap();
        assert!(emf.get(name).is_some(), "{name} declared without a value");
    }
    assert_eq!(emf["StepsTimedOut"], 1);
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
}

#[test]
fn an_impossible_invocation_deadline_becomes_fifteen_minutes() {
    for bogus in [0, 600_000, u64::MAX] {
        let deadline = invocation_deadline(bogus);
        assert!(deadline.remaining() > Duration::from_secs(890), "{bogus}");
        assert!(deadline.remaining() <= Duration::from_secs(900), "{bogus}");
    }
    let real = invocation_deadline(crate::now_millis() + 30_000);
    assert!(real.remaining() <= Duration::from_secs(30));
    assert!(real.remaining() > Duration::from_secs(25));
}
