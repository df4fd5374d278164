//! The functions linked into the tooling, run in process: the one list of
//! them, by type (`linked!` below). Everything else (the catalogue, the
//! manifest, the runner binary, the demo) comes from this list and the
//! functions' descriptors; adding a function is its crate, a dependency
//! under the `linked` feature and one line here.
//!
//! A function reads its configuration from the same environment variables
//! as in Lambda. `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets, defaults to
//! the function's name, so its dead letters say which function wrote them.

use aws_config::SdkConfig;
use stream_core::config::{ConfigError, Vars};
use stream_core::lambda::Function;
use stream_core::FunctionDescriptor;

use crate::catalog::PRINT;
use crate::config::{MappingConfig, MappingConfigError};
use crate::http::HttpInvoker;
use crate::invoke::Invoke;
use crate::runner::Runner;

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

/// What is done with a function once built: [`build`] hands each one over
/// with its descriptor, whatever its pipeline's type.
pub trait Wire {
    fn wire<I: Invoke + 'static>(
        &mut self,
        function: FunctionDescriptor,
        invoker: I,
    ) -> Result<(), WiringError>;
}

/// The linked functions, named by their type: the deployed ones (those
/// `functions.json` describes), then the stand-ins for services outside
/// the project.
macro_rules! linked {
    (deployed: [$($deployed:ty),+ $(,)?], stand_ins: [$($stand_in:ty),* $(,)?] $(,)?) => {
        /// The functions that ship: the ones `functions.json` describes.
        pub const DEPLOYED: &[FunctionDescriptor] =
            &[$(<$deployed as Function>::DESCRIPTOR,)+];

        /// Every function that runs in process: the deployed ones and the
        /// stand-ins.
        pub const LINKED: &[FunctionDescriptor] = &[
            $(<$deployed as Function>::DESCRIPTOR,)+
            $(<$stand_in as Function>::DESCRIPTOR,)*
        ];

        /// Every function the runner can run on the order streams: the
        /// linked ones and `print`.
        pub const FUNCTIONS: &[FunctionDescriptor] = &[
            $(<$deployed as Function>::DESCRIPTOR,)+
            $(<$stand_in as Function>::DESCRIPTOR,)*
            PRINT,
        ];

        /// Builds `function` (configured from `vars`) and hands it to `wire`.
        pub fn build(
            function: &str,
            sdk: &SdkConfig,
            vars: &impl Vars,
            wire: &mut impl Wire,
        ) -> Result<(), WiringError> {
            $(
                if function == <$deployed as Function>::DESCRIPTOR.name {
                    return build_one::<$deployed>(sdk, vars, wire);
                }
            )+
            $(
                if function == <$stand_in as Function>::DESCRIPTOR.name {
                    return build_one::<$stand_in>(sdk, vars, wire);
                }
            )*
            Err(WiringError::NotLinked(function.to_owned()))
        }
    };
}

linked!(
    deployed: [
        email_notification::EmailNotification,
        inventory_update::InventoryUpdate,
        order_saga_step::OrderSagaStep,
    ],
    stand_ins: [participant_simulator::ParticipantSimulator],
);

/// One function, configured as in Lambda and built as deployed.
fn build_one<F: Function>(
    sdk: &SdkConfig,
    vars: &impl Vars,
    wire: &mut impl Wire,
) -> Result<(), WiringError> {
    let env = FunctionEnv {
        vars,
        function: F::DESCRIPTOR.name,
    };
    let config = F::config(&env)?;
    wire.wire(F::DESCRIPTOR, F::pipeline(sdk, &config))
}

/// The function called `name`, linked or `print`.
pub fn find(name: &str) -> Option<&'static FunctionDescriptor> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Whether `function` runs in process in this build.
pub fn is_linked(function: &str) -> bool {
    FUNCTIONS.iter().any(|f| f.name == function)
}

/// The manifest of the deployed functions, as `functions.json` holds it.
pub fn manifest() -> String {
    let deployed: Vec<&FunctionDescriptor> = DEPLOYED.iter().collect();
    stream_core::function::manifest(&deployed)
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

/// Wires a function as one mapping per entry of `configs`.
struct Mappings<'a> {
    runner: &'a mut Runner,
    sdk: &'a SdkConfig,
    configs: Vec<MappingConfig>,
}

impl Wire for Mappings<'_> {
    fn wire<I: Invoke + 'static>(
        &mut self,
        _function: FunctionDescriptor,
        invoker: I,
    ) -> Result<(), WiringError> {
        let configs = std::mem::take(&mut self.configs);
        Ok(self.runner.push_function(invoker, self.sdk, configs)?)
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
    let mut mappings = Mappings {
        runner,
        sdk,
        configs,
    };
    if function == PRINT.name {
        return mappings.wire(PRINT, crate::catalog::print_pipeline());
    }
    build(function, sdk, vars, &mut mappings)
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
    Ok(runner.push_function(invoker, sdk, configs)?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use stream_core::StreamRef;

    use super::*;
    use crate::catalog::{SourceFilter as _, ORDER_COMMANDS_STREAM};

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
        let spec = find(function).unwrap();
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

    #[test]
    fn commands_come_from_the_commands_stream_and_events_from_the_events_stream() {
        for function in FUNCTIONS {
            for source in function.sources {
                for kind in source.kinds {
                    assert_eq!(
                        kind.is_command(),
                        source.stream_var == ORDER_COMMANDS_STREAM,
                        "{}: {kind} on {}",
                        function.name,
                        source.stream_var
                    );
                }
            }
        }
        assert_eq!(find("inventory-update").unwrap().kinds().len(), 4);
        assert!(find("print").unwrap().sources[0].filter().is_none());
        assert!(find("nope").is_none());
        assert_eq!(
            FUNCTIONS.len(),
            LINKED.len() + 1,
            "every linked function is runnable"
        );
        assert!(DEPLOYED.iter().all(|d| LINKED.contains(d)));
    }

    /// `functions.json` is the descriptors' manifest for the template tests
    /// and the scripts; `UPDATE_MANIFEST=1` rewrites it after a change.
    #[test]
    fn the_manifest_file_is_the_descriptors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions.json");
        let expected = manifest();
        if std::env::var_os("UPDATE_MANIFEST").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "functions.json is stale: run `make manifest` (UPDATE_MANIFEST=1 cargo test -p event-source-runner manifest)"
        );
    }
}
