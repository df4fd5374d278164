//! The environment variables of the function and of the sweep.

use std::time::Duration;

use stream_core::config::{required, Vars};
use stream_core::{ConfigError, CoreConfig, StreamRef};

/// How long a participant has to answer a command, in seconds.
pub const STEP_TIMEOUT_VAR: &str = "SAGA_STEP_TIMEOUT_SECONDS";
/// The step timeout when [`STEP_TIMEOUT_VAR`] is unset.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest step timeout accepted: 7 days, the time participants keep
/// the reply to a command, so a command re-sent after its deadline still
/// gets the same reply.
pub const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Config {
    pub core: CoreConfig,
    /// `SAGA_TABLE`: one item per order's saga.
    pub saga_table: String,
    /// `ORDER_COMMANDS_STREAM`: where commands to participants go.
    pub commands_stream: StreamRef,
    /// `ORDER_EVENTS_STREAM`: where ORDER_COMPLETED and ORDER_FAILED go.
    pub events_stream: StreamRef,
    /// `SAGA_STEP_TIMEOUT_SECONDS`: the deadline written with every command.
    pub step_timeout: Duration,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_vars(vars, false)?,
            saga_table: required(vars, "SAGA_TABLE")?,
            commands_stream: StreamRef::from_env(vars, "ORDER_COMMANDS_STREAM")?,
            events_stream: StreamRef::from_env(vars, "ORDER_EVENTS_STREAM")?,
            step_timeout: step_timeout(vars)?,
        })
    }
}

/// The sweep's variables: the function's, less the dead-letter queue (the
/// sweep reads no stream records, so it has none to dead-letter).
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME`, for the metrics; `order-saga-sweep` locally.
    pub function_name: String,
    pub saga_table: String,
    pub commands_stream: StreamRef,
    pub events_stream: StreamRef,
    pub step_timeout: Duration,
    /// `METRICS_NAMESPACE` (default `OrderEventsPipeline`).
    pub metrics_namespace: String,
}

impl SweepConfig {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            function_name: vars
                .get("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "order-saga-sweep".to_owned()),
            saga_table: required(vars, "SAGA_TABLE")?,
            commands_stream: StreamRef::from_env(vars, "ORDER_COMMANDS_STREAM")?,
            events_stream: StreamRef::from_env(vars, "ORDER_EVENTS_STREAM")?,
            step_timeout: step_timeout(vars)?,
            metrics_namespace: vars
                .get("METRICS_NAMESPACE")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "OrderEventsPipeline".to_owned()),
        })
    }
}

/// `SAGA_STEP_TIMEOUT_SECONDS`: whole seconds, 1 to 7 days; unset or empty
/// is the default.
pub fn step_timeout(vars: &impl Vars) -> Result<Duration, ConfigError> {
    let Some(value) = vars.get(STEP_TIMEOUT_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(DEFAULT_STEP_TIMEOUT);
    };
    let invalid = |why: &str| ConfigError::Invalid {
        name: STEP_TIMEOUT_VAR,
        reason: format!("`{}`: {why}", order_events::values::clip(value.trim(), 40)),
    };
    let seconds: u64 = value
        .trim()
        .parse()
        .map_err(|_| invalid("not a whole number of seconds"))?;
    let timeout = Duration::from_secs(seconds);
    if seconds == 0 || timeout > MAX_STEP_TIMEOUT {
        return Err(invalid(&format!(
            "outside 1..={} seconds",
            MAX_STEP_TIMEOUT.as_secs()
        )));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_arns_and_names_what_is_missing() {
        let vars = [
            (
                "DEAD_LETTER_QUEUE_URL",
                "http://localhost:4566/000000000000/dlq",
            ),
            ("SAGA_TABLE", "sagas"),
            (
                "ORDER_COMMANDS_STREAM",
                "arn:aws:kinesis:us-east-1:123456789012:stream/order-commands",
            ),
            ("ORDER_EVENTS_STREAM", "order-events"),
        ];
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.saga_table, "sagas");
        assert!(matches!(config.commands_stream, StreamRef::Arn(_)));
        assert_eq!(config.events_stream, StreamRef::Name("order-events".into()));

        for missing in [
            "SAGA_TABLE",
            "ORDER_COMMANDS_STREAM",
            "ORDER_EVENTS_STREAM",
            "DEAD_LETTER_QUEUE_URL",
        ] {
            let partial: std::collections::HashMap<String, String> = vars
                .iter()
                .filter(|(k, _)| *k != missing)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let err = Config::from_vars(&partial).unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
        }

        let bad = [
            vars[0],
            vars[1],
            ("ORDER_COMMANDS_STREAM", "not a stream"),
            vars[3],
        ];
        let err = Config::from_vars(&bad).unwrap_err();
        assert!(err.to_string().contains("ORDER_COMMANDS_STREAM"), "{err}");
    }

    fn with_timeout(value: Option<&str>) -> std::collections::HashMap<String, String> {
        let mut vars: std::collections::HashMap<String, String> = [
            (
                "DEAD_LETTER_QUEUE_URL",
                "http://localhost:4566/000000000000/dlq",
            ),
            ("SAGA_TABLE", "sagas"),
            ("ORDER_COMMANDS_STREAM", "order-commands"),
            ("ORDER_EVENTS_STREAM", "order-events"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(value) = value {
            vars.insert(STEP_TIMEOUT_VAR.to_owned(), value.to_owned());
        }
        vars
    }

    #[test]
    fn the_step_timeout_defaults_and_is_read_by_function_and_sweep() {
        for (value, seconds) in [
            (None, 300),
            (Some(""), 300),
            (Some(" 45 "), 45),
            (Some("604800"), 604_800),
        ] {
            let vars = with_timeout(value);
            assert_eq!(
                Config::from_vars(&vars).unwrap().step_timeout,
                Duration::from_secs(seconds),
                "{value:?}"
            );
            assert_eq!(
                SweepConfig::from_vars(&vars).unwrap().step_timeout,
                Duration::from_secs(seconds),
                "{value:?}"
            );
        }
    }

    #[test]
    fn an_invalid_step_timeout_stops_both_at_start_naming_the_variable() {
        let long = "9".repeat(5_000);
        for value in [
            "0",
            "-5",
            "1.5",
            "five minutes",
            "604801",
            "18446744073709551616",
            long.as_str(),
        ] {
            let vars = with_timeout(Some(value));
            for err in [
                Config::from_vars(&vars).unwrap_err(),
                SweepConfig::from_vars(&vars).unwrap_err(),
            ] {
                let line = err.to_string();
                assert!(
                    matches!(
                        err,
                        ConfigError::Invalid {
                            name: STEP_TIMEOUT_VAR,
                            ..
                        }
                    ),
                    "{value}: {line}"
                );
                assert!(line.contains(STEP_TIMEOUT_VAR), "{line}");
                assert!(
                    !line.contains('\n') && line.len() < 200,
                    "one short line: {line}"
                );
            }
        }
    }

    #[test]
    fn the_sweep_needs_no_dead_letter_queue_but_names_what_is_missing() {
        let mut vars = with_timeout(None);
        vars.remove("DEAD_LETTER_QUEUE_URL");
        let config = SweepConfig::from_vars(&vars).unwrap();
        assert_eq!(config.function_name, "order-saga-sweep");
        assert_eq!(config.metrics_namespace, "OrderEventsPipeline");
        for missing in ["SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM"] {
            let mut partial = vars.clone();
            partial.remove(missing);
            assert_eq!(
                SweepConfig::from_vars(&partial).unwrap_err(),
                ConfigError::Missing(missing)
            );
        }
    }
}
