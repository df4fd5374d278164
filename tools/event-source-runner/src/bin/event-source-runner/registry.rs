//! Which functions this binary can run in process, and how each is built.
//!
//! The library's catalogue is the functions' descriptors; this module links
//! their code. A function crate implements `stream_core::lambda::Function`
//! (descriptor, configuration, pipeline); linking one is a dependency in
//! this crate's Cargo.toml and its type in the `linked!` list.
//!
//! A function reads its configuration from the same environment variables
//! as in Lambda. `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets, defaults to
//! the function's name, so its dead letters say which function wrote them.
//! A function that is not linked runs with `--http` through `cargo lambda
//! watch` instead.

use std::sync::Arc;

use aws_config::SdkConfig;
use event_source_runner::{
    EventSourceMapping, HttpInvoker, Invoke, MappingConfig, MappingConfigError, Runner,
};
use stream_core::config::{ConfigError, Vars};
use stream_core::lambda::Function;
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

/// The functions linked into this binary, named by their type: their
/// descriptors give the names, their `Function` implementations the
/// configuration and the pipeline. `print` is the runner's own.
macro_rules! linked {
    ($($function:ty),+ $(,)?) => {
        /// The names of the functions that run in process in this build.
        pub const LINKED: &[&str] = &[$(<$function as Function>::DESCRIPTOR.name,)+ "print"];

        fn add_linked(
            runner: &mut Runner,
            sdk: &SdkConfig,
            env: &impl Vars,
            function: &str,
            configs: Vec<MappingConfig>,
        ) -> Result<(), WiringError> {
            $(
                if function == <$function as Function>::DESCRIPTOR.name {
                    let config = <$function as Function>::config(env)?;
                    return add_all(runner, sdk, <$function as Function>::pipeline(sdk, &config), configs);
                }
            )+
            if function == "print" {
                return add_all(runner, sdk, print_pipeline(), configs);
            }
            Err(WiringError::NotLinked(function.to_owned()))
        }
    };
}

linked!(
    email_notification::EmailNotification,
    inventory_update::InventoryUpdate,
    order_saga_step::OrderSagaStep,
    participant_simulator::ParticipantSimulator,
);

/// Whether `function` runs in process in this build.
pub fn is_linked(function: &str) -> bool {
    LINKED.contains(&function)
}

/// The variables a function sees: `vars`, with `AWS_LAMBDA_FUNCTION_NAME`
/// defaulting to the function's name as Lambda would set it.
struct FunctionEnv<'a, V> {
    vars: &'a V,
    function: &'a str,
}

impl<V: Vars> Vars for FunctionEnv<'_, V> {
    fn get(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .or_else(|| (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| self.function.to_owned()))
    }
}

/// Adds `function`, configured from `vars` and built once, run in process
/// with one mapping per entry of `configs` (one per stream it reads).
pub fn add_in_process(
    runner: &mut Runner,
    sdk: &SdkConfig,
    vars: &impl Vars,
    function: &str,
    configs: Vec<MappingConfig>,
) -> Result<(), WiringError> {
    let env = FunctionEnv { vars, function };
    add_linked(runner, sdk, &env, function, configs)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use event_source_runner::catalog::{self, SourceFilter as _, FUNCTIONS};
    use stream_core::StreamRef;

    use super::*;

    /// Every variable any linked function reads.
    fn vars() -> HashMap<String, String> {
        [
            (
                "DEAD_LETTER_QUEUE_URL",
                "http://127.0.0.1:5000/123456789012/dlq",
            ),
            ("ORDER_EVENTS_STREAM", "order-events"),
            (
                "ORDER_COMMANDS_STREAM",
                "arn:aws:kinesis:us-east-1:123456789012:stream/order-commands",
            ),
            ("INVENTORY_TABLE", "inventory"),
            ("SAGA_TABLE", "sagas"),
            ("IDEMPOTENCY_TABLE", "idempotency"),
            ("CUSTOMERS_TABLE", "customers"),
            ("SENDER_EMAIL", "orders@shop.example.com"),
            ("SIMULATE_PAYMENT_FAILURE_ORDERS", "o-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Building clients needs no network, only a region and a behavior
    /// version.
    fn sdk() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build()
    }

    fn configs(function: &str) -> Vec<MappingConfig> {
        let spec = catalog::find(function).unwrap();
        spec.sources
            .iter()
            .map(|source| MappingConfig {
                filter: source.filter(),
                ..MappingConfig::new(function, StreamRef::Name(source.stream_var.to_lowercase()))
            })
            .collect()
    }

    #[test]
    fn every_catalog_function_is_linked_and_wires_one_mapping_per_stream() {
        let mut runner = Runner::new();
        let mut expected = Vec::new();
        for function in FUNCTIONS {
            assert!(is_linked(function.name), "{} is not linked", function.name);
            add_in_process(
                &mut runner,
                &sdk(),
                &vars(),
                function.name,
                configs(function.name),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", function.name));
            expected.extend(function.sources.iter().map(|_| function.name));
        }
        assert_eq!(runner.function_names(), expected);
        assert!(!is_linked("nope"));
        let err = add_in_process(&mut runner, &sdk(), &vars(), "nope", Vec::new()).unwrap_err();
        assert!(matches!(err, WiringError::NotLinked(name) if name == "nope"));
    }

    #[test]
    fn a_missing_variable_is_named_before_anything_runs() {
        for (function, variable) in [
            ("email-notification", "SENDER_EMAIL"),
            ("inventory-update", "INVENTORY_TABLE"),
            ("order-saga-step", "SAGA_TABLE"),
            ("participant-simulator", "ORDER_EVENTS_STREAM"),
        ] {
            let mut partial = vars();
            partial.remove(variable);
            let mut runner = Runner::new();
            let err = add_in_process(&mut runner, &sdk(), &partial, function, configs(function))
                .unwrap_err();
            assert!(
                err.to_string().contains(variable),
                "{function}: `{err}` does not name {variable}"
            );
            assert!(runner.is_empty(), "{function} was wired without {variable}");
        }
    }

    #[test]
    fn the_function_name_defaults_to_the_function_being_wired() {
        let vars = vars();
        let env = FunctionEnv {
            vars: &vars,
            function: "inventory-update",
        };
        assert_eq!(
            env.get("AWS_LAMBDA_FUNCTION_NAME").as_deref(),
            Some("inventory-update")
        );
        assert_eq!(env.get("SAGA_TABLE").as_deref(), Some("sagas"));
        assert_eq!(env.get("UNSET"), None);
        let named = [("AWS_LAMBDA_FUNCTION_NAME", "inventory-prod")];
        let env = FunctionEnv {
            vars: &named,
            function: "inventory-update",
        };
        assert_eq!(
            env.get("AWS_LAMBDA_FUNCTION_NAME").as_deref(),
            Some("inventory-prod")
        );
    }
}
