//! A stand-in for the payment and shipping services outside this project,
//! for local runs and tests. It reads the saga's commands and answers each
//! with the reply event the real service would send:
//!
//! | command | reply |
//! |---|---|
//! | `PROCESS_PAYMENT` | `PAYMENT_PROCESSED`, or `PAYMENT_FAILED` for a listed order |
//! | `REFUND_PAYMENT` | `PAYMENT_REFUNDED` (also for a payment never taken: a no-op that still replies) |
//! | `SHIP_ORDER` | `ORDER_SHIPPED`, or `SHIPPING_FAILED` for a listed order |
//!
//! A reply's `eventId` is derived from the command's deduplication key, so a
//! redelivered command gets the very same reply, as the contract asks of
//! every participant. The simulator keeps no state.
//!
//! Layout:
//! - [`simulator`]: the replies (pure) and the [`stream_core::Handler`].
//! - [`config`]: the environment variables.
//!
//! It runs like the functions: as a Lambda binary (`run`), or in-process
//! through [`build_pipeline`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod simulator;

pub use config::Config;
pub use simulator::{Simulator, HANDLED_KINDS};

use stream_core::config::{ConfigError, Vars};
use stream_core::function::ORDER_COMMANDS_STREAM;
use stream_core::lambda::Function;
use stream_core::{
    FunctionDescriptor, KinesisPutRecords, OrderedPublisher, Pipeline, RetryPolicy, Source,
    SqsDeadLetters,
};

/// The simulator as the local event-source runner and tests run it.
pub type SimulatorPipeline =
    Pipeline<Simulator, SqsDeadLetters, OrderedPublisher<KinesisPutRecords>>;

/// Builds the pipeline: commands in, replies published to
/// `ORDER_EVENTS_STREAM`, dead letters to `DEAD_LETTER_QUEUE_URL`.
pub fn build_pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> SimulatorPipeline {
    let kinesis = stream_core::aws::kinesis_client(sdk);
    let sqs = stream_core::aws::sqs_client(sdk);
    let publisher = OrderedPublisher::new(
        KinesisPutRecords::new(kinesis, config.events_stream.clone()),
        RetryPolicy::default(),
    );
    Pipeline::new(
        config.simulator(),
        SqsDeadLetters::new(sqs, config.core.dead_letter_queue_url.clone()),
        config.core.clone(),
    )
    .with_publisher(publisher)
}

/// What the simulator reads: the payment and shipping commands.
pub const DESCRIPTOR: FunctionDescriptor = FunctionDescriptor {
    name: "participant-simulator",
    summary: "local stand-in for the payment and shipping services",
    sources: &[Source {
        stream_var: ORDER_COMMANDS_STREAM,
        kinds: HANDLED_KINDS,
    }],
};

/// The simulator as a function.
pub struct ParticipantSimulator;

impl Function for ParticipantSimulator {
    const DESCRIPTOR: FunctionDescriptor = DESCRIPTOR;
    type Config = Config;
    type Handler = Simulator;
    type DeadLetters = SqsDeadLetters;
    type Publisher = OrderedPublisher<KinesisPutRecords>;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        let config = Config::from_vars(vars)?;
        tracing::info!(
            paymentFailures = config.payment_failures.len(),
            shippingFailures = config.shipping_failures.len(),
            "participant simulator starting"
        );
        Ok(config)
    }

    fn metrics_namespace(config: &Config) -> String {
        config.core.metrics_namespace.clone()
    }

    fn pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> SimulatorPipeline {
        build_pipeline(sdk, config)
    }
}
