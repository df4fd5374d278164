//! Reading configuration from the environment. A missing or invalid
//! variable stops the function at start with one line naming it; it never
//! surfaces later as a per-record failure.

use std::str::FromStr;

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: environment variable {0} is not set")]
    Missing(&'static str),
    #[error("configuration error: environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A source of variables; the process environment in production, a map in
/// tests (so tests never mutate the shared process environment).
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Vars for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl Vars for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// A required, non-empty variable.
pub fn required(vars: &impl Vars, name: &'static str) -> Result<String, ConfigError> {
    match vars.get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// An optional variable parsed with `FromStr`, or `default` when unset.
pub fn parsed_or<T: FromStr>(
    vars: &impl Vars,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match vars.get(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: format!("`{v}`: {e}"),
        }),
    }
}

/// A stream given as a name or an ARN; the SDK takes either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRef {
    Name(String),
    Arn(String),
}

impl StreamRef {
    pub fn parse(name: &'static str, value: &str) -> Result<Self, ConfigError> {
        if value.starts_with("arn:") {
            if crate::record::stream_name_from_arn(value).is_none() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("`{value}` is an ARN but not a Kinesis stream ARN"),
                });
            }
            Ok(StreamRef::Arn(value.to_owned()))
        } else if value.len() <= 128
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            Ok(StreamRef::Name(value.to_owned()))
        } else {
            Err(ConfigError::Invalid {
                name,
                reason: format!("`{value}` is neither a stream name nor a stream ARN"),
            })
        }
    }

    pub fn from_env(vars: &impl Vars, name: &'static str) -> Result<Self, ConfigError> {
        Self::parse(name, &required(vars, name)?)
    }
}

/// 32 keys at once: 1,000 records over 100 keys at 10 ms per call finish
/// about 22 times sooner than one by one (16 gave 13 times, 64 gave 35 to
/// 40 times for 1 to 3 MiB more memory and twice the connections to open on
/// a cold start; function-bench --max-concurrency).
const DEFAULT_MAX_CONCURRENCY: usize = 32;
const DEFAULT_DEADLINE_MARGIN_MS: u64 = 2_000;
const DEFAULT_METRICS_NAMESPACE: &str = "OrderEventsPipeline";

/// Settings every function shares, the pipeline's included.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub function_name: String,
    pub dead_letter_queue_url: String,
    pub idempotency_table: Option<String>,
    /// Partition keys processed at once.
    pub max_concurrency: usize,
    /// Time kept free before the deadline: no record starts within it.
    pub deadline_margin: std::time::Duration,
    pub metrics_namespace: String,
}

impl CoreConfig {
    /// The defaults, for `function_name`: what tests and in-process tools
    /// start from (a deployed function reads [`CoreConfig::from_vars`]).
    pub fn new(function_name: impl Into<String>) -> Self {
        Self {
            function_name: function_name.into(),
            dead_letter_queue_url: String::new(),
            idempotency_table: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            deadline_margin: std::time::Duration::from_millis(DEFAULT_DEADLINE_MARGIN_MS),
            metrics_namespace: DEFAULT_METRICS_NAMESPACE.to_owned(),
        }
    }

    /// Reads the shared settings; `needs_idempotency` makes
    /// `IDEMPOTENCY_TABLE` required.
    pub fn from_vars(vars: &impl Vars, needs_idempotency: bool) -> Result<Self, ConfigError> {
        let max_concurrency: usize = parsed_or(vars, "MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY)?;
        if max_concurrency == 0 || max_concurrency > 1024 {
            return Err(ConfigError::Invalid {
                name: "MAX_CONCURRENCY",
                reason: format!("{max_concurrency} is outside 1..=1024"),
            });
        }
        let margin_ms: u64 = parsed_or(vars, "DEADLINE_MARGIN_MS", DEFAULT_DEADLINE_MARGIN_MS)?;
        let dead_letter_queue_url = required(vars, "DEAD_LETTER_QUEUE_URL")?;
        if !dead_letter_queue_url.starts_with("http") {
            return Err(ConfigError::Invalid {
                name: "DEAD_LETTER_QUEUE_URL",
                reason: format!("`{dead_letter_queue_url}` is not a queue URL"),
            });
        }
        Ok(Self {
            function_name: vars
                .get("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| "local".to_owned()),
            dead_letter_queue_url,
            idempotency_table: if needs_idempotency {
                Some(required(vars, "IDEMPOTENCY_TABLE")?)
            } else {
                vars.get("IDEMPOTENCY_TABLE")
            },
            max_concurrency,
            deadline_margin: std::time::Duration::from_millis(margin_ms),
            metrics_namespace: vars
                .get("METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let vars = [("MAX_CONCURRENCY", "lots")];
        let err = CoreConfig::from_vars(&vars, false).unwrap_err();
        assert_eq!(err.to_string(), "configuration error: environment variable MAX_CONCURRENCY is invalid: `lots`: invalid digit found in string");
        let vars = [("MAX_CONCURRENCY", "8")];
        assert_eq!(
            CoreConfig::from_vars(&vars, false).unwrap_err(),
            ConfigError::Missing("DEAD_LETTER_QUEUE_URL")
        );
        let vars = [("DEAD_LETTER_QUEUE_URL", "http://localhost/q")];
        assert_eq!(
            CoreConfig::from_vars(&vars, true).unwrap_err(),
            ConfigError::Missing("IDEMPOTENCY_TABLE")
        );
        let ok = CoreConfig::from_vars(&vars, false).unwrap();
        assert_eq!(ok.max_concurrency, 32);
    }

    #[test]
    fn streams_are_names_or_arns() {
        assert_eq!(
            StreamRef::parse("S", "orders").unwrap(),
            StreamRef::Name("orders".into())
        );
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";
        assert_eq!(
            StreamRef::parse("S", arn).unwrap(),
            StreamRef::Arn(arn.into())
        );
        assert!(StreamRef::parse("S", "arn:aws:sqs:us-east-1:1:q").is_err());
        assert!(StreamRef::parse("S", "has space").is_err());
    }
}
