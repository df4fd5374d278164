//! Publishing the saga's records: a partly failed PutRecords is re-sent,
//! failed entries only, until every record lands, and one order's commands
//! never overtake each other; a record whose commands never landed is
//! reported and, redelivered, sends the very same commands.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{batch, Harness};
use order_events::{EventKind, OutgoingRecord};
use serde_json::json;
use stream_core::testing::envelope;
use stream_core::{Deadline, FakePutRecords};

fn placed(order: &str, id: &str) -> Vec<u8> {
    let payload = json!({"orderId": order, "userId": "u-1", "total": "10.00", "items": [{"productId": "p-1", "quantity": 1}]});
    envelope("ORDER_PLACED", id, payload)
}

/// The kinds landed for `order`, in landing order.
fn landed_for(records: &[OutgoingRecord], order: &str) -> Vec<EventKind> {
    records
        .iter()
        .filter(|r| r.partition_key == order)
        .map(|r| r.kind)
        .collect()
}

/// Orders A and C each emit two commands in one batch (placed, then
/// cancelled: RESERVE_INVENTORY then RELEASE_INVENTORY); B and D one
/// command each, D also ORDER_FAILED on the events stream.
fn mixed_batch() -> stream_core::KinesisEvent {
    let cancelled =
        |order: &str, id: &str| envelope("ORDER_CANCELLED", id, json!({"orderId": order}));
    let failed = envelope(
        "INVENTORY_RESERVATION_FAILED",
        "d-2",
        json!({"orderId": "o-D", "sagaId": "o-D", "reason": "insufficient stock"}),
    );
    batch(&[
        ("o-A", placed("o-A", "a-1")),
        ("o-B", placed("o-B", "b-1")),
        ("o-A", cancelled("o-A", "a-2")),
        ("o-C", placed("o-C", "c-1")),
        ("o-D", placed("o-D", "d-1")),
        ("o-C", cancelled("o-C", "c-2")),
        ("o-D", failed),
    ])
}

#[tokio::test]
async fn partly_failed_put_records_are_resent_until_all_land_in_order() {
    // Call 0 fails A's and C's RESERVE_INVENTORY, call 1 A's again, call 2
    // C's RELEASE_INVENTORY once its reservation is through.
    let commands = FakePutRecords::failing(|call, record| {
        matches!(
            (call, record.partition_key.as_str(), record.kind),
            (0, "o-A" | "o-C", EventKind::ReserveInventory)
                | (1, "o-A", _)
                | (2, "o-C", EventKind::ReleaseInventory)
        )
    });
    let harness = Harness::new(commands, FakePutRecords::default());
    let outcome = harness
        .pipeline
        .process(&mixed_batch(), Deadline::in_(Duration::from_secs(30)))
        .await;

    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.response
    );
    let landed = harness.commands.landed();
    assert_eq!(
        landed.len(),
        6,
        "every command landed exactly once: {landed:?}"
    );
    for order in ["o-A", "o-C"] {
        assert_eq!(
            landed_for(&landed, order),
            [EventKind::ReserveInventory, EventKind::ReleaseInventory],
            "{order}: release never overtakes its reservation"
        );
    }
    assert_eq!(landed_for(&landed, "o-B"), [EventKind::ReserveInventory]);
    assert_eq!(landed_for(&landed, "o-D"), [EventKind::ReserveInventory]);
    assert_eq!(
        landed_for(&harness.events.landed(), "o-D"),
        [EventKind::OrderFailed]
    );

    // Only what had not landed is sent again.
    let calls = harness.commands.calls();
    let sent: Vec<Vec<(String, EventKind)>> = calls
        .iter()
        .map(|call| {
            call.iter()
                .map(|r| (r.partition_key.clone(), r.kind))
                .collect()
        })
        .collect();
    let k = |order: &str, kind| (order.to_owned(), kind);
    use EventKind::{ReleaseInventory as Release, ReserveInventory as Reserve};
    assert_eq!(
        sent,
        vec![
            // One record per order per call, so a failed entry is re-sent
            // before anything after it of the same order.
            vec![
                k("o-A", Reserve),
                k("o-B", Reserve),
                k("o-C", Reserve),
                k("o-D", Reserve)
            ],
            vec![k("o-A", Reserve), k("o-C", Reserve)],
            vec![k("o-A", Reserve), k("o-C", Release)],
            vec![k("o-A", Release), k("o-C", Release)],
        ]
    );
    assert_eq!(
        outcome.report.publish_calls,
        4 + 1,
        "four command calls and one event call"
    );
}

#[tokio::test]
async fn unpublished_commands_are_sent_again_when_lambda_redelivers() {
    // The commands stream refuses o-B's records until the outage ends.
    let outage = Arc::new(AtomicBool::new(true));
    let during = outage.clone();
    let commands = FakePutRecords::failing(move |_, record| {
        record.partition_key == "o-B" && during.load(Ordering::SeqCst)
    });
    let harness = Harness::new(commands, FakePutRecords::default());
    let event = mixed_batch();

    let first = harness
        .pipeline
        .process(&event, Deadline::in_(Duration::from_secs(30)))
        .await;
    assert_eq!(
        first.failed_sequence_numbers(),
        [stream_core::testing::sequence(2)],
        "o-B's record is reported for redelivery"
    );
    // The saga did advance: the write happened before publishing.
    assert_eq!(harness.store.get("o-B").unwrap().saga.version, 1);
    assert!(landed_for(&harness.commands.landed(), "o-B").is_empty());

    // Lambda redelivers from the reported record on.
    outage.store(false, Ordering::SeqCst);
    let mut redelivered = event.clone();
    redelivered.records.remove(0);
    let second = harness
        .pipeline
        .process(&redelivered, Deadline::in_(Duration::from_secs(30)))
        .await;
    assert!(second.response.batch_item_failures.is_empty());
    assert_eq!(second.report.processed, 0, "nothing is applied twice");
    assert_eq!(harness.store.get("o-B").unwrap().saga.version, 1);

    let landed = harness.commands.landed();
    assert_eq!(landed_for(&landed, "o-B"), [EventKind::ReserveInventory]);
    // Re-sent records of the other orders are identical to the first ones
    // (same ids): harmless duplicates for the participants.
    let mut by_id: HashMap<String, Vec<&OutgoingRecord>> = HashMap::new();
    for record in &landed {
        by_id
            .entry(record.event_id.as_str().to_owned())
            .or_default()
            .push(record);
    }
    for copies in by_id.values() {
        assert!(copies.windows(2).all(|w| w[0] == w[1]));
    }
    assert_eq!(by_id.len(), 6, "six distinct commands in all");
}
