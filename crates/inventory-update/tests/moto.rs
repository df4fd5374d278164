//! The deployed pipeline (DynamoDB, SQS, Kinesis adapters) against the
//! local emulator. Run with `scripts/local-aws.sh run -- cargo test -p
//! inventory-update`; the emulator serialises requests as DynamoDB makes
//! each one atomic, so the race tests exercise this code, not the emulator.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use common::{
    kinesis_event, order_cancelled, order_created, release, release_for, reserve, reserve_for,
    sequence,
};
use inventory_update::{
    assemble, build_pipeline, build_pipeline_with_dynamodb, Config, DynamoDbStockStore,
    InventoryHandler, InventoryPipeline,
};
use stream_core::idempotency::{Claim, StoreError};
use stream_core::{
    BatchOutcome, CoreConfig, DeadLetterSink, Deadline, DynamoDbIdempotencyStore, FakePutRecords,
    Handler, IdempotencyStore, InMemoryDeadLetters, OrderedPublisher, Pipeline, RecordPublisher,
    RetryPolicy,
};

struct Env {
    cfg: SdkConfig,
    table: String,
    idempotency: String,
    queue: String,
    stream: String,
    stream_arn: String,
}

impl Env {
    async fn new(stock: &[(&str, i64)]) -> Self {
        let cfg = testkit::aws_config().await;
        let table = testkit::unique_name("inventory");
        let idempotency = testkit::unique_name("idempotency");
        let stream = testkit::unique_name("order-events");
        testkit::create_table(&cfg, &table, "productId").await;
        testkit::create_table(&cfg, &idempotency, "id").await;
        let queue = testkit::create_queue(&cfg, &testkit::unique_name("dlq")).await;
        let stream_arn = testkit::create_stream(&cfg, &stream, 1).await;
        for (product, units) in stock {
            testkit::put_item_number(&cfg, &table, "productId", product, "available", *units).await;
        }
        Self {
            cfg,
            table,
            idempotency,
            queue,
            stream,
            stream_arn,
        }
    }

    /// The configuration as Lambda would pass it; the stream as an ARN.
    fn config(&self) -> Config {
        let vars: HashMap<String, String> = [
            ("INVENTORY_TABLE", self.table.as_str()),
            ("IDEMPOTENCY_TABLE", self.idempotency.as_str()),
            ("ORDER_EVENTS_STREAM", self.stream_arn.as_str()),
            ("DEAD_LETTER_QUEUE_URL", self.queue.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "inventory-update"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::from_vars(&vars).unwrap()
    }

    fn pipeline(&self) -> InventoryPipeline {
        build_pipeline(&self.cfg, &self.config())
    }

    /// A DynamoDB client made as the function makes it, which counts the
    /// calls it sends to the stock table.
    fn counted_dynamodb(&self) -> (aws_sdk_dynamodb::Client, StockTableCalls) {
        let calls = StockTableCalls::new(&self.table);
        let deployed = stream_core::aws::dynamodb_client(&self.cfg);
        let config = deployed
            .config()
            .to_builder()
            .interceptor(calls.clone())
            .build();
        (aws_sdk_dynamodb::Client::from_conf(config), calls)
    }

    /// The deployed pipeline, its calls to the stock table counted.
    fn counted_pipeline(&self) -> (InventoryPipeline, StockTableCalls) {
        let (dynamodb, calls) = self.counted_dynamodb();
        let pipeline = build_pipeline_with_dynamodb(&self.cfg, dynamodb, &self.config());
        (pipeline, calls)
    }

    async fn available(&self, product: &str) -> Option<i64> {
        testkit::get_item_number(&self.cfg, &self.table, "productId", product, "available").await
    }

    async fn reservation(&self, order: &str) -> Option<HashMap<String, AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.cfg)
            .get_item()
            .table_name(&self.table)
            .key(
                "productId",
                AttributeValue::S(format!("reservation#{order}")),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Every reply on the stream: (eventId, eventType, payload, raw data).
    async fn replies(&self) -> Vec<(String, String, serde_json::Value, Vec<u8>)> {
        testkit::read_stream(&self.cfg, &self.stream)
            .await
            .iter()
            .map(|r| {
                let data = r.data().as_ref().to_vec();
                let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
                (
                    json["eventId"].as_str().unwrap().to_owned(),
                    json["eventType"].as_str().unwrap().to_owned(),
                    json["payload"].clone(),
                    data,
                )
            })
            .collect()
    }

    async fn dead_letters(&self) -> Vec<serde_json::Value> {
        testkit::receive_all(&self.cfg, &self.queue)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect()
    }
}

/// Calls sent to one table, by operation: one count per call made, the
/// SDK's own retries of a call not counted (the hook runs once per call).
#[derive(Debug, Clone)]
struct StockTableCalls {
    table: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

impl StockTableCalls {
    fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            counts: Arc::default(),
        }
    }

    fn of(&self, operation: &str) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    fn transact_write_items(&self) -> u64 {
        self.of("TransactWriteItems")
    }

    fn get_item(&self) -> u64 {
        self.of("GetItem")
    }
}

/// The operation and the table of a call the stock store makes (a
/// transaction's table is its first item's).
fn stock_call(input: &Input) -> Option<(&'static str, &str)> {
    if let Some(get) = input.downcast_ref::<GetItemInput>() {
        return Some(("GetItem", get.table_name()?));
    }
    if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
        return Some(("UpdateItem", update.table_name()?));
    }
    let first = input
        .downcast_ref::<TransactWriteItemsInput>()?
        .transact_items()
        .first()?;
    let table = first
        .put()
        .map(|put| put.table_name())
        .or_else(|| first.update().map(|update| update.table_name()))?;
    Some(("TransactWriteItems", table))
}

impl Intercept for StockTableCalls {
    fn name(&self) -> &'static str {
        "StockTableCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some((operation, table)) = stock_call(context.input()) {
            if table == self.table {
                *self
                    .counts
                    .lock()
                    .unwrap()
                    .entry(operation.to_owned())
                    .or_default() += 1;
            }
        }
        Ok(())
    }
}

/// Delivers one batch of `records` to `pipeline`, as one invocation.
async fn deliver<H: Handler, D: DeadLetterSink, P: RecordPublisher>(
    pipeline: &Pipeline<H, D, P>,
    records: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> BatchOutcome {
    pipeline.process(&kinesis_event(records), deadline()).await
}

fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(120))
}

#[tokio::test]
async fn a_batch_delivered_twice_changes_stock_once() {
    let env = Env::new(&[("p-a", 10), ("p-b", 5)]).await;
    let (pipeline, calls) = env.counted_pipeline();
    let batch = kinesis_event([
        order_created("e-1", "o-1", &[("p-a", 2), ("p-b", 1)]),
        reserve("c-2", "o-2", &[("p-a", 3)]),
        release("c-3", "o-3"),
    ]);
    let first = pipeline.process(&batch, deadline()).await;
    let second = pipeline.process(&batch, deadline()).await;
    assert!(first.failed_sequence_numbers().is_empty());
    assert!(second.failed_sequence_numbers().is_empty());
    assert_eq!(second.report.duplicates, 3);
    assert_eq!(env.available("p-a").await, Some(5));
    assert_eq!(env.available("p-b").await, Some(4));

    let replies = env.replies().await;
    assert_eq!(replies.len(), 4, "two replies per delivery");
    assert_eq!(replies[0].1, "INVENTORY_RESERVED");
    assert_eq!(replies[1].1, "INVENTORY_RELEASED");
    assert_eq!(
        replies[1].2["items"],
        serde_json::json!([]),
        "nothing to release"
    );
    for (a, b) in replies[..2].iter().zip(&replies[2..]) {
        assert_eq!(a.0, b.0, "a redelivered command re-sends the same eventId");
        assert_eq!(a.3, b.3, "and the same bytes");
    }

    // One transaction per order: o-1 and o-2 once each, plus o-1's
    // redelivered event (a duplicate answered by the transaction itself);
    // the redelivered commands replay their stored replies without a call.
    assert_eq!(calls.transact_write_items(), 3);
    assert_eq!(
        calls.get_item(),
        1,
        "the release looked for a reservation once"
    );
}

#[tokio::test]
async fn order_cancelled_delivered_twice_gives_stock_back_once() {
    let env = Env::new(&[("p-a", 10), ("p-b", 5)]).await;
    let pipeline = env.pipeline();
    deliver(
        &pipeline,
        [order_created("e-1", "o-1", &[("p-a", 4), ("p-b", 2)])],
    )
    .await;
    assert_eq!(env.available("p-a").await, Some(6));
    let cancel = kinesis_event([order_cancelled("x-1", "o-1")]);
    let first = pipeline.process(&cancel, deadline()).await;
    let second = pipeline.process(&cancel, deadline()).await;
    assert!(
        first.failed_sequence_numbers().is_empty() && second.failed_sequence_numbers().is_empty()
    );
    assert_eq!((first.report.processed, second.report.duplicates), (1, 1));
    assert_eq!(env.available("p-a").await, Some(10));
    assert_eq!(env.available("p-b").await, Some(5));
    let reservation = env.reservation("o-1").await.unwrap();
    assert_eq!(reservation["state"], AttributeValue::S("RELEASED".into()));

    // Reserving a released order again changes nothing.
    deliver(&pipeline, [order_created("e-1b", "o-1", &[("p-a", 4)])]).await;
    assert_eq!(env.available("p-a").await, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_and_releases_give_stock_back_once_and_only_by_the_owner() {
    // Each order is released four times at the same moment, each in its own
    // function instance: twice by ORDER_CANCELLED (two events) and twice by
    // RELEASE_INVENTORY (two commands of its saga). Even orders were
    // reserved by ORDER_CREATED, odd ones by their saga. Many orders at once
    // make the releases of some order interleave between read and write.
    const ORDERS: usize = 12;
    let env = Env::new(&[("p-a", 100)]).await;
    let reserves: Vec<_> = (0..ORDERS)
        .map(|i| {
            let order = format!("o-{i}");
            if i % 2 == 0 {
                order_created(&format!("e-{i}"), &order, &[("p-a", 3)])
            } else {
                reserve(&format!("c-{i}"), &order, &[("p-a", 3)])
            }
        })
        .collect();
    deliver(&env.pipeline(), reserves).await;
    assert_eq!(env.available("p-a").await, Some(100 - 3 * ORDERS as i64));

    let mut tasks = Vec::new();
    for i in 0..ORDERS {
        let order = format!("o-{i}");
        for record in [
            order_cancelled(&format!("x-{i}"), &order),
            order_cancelled(&format!("y-{i}"), &order),
            release(&format!("r-{i}"), &order),
            release(&format!("s-{i}"), &order),
        ] {
            let pipeline = env.pipeline();
            tasks.push(tokio::spawn(
                async move { deliver(&pipeline, [record]).await },
            ));
        }
    }
    for outcome in futures::future::join_all(tasks).await {
        assert!(outcome.unwrap().failed_sequence_numbers().is_empty());
    }
    assert_eq!(env.available("p-a").await, Some(100));
    // Each release command answered once. A saga's units show up in exactly
    // one of its two answers; ORDER_CREATED's never do.
    let replies = env.replies().await;
    let releases: Vec<_> = replies
        .iter()
        .filter(|r| r.1 == "INVENTORY_RELEASED")
        .collect();
    assert_eq!(releases.len(), 2 * ORDERS);
    for i in 0..ORDERS {
        let order = format!("o-{i}");
        let given: Vec<_> = releases
            .iter()
            .filter(|r| r.2["orderId"] == order.as_str())
            .filter(|r| !r.2["items"].as_array().unwrap().is_empty())
            .collect();
        let expected = if i % 2 == 0 { 0 } else { 1 };
        assert_eq!(given.len(), expected, "{order}: {given:?}");
        for reply in given {
            assert_eq!(reply.2["items"][0]["quantity"], 3, "{}", reply.2);
        }
        let item = env.reservation(&order).await.unwrap();
        assert_eq!(item["state"], AttributeValue::S("RELEASED".into()));
    }
}

#[tokio::test]
async fn an_order_whose_last_line_is_short_reserves_nothing() {
    let env = Env::new(&[("p-a", 10), ("p-b", 10), ("p-c", 1)]).await;
    let pipeline = env.pipeline();
    let lines = [("p-a", 1), ("p-b", 2), ("p-c", 2)];
    let outcome = deliver(
        &pipeline,
        [
            order_created("e-1", "o-1", &lines),
            reserve("c-2", "o-2", &lines),
        ],
    )
    .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(env.available("p-a").await, Some(10));
    assert_eq!(env.available("p-b").await, Some(10));
    assert_eq!(env.available("p-c").await, Some(1));
    assert!(env.reservation("o-1").await.is_none());
    assert!(env.reservation("o-2").await.is_none());
    assert!(
        env.dead_letters().await.is_empty(),
        "short stock is not an error"
    );
    let replies = env.replies().await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1, "INVENTORY_RESERVATION_FAILED");
    assert_eq!(replies[0].2["productId"], "p-c");
    assert_eq!(replies[0].2["reason"], "OUT_OF_STOCK");
    assert_eq!(replies[0].2["sagaId"], "saga-o-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_never_oversell_the_last_units() {
    const START: i64 = 5;
    const INVOCATIONS: usize = 8;
    let env = Arc::new(Env::new(&[("p-hot", START), ("p-cold", 1000)]).await);

    // Watches `available` throughout the race.
    let stop = Arc::new(AtomicBool::new(false));
    let lowest = Arc::new(AtomicI64::new(i64::MAX));
    let observations = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (env, stop, lowest, observations) = (
            env.clone(),
            stop.clone(),
            lowest.clone(),
            observations.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                if let Some(units) = env.available("p-hot").await {
                    lowest.fetch_min(units, Ordering::SeqCst);
                    observations.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };

    // Each invocation is its own function instance with its own clients.
    let tasks: Vec<_> = (0..INVOCATIONS)
        .map(|i| {
            let pipeline = env.pipeline();
            let batch = kinesis_event([reserve(
                &format!("c-{i}"),
                &format!("o-{i}"),
                &[("p-cold", 1), ("p-hot", 1)],
            )]);
            tokio::spawn(async move { pipeline.process(&batch, deadline()).await })
        })
        .collect();
    for outcome in futures::future::join_all(tasks).await {
        assert!(outcome.unwrap().failed_sequence_numbers().is_empty());
    }
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    let replies = env.replies().await;
    assert_eq!(replies.len(), INVOCATIONS, "one reply per command");
    let reserved: Vec<_> = replies
        .iter()
        .filter(|r| r.1 == "INVENTORY_RESERVED")
        .collect();
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.1 == "INVENTORY_RESERVATION_FAILED")
        .collect();
    let units_reserved: i64 = reserved
        .iter()
        .flat_map(|r| r.2["items"].as_array().unwrap().iter())
        .filter(|line| line["productId"] == "p-hot")
        .map(|line| line["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(
        units_reserved, START,
        "successful reservations sum to the starting stock exactly"
    );
    assert_eq!(failed.len(), INVOCATIONS - START as usize);
    assert!(failed.iter().all(|r| r.2["productId"] == "p-hot"));
    assert_eq!(env.available("p-hot").await, Some(0));
    assert_eq!(
        env.available("p-cold").await,
        Some(1000 - START),
        "all or none under contention too"
    );
    assert!(observations.load(Ordering::SeqCst) > 0);
    assert!(
        lowest.load(Ordering::SeqCst) >= 0,
        "available went negative"
    );

    let mut held = 0;
    for i in 0..INVOCATIONS {
        if let Some(item) = env.reservation(&format!("o-{i}")).await {
            assert_eq!(item["state"], AttributeValue::S("RESERVED".into()));
            held += 1;
        }
    }
    assert_eq!(
        held, START,
        "a reservation record for each successful order, none for the others"
    );
}

#[tokio::test]
async fn a_poison_record_does_not_stop_the_records_after_it() {
    let env = Env::new(&[("p-a", 10)]).await;
    let pipeline = env.pipeline();
    let poison = ("o-1".to_owned(), b"{ this is not JSON".to_vec());
    let outcome = deliver(
        &pipeline,
        [
            order_created("e-1", "o-1", &[("p-a", 1)]),
            poison,
            order_created("e-3", "o-1", &[("p-a", 1)]),
            order_created("e-4", "o-4", &[("p-a", 2)]),
        ],
    )
    .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(outcome.report.permanent_failures, 1);
    assert_eq!(
        env.available("p-a").await,
        Some(7),
        "o-1 once (its second event is a duplicate), o-4"
    );
    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter["sequenceNumber"], sequence(2));
    assert_eq!(letter["functionName"], "inventory-update");
    assert_eq!(letter["shardId"], "shardId-000000000000");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .starts_with("undecodable record"),
        "{letter}"
    );
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(letter["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, b"{ this is not JSON");
}

#[tokio::test]
async fn an_unknown_product_is_dead_lettered_for_events_and_answered_for_commands() {
    let env = Env::new(&[("p-a", 10)]).await;
    let outcome = deliver(
        &env.pipeline(),
        [
            order_created("e-1", "o-1", &[("p-a", 1), ("p-ghost", 1)]),
            reserve("c-2", "o-2", &[("p-ghost", 1), ("p-a", 1)]),
        ],
    )
    .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(env.available("p-a").await, Some(10));
    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0]["reason"],
        "unknown product p-ghost in order o-1; nothing reserved"
    );
    let replies = env.replies().await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1, "INVENTORY_RESERVATION_FAILED");
    assert_eq!(replies[0].2["productId"], "p-ghost");
    assert_eq!(replies[0].2["reason"], "UNKNOWN_PRODUCT");
    assert_eq!(
        env.available("p-ghost").await,
        None,
        "no item was created for it"
    );
}

#[tokio::test]
async fn a_redelivered_command_replays_its_stored_reply_after_stock_changed() {
    let env = Env::new(&[("p-a", 2)]).await;
    let pipeline = env.pipeline();
    let command = kinesis_event([reserve("c-1", "o-1", &[("p-a", 3)])]);
    pipeline.process(&command, deadline()).await;
    testkit::put_item_number(&env.cfg, &env.table, "productId", "p-a", "available", 10).await;
    let again = pipeline.process(&command, deadline()).await;
    assert_eq!(again.report.duplicates, 1);
    let replies = env.replies().await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].3, replies[1].3, "the same record, byte for byte");
    assert_eq!(replies[1].1, "INVENTORY_RESERVATION_FAILED");
    assert_eq!(env.available("p-a").await, Some(10));
}

/// Counts calls to the idempotency table.
struct Counting<S> {
    inner: S,
    calls: AtomicU64,
}

impl<S: IdempotencyStore> IdempotencyStore for Counting<S> {
    async fn claim(
        &self,
        key: &str,
        token: &str,
        until: u64,
        expires: u64,
    ) -> Result<Claim, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.claim(key, token, until, expires).await
    }
    async fn complete(
        &self,
        key: &str,
        result: Option<String>,
        expires: u64,
    ) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.complete(key, result, expires).await
    }
    async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.release(key, token).await
    }
}

#[tokio::test]
async fn aws_calls_per_order_are_one_transaction_and_replies_are_batched() {
    const ORDERS: usize = 20;
    let env = Env::new(&[("p-a", 1000), ("p-b", 1000), ("p-c", 1000)]).await;
    let (dynamodb, calls) = env.counted_dynamodb();
    let idempotency = Arc::new(Counting {
        inner: DynamoDbIdempotencyStore::new(dynamodb.clone(), &env.idempotency),
        calls: AtomicU64::new(0),
    });
    let put = Arc::new(FakePutRecords::default());
    let pipeline = assemble(
        InventoryHandler::new(
            DynamoDbStockStore::new(dynamodb, &env.table),
            idempotency.clone(),
        ),
        Arc::new(InMemoryDeadLetters::default()),
        OrderedPublisher::new(put.clone(), RetryPolicy::default()),
        CoreConfig::new("inventory-update"),
    );
    let lines = [("p-a", 1), ("p-b", 2), ("p-c", 3)];

    // Events: one transaction per order, whatever its number of lines.
    let outcome = deliver(
        &pipeline,
        (0..ORDERS).map(|i| order_created(&format!("e-{i}"), &format!("o-{i}"), &lines)),
    )
    .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(
        (calls.transact_write_items(), calls.get_item()),
        (ORDERS as u64, 0)
    );
    assert_eq!(env.available("p-c").await, Some(1000 - 3 * ORDERS as i64));

    // Releases: one read of the reservation and one transaction per order.
    deliver(
        &pipeline,
        (0..ORDERS).map(|i| order_cancelled(&format!("x-{i}"), &format!("o-{i}"))),
    )
    .await;
    assert_eq!(
        (calls.transact_write_items(), calls.get_item()),
        (2 * ORDERS as u64, ORDERS as u64)
    );
    assert_eq!(env.available("p-c").await, Some(1000));

    // Commands: one transaction per order, two idempotency writes (claim,
    // complete) per command, and every reply in one PutRecords call.
    let outcome = deliver(
        &pipeline,
        (0..ORDERS).map(|i| reserve(&format!("c-{i}"), &format!("o-{}", 100 + i), &lines)),
    )
    .await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(calls.transact_write_items(), 3 * ORDERS as u64);
    assert_eq!(idempotency.calls.load(Ordering::SeqCst), 2 * ORDERS as u64);
    assert_eq!(outcome.report.publish_calls, 1);
    assert_eq!(put.calls().len(), 1);
    assert_eq!(put.calls()[0].len(), ORDERS);
    println!(
        "calls for {ORDERS} orders of 3 lines: reserve {ORDERS} TransactWriteItems; release {ORDERS} GetItem + \
         {ORDERS} TransactWriteItems; {ORDERS} commands: {ORDERS} TransactWriteItems + {} idempotency writes + {} PutRecords",
        idempotency.calls.load(Ordering::SeqCst),
        put.calls().len()
    );
}

#[tokio::test]
async fn order_cancelled_of_a_saga_reservation_changes_nothing() {
    let env = Env::new(&[("p-a", 10)]).await;
    let outcome = release_by_another_owner(
        &env,
        &env.pipeline(),
        reserve("c-1", "o-1", &[("p-a", 4)]),
        "SAGA#saga-o-1",
        order_cancelled("x-1", "o-1"),
    )
    .await;
    assert_eq!(outcome.report.skipped, 1);
    assert!(env.dead_letters().await.is_empty());
}

/// Reserves 4 of `p-a`'s 10 units for o-1 with `reservation` (stored as
/// owned by `owner`), then delivers `release`, which is not the owner's:
/// it is acknowledged, and neither the stock nor the reservation moves.
async fn release_by_another_owner<H: Handler, D: DeadLetterSink, P: RecordPublisher>(
    env: &Env,
    pipeline: &Pipeline<H, D, P>,
    reservation: (String, Vec<u8>),
    owner: &str,
    release: (String, Vec<u8>),
) -> BatchOutcome {
    deliver(pipeline, [reservation]).await;
    let before = env.reservation("o-1").await.unwrap();
    assert_eq!(before["owner"], AttributeValue::S(owner.into()));

    let outcome = deliver(pipeline, [release]).await;
    assert!(outcome.failed_sequence_numbers().is_empty());
    assert_eq!(env.available("p-a").await, Some(6));
    assert_eq!(
        env.reservation("o-1").await.unwrap(),
        before,
        "the reservation is untouched"
    );
    outcome
}

#[tokio::test]
async fn a_saga_release_of_an_order_created_reservation_changes_nothing() {
    let env = Env::new(&[("p-a", 10)]).await;
    let (pipeline, calls) = env.counted_pipeline();
    release_by_another_owner(
        &env,
        &pipeline,
        order_created("e-1", "o-1", &[("p-a", 4)]),
        "ORDER_CREATED",
        release("c-1", "o-1"),
    )
    .await;
    let replies = env.replies().await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1, "INVENTORY_RELEASED");
    assert_eq!(replies[0].2["items"], serde_json::json!([]));
    assert_eq!(replies[0].2["sagaId"], "saga-o-1");
    // Enforced by the transaction's condition: the read found the
    // reservation and the write was refused.
    assert_eq!((calls.get_item(), calls.transact_write_items()), (1, 2));
}

#[tokio::test]
async fn each_owner_releases_its_own_reservation_once() {
    let env = Env::new(&[("p-a", 100), ("p-b", 100)]).await;
    let pipeline = env.pipeline();
    deliver(
        &pipeline,
        [
            order_created("e-1", "o-1", &[("p-a", 5)]),
            reserve("c-2", "o-2", &[("p-a", 7), ("p-b", 1)]),
        ],
    )
    .await;
    assert_eq!(env.available("p-a").await, Some(88));
    let everything = kinesis_event([
        order_cancelled("x-1", "o-1"),
        release("r-1", "o-1"),
        order_cancelled("x-2", "o-2"),
        release("r-2", "o-2"),
    ]);
    for _ in 0..2 {
        let outcome = pipeline.process(&everything, deadline()).await;
        assert!(outcome.failed_sequence_numbers().is_empty());
    }
    deliver(
        &pipeline,
        [
            order_cancelled("x-1b", "o-1"),
            release("r-1b", "o-1"),
            order_cancelled("x-2b", "o-2"),
            release("r-2b", "o-2"),
        ],
    )
    .await;
    assert_eq!(env.available("p-a").await, Some(100));
    assert_eq!(env.available("p-b").await, Some(100));
    let replies = env.replies().await;
    let nonempty: Vec<_> = replies
        .iter()
        .filter(|r| r.1 == "INVENTORY_RELEASED")
        .filter(|r| !r.2["items"].as_array().unwrap().is_empty())
        .map(|r| (r.0.clone(), r.2["orderId"].clone()))
        .collect();
    assert_eq!(nonempty.len(), 2, "the first reply and its redelivery");
    assert_eq!(nonempty[0], nonempty[1]);
    assert_eq!(nonempty[0].1, "o-2");
    for order in ["o-1", "o-2"] {
        let item = env.reservation(order).await.unwrap();
        assert_eq!(item["state"], AttributeValue::S("RELEASED".into()));
    }
}

#[tokio::test]
async fn a_saga_takes_over_an_order_created_reservation_and_other_sagas_are_refused() {
    let env = Env::new(&[("p-a", 10)]).await;
    let pipeline = env.pipeline();
    deliver(&pipeline, [order_created("e-1", "o-1", &[("p-a", 2)])]).await;
    deliver(&pipeline, [reserve_for("c-1", "o-1", "s-1", &[("p-a", 2)])]).await;
    assert_eq!(env.available("p-a").await, Some(8), "held once");
    let item = env.reservation("o-1").await.unwrap();
    assert_eq!(item["owner"], AttributeValue::S("SAGA#s-1".into()));
    assert!(item.contains_key("takenOverAt"));

    // A late cancellation (the saga may have shipped) changes nothing;
    // another saga can neither reserve nor release it.
    deliver(&pipeline, [order_cancelled("x-1", "o-1")]).await;
    deliver(&pipeline, [reserve_for("c-2", "o-1", "s-2", &[("p-a", 2)])]).await;
    deliver(&pipeline, [release_for("c-3", "o-1", "s-2")]).await;
    assert_eq!(env.available("p-a").await, Some(8));
    // The saga's compensation gives it back.
    deliver(&pipeline, [release_for("c-4", "o-1", "s-1")]).await;
    assert_eq!(env.available("p-a").await, Some(10));

    let replies = env.replies().await;
    let summary: Vec<(String, String)> = replies
        .iter()
        .map(|r| {
            (
                r.1.clone(),
                r.2["reason"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| r.2["items"].to_string()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "INVENTORY_RESERVED".to_owned(),
                r#"[{"productId":"p-a","quantity":2}]"#.to_owned()
            ),
            (
                "INVENTORY_RESERVATION_FAILED".to_owned(),
                "OTHER".to_owned()
            ),
            ("INVENTORY_RELEASED".to_owned(), "[]".to_owned()),
            (
                "INVENTORY_RELEASED".to_owned(),
                r#"[{"productId":"p-a","quantity":2}]"#.to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_reservation_written_without_an_owner_is_released_once_by_either_flow() {
    let env = Env::new(&[("p-a", 10)]).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&env.cfg);
    // As written before owners were recorded: no `owner` attribute.
    for (order, units) in [("o-1", 3), ("o-2", 4)] {
        dynamodb
            .put_item()
            .table_name(&env.table)
            .item(
                "productId",
                AttributeValue::S(format!("reservation#{order}")),
            )
            .item("recordType", AttributeValue::S("RESERVATION".into()))
            .item("orderId", AttributeValue::S(order.into()))
            .item("state", AttributeValue::S("RESERVED".into()))
            .item(
                "lines",
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([
                    ("productId".to_owned(), AttributeValue::S("p-a".into())),
                    ("quantity".to_owned(), AttributeValue::N(units.to_string())),
                ]))]),
            )
            .send()
            .await
            .unwrap();
    }
    testkit::put_item_number(&env.cfg, &env.table, "productId", "p-a", "available", 3).await;
    let pipeline = env.pipeline();
    for record in [
        order_cancelled("x-1", "o-1"),
        release("r-2", "o-2"),
        release("r-1", "o-1"),
        order_cancelled("x-2", "o-2"),
    ] {
        let outcome = deliver(&pipeline, [record]).await;
        assert!(outcome.failed_sequence_numbers().is_empty());
    }
    assert_eq!(
        env.available("p-a").await,
        Some(10),
        "3 + 4 back, once each"
    );
}
