//! Sagas run through real streams on the local emulator (run with
//! `scripts/local-aws.sh run -- cargo test -p order-saga-step`): the saga
//! reads the events stream and writes commands; the participant simulator
//! answers payment and shipping; this test stands in for inventory-update
//! with handcrafted replies. Batches are read from the streams and handed
//! to the pipelines the way Lambda's event source mapping does.

mod common;

use std::ops::Deref;

use common::{deliver, kinds, new_records, string_attr, vars, Emulator};
use order_events::{EventId, EventKind};

/// The emulator's resources with the saga and the participant simulator
/// built over them.
struct World {
    emulator: Emulator,
    saga: order_saga_step::SagaPipeline,
    simulator: participant_simulator::SimulatorPipeline,
}

impl Deref for World {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

impl World {
    async fn new(payment_failures: &str, shipping_failures: &str) -> Self {
        let emulator = Emulator::new().await;
        let Emulator {
            cfg,
            table,
            events,
            commands,
            events_arn,
            queue,
            ..
        } = &emulator;
        // One stream by ARN, one by name: both must work.
        let saga_config = order_saga_step::Config::from_vars(&vars(&[
            ("DEAD_LETTER_QUEUE_URL", queue),
            ("SAGA_TABLE", table),
            ("ORDER_COMMANDS_STREAM", commands),
            ("ORDER_EVENTS_STREAM", events_arn),
        ]))
        .unwrap();
        let simulator_config = participant_simulator::Config::from_vars(&vars(&[
            ("DEAD_LETTER_QUEUE_URL", queue),
            ("ORDER_EVENTS_STREAM", events),
            ("SIMULATE_PAYMENT_FAILURE_ORDERS", payment_failures),
            ("SIMULATE_SHIPPING_FAILURE_ORDERS", shipping_failures),
        ]))
        .unwrap();
        Self {
            saga: order_saga_step::build_pipeline(cfg, &saga_config),
            simulator: participant_simulator::build_pipeline(cfg, &simulator_config),
            emulator,
        }
    }

    /// Runs the saga from ORDER_PLACED until no stream has anything new.
    /// With `twice`, every batch is delivered twice, as Lambda may.
    async fn run(&self, order: &str, twice: bool) {
        self.place(order, EventId::random()).await;
        let (mut events_seen, mut commands_seen) = (0, 0);
        let deliveries = if twice { 2 } else { 1 };
        for _ in 0..30 {
            let events = new_records(&self.cfg, &self.events, &mut events_seen).await;
            for _ in 0..deliveries {
                deliver(&self.saga, &events, &self.events_arn).await;
            }
            let commands = new_records(&self.cfg, &self.commands, &mut commands_seen).await;
            for _ in 0..deliveries {
                deliver(&self.simulator, &commands, &self.commands_arn).await;
                self.answer_inventory(&commands).await;
            }
            if events.is_empty() && commands.is_empty() {
                return;
            }
        }
        panic!("the saga of {order} did not settle");
    }

    async fn status(&self, order: &str) -> String {
        string_attr(&self.item(order).await, "status").unwrap()
    }

    /// `order`'s saga has completed: the three forward commands, the
    /// outcome for the customer, no dead letter.
    async fn assert_completed(&self, order: &str) {
        assert_eq!(self.status(order).await, "COMPLETED");
        let commands = self.written(&self.commands, order).await;
        assert_eq!(
            kinds(&commands),
            [ReserveInventory, ProcessPayment, ShipOrder]
        );
        assert_eq!(commands[1].1["total"], serde_json::json!(12.60));
        let events = self.written(&self.events, order).await;
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
        assert!(self.dead_letters().await.is_empty());
    }

    /// `order`'s saga has failed with `reason` after sending `commands`.
    async fn assert_failed(&self, order: &str, commands: &[EventKind], reason: &str) {
        assert_eq!(self.status(order).await, "FAILED");
        let sent = self.written(&self.commands, order).await;
        assert_eq!(kinds(&sent), commands);
        let events = self.written(&self.events, order).await;
        let (last, failed) = events.last().unwrap();
        assert_eq!(*last, OrderFailed);
        assert_eq!(failed["reason"], reason);
    }
}

use EventKind::*;

#[tokio::test]
async fn a_saga_reaches_completed_through_real_streams() {
    let world = World::new("", "").await;
    world.run("o-happy", false).await;
    world.assert_completed("o-happy").await;
}

#[tokio::test]
async fn a_payment_failure_releases_the_reservation_and_fails_the_order() {
    let world = World::new("o-declined", "").await;
    world.run("o-declined", false).await;
    world
        .assert_failed(
            "o-declined",
            &[ReserveInventory, ProcessPayment, ReleaseInventory],
            "PAYMENT_DECLINED",
        )
        .await;
}

#[tokio::test]
async fn a_shipping_failure_refunds_then_releases() {
    let world = World::new("", "o-lost").await;
    world.run("o-lost", false).await;
    world
        .assert_failed(
            "o-lost",
            &[
                ReserveInventory,
                ProcessPayment,
                ShipOrder,
                RefundPayment,
                ReleaseInventory,
            ],
            "SHIPPING_FAILED",
        )
        .await;
}

#[tokio::test]
async fn delivering_every_batch_twice_changes_nothing() {
    let world = World::new("", "").await;
    world.run("o-twice", true).await;
    world.assert_completed("o-twice").await;
}
