//! Sagas run through real streams on the local emulator (run with
//! `scripts/local-aws.sh run -- cargo test -p order-saga-step`): the saga
//! reads the events stream and writes commands; the participant simulator
//! answers payment and shipping; this test stands in for inventory-update
//! with handcrafted replies. Batches are read from the streams and handed
//! to the pipelines the way Lambda's event source mapping does.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;
use common::{inventory_reply, lambda_event, new_records};
use order_events::{Event, EventId, EventKind, OutgoingRecord, Timestamp};
use stream_core::Deadline;

struct World {
    cfg: aws_config::SdkConfig,
    table: String,
    events: String,
    commands: String,
    events_arn: String,
    commands_arn: String,
    queue: String,
    saga: order_saga_step::SagaPipeline,
    simulator: participant_simulator::SimulatorPipeline,
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl World {
    async fn new(payment_failures: &str, shipping_failures: &str) -> Self {
        let cfg = testkit::aws_config().await;
        let table = testkit::unique_name("sagas");
        let events = testkit::unique_name("order-events");
        let commands = testkit::unique_name("order-commands");
        testkit::create_table(&cfg, &table, "orderId").await;
        let events_arn = testkit::create_stream(&cfg, &events, 1).await;
        let commands_arn = testkit::create_stream(&cfg, &commands, 1).await;
        let queue = testkit::create_queue(&cfg, &testkit::unique_name("dlq")).await;

        // One stream by ARN, one by name: both must work.
        let saga_config = order_saga_step::Config::from_vars(&vars(&[
            ("DEAD_LETTER_QUEUE_URL", &queue),
            ("SAGA_TABLE", &table),
            ("ORDER_COMMANDS_STREAM", &commands),
            ("ORDER_EVENTS_STREAM", &events_arn),
        ]))
        .unwrap();
        let simulator_config = participant_simulator::Config::from_vars(&vars(&[
            ("DEAD_LETTER_QUEUE_URL", &queue),
            ("ORDER_EVENTS_STREAM", &events),
            ("SIMULATE_PAYMENT_FAILURE_ORDERS", payment_failures),
            ("SIMULATE_SHIPPING_FAILURE_ORDERS", shipping_failures),
        ]))
        .unwrap();
        Self {
            saga: order_saga_step::build_pipeline(&cfg, &saga_config),
            simulator: participant_simulator::build_pipeline(&cfg, &simulator_config),
            cfg,
            table,
            events,
            commands,
            events_arn,
            commands_arn,
            queue,
        }
    }

    async fn put(&self, stream: &str, record: &OutgoingRecord) {
        aws_sdk_kinesis::Client::new(&self.cfg)
            .put_record()
            .stream_name(stream)
            .partition_key(&record.partition_key)
            .data(Blob::new(record.data.clone()))
            .send()
            .await
            .unwrap();
    }

    /// Runs the saga from ORDER_PLACED until no stream has anything new.
    /// With `twice`, every batch is delivered twice, as Lambda may.
    async fn run(&self, order: &str, twice: bool) {
        let placed = Event::parse(
            EventKind::OrderPlaced,
            &format!(
                r#"{{"orderId":"{order}","userId":"u-7","email":"sam@example.com","items":[{{"productId":"p-1","quantity":3,"price":"4.20"}}]}}"#
            ),
        )
        .unwrap();
        self.put(
            &self.events,
            &OutgoingRecord::new(EventId::random(), Timestamp::now(), &placed).unwrap(),
        )
        .await;

        let (mut events_seen, mut commands_seen) = (0, 0);
        let deliveries = if twice { 2 } else { 1 };
        for _ in 0..30 {
            let events = new_records(&self.cfg, &self.events, &mut events_seen).await;
            if !events.is_empty() {
                let batch = lambda_event(&events, &self.events_arn);
                for _ in 0..deliveries {
                    let outcome = self.saga.process(&batch, deadline()).await;
                    assert!(
                        outcome.response.batch_item_failures.is_empty(),
                        "{:?}",
                        outcome.report
                    );
                }
            }
            let commands = new_records(&self.cfg, &self.commands, &mut commands_seen).await;
            if !commands.is_empty() {
                let batch = lambda_event(&commands, &self.commands_arn);
                for _ in 0..deliveries {
                    let outcome = self.simulator.process(&batch, deadline()).await;
                    assert!(
                        outcome.response.batch_item_failures.is_empty(),
                        "{:?}",
                        outcome.report
                    );
                    for command in &commands {
                        if let Some(reply) = inventory_reply(command) {
                            self.put(&self.events, &reply).await;
                        }
                    }
                }
            }
            if events.is_empty() && commands.is_empty() {
                return;
            }
        }
        panic!("the saga of {order} did not settle");
    }

    async fn status(&self, order: &str) -> String {
        let item = aws_sdk_dynamodb::Client::new(&self.cfg)
            .get_item()
            .table_name(&self.table)
            .key("orderId", AttributeValue::S(order.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        item.item().unwrap()["status"].as_s().unwrap().clone()
    }

    /// The distinct records of `order` on `stream`, in stream order:
    /// (type, payload).
    async fn written(&self, stream: &str, order: &str) -> Vec<(EventKind, serde_json::Value)> {
        common::written(&self.cfg, stream, order).await
    }

    async fn dead_letters(&self) -> Vec<String> {
        testkit::receive_all(&self.cfg, &self.queue).await
    }
}

fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(60))
}

fn kinds(written: &[(EventKind, serde_json::Value)]) -> Vec<EventKind> {
    written.iter().map(|(k, _)| *k).collect()
}

use EventKind::*;

#[tokio::test]
async fn a_saga_reaches_completed_through_real_streams() {
    let world = World::new("", "").await;
    world.run("o-happy", false).await;

    assert_eq!(world.status("o-happy").await, "COMPLETED");
    let commands = world.written(&world.commands, "o-happy").await;
    assert_eq!(
        kinds(&commands),
        [ReserveInventory, ProcessPayment, ShipOrder]
    );
    assert_eq!(commands[1].1["total"], serde_json::json!(12.60));
    let events = world.written(&world.events, "o-happy").await;
    assert_eq!(
        kinds(&events),
        [
            OrderPlaced,
            InventoryReserved,
            PaymentProcessed,
            OrderShipped,
            OrderCompleted
        ]
    );
    let completed = &events[4].1;
    assert_eq!(completed["userId"], "u-7");
    assert_eq!(completed["email"], "sam@example.com");
    assert!(world.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_payment_failure_releases_the_reservation_and_fails_the_order() {
    let world = World::new("o-declined", "").await;
    world.run("o-declined", false).await;

    assert_eq!(world.status("o-declined").await, "FAILED");
    let commands = world.written(&world.commands, "o-declined").await;
    assert_eq!(
        kinds(&commands),
        [ReserveInventory, ProcessPayment, ReleaseInventory]
    );
    let events = world.written(&world.events, "o-declined").await;
    let (last, failed) = events.last().unwrap();
    assert_eq!(*last, OrderFailed);
    assert_eq!(failed["reason"], "PAYMENT_DECLINED");
}

#[tokio::test]
async fn a_shipping_failure_refunds_then_releases() {
    let world = World::new("", "o-lost").await;
    world.run("o-lost", false).await;

    assert_eq!(world.status("o-lost").await, "FAILED");
    let commands = world.written(&world.commands, "o-lost").await;
    assert_eq!(
        kinds(&commands),
        [
            ReserveInventory,
            ProcessPayment,
            ShipOrder,
            RefundPayment,
            ReleaseInventory
        ]
    );
    let events = world.written(&world.events, "o-lost").await;
    let (last, failed) = events.last().unwrap();
    assert_eq!(*last, OrderFailed);
    assert_eq!(failed["reason"], "SHIPPING_FAILED");
}

#[tokio::test]
async fn delivering_every_batch_twice_changes_nothing() {
    let world = World::new("", "").await;
    world.run("o-twice", true).await;

    assert_eq!(world.status("o-twice").await, "COMPLETED");
    let commands = world.written(&world.commands, "o-twice").await;
    assert_eq!(
        kinds(&commands),
        [ReserveInventory, ProcessPayment, ShipOrder]
    );
    let events = world.written(&world.events, "o-twice").await;
    assert_eq!(
        kinds(&events),
        [
            OrderPlaced,
            InventoryReserved,
            PaymentProcessed,
            OrderShipped,
            OrderCompleted
        ]
    );
    assert!(world.dead_letters().await.is_empty());
}
