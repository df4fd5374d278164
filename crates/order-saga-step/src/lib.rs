//! `order-saga-step`: the orchestrator of the order saga. Every event on the
//! order events stream that belongs to a saga moves that order's saga by at
//! most one step; the step's command goes to the commands stream, and the
//! saga's outcome (ORDER_COMPLETED or ORDER_FAILED) to the events stream.
//!
//! Layout:
//! - [`saga`]: the saga's state (status, awaited step, completed steps,
//!   pending compensations, what later commands need).
//! - [`machine`]: the state machine, pure functions
//!   `transition(state, event, dedup_key, timing) -> Decision` and
//!   `on_deadline(saga, timing) -> DeadlineDecision`; the flow, the
//!   compensation order, the cancellation rules, the reason codes and the
//!   step deadlines are documented there.
//! - [`store`]: the saga store port (read; write conditional on the version
//!   read; scan for due sagas), its `SAGA_TABLE` adapter
//!   ([`store::dynamodb`], with the item layout) and, with the `test-util`
//!   feature, its in-memory fake ([`store::memory`]).
//! - [`handler`]: the [`stream_core::Handler`]: read, decide, write, retry a
//!   lost race, hand the records to the core.
//! - [`sweep`]: the scheduled sweep that applies passed step deadlines
//!   (binary `order-saga-sweep`), sharing the store, the machine and the
//!   publisher with the function.
//! - [`config`]: the environment variables; [`text`]: bounding text from
//!   outside before it is kept or logged.
//! - `testing` (the `test-util` feature only): deliveries, a publisher
//!   over fake streams and a store that lets a reply overtake a write, for
//!   this crate's tests and local tools.
//!
//! Guarantees: a saga's state only moves through conditional writes, so two
//! concurrent deliveries cannot both advance it; records are published only
//! after the write that decided them; their ids are derived from the saga
//! and the step, so a redelivery of the record that made the last
//! transition re-sends the very same records (the stored outbox) and never
//! new ones; any other duplicate sends nothing.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod handler;
pub mod machine;
pub mod saga;
pub mod store;
pub mod sweep;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod text;

pub use config::{Config, SweepConfig};
pub use handler::SagaHandler;
pub use machine::{
    on_deadline, transition, DeadlineDecision, Decision, Emit, TimeoutAction, Timing, HANDLED_KINDS,
};
pub use saga::{Compensation, OrderInfo, Phase, Saga, SagaStatus, Step};
pub use store::DynamoDbSagaStore;
#[cfg(any(test, feature = "test-util"))]
pub use store::InMemorySagaStore;
pub use store::{DuePage, SagaRecord, SagaStore, ScanCursor, StoreError, SweepStore, Unreadable};
pub use sweep::{sweep, SweepOptions, SweepReport, Sweeper};

use stream_core::config::{ConfigError, Vars};
use stream_core::function::ORDER_EVENTS_STREAM;
use stream_core::lambda::Function;
use stream_core::{
    FunctionDescriptor, KinesisPutRecords, OrderedPublisher, Pipeline, RetryPolicy, Source,
    SplitPublisher, SqsDeadLetters, StreamRef,
};

/// Commands to `ORDER_COMMANDS_STREAM`, outcome events to
/// `ORDER_EVENTS_STREAM`.
pub type SagaPublisher =
    SplitPublisher<OrderedPublisher<KinesisPutRecords>, OrderedPublisher<KinesisPutRecords>>;

/// The function as Lambda, the local event-source runner and end-to-end
/// tests run it.
pub type SagaPipeline = Pipeline<SagaHandler<DynamoDbSagaStore>, SqsDeadLetters, SagaPublisher>;

/// The publisher of the function and the sweep: commands to `commands`,
/// outcome events to `events`, in order per order id.
pub fn saga_publisher(
    kinesis: &aws_sdk_kinesis::Client,
    commands: &StreamRef,
    events: &StreamRef,
) -> SagaPublisher {
    SplitPublisher {
        commands: OrderedPublisher::new(
            KinesisPutRecords::new(kinesis.clone(), commands.clone()),
            RetryPolicy::default(),
        ),
        events: OrderedPublisher::new(
            KinesisPutRecords::new(kinesis.clone(), events.clone()),
            RetryPolicy::default(),
        ),
    }
}

/// Builds the pipeline from one SDK configuration and the function's
/// configuration.
pub fn build_pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> SagaPipeline {
    let publisher = saga_publisher(
        &stream_core::aws::kinesis_client(sdk),
        &config.commands_stream,
        &config.events_stream,
    );
    let store = DynamoDbSagaStore::new(
        stream_core::aws::dynamodb_client(sdk),
        config.saga_table.clone(),
    );
    let dead_letters = SqsDeadLetters::new(
        stream_core::aws::sqs_client(sdk),
        config.core.dead_letter_queue_url.clone(),
    );
    Pipeline::new(
        SagaHandler::new(store).with_step_timeout(config.step_timeout),
        dead_letters,
        config.core.clone(),
    )
    .with_publisher(publisher)
}

/// Milliseconds since the Unix epoch, by the system clock; 0 before 1970.
/// The machine never reads a clock: the handler and the sweep pass this in.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What order-saga-step reads: the events that move a saga.
pub const DESCRIPTOR: FunctionDescriptor = FunctionDescriptor {
    name: "order-saga-step",
    summary: "the order saga's orchestrator",
    sources: &[Source {
        stream_var: ORDER_EVENTS_STREAM,
        kinds: HANDLED_KINDS,
    }],
};

/// The deployed function.
pub struct OrderSagaStep;

impl Function for OrderSagaStep {
    const DESCRIPTOR: FunctionDescriptor = DESCRIPTOR;
    type Config = Config;
    type Handler = SagaHandler<DynamoDbSagaStore>;
    type DeadLetters = SqsDeadLetters;
    type Publisher = SagaPublisher;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    fn metrics_namespace(config: &Config) -> String {
        config.core.metrics_namespace.clone()
    }

    fn pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> SagaPipeline {
        build_pipeline(sdk, config)
    }
}
