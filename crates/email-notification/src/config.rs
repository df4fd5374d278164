//! Configuration from the environment, read once at start. A missing or
//! invalid variable stops the function with one line naming it.

use order_events::EmailAddress;
use stream_core::config::{parsed_or, required, Vars};
use stream_core::{ConfigError, CoreConfig};

/// Default of `EMAIL_MAX_CONCURRENCY`: SES calls in flight at once.
pub const DEFAULT_EMAIL_MAX_CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
pub struct Config {
    pub core: CoreConfig,
    /// `SENDER_EMAIL`: the From address.
    pub sender: EmailAddress,
    /// `CUSTOMERS_TABLE`: registered addresses, key `userId` (S).
    pub customers_table: String,
    /// `IDEMPOTENCY_TABLE`: once-only records, key `id` (S).
    pub idempotency_table: String,
    /// `EMAIL_MAX_CONCURRENCY`: SES calls in flight at once.
    pub email_max_concurrency: usize,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let sender = EmailAddress::parse(required(vars, "SENDER_EMAIL")?).map_err(|reason| {
            ConfigError::Invalid {
                name: "SENDER_EMAIL",
                reason,
            }
        })?;
        let customers_table = required(vars, "CUSTOMERS_TABLE")?;
        let email_max_concurrency: usize =
            parsed_or(vars, "EMAIL_MAX_CONCURRENCY", DEFAULT_EMAIL_MAX_CONCURRENCY)?;
        if !(1..=1024).contains(&email_max_concurrency) {
            return Err(ConfigError::Invalid {
                name: "EMAIL_MAX_CONCURRENCY",
                reason: format!("{email_max_concurrency} is outside 1..=1024"),
            });
        }
        let core = CoreConfig::from_vars(vars, true)?;
        let idempotency_table = core
            .idempotency_table
            .clone()
            .ok_or(ConfigError::Missing("IDEMPOTENCY_TABLE"))?;
        Ok(Self {
            core,
            sender,
            customers_table,
            idempotency_table,
            email_max_concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: [(&str, &str); 4] = [
        ("SENDER_EMAIL", "shop@example.com"),
        ("CUSTOMERS_TABLE", "customers"),
        ("IDEMPOTENCY_TABLE", "idempotency"),
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://localhost:4566/000000000000/dlq",
        ),
    ];

    fn with(overrides: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        let mut vars: std::collections::HashMap<String, String> = OK
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in overrides {
            if v.is_empty() {
                vars.remove(*k);
            } else {
                vars.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        vars
    }

    #[test]
    fn reads_every_variable_with_defaults() {
        let config = Config::from_vars(&OK).unwrap();
        assert_eq!(config.sender.as_str(), "shop@example.com");
        assert_eq!(config.customers_table, "customers");
        assert_eq!(config.idempotency_table, "idempotency");
        assert_eq!(config.email_max_concurrency, 8);
        let config = Config::from_vars(&with(&[("EMAIL_MAX_CONCURRENCY", "3")])).unwrap();
        assert_eq!(config.email_max_concurrency, 3);
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases = [
            (with(&[("SENDER_EMAIL", "")]), "SENDER_EMAIL"),
            (
                with(&[("SENDER_EMAIL", "shop@example.com\r\nBcc: x@evil.com")]),
                "SENDER_EMAIL",
            ),
            (with(&[("SENDER_EMAIL", "not-an-address")]), "SENDER_EMAIL"),
            (with(&[("CUSTOMERS_TABLE", "")]), "CUSTOMERS_TABLE"),
            (with(&[("IDEMPOTENCY_TABLE", "")]), "IDEMPOTENCY_TABLE"),
            (
                with(&[("DEAD_LETTER_QUEUE_URL", "")]),
                "DEAD_LETTER_QUEUE_URL",
            ),
            (
                with(&[("EMAIL_MAX_CONCURRENCY", "0")]),
                "EMAIL_MAX_CONCURRENCY",
            ),
            (
                with(&[("EMAIL_MAX_CONCURRENCY", "many")]),
                "EMAIL_MAX_CONCURRENCY",
            ),
        ];
        for (vars, name) in cases {
            let err = Config::from_vars(&vars).unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
