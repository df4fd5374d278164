//! Sizing a stream and its Lambda consumers for a workload.
//!
//! A shard takes 1,000 records/s and 1 MiB/s of writes and gives 2 MiB/s of
//! reads. Shared-throughput consumers split those 2 MiB/s between them;
//! with enhanced fan-out each consumer has its own 2 MiB/s per shard. So
//!
//! ```text
//! shards = max(ceil(records/s / 1000), ceil(KiB/s / 1024), ceil(read KiB/s / 2048))
//! ```
//!
//! where read KiB/s is KiB/s times the shared consumers (none with
//! enhanced fan-out). An on-demand stream starts at 4 MiB/s and 4,000
//! records/s and scales to twice the peak it has seen. Lambda runs one
//! invocation at a time per shard and consumer function, times the
//! ParallelizationFactor, and polls a shard about once a second, so the
//! invocations a function makes per second are at least the full batches
//! the traffic fills and at least one per busy shard slot.

/// Writes one shard takes.
pub const RECORDS_PER_SHARD: u64 = 1_000;
pub const WRITE_KIB_PER_SHARD: f64 = 1024.0;
/// Reads one shard gives each enhanced fan-out consumer, or all shared
/// consumers together.
pub const READ_KIB_PER_SHARD: f64 = 2048.0;
/// Where an on-demand stream starts: 4 shards' worth.
pub const ON_DEMAND_START_SHARDS: u64 = 4;
/// An on-demand stream's default write quota, which twice the peak
/// must fit.
pub const ON_DEMAND_MAX_RECORDS: u64 = 200_000;
pub const ON_DEMAND_MAX_KIB: f64 = 200.0 * 1024.0;
/// The smallest default shard quota of an account (500 in us-east-1,
/// us-west-2 and eu-west-1).
pub const SHARD_QUOTA: u64 = 200;
/// Lambda's default concurrency of an account, shared by its functions.
pub const ACCOUNT_CONCURRENCY: u64 = 1_000;
/// The largest Kinesis record.
pub const MAX_RECORD_KIB: f64 = 1024.0;
/// `GetRecords` calls a shard serves per second, shared by its
/// shared-throughput consumers.
pub const SHARED_READS_PER_SHARD: u32 = 5;

/// The traffic and the consumers to size for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    pub records_per_second: u64,
    pub avg_record_kib: f64,
    pub consumers: u32,
    pub enhanced_fan_out: bool,
    pub parallelization_factor: u32,
    pub batch_size: u32,
    /// How long one invocation takes, on average.
    pub avg_batch_ms: Option<f64>,
}

/// What one capacity mode implies for the consumers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mode {
    pub shards: u64,
    pub write_records_per_second: u64,
    pub write_kib_per_second: f64,
    /// Concurrent invocations, all consumer functions together.
    pub lambda_concurrency: u64,
    /// Invocations per second of one consumer function.
    pub invocations_per_second: f64,
    /// Records per invocation, on average.
    pub avg_batch: f64,
    /// Share of the time each shard slot spends invoked (above 1: the
    /// function falls behind); known when the batch duration is given.
    pub busy: Option<f64>,
}

/// The sizing of a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub write_kib_per_second: f64,
    /// What all shared-throughput consumers read together.
    pub shared_read_kib_per_second: f64,
    pub shards_for_records: u64,
    pub shards_for_writes: u64,
    pub shards_for_reads: u64,
    pub provisioned: Mode,
    pub on_demand: Mode,
    pub notes: Vec<String>,
}

/// `ceil(amount / per_shard)`, saturating; nothing needs no shard.
fn shards_for(amount: f64, per_shard: f64) -> u64 {
    if amount > 0.0 {
        // `as` saturates: an astronomic amount is u64::MAX shards.
        (amount / per_shard).ceil() as u64
    } else {
        0
    }
}

impl Workload {
    pub fn plan(&self) -> Plan {
        let rps = self.records_per_second;
        let write_kib = rps as f64 * self.avg_record_kib;
        let shared_consumers = if self.enhanced_fan_out {
            0
        } else {
            self.consumers
        };
        let shared_read_kib = write_kib * f64::from(shared_consumers);
        let shards_for_records = rps.div_ceil(RECORDS_PER_SHARD);
        let shards_for_writes = shards_for(write_kib, WRITE_KIB_PER_SHARD);
        let shards_for_reads = shards_for(shared_read_kib, READ_KIB_PER_SHARD);
        // A stream has at least one shard.
        let provisioned_shards = shards_for_records
            .max(shards_for_writes)
            .max(shards_for_reads)
            .max(1);
        let provisioned = self.mode(provisioned_shards);
        // On demand keeps room for twice the peak, never less than where
        // it starts.
        let on_demand_shards = rps
            .saturating_mul(2)
            .div_ceil(RECORDS_PER_SHARD)
            .max(shards_for(2.0 * write_kib, WRITE_KIB_PER_SHARD))
            .max(ON_DEMAND_START_SHARDS);
        let on_demand = self.mode(on_demand_shards);
        let mut plan = Plan {
            write_kib_per_second: write_kib,
            shared_read_kib_per_second: shared_read_kib,
            shards_for_records,
            shards_for_writes,
            shards_for_reads,
            provisioned,
            on_demand,
            notes: Vec::new(),
        };
        plan.notes = self.notes(&plan);
        plan
    }

    fn mode(&self, shards: u64) -> Mode {
        let slots = shards.saturating_mul(u64::from(self.parallelization_factor));
        let rps = self.records_per_second as f64;
        let invocations = if self.records_per_second == 0 {
            0.0
        } else {
            (rps / f64::from(self.batch_size)).max(rps.min(slots as f64))
        };
        let avg_batch = if invocations > 0.0 {
            rps / invocations
        } else {
            0.0
        };
        let busy = self
            .avg_batch_ms
            .map(|ms| invocations / slots as f64 * ms / 1000.0);
        Mode {
            shards,
            write_records_per_second: shards.saturating_mul(RECORDS_PER_SHARD),
            write_kib_per_second: shards as f64 * WRITE_KIB_PER_SHARD,
            lambda_concurrency: slots.saturating_mul(u64::from(self.consumers)),
            invocations_per_second: invocations,
            avg_batch,
            busy,
        }
    }

    fn notes(&self, plan: &Plan) -> Vec<String> {
        let mut notes = vec![format!(
            "on-demand starts at 4 MiB/s and 4,000 records/s ({ON_DEMAND_START_SHARDS} shards) and \
             scales to twice the peak of the last 30 days; a first burst beyond twice the previous \
             peak is throttled until it has scaled"
        )];
        if self.records_per_second.saturating_mul(2) > ON_DEMAND_MAX_RECORDS
            || 2.0 * plan.write_kib_per_second > ON_DEMAND_MAX_KIB
        {
            notes.push(
                "on-demand beyond its default quota (200 MiB/s, 200,000 records/s per stream) \
                 needs a quota increase"
                    .into(),
            );
        }
        if plan.provisioned.shards > SHARD_QUOTA {
            notes.push(format!(
                "{} shards exceed the default shard quota of most regions ({SHARD_QUOTA}; 500 in \
                 us-east-1, us-west-2, eu-west-1)",
                group(plan.provisioned.shards)
            ));
        }
        if plan.shards_for_reads > plan.on_demand.shards {
            notes.push(
                "the shared consumers read more than on-demand's write-sized shards give: use \
                 enhanced fan-out"
                    .into(),
            );
        }
        if !self.enhanced_fan_out && self.consumers > SHARED_READS_PER_SHARD {
            notes.push(format!(
                "{} shared consumers exceed the {SHARED_READS_PER_SHARD} GetRecords calls/s a \
                 shard serves: use enhanced fan-out",
                self.consumers
            ));
        }
        if plan.provisioned.lambda_concurrency > ACCOUNT_CONCURRENCY {
            notes.push(format!(
                "the concurrency exceeds Lambda's default account limit ({})",
                group(ACCOUNT_CONCURRENCY)
            ));
        }
        if self.avg_record_kib > MAX_RECORD_KIB {
            notes.push("a Kinesis record holds at most 1 MiB (1,024 KB)".into());
        }
        if plan.provisioned.busy.is_some_and(|busy| busy > 1.0) {
            notes.push(
                "each shard slot needs more than all its time: the consumers fall behind; raise \
                 the batch size, the ParallelizationFactor (at most 10) or the shards"
                    .into(),
            );
        }
        notes
    }
}

/// An integer with thousands separators.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A quantity to one decimal, grouped; astronomic ones in exponent form.
fn decimal(x: f64) -> String {
    if !x.is_finite() || x >= 1e18 {
        return format!("{x:.3e}");
    }
    let tenths = (x * 10.0).round() as u64;
    format!("{}.{}", group(tenths / 10), tenths % 10)
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{}%", decimal(s * 100.0)))
}

/// The plan as a small table and its notes.
pub fn render(workload: &Workload, plan: &Plan) -> Vec<String> {
    let mut lines = vec![headline(workload, plan), String::new()];
    lines.extend(table(&rows(workload, plan)));
    lines.push(String::new());
    lines.extend(plan.notes.iter().map(|note| format!("note: {note}")));
    lines
}

fn headline(workload: &Workload, plan: &Plan) -> String {
    let readers = if workload.enhanced_fan_out {
        format!(
            "{} enhanced fan-out consumer(s), 2 MiB/s per shard each",
            workload.consumers
        )
    } else {
        format!(
            "{} shared consumer(s) read {} MiB/s",
            workload.consumers,
            decimal(plan.shared_read_kib_per_second / 1024.0)
        )
    };
    format!(
        "workload: {} records/s x {} KB = {} MiB/s written; {readers}",
        group(workload.records_per_second),
        workload.avg_record_kib,
        decimal(plan.write_kib_per_second / 1024.0)
    )
}

/// Label, provisioned, on-demand. On-demand shard counts are AWS's to
/// choose, hence approximate.
fn rows(workload: &Workload, plan: &Plan) -> Vec<[String; 3]> {
    let (p, o) = (&plan.provisioned, &plan.on_demand);
    let both = |label: &str, of: fn(&Mode) -> String| [label.to_owned(), of(p), of(o)];
    let provisioned_only = |label: &str, n: u64| [label.to_owned(), group(n), String::new()];
    vec![
        [
            "shards".into(),
            group(p.shards),
            format!("~{}", group(o.shards)),
        ],
        provisioned_only("  for records (1,000/s each)", plan.shards_for_records),
        provisioned_only("  for writes (1 MiB/s each)", plan.shards_for_writes),
        provisioned_only("  for shared reads (2 MiB/s each)", plan.shards_for_reads),
        both("write capacity, records/s", |m| {
            group(m.write_records_per_second)
        }),
        both("write capacity, MiB/s", |m| {
            decimal(m.write_kib_per_second / 1024.0)
        }),
        [
            format!(
                "Lambda concurrency ({} fn x PF {})",
                workload.consumers, workload.parallelization_factor
            ),
            group(p.lambda_concurrency),
            format!("~{}", group(o.lambda_concurrency)),
        ],
        [
            format!("invocations/s per fn (batch {})", workload.batch_size),
            decimal(p.invocations_per_second),
            decimal(o.invocations_per_second),
        ],
        both("records per invocation", |m| decimal(m.avg_batch)),
        both("busy time per shard slot", |m| percent(m.busy)),
    ]
}

fn table(rows: &[[String; 3]]) -> Vec<String> {
    let label_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|r| r[1].len().max(r[2].len()))
        .max()
        .unwrap_or(0)
        .max("provisioned".len());
    let header = ["", "provisioned", "on-demand"].map(str::to_owned);
    std::iter::once(&header)
        .chain(rows)
        .map(|[label, provisioned, on_demand]| {
            format!("{label:label_width$}  {provisioned:>value_width$}  {on_demand:>value_width$}")
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// A workload with the command line's defaults for everything but its
/// rate and record size.
#[cfg(test)]
impl Workload {
    pub(crate) fn with_defaults(records_per_second: u64, avg_record_kib: f64) -> Self {
        Workload {
            records_per_second,
            avg_record_kib,
            consumers: 1,
            enhanced_fan_out: false,
            parallelization_factor: 1,
            batch_size: 100,
            avg_batch_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(records_per_second: u64, avg_record_kib: f64) -> Workload {
        Workload::with_defaults(records_per_second, avg_record_kib)
    }

    #[test]
    fn each_limit_can_be_the_one_that_decides() {
        // Records: 2,500/s of 0.1 KB.
        let plan = workload(2_500, 0.1).plan();
        assert_eq!(
            (
                plan.shards_for_records,
                plan.shards_for_writes,
                plan.provisioned.shards
            ),
            (3, 1, 3)
        );
        // Bytes: 1,000/s of 5 KB = 5,000 KiB/s.
        let plan = workload(1_000, 5.0).plan();
        assert_eq!((plan.shards_for_writes, plan.provisioned.shards), (5, 5));
        // Reads: 4 shared consumers of 1,024 KiB/s need 2 shards; with
        // enhanced fan-out they need none of their own.
        let shared = Workload {
            consumers: 4,
            ..workload(1_000, 1.024)
        };
        assert_eq!(
            (
                shared.plan().shards_for_reads,
                shared.plan().provisioned.shards
            ),
            (2, 2)
        );
        let fan_out = Workload {
            enhanced_fan_out: true,
            ..shared
        };
        assert_eq!(
            (
                fan_out.plan().shards_for_reads,
                fan_out.plan().provisioned.shards
            ),
            (0, 1)
        );
    }

    #[test]
    fn exact_multiples_need_no_extra_shard() {
        let plan = workload(3_000, 1.0).plan();
        assert_eq!(
            (
                plan.shards_for_records,
                plan.shards_for_writes,
                plan.shards_for_reads
            ),
            (3, 3, 2)
        );
        assert_eq!(workload(3_001, 1.0).plan().shards_for_records, 4);
    }

    #[test]
    fn fractional_sizes_round_up_per_shard_not_per_record() {
        // 1,500 records of 0.75 KB: 1,125 KiB/s, two shards of writes.
        let plan = workload(1_500, 0.75).plan();
        assert_eq!(plan.write_kib_per_second, 1_125.0);
        assert_eq!(plan.shards_for_writes, 2);
    }

    #[test]
    fn no_traffic_still_needs_one_shard_and_invokes_nothing() {
        let plan = workload(0, 0.0).plan();
        assert_eq!(
            (
                plan.shards_for_records,
                plan.shards_for_writes,
                plan.shards_for_reads
            ),
            (0, 0, 0)
        );
        assert_eq!(plan.provisioned.shards, 1);
        assert_eq!(plan.provisioned.invocations_per_second, 0.0);
        assert_eq!(plan.provisioned.avg_batch, 0.0);
        assert_eq!(plan.on_demand.shards, ON_DEMAND_START_SHARDS);
        assert_eq!(plan.on_demand.write_records_per_second, 4_000);
        assert_eq!(plan.on_demand.write_kib_per_second, 4_096.0);
        let no_consumers = Workload {
            consumers: 0,
            ..workload(1_000, 1.0)
        }
        .plan();
        assert_eq!(no_consumers.provisioned.lambda_concurrency, 0);
        assert_eq!(no_consumers.shards_for_reads, 0);
    }

    #[test]
    fn huge_workloads_saturate_instead_of_overflowing() {
        let huge = Workload {
            consumers: u32::MAX,
            parallelization_factor: 10,
            ..workload(u64::MAX, 1e300)
        };
        let plan = huge.plan();
        assert_eq!(plan.provisioned.shards, u64::MAX);
        assert_eq!(plan.provisioned.lambda_concurrency, u64::MAX);
        assert_eq!(plan.on_demand.write_records_per_second, u64::MAX);
        assert!(plan.provisioned.invocations_per_second.is_finite());
        let lines = render(&huge, &plan);
        assert!(lines
            .iter()
            .any(|l| l.contains("18,446,744,073,709,551,615")));
    }

    #[test]
    fn on_demand_scales_to_twice_the_peak() {
        let plan = workload(10_000, 2.0).plan();
        // 20,000 KiB/s written: 20 shards provisioned.
        assert_eq!(plan.provisioned.shards, 20);
        // Twice 20,000 KiB/s needs 40 shards, which take 40,000 records/s.
        assert_eq!(plan.on_demand.shards, 40);
        assert_eq!(plan.on_demand.write_records_per_second, 40_000);
        assert_eq!(plan.on_demand.write_kib_per_second, 40_960.0);
        assert!(!plan.notes.iter().any(|n| n.contains("quota increase")));
        // Small records: twice 3,000 records/s is 6 shards.
        assert_eq!(workload(3_000, 0.1).plan().on_demand.shards, 6);
        let big = workload(250_000, 1.0).plan();
        assert!(big.notes.iter().any(|n| n.contains("quota increase")));
        assert!(big.notes.iter().any(|n| n.contains("shard quota")));
    }

    #[test]
    fn concurrency_is_shards_times_functions_times_parallelization() {
        let plan = Workload {
            consumers: 3,
            parallelization_factor: 4,
            enhanced_fan_out: true,
            ..workload(5_000, 0.5)
        }
        .plan();
        assert_eq!(plan.provisioned.shards, 5);
        assert_eq!(plan.provisioned.lambda_concurrency, 5 * 3 * 4);
        assert_eq!(plan.on_demand.lambda_concurrency, 10 * 3 * 4);
    }

    #[test]
    fn invocations_follow_full_batches_or_one_per_busy_slot_a_second() {
        // 5,000 records/s in batches of 100: 50 full batches a second.
        let busy = Workload {
            avg_batch_ms: Some(200.0),
            ..workload(5_000, 0.5)
        }
        .plan();
        assert_eq!(busy.provisioned.invocations_per_second, 50.0);
        assert_eq!(busy.provisioned.avg_batch, 100.0);
        // 5 shards: 10 invocations of 200 ms each per shard a second.
        assert_eq!(busy.provisioned.busy, Some(2.0));
        assert!(busy.notes.iter().any(|n| n.contains("fall behind")));
        // 30 records/s over 1 shard with a batch of 100: one poll a second.
        let sparse = workload(30, 1.0).plan();
        assert_eq!(sparse.provisioned.invocations_per_second, 1.0);
        assert_eq!(sparse.provisioned.avg_batch, 30.0);
        // Fewer records than slots: at most one invocation per record.
        let trickle = Workload {
            parallelization_factor: 10,
            ..workload(3, 1.0)
        }
        .plan();
        assert_eq!(trickle.provisioned.invocations_per_second, 3.0);
        assert_eq!(trickle.provisioned.busy, None);
    }

    #[test]
    fn the_table_shows_both_modes_and_the_notes() {
        let w = Workload {
            consumers: 3,
            ..workload(2_000, 1.5)
        };
        let lines = render(&w, &w.plan());
        assert!(lines[0].starts_with("workload: 2,000 records/s x 1.5 KB = 2.9 MiB/s written"));
        let shards = lines.iter().find(|l| l.starts_with("shards")).unwrap();
        assert_eq!(
            shards.split_whitespace().collect::<Vec<_>>(),
            ["shards", "5", "~6"]
        );
        assert!(lines
            .iter()
            .any(|l| l.starts_with("note: on-demand starts at 4 MiB/s")));
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(decimal(1234.56), "1,234.6");
        assert_eq!(decimal(f64::INFINITY), "inf");
    }
}
