//! Which functions this binary can run in process, and how each is built.
//!
//! The library knows functions by name only (`catalog`); this module links
//! them. A function crate exposes `Config::from_vars(&ProcessEnv)` and
//! `build_pipeline(&SdkConfig, &Config)`; linking one is a dependency in
//! this crate's Cargo.toml and one arm in [`add_in_process`]:
//!
//! ```text
//! "inventory-update" => {
//!     let config = inventory_update::Config::from_vars(&ProcessEnv)?;
//!     add_all(runner, sdk, inventory_update::build_pipeline(sdk, &config), configs)
//! }
//! ```
//!
//! Until a function is linked, `--http` runs it through `cargo lambda
//! watch` instead.

use std::sync::Arc;

use aws_config::SdkConfig;
use event_source_runner::{
    EventSourceMapping, HttpInvoker, Invoke, MappingConfig, MappingConfigError, Runner,
};
use stream_core::config::ConfigError;
use stream_core::order_events::EventKind;
use stream_core::{
    Handled, Handler, HandlerError, InMemoryDeadLetters, IncomingEvent, Pipeline, PipelineConfig,
};

/// Why a function could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("{0} is not linked into this binary; run it with --http and `cargo lambda watch`")]
    NotLinked(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Mapping(#[from] MappingConfigError),
    #[error("--http: {0}")]
    Http(String),
}

/// Whether `function` runs in process in this build.
pub fn is_linked(function: &str) -> bool {
    matches!(function, "print")
}

/// Adds `function`, built once and run in process, with one mapping per
/// entry of `configs` (one per stream it reads).
pub fn add_in_process(
    runner: &mut Runner,
    sdk: &SdkConfig,
    function: &str,
    configs: Vec<MappingConfig>,
) -> Result<(), WiringError> {
    match function {
        "print" => add_all(runner, sdk, print_pipeline(), configs),
        other => Err(WiringError::NotLinked(other.to_owned())),
    }
}

/// Adds `function` invoked through a Lambda-compatible endpoint.
pub fn add_http(
    runner: &mut Runner,
    sdk: &SdkConfig,
    endpoint: &str,
    function: &str,
    configs: Vec<MappingConfig>,
) -> Result<(), WiringError> {
    let invoker = HttpInvoker::new(endpoint, function).map_err(WiringError::Http)?;
    add_all(runner, sdk, invoker, configs)
}

/// One function instance shared by all its mappings, as one Lambda
/// function serves all its event source mappings.
fn add_all<I: Invoke + 'static>(
    runner: &mut Runner,
    sdk: &SdkConfig,
    invoker: I,
    configs: Vec<MappingConfig>,
) -> Result<(), WiringError> {
    let invoker = Arc::new(invoker);
    for config in configs {
        runner.push(EventSourceMapping::kinesis(
            Arc::clone(&invoker),
            sdk,
            config,
        )?);
    }
    Ok(())
}

/// Logs every event it is given; for watching a stream.
struct Print;

impl Handler for Print {
    fn handles(&self, _kind: EventKind) -> bool {
        true
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        tracing::info!(
            eventType = %event.event.kind(),
            dedupKey = %event.dedup_key,
            orderId = event.event.order_id().map(|o| o.as_str()).unwrap_or_default(),
            partitionKey = %event.origin.partition_key,
            sequenceNumber = %event.origin.sequence_number,
            shard = event.origin.shard_id.as_deref().unwrap_or_default(),
            "record"
        );
        Ok(Handled::done())
    }
}

fn print_pipeline() -> Pipeline<Print, InMemoryDeadLetters> {
    Pipeline::new(
        Print,
        InMemoryDeadLetters::default(),
        PipelineConfig::new("print"),
    )
}
