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

use stream_core::config::ProcessEnv;
use stream_core::{
    KinesisPutRecords, OrderedPublisher, Pipeline, PipelineConfig, RetryPolicy, SqsDeadLetters,
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
        PipelineConfig::from(&config.core),
    )
    .with_publisher(publisher)
}

/// The Lambda entry point.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    stream_core::logging::init();
    let config = match Config::from_vars(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => stream_core::lambda::exit_on_config_error(&err),
    };
    tracing::info!(
        paymentFailures = config.payment_failures.len(),
        shippingFailures = config.shipping_failures.len(),
        "participant simulator starting"
    );
    let sdk = stream_core::aws::load_config().await;
    let namespace = config.core.metrics_namespace.clone();
    stream_core::lambda::serve(build_pipeline(&sdk, &config), namespace).await
}
