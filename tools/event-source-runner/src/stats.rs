//! What a mapping did: counters, and the report of a run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Counters of one mapping (or of several, summed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingStats {
    /// Records read from the stream.
    pub records_read: u64,
    /// Invocations made (answered or not).
    pub invocations: u64,
    /// Records in those invocations, redeliveries included.
    pub records_delivered: u64,
    /// Of those, records that had been delivered before.
    pub redelivered: u64,
    /// Invocations answered with no failures.
    pub successful_invocations: u64,
    /// Invocations answered with failures naming records of the batch.
    pub partial_failures: u64,
    /// Invocations that failed the whole batch: function errors, timeouts,
    /// and answers with a null, empty or unknown identifier.
    pub whole_batch_failures: u64,
    /// Of those, function errors and timeouts.
    pub function_errors: u64,
    /// Invocations that could not reach the function (retried without
    /// using up retry attempts).
    pub unavailable: u64,
    /// Whole-batch failures answered by splitting the batch.
    pub bisections: u64,
    /// Records the filter dropped, the non-JSON ones included.
    pub filtered_out: u64,
    /// Of those, records whose data was not a JSON object.
    pub filtered_non_json: u64,
    /// Records skipped for being older than `max_record_age`.
    pub expired_records: u64,
    /// Batches (and their records) reported to the on-failure destination.
    pub on_failure_batches: u64,
    pub on_failure_records: u64,
    /// Batches skipped with no destination configured (logged, then lost).
    pub discarded_batches: u64,
    pub discarded_records: u64,
    /// Failed stream calls and failed sends to the destination (retried).
    pub source_errors: u64,
    pub destination_errors: u64,
}

macro_rules! each_counter {
    ($mac:ident) => {
        $mac!(
            records_read,
            invocations,
            records_delivered,
            redelivered,
            successful_invocations,
            partial_failures,
            whole_batch_failures,
            function_errors,
            unavailable,
            bisections,
            filtered_out,
            filtered_non_json,
            expired_records,
            on_failure_batches,
            on_failure_records,
            discarded_batches,
            discarded_records,
            source_errors,
            destination_errors
        )
    };
}

impl MappingStats {
    /// Adds every counter of `other`.
    pub fn add(&mut self, other: &MappingStats) {
        macro_rules! add {
            ($($field:ident),*) => { $( self.$field += other.$field; )* };
        }
        each_counter!(add);
    }

    /// The counts accumulated since `earlier`.
    pub fn since(&self, earlier: &MappingStats) -> MappingStats {
        let mut out = MappingStats::default();
        macro_rules! sub {
            ($($field:ident),*) => { $( out.$field = self.$field.saturating_sub(earlier.$field); )* };
        }
        each_counter!(sub);
        out
    }
}

/// One mapping at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingReport {
    pub function_name: String,
    /// Empty when the mapping never started.
    pub stream_arn: String,
    /// What this run did.
    pub stats: MappingStats,
    /// The last acknowledged sequence number of each shard that has one.
    pub checkpoints: BTreeMap<String, String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunOutcome {
    /// Every shard of every mapping was drained and stayed quiet.
    Idle,
    /// `max_duration` passed first (a record kept failing, or the stream
    /// never went quiet).
    TimedOut,
    /// The shutdown signal came.
    Shutdown,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub outcome: RunOutcome,
    /// Every mapping's counters, summed.
    pub totals: MappingStats,
    pub mappings: Vec<MappingReport>,
    /// Polling rounds (every shard of every mapping stepped once).
    pub rounds: u64,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl RunReport {
    /// The report of the first mapping of `function_name`.
    pub fn mapping(&self, function_name: &str) -> Option<&MappingReport> {
        self.mappings
            .iter()
            .find(|m| m.function_name == function_name)
    }
}
