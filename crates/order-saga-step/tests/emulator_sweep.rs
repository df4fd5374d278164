//! The sweep against the local emulator (run with
//! `scripts/local-aws.sh run -- cargo test -p order-saga-step`): real
//! `Scan` pages, conditional writes and streams. A saga whose participant
//! never answers is compensated and ends FAILED with TIMED_OUT; a saga
//! within its deadline is left alone; a sweep racing a real reply applies
//! exactly one of them.

mod common;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::types::Record;
use common::{deadline, deliver, kinds, new_records, placed_payload, string_attr as s, Emulator};
use order_events::{Envelope, Event, EventId, EventKind, OrderId};
use order_saga_step::sweep::build_sweeper;
use order_saga_step::testing::{delivery, fake_publisher, FakeSagaPublisher, ReplyBeforeFirstSave};
use order_saga_step::{
    now_millis, sweep, DynamoDbSagaStore, SagaHandler, SagaStatus, SagaStore, SweepConfig,
    SweepOptions, Sweeper,
};
use stream_core::{FakePutRecords, Handled, Handler, IncomingEvent};

/// Streams, table and queue of one test.
struct World(Emulator);

impl Deref for World {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.0
    }
}

impl World {
    async fn new() -> Self {
        Self(Emulator::new().await)
    }

    fn vars(&self, timeout_seconds: &str) -> HashMap<String, String> {
        common::vars(&[
            ("DEAD_LETTER_QUEUE_URL", &self.queue),
            ("SAGA_TABLE", &self.table),
            ("ORDER_COMMANDS_STREAM", &self.commands),
            ("ORDER_EVENTS_STREAM", &self.events),
            ("SAGA_STEP_TIMEOUT_SECONDS", timeout_seconds),
        ])
    }

    /// The function as Lambda runs it, with the step timeout given.
    fn saga(&self, timeout_seconds: &str) -> order_saga_step::SagaPipeline {
        let config = order_saga_step::Config::from_vars(&self.vars(timeout_seconds)).unwrap();
        assert_eq!(
            config.step_timeout.as_secs().to_string(),
            timeout_seconds,
            "read at start"
        );
        order_saga_step::build_pipeline(&self.cfg, &config)
    }

    fn simulator(&self) -> participant_simulator::SimulatorPipeline {
        let config = participant_simulator::Config::from_vars(&self.vars("300")).unwrap();
        participant_simulator::build_pipeline(&self.cfg, &config)
    }

    fn store(&self) -> DynamoDbSagaStore {
        DynamoDbSagaStore::new(aws_sdk_dynamodb::Client::new(&self.cfg), self.table.clone())
    }

    async fn place(&self, order: &str) {
        self.0
            .place(order, EventId::derived(&["placed", order]))
            .await;
    }

    /// Hands `records` of the events stream to `pipeline` as one batch.
    async fn deliver_events(&self, pipeline: &order_saga_step::SagaPipeline, records: &[Record]) {
        deliver(pipeline, records, &self.events_arn).await;
    }

    /// Hands `records` of the commands stream to the payment and shipping
    /// simulator.
    async fn answer(&self, records: &[Record]) {
        deliver(&self.simulator(), records, &self.commands_arn).await;
    }
}

fn of(records: &[Record], order: &str, kind: Option<EventKind>) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.partition_key() == Some(order))
        .filter(|r| {
            kind.is_none_or(|k| Envelope::parse(r.data().as_ref()).unwrap().kind() == Some(k))
        })
        .cloned()
        .collect()
}

use EventKind::*;

/// How far a test has read the two streams.
#[derive(Default)]
struct Seen {
    events: usize,
    commands: usize,
}

impl World {
    async fn new_events(&self, seen: &mut Seen) -> Vec<Record> {
        new_records(&self.cfg, &self.events, &mut seen.events).await
    }

    async fn new_commands(&self, seen: &mut Seen) -> Vec<Record> {
        new_records(&self.cfg, &self.commands, &mut seen.commands).await
    }
}

/// Places o-stuck (1 s deadlines) and o-fresh (an hour); o-stuck's
/// reservation succeeds and its payment is never answered. The item of
/// o-fresh after that.
async fn leave_o_stuck_awaiting_payment(
    world: &World,
    patient: &order_saga_step::SagaPipeline,
    seen: &mut Seen,
) -> HashMap<String, AttributeValue> {
    let quick = world.saga("1");
    world.place("o-stuck").await;
    world.place("o-fresh").await;
    let events = world.new_events(seen).await;
    world
        .deliver_events(&quick, &of(&events, "o-stuck", None))
        .await;
    world
        .deliver_events(patient, &of(&events, "o-fresh", None))
        .await;
    let commands = world.new_commands(seen).await;
    world
        .answer_inventory(&of(&commands, "o-stuck", None))
        .await;
    let events = world.new_events(seen).await;
    world.deliver_events(&quick, &events).await;
    assert_eq!(
        s(&world.item("o-stuck").await, "step").as_deref(),
        Some("PROCESS_PAYMENT")
    );
    world.item("o-fresh").await
}

/// The sweep as the binary builds it, a minute later: o-stuck timed out.
async fn sweep_a_minute_later(world: &World) {
    let config = SweepConfig::from_vars(&world.vars("300")).unwrap();
    let sweeper = build_sweeper(&world.cfg, &config);
    let report = sweeper.run(now_millis() + 60_000, deadline()).await;
    assert_eq!(
        (
            report.due,
            report.timed_out,
            report.failed,
            report.unpublished
        ),
        (1, 1, 0, 0),
        "{report:?}"
    );
    assert!(report.scanned >= 2 && report.resume.is_none(), "{report:?}");
    let stuck = world.item("o-stuck").await;
    assert_eq!(s(&stuck, "status").as_deref(), Some("COMPENSATING"));
    assert_eq!(s(&stuck, "reason").as_deref(), Some("TIMED_OUT"));
    assert_eq!(
        s(&stuck, "reasonDetail").as_deref(),
        Some("no reply to PROCESS_PAYMENT by its deadline")
    );
}

/// The payment service answers the refund, inventory the release: o-stuck
/// ends FAILED with TIMED_OUT. Its item then.
async fn compensate_o_stuck(
    world: &World,
    patient: &order_saga_step::SagaPipeline,
    seen: &mut Seen,
) -> HashMap<String, AttributeValue> {
    // The compensation is on the stream: the payment is refunded, the
    // payment request in flight included.
    let commands = world.new_commands(seen).await;
    assert_eq!(
        kinds(&world.written(&world.commands, "o-stuck").await),
        [ReserveInventory, ProcessPayment, RefundPayment]
    );
    world
        .answer(&of(&commands, "o-stuck", Some(RefundPayment)))
        .await;
    let events = world.new_events(seen).await;
    world.deliver_events(patient, &events).await;
    let commands = world.new_commands(seen).await;
    world.answer_inventory(&commands).await;
    let events = world.new_events(seen).await;
    world.deliver_events(patient, &events).await;

    let stuck = world.item("o-stuck").await;
    assert_eq!(s(&stuck, "status").as_deref(), Some("FAILED"));
    assert!(!stuck.contains_key("stepDeadline"));
    let written = world.written(&world.events, "o-stuck").await;
    let (last, failed) = written.last().unwrap();
    assert_eq!(*last, OrderFailed);
    assert_eq!(failed["reason"], "TIMED_OUT");
    assert_eq!(
        kinds(&world.written(&world.commands, "o-stuck").await),
        [
            ReserveInventory,
            ProcessPayment,
            RefundPayment,
            ReleaseInventory
        ]
    );
    stuck
}

#[tokio::test]
async fn a_saga_left_waiting_is_compensated_and_ends_failed_timed_out() {
    let world = World::new().await;
    let patient = world.saga("3600");
    let mut seen = Seen::default();
    let fresh_before = leave_o_stuck_awaiting_payment(&world, &patient, &mut seen).await;
    sweep_a_minute_later(&world).await;
    // Within its deadline: not a single attribute changed.
    assert_eq!(world.item("o-fresh").await, fresh_before);
    let stuck = compensate_o_stuck(&world, &patient, &mut seen).await;

    // The payment service answers the payment too, late: that
    // PAYMENT_PROCESSED changes nothing.
    let all_commands = testkit::read_stream(&world.cfg, &world.commands).await;
    world
        .answer(&of(&all_commands, "o-stuck", Some(ProcessPayment)))
        .await;
    let events = world.new_events(&mut seen).await;
    assert_eq!(of(&events, "o-stuck", Some(PaymentProcessed)).len(), 1);
    world.deliver_events(&patient, &events).await;
    assert_eq!(world.item("o-stuck").await, stuck);
    assert!(world.dead_letters().await.is_empty());
}

/// The reply of one test round, as a delivered record.
fn reply(order: &str) -> IncomingEvent {
    let payload = format!(
        r#"{{"orderId":"{order}","sagaId":"{order}","items":[{{"productId":"p-1","quantity":3}}]}}"#
    );
    incoming(
        Event::parse(InventoryReserved, &payload).unwrap(),
        &format!("reserved-{order}"),
    )
}

fn incoming(event: Event, id: &str) -> IncomingEvent {
    delivery(event, id, id)
}

/// Starts `order`'s saga with a deadline already passed by the time the
/// sweep runs.
async fn start_overdue(store: &DynamoDbSagaStore, order: &str) {
    let handler = SagaHandler::new(store.clone()).with_step_timeout(Duration::from_millis(1));
    let placed = Event::parse(EventKind::OrderPlaced, &placed_payload(order)).unwrap();
    let handled = handler
        .handle(incoming(placed, &format!("placed-{order}")))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Done { .. }));
}

/// Two fake streams and the saga's publisher over them.
fn fakes() -> (Arc<FakePutRecords>, Arc<FakePutRecords>, FakeSagaPublisher) {
    let (commands, events) = (
        Arc::new(FakePutRecords::default()),
        Arc::new(FakePutRecords::default()),
    );
    let publisher = fake_publisher(&commands, &events, 6);
    (commands, events, publisher)
}

async fn saga_of(store: &DynamoDbSagaStore, order: &str) -> order_saga_step::Saga {
    store
        .load(&OrderId::parse(order).unwrap())
        .await
        .unwrap()
        .unwrap()
        .saga
}

#[tokio::test]
async fn a_sweep_racing_a_real_reply_applies_exactly_one_of_them() {
    let world = World::new().await;
    let store = world.store();
    let options = SweepOptions::new(Duration::from_secs(300));
    reply_between_read_and_write(&store, &options).await;
    sweep_writes_first(&store, &options).await;
    truly_concurrent(&store, &options).await;
}

/// When the sweep's runs of these races happen: past every deadline.
fn later() -> u64 {
    now_millis() + 5_000
}

/// The reply lands between the sweep's read and its write: the sweep's
/// conditional write fails, it reads again, and finds nothing due.
async fn reply_between_read_and_write(store: &DynamoDbSagaStore, options: &SweepOptions) {
    start_overdue(store, "o-reply-first").await;
    let racing = ReplyBeforeFirstSave::new(store.clone(), reply("o-reply-first"));
    let (commands, _, publisher) = fakes();
    let report = sweep(&racing, &publisher, options, later(), None, deadline()).await;
    assert!(matches!(racing.reply_handled(), Some(Handled::Done { .. })));
    assert_eq!((report.timed_out, report.superseded), (0, 1), "{report:?}");
    let saga = saga_of(store, "o-reply-first").await;
    assert_eq!(
        (saga.status(), saga.phase.step_name(), saga.version),
        (SagaStatus::Running, "PROCESS_PAYMENT", 2)
    );
    assert!(commands.landed().is_empty(), "the sweep sent nothing");
}

/// The sweep writes first: the reply is then out of date.
async fn sweep_writes_first(store: &DynamoDbSagaStore, options: &SweepOptions) {
    start_overdue(store, "o-sweep-first").await;
    let (commands, _, publisher) = fakes();
    let report = sweep(store, &publisher, options, later(), None, deadline()).await;
    assert_eq!(report.timed_out, 1, "{report:?}");
    let handled = SagaHandler::new(store.clone())
        .handle(reply("o-sweep-first"))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Skipped { .. }), "{handled:?}");
    let saga = saga_of(store, "o-sweep-first").await;
    assert_eq!((saga.status(), saga.version), (SagaStatus::Compensating, 2));
    assert_eq!(commands.landed().len(), 1);
}

/// Truly concurrent, several rounds: whoever wins, exactly one applies.
async fn truly_concurrent(store: &DynamoDbSagaStore, options: &SweepOptions) {
    for round in 0..5 {
        let order = format!("o-race-{round}");
        start_overdue(store, &order).await;
        let (commands, _, publisher) = fakes();
        let handler = SagaHandler::new(store.clone());
        let (report, handled) = tokio::join!(
            sweep(store, &publisher, options, later(), None, deadline()),
            handler.handle(reply(&order)),
        );
        let reply_applied = matches!(handled.unwrap(), Handled::Done { .. });
        let sweep_applied = report.timed_out == 1;
        assert!(
            reply_applied != sweep_applied,
            "round {round}: reply {reply_applied}, sweep {sweep_applied}: {report:?}"
        );
        let saga = saga_of(store, &order).await;
        assert_eq!(saga.version, 2, "round {round}: one write");
        let expected = if sweep_applied {
            SagaStatus::Compensating
        } else {
            SagaStatus::Running
        };
        assert_eq!(saga.status(), expected, "round {round}");
        assert_eq!(
            commands.landed().len(),
            usize::from(sweep_applied),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn scans_page_through_the_table_and_runs_go_on_where_the_last_stopped() {
    let world = World::new().await;
    let store = world.store();
    for n in 0..5 {
        start_overdue(&store, &format!("o-{n}")).await;
    }
    // Something that is not a saga: reported, left alone, never a panic.
    aws_sdk_dynamodb::Client::new(&world.cfg)
        .put_item()
        .table_name(&world.table)
        .item("orderId", AttributeValue::S("junk".into()))
        .item("status", AttributeValue::S("RUNNING".into()))
        .item("stepDeadline", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();

    let (commands, _, publisher) = fakes();
    let options = SweepOptions {
        page_size: 2,
        max_sagas: 2,
        ..SweepOptions::new(Duration::from_secs(300))
    };
    let sweeper = Sweeper::new(store.clone(), publisher, options);
    let now = now_millis() + 5_000;
    let mut runs = Vec::new();
    loop {
        let report = sweeper.run(now, deadline()).await;
        let done = report.resume.is_none();
        runs.push(report);
        if done || runs.len() > 6 {
            break;
        }
    }
    let timed_out: Vec<usize> = runs.iter().map(|r| r.timed_out).collect();
    assert_eq!(timed_out.iter().sum::<usize>(), 5, "{runs:#?}");
    assert!(timed_out.iter().all(|&n| n <= 2), "{runs:#?}");
    assert!(runs.len() >= 3, "bounded runs: {runs:#?}");
    assert_eq!(runs.iter().map(|r| r.unreadable).sum::<usize>(), 1);
    assert_eq!(commands.landed().len(), 5, "one compensation per saga");
    for n in 0..5 {
        let saga = saga_of(&store, &format!("o-{n}")).await;
        assert_eq!(saga.status(), SagaStatus::Compensating, "o-{n}");
    }
    // Nothing is due any more; the junk is still there, untouched.
    let (_, _, publisher) = fakes();
    let report = sweep(
        &store,
        &publisher,
        &SweepOptions::new(Duration::from_secs(300)),
        now,
        None,
        deadline(),
    )
    .await;
    assert_eq!(
        (report.timed_out, report.unreadable, report.scanned),
        (0, 1, 6)
    );
    let junk = world.item("junk").await;
    assert_eq!(junk.len(), 3);
}

#[tokio::test]
async fn an_order_failed_that_did_not_land_is_marked_and_published_by_the_next_run() {
    let world = World::new().await;
    let store = world.store();
    start_overdue(&store, "o-1").await;
    // A 1 ms step timeout: every run finds the saga overdue again.
    let options = SweepOptions::new(Duration::from_millis(1));
    let mut now = now_millis() + 5_000;
    let (commands, _, publisher) = fakes();
    // Timed out, then the release re-sent five times.
    for _ in 0..6 {
        now += 10;
        let report = sweep(&store, &publisher, &options, now, None, deadline()).await;
        assert_eq!(
            report.timed_out + report.compensations_resent,
            1,
            "{report:?}"
        );
    }
    assert_eq!(commands.landed().len(), 6);

    // The events stream refuses the ORDER_FAILED.
    let refusing = Arc::new(FakePutRecords::failing(|_, _| true));
    let down = fake_publisher(&commands, &refusing, 6);
    now += 10;
    let report = sweep(&store, &down, &options, now, None, deadline()).await;
    assert_eq!((report.failed, report.unpublished), (1, 1), "{report:?}");
    let item = world.item("o-1").await;
    assert_eq!(s(&item, "status").as_deref(), Some("FAILED"));
    assert_eq!(item.get("outboxPending"), Some(&AttributeValue::Bool(true)));
    assert_eq!(s(&item, "reason").as_deref(), Some("TIMED_OUT"));

    // The next run publishes the stored ORDER_FAILED and clears the mark.
    let (_, events, publisher) = fakes();
    let report = sweep(&store, &publisher, &options, now, None, deadline()).await;
    assert_eq!(
        (report.republished, report.unpublished),
        (1, 0),
        "{report:?}"
    );
    let landed = events.landed();
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].kind, OrderFailed);
    let after = world.item("o-1").await;
    assert!(!after.contains_key("outboxPending"));
    assert_eq!(after.get("version"), item.get("version"));
    let report = sweep(&store, &publisher, &options, now, None, deadline()).await;
    assert_eq!(report.due, 0);
}
