//! inventory-update: exactly-once stock reservations on an at-least-once
//! stream.
//!
//! Reserves stock on `ORDER_CREATED` (events stream) and `RESERVE_INVENTORY`
//! (commands stream), releases it on `ORDER_CANCELLED` and
//! `RELEASE_INVENTORY`, and answers each command with one reply event on
//! `ORDER_EVENTS_STREAM`. A reservation belongs to an order: whichever
//! record asks, and however often it is delivered, an order holds its stock
//! once, and a release gives it back once. It also has one owner
//! (`ORDER_CREATED` or a saga), and only the owner's release gives it back
//! ([`store`] explains the rule).
//!
//! Layout:
//! - [`handler`]: the domain logic (what each input does and answers).
//! - [`store`]: the stock store port ([`StockStore`]), its outcomes and
//!   its one error; [`store::dynamodb`] is the DynamoDB adapter (one
//!   transaction per order, and the reading of cancelled transactions);
//!   `store::memory` is the in-memory fake with scripted faults, compiled
//!   only for tests and the `test-util` feature.
//! - [`reply`]: replies as stored for redeliveries, and as published.
//! - [`config`]: the environment variables.
//! - [`text`]: outside text echoed into logs and errors, bounded.
//!
//! The stream-batch mechanics (decoding, KPL deaggregation, per-key order,
//! dead letters, batched publishing of replies, `batchItemFailures`) are
//! the core's (`stream-core`).

// Data from outside the process never meets an unwrap or expect: a bad
// record is a dead letter, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod handler;
pub mod reply;
pub mod store;
pub mod text;

pub use config::Config;
pub use handler::InventoryHandler;
pub use store::dynamodb::DynamoDbStockStore;
#[cfg(any(test, feature = "test-util"))]
pub use store::memory::{Fault, InMemoryStockStore};
pub use store::{Owner, ReleaseOutcome, ReserveOutcome, StockStore, StoreError};

use order_events::EventKind;
use stream_core::config::{ConfigError, Vars};
use stream_core::function::{ORDER_COMMANDS_STREAM, ORDER_EVENTS_STREAM};
use stream_core::lambda::Function;
use stream_core::{
    CoreConfig, DeadLetterSink, DynamoDbIdempotencyStore, IdempotencyStore, KinesisPutRecords,
    OrderedPublisher, Pipeline, RecordPublisher, RetryPolicy, SqsDeadLetters,
};
use stream_core::{FunctionDescriptor, Source};

/// The function as deployed.
pub type InventoryPipeline = Pipeline<
    InventoryHandler<DynamoDbStockStore, DynamoDbIdempotencyStore>,
    SqsDeadLetters,
    OrderedPublisher<KinesisPutRecords>,
>;

/// Builds the deployed pipeline from one SDK configuration; clients are
/// made here, once per process.
pub fn build_pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> InventoryPipeline {
    build_pipeline_with_dynamodb(sdk, stream_core::aws::dynamodb_client(sdk), config)
}

/// [`build_pipeline`] around a given DynamoDB client for the stock and
/// reply tables, so emulator tests can observe the calls the deployed
/// wiring makes.
pub fn build_pipeline_with_dynamodb(
    sdk: &aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    config: &Config,
) -> InventoryPipeline {
    let store = DynamoDbStockStore::new(dynamodb.clone(), &config.inventory_table);
    let replies = DynamoDbIdempotencyStore::new(dynamodb, &config.idempotency_table);
    let dead_letters = SqsDeadLetters::new(
        stream_core::aws::sqs_client(sdk),
        &config.core.dead_letter_queue_url,
    );
    let publisher = OrderedPublisher::new(
        KinesisPutRecords::new(
            stream_core::aws::kinesis_client(sdk),
            config.order_events_stream.clone(),
        ),
        RetryPolicy::default(),
    );
    assemble(
        InventoryHandler::new(store, replies),
        dead_letters,
        publisher,
        config.core.clone(),
    )
}

/// The pipeline around any store, dead-letter sink and publisher; tests
/// and local tools plug fakes in here.
pub fn assemble<S, I, D, P>(
    handler: InventoryHandler<S, I>,
    dead_letters: D,
    publisher: P,
    config: CoreConfig,
) -> Pipeline<InventoryHandler<S, I>, D, P>
where
    S: StockStore,
    I: IdempotencyStore,
    D: DeadLetterSink,
    P: RecordPublisher,
{
    Pipeline::new(handler, dead_letters, config).with_publisher(publisher)
}

/// What inventory-update reads: order events and inventory commands.
pub const DESCRIPTOR: FunctionDescriptor = FunctionDescriptor {
    name: "inventory-update",
    summary: "reserves and releases stock; replies to inventory commands",
    sources: &[
        Source {
            stream_var: ORDER_EVENTS_STREAM,
            kinds: &[EventKind::OrderCreated, EventKind::OrderCancelled],
        },
        Source {
            stream_var: ORDER_COMMANDS_STREAM,
            kinds: &[EventKind::ReserveInventory, EventKind::ReleaseInventory],
        },
    ],
};

/// The deployed function.
pub struct InventoryUpdate;

impl Function for InventoryUpdate {
    const DESCRIPTOR: FunctionDescriptor = DESCRIPTOR;
    type Config = Config;
    type Handler = InventoryHandler<DynamoDbStockStore, DynamoDbIdempotencyStore>;
    type DeadLetters = SqsDeadLetters;
    type Publisher = OrderedPublisher<KinesisPutRecords>;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    fn metrics_namespace(config: &Config) -> String {
        config.core.metrics_namespace.clone()
    }

    fn pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> InventoryPipeline {
        build_pipeline(sdk, config)
    }
}
