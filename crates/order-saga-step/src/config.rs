//! The function's environment variables.

use stream_core::config::{required, Vars};
use stream_core::{ConfigError, CoreConfig, StreamRef};

#[derive(Debug, Clone)]
pub struct Config {
    pub core: CoreConfig,
    /// `SAGA_TABLE`: one item per order's saga.
    pub saga_table: String,
    /// `ORDER_COMMANDS_STREAM`: where commands to participants go.
    pub commands_stream: StreamRef,
    /// `ORDER_EVENTS_STREAM`: where ORDER_COMPLETED and ORDER_FAILED go.
    pub events_stream: StreamRef,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_vars(vars, false)?,
            saga_table: required(vars, "SAGA_TABLE")?,
            commands_stream: StreamRef::from_env(vars, "ORDER_COMMANDS_STREAM")?,
            events_stream: StreamRef::from_env(vars, "ORDER_EVENTS_STREAM")?,
        })
    }
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
}
