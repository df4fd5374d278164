//! Configuration, read once at start: the environment, and the tuning of
//! retries and waits derived from it. A missing or invalid variable stops
//! the function with one line naming it.

use std::time::Duration;

use order_events::EmailAddress;
use stream_core::config::{parsed_or, required, Vars};
use stream_core::{ConfigError, CoreConfig, RetryPolicy};

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
    /// `EMAIL_MAX_CONCURRENCY`: SES calls in flight at once, across all
    /// records of an invocation.
    pub email_max_concurrency: usize,
    /// Retries of throttled or failed sends.
    pub send_retry: RetryPolicy,
    /// Retries of a lookup that found no address: the user's
    /// `USER_REGISTERED` may be in the same batch under another partition
    /// key, its address being written at this very moment.
    pub lookup_retry: RetryPolicy,
    /// How long "already sent" is remembered. Longer than the stream's
    /// retention, so every redelivery finds it.
    pub idempotency_ttl: Duration,
    /// How long after it reached the stream an order without a known
    /// address is retried before it is dead-lettered: the user's
    /// `USER_REGISTERED` travels under another partition key, possibly on
    /// another shard that is behind.
    pub address_wait: Duration,
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
        let idempotency_table = required(vars, "IDEMPOTENCY_TABLE")?;
        Ok(Self::with_tuning(
            core,
            sender,
            customers_table,
            idempotency_table,
            email_max_concurrency,
        ))
    }

    /// The read values with the retry and wait tuning that goes with them.
    fn with_tuning(
        core: CoreConfig,
        sender: EmailAddress,
        customers_table: String,
        idempotency_table: String,
        email_max_concurrency: usize,
    ) -> Self {
        // Leave room before the deadline for releasing the claim and
        // answering Lambda.
        let deadline_margin = (core.deadline_margin / 2).max(Duration::from_millis(250));
        Self {
            core,
            sender,
            customers_table,
            idempotency_table,
            email_max_concurrency,
            send_retry: RetryPolicy {
                max_attempts: 8,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
                deadline_margin,
            },
            lookup_retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(500),
                deadline_margin,
            },
            idempotency_ttl: Duration::from_secs(7 * 24 * 3600),
            address_wait: Duration::from_secs(15 * 60),
        }
    }

    /// The configuration a deployment with only `SENDER_EMAIL` set would
    /// get, for tests and local tools that wire the handler to fakes: the
    /// table and queue names are placeholders that fakes never read.
    #[cfg(any(test, feature = "test-util"))]
    pub fn new(sender: EmailAddress) -> Self {
        let core = CoreConfig {
            dead_letter_queue_url: "http://localhost/dead-letters".to_owned(),
            idempotency_table: Some("idempotency".to_owned()),
            ..CoreConfig::new("local")
        };
        Self::with_tuning(
            core,
            sender,
            "customers".to_owned(),
            "idempotency".to_owned(),
            DEFAULT_EMAIL_MAX_CONCURRENCY,
        )
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
    fn retries_keep_half_the_deadline_margin_and_at_least_250_ms() {
        let config = Config::from_vars(&OK).unwrap();
        assert_eq!(config.send_retry.deadline_margin, Duration::from_secs(1));
        assert_eq!(config.lookup_retry.deadline_margin, Duration::from_secs(1));
        let config = Config::from_vars(&with(&[("DEADLINE_MARGIN_MS", "100")])).unwrap();
        assert_eq!(
            config.send_retry.deadline_margin,
            Duration::from_millis(250)
        );
        let local = Config::new(config.sender.clone());
        assert_eq!(local.send_retry.deadline_margin, Duration::from_secs(1));
        assert_eq!(local.email_max_concurrency, DEFAULT_EMAIL_MAX_CONCURRENCY);
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
