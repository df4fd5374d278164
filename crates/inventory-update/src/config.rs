//! Configuration from the environment, read once at start.

use stream_core::config::{required, Vars};
use stream_core::{ConfigError, CoreConfig, StreamRef};

#[derive(Debug, Clone)]
pub struct Config {
    /// `DEAD_LETTER_QUEUE_URL`, `IDEMPOTENCY_TABLE` (required here) and the
    /// optional shared settings.
    pub core: CoreConfig,
    /// `INVENTORY_TABLE`: stock and reservations.
    pub inventory_table: String,
    /// `IDEMPOTENCY_TABLE`: the replies to commands.
    pub idempotency_table: String,
    /// `ORDER_EVENTS_STREAM` (name or ARN): where replies go.
    pub order_events_stream: StreamRef,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let inventory_table = required(vars, "INVENTORY_TABLE")?;
        let order_events_stream = StreamRef::from_env(vars, "ORDER_EVENTS_STREAM")?;
        let core = CoreConfig::from_vars(vars, true)?;
        let idempotency_table = required(vars, "IDEMPOTENCY_TABLE")?;
        Ok(Self {
            core,
            inventory_table,
            idempotency_table,
            order_events_stream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: [(&str, &str); 4] = [
        ("INVENTORY_TABLE", "inventory"),
        (
            "ORDER_EVENTS_STREAM",
            "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
        ),
        ("IDEMPOTENCY_TABLE", "idempotency"),
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://localhost:4566/000000000000/dlq",
        ),
    ];

    #[test]
    fn reads_every_variable() {
        let config = Config::from_vars(&FULL).unwrap();
        assert_eq!(config.inventory_table, "inventory");
        assert_eq!(config.idempotency_table, "idempotency");
        assert!(matches!(config.order_events_stream, StreamRef::Arn(_)));
        assert_eq!(
            config.core.dead_letter_queue_url,
            "http://localhost:4566/000000000000/dlq"
        );
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (i, (name, _)) in FULL.iter().enumerate() {
            let vars: std::collections::HashMap<String, String> = FULL
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (k, v))| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let err = Config::from_vars(&vars).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("configuration error: environment variable {name} is not set")
            );
        }
    }

    #[test]
    fn an_invalid_stream_is_named() {
        let mut vars: std::collections::HashMap<String, String> = FULL
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        vars.insert("ORDER_EVENTS_STREAM".into(), "not a stream".into());
        let err = Config::from_vars(&vars).unwrap_err();
        assert!(
            err.to_string().contains("ORDER_EVENTS_STREAM is invalid"),
            "{err}"
        );
    }
}
