//! The simulator's environment variables.

use order_events::OrderId;
use stream_core::config::Vars;
use stream_core::{ConfigError, CoreConfig, StreamRef};

use crate::simulator::Simulator;

/// Orders whose payment the simulator declines, comma-separated.
pub const PAYMENT_FAILURES_VAR: &str = "SIMULATE_PAYMENT_FAILURE_ORDERS";
/// Orders whose shipping the simulator fails, comma-separated.
pub const SHIPPING_FAILURES_VAR: &str = "SIMULATE_SHIPPING_FAILURE_ORDERS";
/// Orders whose payment and shipping commands the simulator never answers,
/// comma-separated: a participant that is down, for the saga's step
/// deadlines.
pub const UNANSWERED_VAR: &str = "SIMULATE_UNANSWERED_ORDERS";

#[derive(Debug, Clone)]
pub struct Config {
    pub core: CoreConfig,
    /// Where replies go (`ORDER_EVENTS_STREAM`).
    pub events_stream: StreamRef,
    pub payment_failures: Vec<OrderId>,
    pub shipping_failures: Vec<OrderId>,
    pub unanswered: Vec<OrderId>,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_vars(vars, false)?,
            events_stream: StreamRef::from_env(vars, "ORDER_EVENTS_STREAM")?,
            payment_failures: order_list(vars, PAYMENT_FAILURES_VAR)?,
            shipping_failures: order_list(vars, SHIPPING_FAILURES_VAR)?,
            unanswered: order_list(vars, UNANSWERED_VAR)?,
        })
    }

    pub fn simulator(&self) -> Simulator {
        Simulator::new(
            self.payment_failures.clone(),
            self.shipping_failures.clone(),
        )
        .with_unanswered(self.unanswered.clone())
    }
}

/// An optional comma-separated list of order ids; unset or empty is none.
fn order_list(vars: &impl Vars, name: &'static str) -> Result<Vec<OrderId>, ConfigError> {
    let Some(value) = vars.get(name) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| OrderId::parse(id).map_err(|reason| ConfigError::Invalid { name, reason }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 2] = [
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://localhost:4566/000000000000/dlq",
        ),
        ("ORDER_EVENTS_STREAM", "order-events"),
    ];

    #[test]
    fn failure_lists_are_optional_and_trimmed() {
        let config = Config::from_vars(&BASE).unwrap();
        assert!(config.payment_failures.is_empty() && config.shipping_failures.is_empty());

        let vars = [
            BASE[0],
            BASE[1],
            (PAYMENT_FAILURES_VAR, " o-1, o-2 ,,"),
            (SHIPPING_FAILURES_VAR, "o-3"),
            (UNANSWERED_VAR, "o-4,"),
        ];
        let config = Config::from_vars(&vars).unwrap();
        let ids = |list: &[OrderId]| {
            list.iter()
                .map(|o| o.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&config.payment_failures), ["o-1", "o-2"]);
        assert_eq!(ids(&config.shipping_failures), ["o-3"]);
        assert_eq!(ids(&config.unanswered), ["o-4"]);
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let err = Config::from_vars(&[BASE[0]]).unwrap_err();
        assert_eq!(err, ConfigError::Missing("ORDER_EVENTS_STREAM"));
        let long = "x".repeat(200);
        let vars = [BASE[0], BASE[1], (SHIPPING_FAILURES_VAR, long.as_str())];
        let err = Config::from_vars(&vars).unwrap_err();
        assert!(
            err.to_string().contains(SHIPPING_FAILURES_VAR),
            "error must name the variable: {err}"
        );
        let vars = [BASE[0], BASE[1], (UNANSWERED_VAR, long.as_str())];
        let err = Config::from_vars(&vars).unwrap_err();
        assert!(err.to_string().contains(UNANSWERED_VAR), "{err}");
    }
}
