//! The DynamoDB saga store against the local emulator (run with
//! `scripts/local-aws.sh run -- cargo test -p order-saga-step`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use order_events::{DedupKey, Event, EventKind, OutgoingRecord, Timestamp};
use order_saga_step::{
    transition, Decision, DynamoDbSagaStore, Saga, SagaHandler, SagaRecord, SagaStatus, SagaStore,
    StoreError, Timing,
};
use stream_core::{Deadline, Handled, Handler, IncomingEvent, RecordOrigin};

async fn fresh_store() -> (aws_config::SdkConfig, String, DynamoDbSagaStore) {
    let cfg = testkit::aws_config().await;
    let table = testkit::unique_name("sagas");
    testkit::create_table(&cfg, &table, "orderId").await;
    let store = DynamoDbSagaStore::new(aws_sdk_dynamodb::Client::new(&cfg), table.clone());
    (cfg, table, store)
}

fn event(kind: EventKind, order: &str) -> Event {
    let payload = match kind {
        EventKind::OrderPlaced => format!(
            r#"{{"orderId":"{order}","userId":"u-1","email":"jane@example.com","total":"31.40","items":[{{"productId":"p-1","quantity":2,"price":"15.70"}}]}}"#
        ),
        EventKind::OrderCancelled => {
            format!(r#"{{"orderId":"{order}","reason":"changed my mind"}}"#)
        }
        _ => format!(
            r#"{{"orderId":"{order}","sagaId":"{order}","items":[{{"productId":"p-1","quantity":2}}]}}"#
        ),
    };
    Event::parse(kind, &payload).unwrap()
}

/// The record `kind` makes of `state`.
fn decide(state: Option<&Saga>, kind: EventKind, order: &str, id: &str) -> SagaRecord {
    let decision = transition(
        state,
        &event(kind, order),
        &DedupKey::EventId(id.to_owned()),
        Timing::new(order_saga_step::now_millis(), Duration::from_secs(300)),
    );
    let Decision::Apply { saga, emit } = decision else {
        panic!("{kind} does not apply: {decision:?}");
    };
    let outbox = emit
        .iter()
        .map(|e| OutgoingRecord::new(e.event_id.clone(), Timestamp::now(), &e.event).unwrap())
        .collect();
    SagaRecord {
        saga,
        outbox,
        source: Some(format!("shardId-000000000000:{id}")),
        outbox_pending: false,
    }
}

#[tokio::test]
async fn a_saga_round_trips_and_is_created_once() {
    let (cfg, table, store) = fresh_store().await;
    let placed = decide(None, EventKind::OrderPlaced, "o-1", "e-1");
    store.save(&placed, None).await.unwrap();
    assert_eq!(
        store.load(&placed.saga.order_id).await.unwrap(),
        Some(placed.clone())
    );
    assert!(matches!(
        store.save(&placed, None).await,
        Err(StoreError::Conflict)
    ));
    let missing = order_events::OrderId::parse("o-none").unwrap();
    assert_eq!(store.load(&missing).await.unwrap(), None);

    // The contract's attribute, as a test or an operator reads it.
    let item = aws_sdk_dynamodb::Client::new(&cfg)
        .get_item()
        .table_name(&table)
        .key("orderId", AttributeValue::S("o-1".into()))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "RUNNING");
    assert_eq!(item["step"].as_s().unwrap(), "RESERVE_INVENTORY");
    assert_eq!(item["version"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn of_two_writers_with_the_same_read_version_exactly_one_wins() {
    let (_, _, store) = fresh_store().await;
    let store = Arc::new(store);
    // A race is probabilistic, hence several rounds.
    for round in 0..6 {
        let order = format!("o-race-{round}");
        store
            .save(&decide(None, EventKind::OrderPlaced, &order, "e-1"), None)
            .await
            .unwrap();
        let read = store
            .load(&order_events::OrderId::parse(&order).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.saga.version, 1);

        // Two different events decided from the same read.
        let reserved = decide(
            Some(&read.saga),
            EventKind::InventoryReserved,
            &order,
            "e-2",
        );
        let cancelled = decide(Some(&read.saga), EventKind::OrderCancelled, &order, "e-3");
        let write = |record: SagaRecord| {
            let store = store.clone();
            tokio::spawn(async move { (store.save(&record, Some(1)).await, record) })
        };
        let (a, b) = tokio::join!(write(reserved), write(cancelled));
        let results = [a.unwrap(), b.unwrap()];
        let winners: Vec<&SagaRecord> = results
            .iter()
            .filter(|(r, _)| r.is_ok())
            .map(|(_, rec)| rec)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        let loser = results.iter().find(|(r, _)| r.is_err()).unwrap();
        assert!(
            matches!(loser.0, Err(StoreError::Conflict)),
            "round {round}: {:?}",
            loser.0
        );

        let stored = store.load(&read.saga.order_id).await.unwrap().unwrap();
        assert_eq!(
            &stored, winners[0],
            "round {round}: the winner's state, whole"
        );
        assert_eq!(stored.saga.version, 2);
    }
}

fn incoming(kind: EventKind, order: &str, id: &str) -> IncomingEvent {
    IncomingEvent {
        event: event(kind, order),
        dedup_key: DedupKey::EventId(id.to_owned()),
        timestamp: None,
        origin: RecordOrigin {
            event_source_arn: None,
            event_id: None,
            shard_id: None,
            sequence_number: "1".into(),
            sub_sequence_number: None,
            partition_key: order.to_owned(),
            approximate_arrival_timestamp: None,
        },
        deadline: Deadline::in_(Duration::from_secs(30)),
    }
}

#[tokio::test]
async fn concurrent_deliveries_through_dynamodb_advance_a_saga_once() {
    let (_, _, store) = fresh_store().await;
    let handler = Arc::new(SagaHandler::new(store));
    let placed = handler
        .handle(incoming(EventKind::OrderPlaced, "o-1", "e-1"))
        .await
        .unwrap();
    assert!(matches!(placed, Handled::Done { .. }));

    let deliveries: Vec<_> = (0..4)
        .map(|_| {
            let handler = handler.clone();
            tokio::spawn(async move {
                handler
                    .handle(incoming(EventKind::InventoryReserved, "o-1", "e-2"))
                    .await
            })
        })
        .collect();
    let mut done = 0;
    for delivery in deliveries {
        match delivery.await.unwrap().unwrap() {
            Handled::Done { .. } => done += 1,
            Handled::Duplicate { emit } => {
                assert_eq!(emit.len(), 1, "the stored PROCESS_PAYMENT is re-sent")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(done, 1);
    let saga = handler
        .store()
        .load(&order_events::OrderId::parse("o-1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .saga;
    assert_eq!((saga.status(), saga.version), (SagaStatus::Running, 2));
}
