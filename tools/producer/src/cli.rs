//! The command line.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::aggregate;
use crate::capacity::Workload;

#[derive(Debug, Parser)]
#[command(
    name = "producer",
    about = "Publish contract events to a Kinesis stream, or size a stream and its Lambda consumers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate events and put them on a stream, in order per partition key
    Publish(PublishArgs),
    /// Shards, on-demand capacity and Lambda concurrency for a workload
    Capacity(CapacityArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The stream, by name or ARN (not needed with --dry-run, unless
    /// --aggregate)
    #[arg(long, value_name = "NAME_OR_ARN", required_unless_present = "dry_run")]
    pub stream: Option<String>,
    /// JSON files: an event (envelope, bare payload with `eventType`, or
    /// CQRS command), several (JSON lines or an array), or a Lambda Kinesis
    /// event such as those in events/; `-` reads standard input
    #[arg(value_name = "FILES", required = true)]
    pub files: Vec<String>,
    /// Print what would be sent (call, partition key, size, eventType,
    /// eventId per record) without calling AWS. With --aggregate: call,
    /// shard, partition key, user records and size per Kinesis record; that
    /// needs --stream, whose shards it reads (ListShards), and puts nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Pack the events into KPL aggregated records, as the Kinesis Producer
    /// Library does (the functions deaggregate them): each event goes to the
    /// shard its partition key maps to (read with ListShards), only events
    /// of one shard share a record, in input order, and a record that fails
    /// is re-sent whole, before the next of its shard. An event too big to
    /// share a record goes alone. The summary then counts events and says
    /// how many Kinesis records carried them
    #[arg(long)]
    pub aggregate: bool,
    /// Most bytes of an aggregated record, data and partition key (at most
    /// 1 MiB, the Kinesis limit)
    #[arg(long, value_name = "BYTES", default_value_t = aggregate::DEFAULT_MAX_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..=aggregate::KINESIS_MAX_BYTES as u64),
          requires = "aggregate")]
    pub aggregate_max_bytes: u64,
    /// Most events in one aggregated record
    #[arg(long, value_name = "N", default_value_t = aggregate::DEFAULT_MAX_RECORDS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000),
          requires = "aggregate")]
    pub aggregate_max_records: u64,
    /// Publish the valid events when some are invalid, instead of nothing
    #[arg(long)]
    pub skip_invalid: bool,
    /// PutRecords rounds in a row with failed entries before giving up
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Seconds the whole publish may take before the rest is reported failed
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_secs: u64,
}

impl PublishArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The aggregation limits, when aggregating.
    pub fn aggregation(&self) -> Option<aggregate::Limits> {
        self.aggregate.then(|| aggregate::Limits {
            max_bytes: usize::try_from(self.aggregate_max_bytes)
                .unwrap_or(aggregate::KINESIS_MAX_BYTES),
            max_records: usize::try_from(self.aggregate_max_records).unwrap_or(usize::MAX),
        })
    }
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Records written per second, at peak
    #[arg(long, value_name = "N")]
    pub records_per_second: u64,
    /// Average record size in KB (1 KB = 1,024 bytes), fractions allowed
    #[arg(long, value_name = "X", value_parser = non_negative)]
    pub avg_record_kb: f64,
    /// Consumer functions reading the stream
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub consumers: u32,
    /// Each consumer has its own 2 MiB/s per shard
    #[arg(long)]
    pub enhanced_fan_out: bool,
    /// The event source mapping's ParallelizationFactor
    #[arg(long, value_name = "F", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub parallelization_factor: u32,
    /// The event source mapping's BatchSize
    #[arg(long, value_name = "B", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Average duration of one invocation, in milliseconds
    #[arg(long, value_name = "M", value_parser = non_negative)]
    pub avg_batch_ms: Option<f64>,
}

impl CapacityArgs {
    pub fn workload(&self) -> Workload {
        Workload {
            records_per_second: self.records_per_second,
            avg_record_kib: self.avg_record_kb,
            consumers: self.consumers,
            enhanced_fan_out: self.enhanced_fan_out,
            parallelization_factor: self.parallelization_factor,
            batch_size: self.batch_size,
            avg_batch_ms: self.avg_batch_ms,
        }
    }
}

/// A finite number, zero or more.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(_) => Err(format!("`{text}` must be a finite number, zero or more")),
        Err(err) => Err(format!("`{text}` is not a number: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("producer").chain(args.iter().copied()))
    }

    fn capacity(args: &[&str]) -> Result<Workload, clap::Error> {
        let mut all = vec!["capacity"];
        all.extend_from_slice(args);
        match parse(&all)?.command {
            Command::Capacity(args) => Ok(args.workload()),
            Command::Publish(_) => panic!("parsed as publish"),
        }
    }

    #[test]
    fn capacity_takes_fractions_and_defaults() {
        let w = capacity(&["--records-per-second", "1500", "--avg-record-kb", "0.75"]).unwrap();
        assert_eq!(w, Workload::with_defaults(1500, 0.75));
    }

    #[test]
    fn negatives_and_nonsense_are_rejected() {
        for args in [
            &["--records-per-second", "-5", "--avg-record-kb", "1"][..],
            &["--records-per-second=-5", "--avg-record-kb", "1"],
            &["--records-per-second", "5", "--avg-record-kb=-0.5"],
            &["--records-per-second", "5", "--avg-record-kb", "NaN"],
            &["--records-per-second", "5", "--avg-record-kb", "inf"],
            &[
                "--records-per-second",
                "5",
                "--avg-record-kb",
                "1",
                "--consumers=-1",
            ],
            &[
                "--records-per-second",
                "5",
                "--avg-record-kb",
                "1",
                "--avg-batch-ms=-3",
            ],
            &[
                "--records-per-second",
                "5",
                "--avg-record-kb",
                "1",
                "--parallelization-factor",
                "11",
            ],
            &[
                "--records-per-second",
                "5",
                "--avg-record-kb",
                "1",
                "--batch-size",
                "0",
            ],
            &["--records-per-second", "1.5", "--avg-record-kb", "1"],
        ] {
            assert!(capacity(args).is_err(), "accepted {args:?}");
        }
    }

    #[test]
    fn publish_needs_a_stream_unless_dry_run_and_at_least_one_input() {
        assert!(parse(&["publish", "a.json"]).is_err());
        assert!(parse(&["publish", "--dry-run"]).is_err());
        let Command::Publish(args) = parse(&["publish", "--dry-run", "a.json", "-"])
            .unwrap()
            .command
        else {
            panic!("not publish");
        };
        assert_eq!(args.files, ["a.json", "-"]);
        assert!(args.stream.is_none());
        assert_eq!(args.max_attempts, 8);
        assert_eq!(args.aggregation(), None);
    }

    fn publish(args: &[&str]) -> Result<PublishArgs, clap::Error> {
        let mut all = vec!["publish", "--stream", "s"];
        all.extend_from_slice(args);
        all.push("a.json");
        match parse(&all)?.command {
            Command::Publish(args) => Ok(args),
            Command::Capacity(_) => panic!("parsed as capacity"),
        }
    }

    #[test]
    fn aggregation_limits_default_to_the_kpls_and_stay_within_a_kinesis_record() {
        let limits = publish(&["--aggregate"]).unwrap().aggregation();
        assert_eq!(
            limits,
            Some(aggregate::Limits {
                max_bytes: 51_200,
                max_records: 1_000
            })
        );
        let limits = publish(&[
            "--aggregate",
            "--aggregate-max-bytes",
            "1048576",
            "--aggregate-max-records",
            "3",
        ])
        .unwrap()
        .aggregation();
        assert_eq!(
            limits,
            Some(aggregate::Limits {
                max_bytes: 1_048_576,
                max_records: 3
            })
        );
        for args in [
            &["--aggregate", "--aggregate-max-bytes", "1048577"][..],
            &["--aggregate", "--aggregate-max-bytes", "0"],
            &["--aggregate", "--aggregate-max-records", "0"],
            // A limit without --aggregate is a mistake, not a no-op.
            &["--aggregate-max-bytes", "1000"],
        ] {
            assert!(publish(args).is_err(), "accepted {args:?}");
        }
    }
}
