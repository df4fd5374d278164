//! A mapping's settings. Names, defaults and limits follow Lambda's
//! `CreateEventSourceMapping` for Kinesis, except where a local run needs
//! otherwise (each exception is noted on its field).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use stream_core::StreamRef;

use crate::filter::EventTypeFilter;
use crate::on_failure::OnFailureDestination;

/// Most records in one batch (Lambda's limit for Kinesis).
pub const MAX_BATCH_SIZE: usize = 10_000;
/// Longest batching window Lambda accepts.
pub const MAX_BATCHING_WINDOW: Duration = Duration::from_secs(300);
/// Most retries Lambda accepts (`-1` is infinite).
pub const MAX_RETRY_ATTEMPTS: i32 = 10_000;
/// Longest function timeout Lambda accepts.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// Where a shard is first read from (a shard found after the mapping
/// started is always read from its beginning, as Lambda does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record still in the shard.
    TrimHorizon,
    /// Only records written after the mapping started.
    Latest,
    /// Records written at or after this time.
    AtTimestamp(SystemTime),
}

impl std::str::FromStr for StartingPosition {
    type Err = String;

    /// `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP:<unix seconds>` (any case,
    /// `-` or `_`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normal = text.trim().to_ascii_uppercase().replace('-', "_");
        if normal == "TRIM_HORIZON" {
            return Ok(Self::TrimHorizon);
        }
        if normal == "LATEST" {
            return Ok(Self::Latest);
        }
        if let Some(seconds) = normal.strip_prefix("AT_TIMESTAMP:") {
            let seconds: f64 = seconds
                .parse()
                .map_err(|_| format!("`{text}`: the timestamp must be Unix seconds"))?;
            if !seconds.is_finite() || seconds < 0.0 {
                return Err(format!("`{text}`: the timestamp must be Unix seconds"));
            }
            return Ok(Self::AtTimestamp(
                SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds),
            ));
        }
        Err(format!(
            "`{text}` is not TRIM_HORIZON, LATEST or AT_TIMESTAMP:<unix seconds>"
        ))
    }
}

/// One function reading one stream.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    /// Named in logs, in the on-failure record's function ARN and in
    /// checkpoint files.
    pub function_name: String,
    pub stream: StreamRef,
    pub starting_position: StartingPosition,
    /// Most records per invocation, 1..=10,000 (default 100).
    pub batch_size: usize,
    /// How long to gather records before invoking with fewer than
    /// `batch_size` (default 0: invoke with what one read returned).
    pub batching_window: Duration,
    /// Retries of a failing batch before it goes to the on-failure
    /// destination and is skipped; `-1` retries until the record expires.
    /// Lambda's default is `-1`; here it is 3, so a poison record cannot
    /// stall a local run forever.
    pub max_retry_attempts: i32,
    /// Split a batch in two when the function fails it as a whole; the
    /// splits do not count as retries.
    pub bisect_on_error: bool,
    /// Records older than this are skipped to the on-failure destination
    /// instead of being delivered. `None` is Lambda's `-1` (no limit).
    /// Lambda's minimum is 60 s; any value is accepted here so tests can use
    /// short ages.
    pub max_record_age: Option<Duration>,
    /// The template's `FilterCriteria`; records it rejects are acknowledged
    /// without an invocation.
    pub filter: Option<EventTypeFilter>,
    /// Where skipped batches are reported (metadata only, as Lambda does).
    /// Without one, skipped batches are logged and dropped.
    pub on_failure: Option<OnFailureDestination>,
    /// The function timeout: each invocation gets a deadline this far away
    /// and is abandoned (a whole-batch failure) when it runs longer.
    pub timeout: Duration,
    /// Wait before the first retry of a failed batch; doubled for each
    /// further retry, at most 5 s. Lambda's exact backoff is not published.
    pub retry_delay: Duration,
    /// The `invokeIdentityArn` of every record (the function's role);
    /// default `arn:aws:iam::<stream account>:role/lambda-role`.
    pub invoke_identity_arn: Option<String>,
    /// A JSON file keeping the checkpoints, so a restarted runner resumes
    /// after the last acknowledged record instead of at `starting_position`.
    pub checkpoint_file: Option<PathBuf>,
}

impl MappingConfig {
    /// Lambda's defaults, with the exceptions documented on each field.
    pub fn new(function_name: impl Into<String>, stream: StreamRef) -> Self {
        Self {
            function_name: function_name.into(),
            stream,
            starting_position: StartingPosition::TrimHorizon,
            batch_size: 100,
            batching_window: Duration::ZERO,
            max_retry_attempts: 3,
            bisect_on_error: false,
            max_record_age: None,
            filter: None,
            on_failure: None,
            timeout: Duration::from_secs(60),
            retry_delay: Duration::from_millis(100),
            invoke_identity_arn: None,
            checkpoint_file: None,
        }
    }

    /// Checks the settings against Lambda's limits.
    pub fn validate(&self) -> Result<(), MappingConfigError> {
        let invalid =
            |field: &'static str, reason: String| Err(MappingConfigError { field, reason });
        if self.function_name.trim().is_empty() {
            return invalid("function_name", "is empty".into());
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return invalid(
                "batch_size",
                format!("{} is outside 1..={MAX_BATCH_SIZE}", self.batch_size),
            );
        }
        if self.batching_window > MAX_BATCHING_WINDOW {
            return invalid(
                "batching_window",
                format!("{:?} is longer than 300 s", self.batching_window),
            );
        }
        if !(-1..=MAX_RETRY_ATTEMPTS).contains(&self.max_retry_attempts) {
            return invalid(
                "max_retry_attempts",
                format!(
                    "{} is outside -1..={MAX_RETRY_ATTEMPTS}",
                    self.max_retry_attempts
                ),
            );
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return invalid(
                "timeout",
                format!("{:?} is outside (0 s, 900 s]", self.timeout),
            );
        }
        if self.max_record_age.is_some_and(|age| age.is_zero()) {
            return invalid("max_record_age", "is zero; use None for no limit".into());
        }
        if self.filter.as_ref().is_some_and(|f| f.is_empty()) {
            return invalid("filter", "allows no type; use None for no filter".into());
        }
        Ok(())
    }

    /// The retry limit, `None` for infinite.
    pub fn retry_limit(&self) -> Option<u32> {
        u32::try_from(self.max_retry_attempts).ok()
    }
}

/// A setting outside Lambda's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event source mapping setting {field}: {reason}")]
pub struct MappingConfigError {
    pub field: &'static str,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MappingConfig {
        MappingConfig::new("f", StreamRef::Name("s".into()))
    }

    #[test]
    fn defaults_are_valid_and_limits_are_enforced() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(config().retry_limit(), Some(3));
        let infinite = MappingConfig {
            max_retry_attempts: -1,
            ..config()
        };
        assert_eq!(infinite.retry_limit(), None);
        assert_eq!(infinite.validate(), Ok(()));
        for (bad, field) in [
            (
                MappingConfig {
                    batch_size: 0,
                    ..config()
                },
                "batch_size",
            ),
            (
                MappingConfig {
                    batch_size: 10_001,
                    ..config()
                },
                "batch_size",
            ),
            (
                MappingConfig {
                    max_retry_attempts: -2,
                    ..config()
                },
                "max_retry_attempts",
            ),
            (
                MappingConfig {
                    batching_window: Duration::from_secs(301),
                    ..config()
                },
                "batching_window",
            ),
            (
                MappingConfig {
                    timeout: Duration::ZERO,
                    ..config()
                },
                "timeout",
            ),
            (
                MappingConfig {
                    filter: Some(EventTypeFilter::new(Vec::<String>::new())),
                    ..config()
                },
                "filter",
            ),
        ] {
            assert_eq!(bad.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn starting_positions_parse() {
        assert_eq!("trim-horizon".parse(), Ok(StartingPosition::TrimHorizon));
        assert_eq!("LATEST".parse(), Ok(StartingPosition::Latest));
        assert_eq!(
            "at_timestamp:1700000000".parse(),
            Ok(StartingPosition::AtTimestamp(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
            ))
        );
        assert!("NEWEST".parse::<StartingPosition>().is_err());
        assert!("AT_TIMESTAMP:soon".parse::<StartingPosition>().is_err());
    }
}
