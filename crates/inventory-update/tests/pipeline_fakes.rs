//! The whole function (core pipeline + handler) with in-memory fakes for
//! every side effect: stock, replies, dead letters and PutRecords.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use order_events::{Envelope, Event, EventKind, OutgoingRecord};
use stream_core::{
    BatchOutcome, CoreConfig, Deadline, FakePutRecords, InMemoryDeadLetters,
    InMemoryIdempotencyStore, KinesisEvent, OrderedPublisher, Pipeline, RetryPolicy,
};

use common::{
    items, kinesis_event, order_cancelled, order_created, release, release_for, reserve,
    reserve_for, sequence,
};
use inventory_update::{assemble, Fault, InMemoryStockStore, InventoryHandler};

type FakePipeline = Pipeline<
    InventoryHandler<Arc<InMemoryStockStore>, Arc<InMemoryIdempotencyStore>>,
    Arc<InMemoryDeadLetters>,
    OrderedPublisher<Arc<FakePutRecords>>,
>;

fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        deadline_margin: Duration::from_millis(1),
    }
}

struct Fixture {
    stock: Arc<InMemoryStockStore>,
    replies: Arc<InMemoryIdempotencyStore>,
    dead: Arc<InMemoryDeadLetters>,
    put: Arc<FakePutRecords>,
    pipeline: FakePipeline,
}

impl Fixture {
    fn new(stock: &[(&str, i64)]) -> Self {
        Self::with_put_records(stock, FakePutRecords::default())
    }

    fn with_put_records(stock: &[(&str, i64)], put: FakePutRecords) -> Self {
        let stock = Arc::new(InMemoryStockStore::with_stock(stock.iter().copied()));
        let replies = Arc::new(InMemoryIdempotencyStore::default());
        let dead = Arc::new(InMemoryDeadLetters::default());
        let put = Arc::new(put);
        let handler =
            InventoryHandler::new(stock.clone(), replies.clone()).with_retry_policy(quick(4));
        let pipeline = assemble(
            handler,
            dead.clone(),
            OrderedPublisher::new(put.clone(), quick(2)),
            CoreConfig::new("inventory-update-test"),
        );
        Self {
            stock,
            replies,
            dead,
            put,
            pipeline,
        }
    }

    async fn run(&self, event: &KinesisEvent) -> BatchOutcome {
        self.pipeline
            .process(event, Deadline::in_(Duration::from_secs(60)))
            .await
    }

    /// Delivers one batch of `records`.
    async fn deliver(&self, records: impl IntoIterator<Item = (String, Vec<u8>)>) -> BatchOutcome {
        self.run(&kinesis_event(records)).await
    }

    fn available(&self, product: &str) -> Option<i64> {
        self.stock.available(product)
    }
}

fn parse(record: &OutgoingRecord) -> Event {
    let envelope = Envelope::parse(&record.data).unwrap();
    assert_eq!(envelope.event_id(), Some(record.event_id.as_str()));
    envelope.event(envelope.kind().unwrap()).unwrap()
}

fn quantities(lines: &[order_events::OrderLine]) -> Vec<(String, u32)> {
    lines
        .iter()
        .map(|l| (l.product_id.to_string(), l.quantity.get()))
        .collect()
}

#[tokio::test]
async fn order_created_reserves_every_line_and_answers_nothing() {
    let f = Fixture::new(&[("p-1", 10), ("p-2", 5)]);
    let outcome = f
        .deliver([order_created("e-1", "o-1", &[("p-1", 2), ("p-2", 1)])])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(outcome.report.processed, 1);
    assert_eq!((f.available("p-1"), f.available("p-2")), (Some(8), Some(4)));
    assert!(
        f.put.calls().is_empty(),
        "events from outside producers get no reply"
    );
    assert_eq!(
        f.stock.reserve_calls(),
        1,
        "one store call per order, not per line"
    );
}

#[tokio::test]
async fn a_batch_delivered_twice_changes_stock_once_and_resends_the_same_replies() {
    let f = Fixture::new(&[("p-1", 10), ("p-2", 5)]);
    let batch = kinesis_event([
        order_created("e-1", "o-1", &[("p-1", 2)]),
        reserve("c-2", "o-2", &[("p-1", 1), ("p-2", 2)]),
        release("c-3", "o-9"),
    ]);
    let first = f.run(&batch).await;
    let second = f.run(&batch).await;
    assert!(first.failed_sequence_numbers().is_empty());
    assert!(second.failed_sequence_numbers().is_empty());
    assert_eq!((first.report.processed, first.report.skipped), (3, 0));
    assert_eq!(second.report.duplicates, 3);
    assert_eq!((f.available("p-1"), f.available("p-2")), (Some(7), Some(3)));
    let calls = f.put.calls();
    assert_eq!(calls.len(), 2, "one PutRecords call per delivery");
    assert_eq!(
        calls[0], calls[1],
        "a redelivery re-sends the very same replies"
    );
    let kinds: Vec<_> = calls[0].iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::InventoryReserved, EventKind::InventoryReleased]
    );
}

#[tokio::test]
async fn the_event_and_the_command_of_one_order_hold_its_stock_once() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([order_created("e-1", "o-1", &[("p-1", 3)])])
        .await;
    let outcome = f.deliver([reserve("c-1", "o-1", &[("p-1", 3)])]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(7));
    let landed = f.put.landed();
    assert_eq!(landed.len(), 1);
    let Event::InventoryReserved(reply) = parse(&landed[0]) else {
        panic!("expected INVENTORY_RESERVED")
    };
    assert_eq!(reply.saga_id.as_str(), "saga-o-1");
    assert_eq!(
        quantities(reply.items.as_slice()),
        vec![("p-1".to_owned(), 3)]
    );
}

#[tokio::test]
async fn releasing_twice_gives_back_once_and_an_unreserved_order_changes_nothing() {
    let f = Fixture::new(&[("p-1", 10), ("p-2", 10)]);
    f.deliver([order_created("e-1", "o-1", &[("p-1", 4), ("p-2", 1)])])
        .await;
    assert_eq!(f.available("p-1"), Some(6));
    let cancel = kinesis_event([order_cancelled("x-1", "o-1")]);
    let first = f.run(&cancel).await;
    let second = f.run(&cancel).await;
    assert_eq!(first.report.processed, 1);
    assert_eq!(second.report.duplicates, 1);
    assert_eq!(
        (f.available("p-1"), f.available("p-2")),
        (Some(10), Some(10))
    );

    // A saga's release after the cancellation: nothing left to give back.
    let outcome = f.deliver([release("c-1", "o-1")]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(10));
    let Event::InventoryReleased(reply) = parse(&f.put.landed()[0]) else {
        panic!("expected INVENTORY_RELEASED")
    };
    assert!(reply.items.is_empty());
    assert_eq!(reply.saga_id.unwrap().as_str(), "saga-o-1");

    let never = f.deliver([order_cancelled("x-2", "o-never")]).await;
    assert_eq!(never.report.skipped, 1);
    assert_eq!(f.available("p-1"), Some(10));
}

#[tokio::test]
async fn a_release_command_answers_with_the_units_it_gave_back() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([reserve("c-1", "o-1", &[("p-1", 4)])]).await;
    f.deliver([release("c-2", "o-1")]).await;
    assert_eq!(f.available("p-1"), Some(10));
    let landed = f.put.landed();
    let Event::InventoryReleased(reply) = parse(&landed[1]) else {
        panic!("expected INVENTORY_RELEASED")
    };
    assert_eq!(quantities(&reply.items), vec![("p-1".to_owned(), 4)]);
}

#[tokio::test]
async fn short_stock_on_order_created_is_logged_and_acknowledged_all_or_none() {
    let (logs, _guard) = capture_logs();
    let f = Fixture::new(&[("p-1", 10), ("p-2", 10), ("p-3", 1)]);
    let outcome = f
        .deliver([order_created(
            "e-1",
            "o-1",
            &[("p-1", 1), ("p-2", 2), ("p-3", 2)],
        )])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert!(
        f.dead.letters().is_empty(),
        "a business outcome, not a dead letter"
    );
    assert_eq!(
        (f.available("p-1"), f.available("p-2"), f.available("p-3")),
        (Some(10), Some(10), Some(1)),
        "the short last line leaves the earlier lines untouched"
    );
    assert!(f.stock.reserved_lines("o-1").is_none());
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l["effect"] == "insufficient_stock")
        .expect("an insufficient_stock log line");
    assert_eq!(line["productId"], "p-3");
    assert_eq!(line["orderId"], "o-1");
    assert_eq!(line["requested"], 2);
    assert_eq!(line["available"], 1);
}

#[tokio::test]
async fn an_unknown_product_dead_letters_an_event_and_fails_a_command() {
    let f = Fixture::new(&[("p-1", 10)]);
    let outcome = f
        .deliver([
            order_created("e-1", "o-1", &[("p-1", 1), ("p-x", 1)]),
            reserve("c-2", "o-2", &[("p-1", 1), ("p-y", 1)]),
        ])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(10));
    let letters = f.dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].reason,
        "unknown product p-x in order o-1; nothing reserved"
    );
    assert_eq!(letters[0].sequence_number, sequence(1));
    let Event::InventoryReservationFailed(reply) = parse(&f.put.landed()[0]) else {
        panic!("expected INVENTORY_RESERVATION_FAILED")
    };
    assert_eq!(reply.reason, "UNKNOWN_PRODUCT");
    assert_eq!(reply.product_id.unwrap().as_str(), "p-y");
    assert_eq!(reply.saga_id.as_str(), "saga-o-2");
}

#[tokio::test]
async fn a_redelivered_command_replays_its_reply_even_after_stock_changed() {
    let f = Fixture::new(&[("p-1", 1)]);
    let command = kinesis_event([reserve("c-1", "o-1", &[("p-1", 2)])]);
    f.run(&command).await;
    f.stock.set_available("p-1", 100);
    let again = f.run(&command).await;
    assert_eq!(again.report.duplicates, 1);
    let calls = f.put.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0], calls[1],
        "same eventId, same payload, same timestamp"
    );
    let Event::InventoryReservationFailed(reply) = parse(&calls[1][0]) else {
        panic!("expected INVENTORY_RESERVATION_FAILED")
    };
    assert_eq!(reply.reason, "OUT_OF_STOCK");
    assert_eq!(f.available("p-1"), Some(100), "the replay reserved nothing");
    assert_eq!(f.stock.reserve_calls(), 1);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_reports_the_record_for_retry() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.stock.fail_always(Some(Fault::Throttled));
    let batch = kinesis_event([
        reserve("c-1", "o-1", &[("p-1", 1)]),
        order_created("e-2", "o-1", &[("p-1", 1)]),
        order_created("e-3", "o-3", &[("p-1", 1)]),
    ]);
    let outcome = f.run(&batch).await;
    // o-1's command failed, so o-1's later record is not attempted either;
    // Lambda resumes from the lowest reported number.
    assert_eq!(
        outcome.failed_sequence_numbers(),
        vec![sequence(1), sequence(2), sequence(3)]
    );
    assert_eq!(outcome.report.transient_failures, 2);
    assert_eq!(outcome.report.not_attempted, 1);
    assert_eq!(
        f.stock.reserve_calls(),
        8,
        "4 attempts for each of the two records tried"
    );
    assert!(
        f.put.calls().is_empty(),
        "no reply for a command that did not run"
    );
    assert!(
        f.replies.is_empty(),
        "the claim is released so the redelivery runs"
    );
    assert!(f.dead.letters().is_empty());

    f.stock.fail_always(None);
    let retried = f.run(&batch).await;
    assert!(retried.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(8), "o-1 once, o-3 once");
    assert_eq!(f.put.landed().len(), 1);
}

#[tokio::test]
async fn brief_throttling_and_conflicts_are_retried_within_the_delivery() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.stock.fail_next(1, Fault::Throttled);
    f.stock.fail_next(2, Fault::Conflict);
    let outcome = f
        .deliver([order_created("e-1", "o-1", &[("p-1", 1)])])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.stock.reserve_calls(), 4);
    assert_eq!(f.available("p-1"), Some(9));
}

#[tokio::test]
async fn a_rejected_request_dead_letters_events_and_fails_reserve_commands() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.stock
        .fail_always(Some(Fault::Rejected("ValidationException: bad key".into())));
    let outcome = f
        .deliver([
            order_created("e-1", "o-1", &[("p-1", 1)]),
            reserve("c-2", "o-2", &[("p-1", 1)]),
            release("c-3", "o-3"),
        ])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(
        f.stock.reserve_calls() + f.stock.release_calls(),
        3,
        "never retried"
    );
    let reasons: Vec<_> = f.dead.letters().into_iter().map(|l| l.reason).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("ValidationException: bad key")),
        "{reasons:?}"
    );
    let landed = f.put.landed();
    assert_eq!(landed.len(), 1);
    let Event::InventoryReservationFailed(reply) = parse(&landed[0]) else {
        panic!("expected INVENTORY_RESERVATION_FAILED")
    };
    assert_eq!(reply.reason, "OTHER", "a code, never the error's text");
    assert!(reply.product_id.is_none());
}

#[tokio::test]
async fn replies_to_twenty_commands_go_out_in_one_put_records_call() {
    let f = Fixture::new(&[("p-1", 1000), ("p-2", 1000)]);
    let records: Vec<_> = (0..20)
        .map(|i| {
            reserve(
                &format!("c-{i}"),
                &format!("o-{i}"),
                &[("p-1", 1), ("p-2", 2)],
            )
        })
        .collect();
    let outcome = f.deliver(records).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(outcome.report.publish_calls, 1);
    let calls = f.put.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].len(), 20);
    assert_eq!(f.stock.reserve_calls(), 20, "one store call per order");
    assert_eq!(
        (f.available("p-1"), f.available("p-2")),
        (Some(980), Some(960))
    );
    for (record, i) in calls[0].iter().zip(0..) {
        assert_eq!(
            record.partition_key,
            format!("o-{i}"),
            "replies are keyed by order"
        );
    }
}

#[tokio::test]
async fn a_reply_that_could_not_be_published_is_resent_on_redelivery() {
    // Every entry of the first two PutRecords calls fails: the publisher
    // gives up and the command is reported for retry.
    let f = Fixture::with_put_records(&[("p-1", 10)], FakePutRecords::failing(|call, _| call < 2));
    let batch = kinesis_event([reserve("c-1", "o-1", &[("p-1", 3)])]);
    let first = f.run(&batch).await;
    assert_eq!(first.failed_sequence_numbers(), vec![sequence(1)]);
    assert!(f.put.landed().is_empty());
    assert_eq!(
        f.available("p-1"),
        Some(7),
        "the stock was taken before publishing failed"
    );

    let second = f.run(&batch).await;
    assert!(second.failed_sequence_numbers().is_empty());
    assert_eq!(second.report.duplicates, 1);
    assert_eq!(f.available("p-1"), Some(7), "taken once");
    let calls = f.put.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        f.put.landed(),
        calls[0],
        "the record that landed is the one first attempted"
    );
}

#[tokio::test]
async fn an_order_of_more_than_fifty_lines_is_dead_lettered_untouched() {
    let f = Fixture::new(&[("p-1", 10)]);
    let lines: Vec<(String, u32)> = (0..51).map(|i| (format!("p-{i}"), 1)).collect();
    let lines: Vec<(&str, u32)> = lines.iter().map(|(p, q)| (p.as_str(), *q)).collect();
    let outcome = f
        .deliver([
            order_created("e-1", "o-1", &lines),
            reserve("c-2", "o-2", &lines),
        ])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(outcome.report.invalid_records, 2);
    let letters = f.dead.letters();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.reason.contains("more than 50 distinct products")),
        "{letters:?}"
    );
    assert_eq!(f.stock.reserve_calls(), 0);
    assert!(f.put.calls().is_empty());
}

#[tokio::test]
async fn a_poison_record_does_not_stop_the_records_after_it() {
    let f = Fixture::new(&[("p-1", 10)]);
    let outcome = f
        .deliver([
            order_created("e-1", "o-1", &[("p-1", 1)]),
            ("o-1".to_owned(), b"not json at all".to_vec()),
            order_created("e-3", "o-1", &[("p-1", 1)]),
            order_created("e-4", "o-4", &[("p-1", 2)]),
        ])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(7));
    let letters = f.dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].sequence_number, sequence(2));
    assert_eq!(
        letters[0].data.as_deref(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(b"not json at all")
                .as_str()
        )
    );
}

#[tokio::test]
async fn cqrs_shaped_commands_answer_with_the_order_as_saga() {
    let f = Fixture::new(&[("p-1", 10)]);
    let data = br#"{"commandType":"RESERVE_INVENTORY","orderId":"o-7","userId":"u-1","items":[{"productId":"p-1","quantity":2}]}"#;
    let outcome = f.deliver([("o-7".to_owned(), data.to_vec())]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(8));
    let Event::InventoryReserved(reply) = parse(&f.put.landed()[0]) else {
        panic!("expected INVENTORY_RESERVED")
    };
    assert_eq!(reply.saga_id.as_str(), "o-7");
}

#[tokio::test]
async fn other_types_are_skipped_without_touching_stock() {
    let f = Fixture::new(&[("p-1", 10)]);
    let placed = serde_json::json!({
        "eventType": "ORDER_PLACED",
        "payload": {"orderId": "o-1", "userId": "u-1", "items": items(&[("p-1", 1)])}
    });
    let outcome = f
        .deliver([("o-1".to_owned(), placed.to_string().into_bytes())])
        .await;
    assert_eq!(outcome.report.skipped, 1);
    assert_eq!(f.stock.reserve_calls(), 0);
}

/// The reply events published so far, parsed.
fn replies(f: &Fixture) -> Vec<Event> {
    f.put.landed().iter().map(parse).collect()
}

fn capture_logs() -> (
    stream_core::logging::CapturedLogs,
    tracing::subscriber::DefaultGuard,
) {
    let logs = stream_core::logging::CapturedLogs::default();
    let guard = tracing::subscriber::set_default(stream_core::logging::json_subscriber(
        logs.clone(),
        stream_core::logging::level_filter("info"),
    ));
    (logs, guard)
}

#[tokio::test]
async fn order_cancelled_leaves_a_saga_reservation_alone_and_says_why() {
    let (logs, _guard) = capture_logs();
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([reserve("c-1", "o-1", &[("p-1", 4)])]).await;
    assert_eq!(f.available("p-1"), Some(6));

    let outcome = f.deliver([order_cancelled("x-1", "o-1")]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(outcome.report.skipped, 1);
    assert_eq!(f.available("p-1"), Some(6), "the saga's stock stays held");
    assert!(f.stock.reserved_lines("o-1").is_some());
    assert!(f.dead.letters().is_empty());
    let skipped = logs
        .lines()
        .into_iter()
        .find(|l| l["outcome"] == "skipped" && l["eventType"] == "ORDER_CANCELLED")
        .expect("a skipped log line for the cancellation");
    assert_eq!(skipped["orderId"], "o-1");
    assert!(
        skipped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("belongs to a saga")),
        "{skipped}"
    );

    // The saga's own release gives the stock back, once.
    f.deliver([release("c-2", "o-1")]).await;
    f.deliver([release("c-3", "o-1")]).await;
    assert_eq!(f.available("p-1"), Some(10));
    let released: Vec<_> = replies(&f)
        .into_iter()
        .filter_map(|e| match e {
            Event::InventoryReleased(r) => Some(quantities(&r.items)),
            _ => None,
        })
        .collect();
    assert_eq!(released, vec![vec![("p-1".to_owned(), 4)], vec![]]);
}

#[tokio::test]
async fn a_saga_release_leaves_an_order_created_reservation_alone() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([order_created("e-1", "o-1", &[("p-1", 3)])])
        .await;
    let outcome = f.deliver([release("c-1", "o-1")]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(f.available("p-1"), Some(7), "nothing given back");
    assert_eq!(f.stock.owner("o-1"), Some(Some("ORDER_CREATED".into())));
    let Event::InventoryReleased(reply) = &replies(&f)[0] else {
        panic!("expected INVENTORY_RELEASED")
    };
    assert!(reply.items.is_empty());
    assert_eq!(reply.saga_id.as_ref().unwrap().as_str(), "saga-o-1");

    // ORDER_CANCELLED, the owner, releases it, once.
    let cancel = kinesis_event([order_cancelled("x-1", "o-1")]);
    f.run(&cancel).await;
    f.deliver([order_cancelled("x-2", "o-1")]).await;
    f.run(&cancel).await;
    assert_eq!(f.available("p-1"), Some(10));
}

#[tokio::test]
async fn each_owner_releases_its_own_reservation_once_whatever_arrives() {
    let f = Fixture::new(&[("p-1", 100), ("p-2", 100)]);
    f.deliver([
        order_created("e-1", "o-1", &[("p-1", 5)]),
        reserve("c-2", "o-2", &[("p-1", 7), ("p-2", 1)]),
    ])
    .await;
    assert_eq!(
        (f.available("p-1"), f.available("p-2")),
        (Some(88), Some(99))
    );
    // Every release of both orders, each delivered twice, and again with
    // new ids.
    let releases = kinesis_event([
        order_cancelled("x-1", "o-1"),
        release("r-1", "o-1"),
        order_cancelled("x-2", "o-2"),
        release("r-2", "o-2"),
    ]);
    f.run(&releases).await;
    f.run(&releases).await;
    f.deliver([
        order_cancelled("x-1b", "o-1"),
        release("r-1b", "o-1"),
        order_cancelled("x-2b", "o-2"),
        release("r-2b", "o-2"),
    ])
    .await;
    assert_eq!(
        (f.available("p-1"), f.available("p-2")),
        (Some(100), Some(100))
    );
    let given_back: Vec<(String, Vec<(String, u32)>)> = replies(&f)
        .into_iter()
        .filter_map(|e| match e {
            Event::InventoryReleased(r) => Some((r.order_id.to_string(), quantities(&r.items))),
            _ => None,
        })
        .filter(|(_, items)| !items.is_empty())
        .collect();
    assert_eq!(
        given_back,
        vec![
            (
                "o-2".to_owned(),
                vec![("p-1".to_owned(), 7), ("p-2".to_owned(), 1)]
            ),
            // The redelivery re-sends the very same reply.
            (
                "o-2".to_owned(),
                vec![("p-1".to_owned(), 7), ("p-2".to_owned(), 1)]
            ),
        ],
        "only o-2's saga gave units back, and only in its first command's reply"
    );
}

#[tokio::test]
async fn a_saga_takes_over_the_order_created_reservation_so_a_late_cancel_cannot_release_it() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([order_created("e-1", "o-1", &[("p-1", 2)])])
        .await;
    f.deliver([reserve("c-1", "o-1", &[("p-1", 2)])]).await;
    assert_eq!(f.available("p-1"), Some(8), "held once");
    assert_eq!(f.stock.owner("o-1"), Some(Some("SAGA#saga-o-1".into())));
    let Event::InventoryReserved(reply) = &replies(&f)[0] else {
        panic!("expected INVENTORY_RESERVED")
    };
    assert_eq!(
        quantities(reply.items.as_slice()),
        vec![("p-1".to_owned(), 2)]
    );

    // The saga shipped; the cancellation comes too late and is refused by
    // the saga, so stock must not come back here either.
    f.deliver([order_cancelled("x-1", "o-1")]).await;
    assert_eq!(f.available("p-1"), Some(8));
    // A failing saga compensates instead: then the stock comes back.
    f.deliver([release("c-2", "o-1")]).await;
    assert_eq!(f.available("p-1"), Some(10));
}

#[tokio::test]
async fn another_saga_can_neither_reserve_nor_release_a_saga_reservation() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.deliver([reserve_for("c-1", "o-1", "s-a", &[("p-1", 2)])])
        .await;
    f.deliver([
        reserve_for("c-2", "o-1", "s-b", &[("p-1", 2)]),
        release_for("c-3", "o-1", "s-b"),
    ])
    .await;
    assert_eq!(f.available("p-1"), Some(8));
    assert_eq!(f.stock.owner("o-1"), Some(Some("SAGA#s-a".into())));
    let all = replies(&f);
    let Event::InventoryReservationFailed(refused) = &all[1] else {
        panic!("expected INVENTORY_RESERVATION_FAILED, got {:?}", all[1])
    };
    assert_eq!(refused.saga_id.as_str(), "s-b");
    assert_eq!(refused.reason, "OTHER");
    let Event::InventoryReleased(released) = &all[2] else {
        panic!("expected INVENTORY_RELEASED, got {:?}", all[2])
    };
    assert!(released.items.is_empty());
    f.deliver([release_for("c-4", "o-1", "s-a")]).await;
    assert_eq!(f.available("p-1"), Some(10));
}

#[tokio::test]
async fn a_reservation_without_an_owner_is_released_once_by_either_flow() {
    let f = Fixture::new(&[("p-1", 10)]);
    f.stock.reserve_without_owner("o-1", &[("p-1", 3)]);
    f.stock.reserve_without_owner("o-2", &[("p-1", 4)]);
    assert_eq!(f.available("p-1"), Some(3));
    f.deliver([order_cancelled("x-1", "o-1"), release("r-2", "o-2")])
        .await;
    assert_eq!(f.available("p-1"), Some(10));
    f.deliver([release("r-1", "o-1"), order_cancelled("x-2", "o-2")])
        .await;
    assert_eq!(f.available("p-1"), Some(10), "given back once each");

    // A saga reserving such an order takes it over like ORDER_CREATED's.
    f.stock.reserve_without_owner("o-3", &[("p-1", 5)]);
    f.deliver([reserve("c-3", "o-3", &[("p-1", 5)])]).await;
    assert_eq!(f.stock.owner("o-3"), Some(Some("SAGA#saga-o-3".into())));
    f.deliver([order_cancelled("x-3", "o-3")]).await;
    assert_eq!(f.available("p-1"), Some(5));
}

#[tokio::test]
async fn failure_replies_carry_reason_codes_and_the_product_never_error_text() {
    let f = Fixture::new(&[("p-1", 1), ("p-2", 10)]);
    for record in [
        reserve("c-1", "o-1", &[("p-2", 1), ("p-1", 2)]),
        reserve("c-2", "o-2", &[("p-ghost", 1)]),
        order_created("e-3", "o-3", &[("p-2", 1)]),
        order_cancelled("x-3", "o-3"),
        reserve("c-3", "o-3", &[("p-2", 1)]),
    ] {
        f.deliver([record]).await;
    }
    f.stock.fail_always(Some(Fault::Rejected(format!(
        "ValidationException: {}",
        "\u{202e}k".repeat(50_000)
    ))));
    f.deliver([reserve("c-4", "o-4", &[("p-2", 1)])]).await;
    let failures: Vec<(String, Option<String>)> = replies(&f)
        .into_iter()
        .filter_map(|e| match e {
            Event::InventoryReservationFailed(r) => {
                Some((r.reason, r.product_id.map(|p| p.to_string())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            ("OUT_OF_STOCK".to_owned(), Some("p-1".to_owned())),
            ("UNKNOWN_PRODUCT".to_owned(), Some("p-ghost".to_owned())),
            ("RESERVATION_RELEASED".to_owned(), None),
            ("OTHER".to_owned(), None),
        ]
    );
    for (reason, _) in &failures {
        let code = order_events::FailureReason::from_wire(reason);
        assert_eq!(code.code(), reason, "{reason} is one of the codes");
    }
}

#[tokio::test]
async fn huge_store_errors_reach_logs_and_dead_letters_bounded() {
    let (logs, _guard) = capture_logs();
    let f = Fixture::new(&[("p-1", 10)]);
    let huge = format!("ValidationException: {}", "x".repeat(100_000));
    f.stock.fail_always(Some(Fault::Rejected(huge)));
    let outcome = f
        .deliver([
            order_created("e-1", "o-1", &[("p-1", 1)]),
            reserve("c-2", "o-2", &[("p-1", 1)]),
        ])
        .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    let letters = f.dead.letters();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.len() < 512,
        "{} bytes",
        letters[0].reason.len()
    );
    assert!(
        letters[0].reason.contains("bytes in all]"),
        "{}",
        letters[0].reason
    );
    let lines = logs.lines();
    assert!(!lines.is_empty());
    for line in lines {
        let text = line.to_string();
        assert!(text.len() < 2048, "a log line of {} bytes", text.len());
    }
}
