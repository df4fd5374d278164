//! End to end on the local emulator (run with
//! `scripts/local-aws.sh run -- cargo test -p order-saga-step`): the three
//! functions and the participant simulator, each behind the local event
//! source runner with the template's filters, over real streams and tables.
//!
//! Three orders are placed at once: one goes through, one's payment is
//! declined, one's shipment fails. The second test delivers every batch
//! twice, as Lambda may, and must end in the very same state.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use event_source_runner::catalog::SourceFilter as _;
use event_source_runner::{
    catalog, EventSourceMapping, Invoke, InvokeError, MappingConfig, RunOptions, RunOutcome, Runner,
};
use order_events::{Envelope, EventKind};
use stream_core::{Deadline, KinesisEvent, KinesisEventResponse, StreamRef};

/// The orders, their product (one each, 10 in stock) and quantity.
const HAPPY: (&str, &str, i64) = ("o-happy", "p-happy", 2);
const DECLINED: (&str, &str, i64) = ("o-declined", "p-declined", 3);
const LOST: (&str, &str, i64) = ("o-lost", "p-lost", 4);
const STOCK: i64 = 10;

struct Env {
    cfg: aws_config::SdkConfig,
    events: String,
    commands: String,
    inventory_table: String,
    saga_table: String,
    queue: String,
    domain: String,
    vars: HashMap<String, String>,
}

impl Env {
    async fn new() -> Self {
        let cfg = testkit::aws_config().await;
        let events = testkit::unique_name("order-events");
        let commands = testkit::unique_name("order-commands");
        let inventory_table = testkit::unique_name("inventory");
        let saga_table = testkit::unique_name("sagas");
        let idempotency_table = testkit::unique_name("idempotency");
        let customers_table = testkit::unique_name("customers");
        testkit::create_stream(&cfg, &events, 2).await;
        testkit::create_stream(&cfg, &commands, 2).await;
        testkit::create_table(&cfg, &inventory_table, "productId").await;
        testkit::create_table(&cfg, &saga_table, "orderId").await;
        testkit::create_table(&cfg, &idempotency_table, "id").await;
        testkit::create_table(&cfg, &customers_table, "userId").await;
        let queue = testkit::create_queue(&cfg, &testkit::unique_name("dlq")).await;
        // Sent mail is global in the emulator: a domain of its own tells
        // this test's emails apart.
        let domain = format!("{}.example.com", testkit::unique_name("shop"));
        testkit::verify_email_domain(&cfg, &domain).await;
        for (_, product, _) in [HAPPY, DECLINED, LOST] {
            testkit::put_item_number(
                &cfg,
                &inventory_table,
                "productId",
                product,
                "available",
                STOCK,
            )
            .await;
        }
        let vars = [
            ("DEAD_LETTER_QUEUE_URL", queue.as_str()),
            ("ORDER_EVENTS_STREAM", events.as_str()),
            ("ORDER_COMMANDS_STREAM", commands.as_str()),
            ("SAGA_TABLE", saga_table.as_str()),
            ("INVENTORY_TABLE", inventory_table.as_str()),
            ("IDEMPOTENCY_TABLE", idempotency_table.as_str()),
            ("CUSTOMERS_TABLE", customers_table.as_str()),
            ("SENDER_EMAIL", &format!("orders@{domain}")),
            ("SIMULATE_PAYMENT_FAILURE_ORDERS", DECLINED.0),
            ("SIMULATE_SHIPPING_FAILURE_ORDERS", LOST.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self {
            cfg,
            events,
            commands,
            inventory_table,
            saga_table,
            queue,
            domain,
            vars,
        }
    }

    async fn place(&self, (order, product, quantity): (&str, &str, i64)) {
        let data = serde_json::json!({
            "eventId": format!("placed-{order}"),
            "eventType": "ORDER_PLACED",
            "timestamp": "2025-10-30T12:00:00Z",
            "payload": {
                "orderId": order,
                "userId": format!("u-{order}"),
                "email": format!("{order}@{}", self.domain),
                "items": [{"productId": product, "quantity": quantity, "price": "5.00"}],
            },
        });
        aws_sdk_kinesis::Client::new(&self.cfg)
            .put_record()
            .stream_name(&self.events)
            .partition_key(order)
            .data(Blob::new(data.to_string().into_bytes()))
            .send()
            .await
            .unwrap();
    }

    fn stream(&self, var: &str) -> StreamRef {
        match var {
            catalog::ORDER_EVENTS_STREAM => StreamRef::Name(self.events.clone()),
            catalog::ORDER_COMMANDS_STREAM => StreamRef::Name(self.commands.clone()),
            other => panic!("unknown stream variable {other}"),
        }
    }

    /// One mapping per stream the function reads, with the template's
    /// filter; the function is shared by its mappings, as in Lambda.
    fn add<I: Invoke + 'static>(&self, runner: &mut Runner, name: &str, invoker: I) {
        let spec = catalog::find(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        let invoker = Arc::new(invoker);
        for source in spec.sources {
            let config = MappingConfig {
                filter: source.filter(),
                ..MappingConfig::new(name, self.stream(source.stream_var))
            };
            runner.push(
                EventSourceMapping::kinesis(Arc::clone(&invoker), &self.cfg, config).unwrap(),
            );
        }
    }

    fn add_maybe_twice<I: Invoke + 'static>(
        &self,
        runner: &mut Runner,
        name: &str,
        invoker: I,
        twice: bool,
    ) {
        if twice {
            self.add(runner, name, Twice(invoker));
        } else {
            self.add(runner, name, invoker);
        }
    }

    async fn status(&self, order: &str) -> Option<String> {
        let item = common::saga_item(&self.cfg, &self.saga_table, order).await?;
        common::string_attr(&item, "status")
    }

    /// The distinct commands of `order` in stream order, and the most
    /// copies of any one of them on the stream.
    async fn commands_of(&self, order: &str) -> (Vec<EventKind>, usize) {
        let mut seen: Vec<(order_events::DedupKey, usize)> = Vec::new();
        let mut kinds = Vec::new();
        for record in testkit::read_stream(&self.cfg, &self.commands).await {
            if record.partition_key() != Some(order) {
                continue;
            }
            let envelope = Envelope::parse(record.data().as_ref()).unwrap();
            match seen
                .iter_mut()
                .find(|(key, _)| *key == envelope.dedup_key())
            {
                Some((_, copies)) => *copies += 1,
                None => {
                    seen.push((envelope.dedup_key(), 1));
                    kinds.push(envelope.kind().unwrap());
                }
            }
        }
        (
            kinds,
            seen.iter().map(|(_, copies)| *copies).max().unwrap_or(0),
        )
    }
}

/// Delivers every batch twice, the second time as Lambda redelivers a
/// batch whose answer was lost; the second answer counts.
struct Twice<I>(I);

impl<I: Invoke> Invoke for Twice<I> {
    async fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> Result<KinesisEventResponse, InvokeError> {
        self.0.invoke(event.clone(), deadline).await?;
        self.0.invoke(event, deadline).await
    }
}

/// What the world looks like once everything settled.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    statuses: Vec<Option<String>>,
    stock: Vec<Option<i64>>,
    commands: Vec<Vec<EventKind>>,
    /// The most copies of any one command: a command is sent again only
    /// when the record that decided it is delivered again.
    max_command_copies: usize,
    /// Per order, the subjects of the emails its customer received.
    emails: Vec<Vec<String>>,
    dead_letters: Vec<String>,
}

async fn run(twice: bool) -> Outcome {
    let env = Env::new().await;
    for order in [HAPPY, DECLINED, LOST] {
        env.place(order).await;
    }
    run_until_idle(&env, twice).await;
    outcome_of(&env).await
}

/// Every function behind its own event source mapping, until no stream
/// has anything new.
async fn run_until_idle(env: &Env, twice: bool) {
    let saga_config = order_saga_step::Config::from_vars(&env.vars).unwrap();
    let inventory_config = inventory_update::Config::from_vars(&env.vars).unwrap();
    let email_config = email_notification::Config::from_vars(&env.vars).unwrap();
    let simulator_config = participant_simulator::Config::from_vars(&env.vars).unwrap();
    let mut runner = Runner::new();
    let sdk = &env.cfg;
    env.add_maybe_twice(
        &mut runner,
        "order-saga-step",
        order_saga_step::build_pipeline(sdk, &saga_config),
        twice,
    );
    env.add_maybe_twice(
        &mut runner,
        "inventory-update",
        inventory_update::build_pipeline(sdk, &inventory_config),
        twice,
    );
    env.add_maybe_twice(
        &mut runner,
        "email-notification",
        email_notification::build_pipeline(sdk, &email_config),
        twice,
    );
    env.add_maybe_twice(
        &mut runner,
        "participant-simulator",
        participant_simulator::build_pipeline(sdk, &simulator_config),
        twice,
    );
    let options = RunOptions {
        poll_interval: Duration::from_millis(50),
        quiet_polls: 3,
        max_duration: Some(Duration::from_secs(240)),
        ..RunOptions::default()
    };
    let report = runner.run_until_idle(&options).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Idle, "{report:#?}");
}

/// Where each order ended, in the table, the stock, the streams and the
/// customer's mailbox.
async fn outcome_of(env: &Env) -> Outcome {
    let orders = [HAPPY, DECLINED, LOST];
    let mut outcome = Outcome {
        statuses: Vec::new(),
        stock: Vec::new(),
        commands: Vec::new(),
        max_command_copies: 0,
        emails: Vec::new(),
        dead_letters: testkit::receive_all(&env.cfg, &env.queue).await,
    };
    let sent = testkit::sent_emails().await;
    for (order, product, _) in orders {
        outcome.statuses.push(env.status(order).await);
        outcome.stock.push(
            testkit::get_item_number(
                &env.cfg,
                &env.inventory_table,
                "productId",
                product,
                "available",
            )
            .await,
        );
        let (commands, copies) = env.commands_of(order).await;
        outcome.commands.push(commands);
        outcome.max_command_copies = outcome.max_command_copies.max(copies);
        let to = format!("{order}@{}", env.domain);
        let mut subjects: Vec<String> = sent
            .iter()
            .filter(|m| m.to.contains(&to))
            .map(|m| m.subject.clone())
            .collect();
        subjects.sort();
        outcome.emails.push(subjects);
    }
    outcome
}

fn check(outcome: &Outcome, deliveries: usize) {
    use EventKind::*;
    let status = |s: &str| Some(s.to_owned());
    assert_eq!(
        outcome.statuses,
        [status("COMPLETED"), status("FAILED"), status("FAILED")],
        "{outcome:#?}"
    );
    // Stock taken for the completed order only; given back after the
    // payment failure and after the shipping failure.
    assert_eq!(
        outcome.stock,
        [Some(STOCK - HAPPY.2), Some(STOCK), Some(STOCK)],
        "{outcome:#?}"
    );
    assert_eq!(
        outcome.commands[0],
        [ReserveInventory, ProcessPayment, ShipOrder]
    );
    assert_eq!(
        outcome.commands[1],
        [ReserveInventory, ProcessPayment, ReleaseInventory]
    );
    // Newest step first: the refund is commanded before the release.
    assert_eq!(
        outcome.commands[2],
        [
            ReserveInventory,
            ProcessPayment,
            ShipOrder,
            RefundPayment,
            ReleaseInventory
        ]
    );
    // One confirmation and one outcome email per order, never more.
    assert_eq!(
        outcome.emails,
        [
            vec![
                "Order o-happy confirmed".to_owned(),
                "Your order o-happy is complete".to_owned()
            ],
            vec![
                "Order o-declined confirmed".to_owned(),
                "We could not complete your order o-declined".to_owned()
            ],
            vec![
                "Order o-lost confirmed".to_owned(),
                "We could not complete your order o-lost".to_owned()
            ],
        ]
    );
    assert!(
        outcome.dead_letters.is_empty(),
        "{:?}",
        outcome.dead_letters
    );
    // Duplicates do not multiply from hop to hop.
    assert_eq!(outcome.max_command_copies, deliveries, "{outcome:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_complete_or_fail_with_stock_restored() {
    check(&run(false).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_delivered_twice_ends_in_the_same_state() {
    check(&run(true).await, 2);
}
