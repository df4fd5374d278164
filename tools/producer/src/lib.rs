//! `producer`: puts contract events on a stream, and sizes a stream and its
//! Lambda consumers for a workload.
//!
//! - [`cli`]: the command line (`publish`, `capacity`).
//! - [`input`]: files, standard input and sample Kinesis events into
//!   documents, each with the input and line it came from.
//! - [`prepare`]: a document into a record: missing `eventId` and
//!   `timestamp` filled in, validated by the event model, keyed by the
//!   contract.
//! - [`publish`]: the core's ordered `PutRecords` publisher, counting
//!   re-sent entries, and the dry run that batches the same way.
//! - [`shards`]: a stream's open shards (`ListShards`) and the shard a
//!   partition key maps to.
//! - [`aggregate`]: KPL aggregation (`--aggregate`): user records packed
//!   per shard into aggregated records.
//! - [`capacity`]: the shard and concurrency arithmetic and its table.

// Input from files and AWS never meets an unwrap or expect: a bad event is
// reported with its place, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod aggregate;
pub mod capacity;
pub mod cli;
pub mod input;
pub mod prepare;
pub mod publish;
pub mod shards;

use std::io::Read as _;
use std::process::ExitCode;

use aws_sdk_kinesis::error::DisplayErrorContext;
use stream_core::{KinesisPutRecords, StreamRef};

use cli::{Cli, Command, PublishArgs};
use input::Rejected;
use prepare::Prepared;

/// Invalid input or arguments: nothing was sent.
const EXIT_INVALID: u8 = 2;

/// Runs one command: results on stdout, problems on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Capacity(args) => {
            let workload = args.workload();
            for line in capacity::render(&workload, &workload.plan()) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Command::Publish(args) => publish_command(&args).await,
    }
}

async fn publish_command(args: &PublishArgs) -> ExitCode {
    let stream = match args
        .stream
        .as_deref()
        .map(|value| StreamRef::parse("--stream", value))
        .transpose()
    {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("producer: {err}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let (records, rejected) = gather(&args.files);
    for rejection in &rejected {
        eprintln!("invalid: {rejection}");
    }
    if !rejected.is_empty() && !args.skip_invalid {
        eprintln!(
            "producer: {} invalid input(s), nothing published (--skip-invalid publishes the valid ones)",
            rejected.len()
        );
        return ExitCode::from(EXIT_INVALID);
    }
    warn_if_mixed(&records);
    match (args.dry_run, stream) {
        (true, Some(stream)) if args.aggregate => {
            aggregated_dry_run(args, stream, &records, rejected.len()).await
        }
        (true, None) if args.aggregate => {
            eprintln!(
                "producer: --aggregate --dry-run needs --stream: aggregates are planned per shard, \
                 read with ListShards (nothing is put)"
            );
            ExitCode::from(EXIT_INVALID)
        }
        (true, _) => {
            dry_run(&records, rejected.len()).await;
            ExitCode::SUCCESS
        }
        (false, Some(stream)) => send(args, stream, &records, rejected.len()).await,
        (false, None) => {
            eprintln!("producer: --stream is required unless --dry-run");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// One stream carries either commands or events: a mix means some go to
/// the wrong one.
fn warn_if_mixed(records: &[Prepared]) {
    let commands = records.iter().filter(|r| r.kind().is_command()).count();
    if commands > 0 && commands < records.len() {
        eprintln!(
            "warning: the input mixes commands and events; the contract puts commands on \
             ORDER_COMMANDS_STREAM and events on ORDER_EVENTS_STREAM"
        );
    }
}

async fn dry_run(records: &[Prepared], skipped_count: usize) {
    let plan = publish::rehearse(records).await;
    for line in publish::dry_run_lines(&plan) {
        println!("{line}");
    }
    let calls = plan.last().map_or(0, |(call, _)| *call);
    println!(
        "dry run: {} record(s) in {calls} PutRecords call(s), nothing sent{}",
        records.len(),
        skipped(skipped_count)
    );
}

/// The plan of an aggregated publish: the stream's open shards and the
/// Kinesis records that carry `records`.
async fn plan_aggregates(
    client: &aws_sdk_kinesis::Client,
    stream: &StreamRef,
    records: &[Prepared],
    limits: aggregate::Limits,
) -> Result<(usize, Vec<aggregate::KinesisRecord>), String> {
    let shards = shards::list_open_shards(client, stream).await?;
    let users: Vec<aggregate::UserRecord<'_>> = records
        .iter()
        .map(|p| aggregate::UserRecord {
            partition_key: &p.record.partition_key,
            data: &p.record.data,
        })
        .collect();
    Ok((
        shards.shards().len(),
        aggregate::plan(&users, &shards, limits),
    ))
}

async fn aggregated_dry_run(
    args: &PublishArgs,
    stream: StreamRef,
    records: &[Prepared],
    skipped_count: usize,
) -> ExitCode {
    let config = stream_core::aws::load_config().await;
    let client = stream_core::aws::kinesis_client(&config);
    let limits = args.aggregation().unwrap_or_default();
    let (shard_count, plan) = match plan_aggregates(&client, &stream, records, limits).await {
        Ok(planned) => planned,
        Err(err) => {
            eprintln!("producer: {err}");
            return ExitCode::FAILURE;
        }
    };
    let sending = publish::rehearse_aggregated(records, &plan).await;
    for line in publish::aggregated_dry_run_lines(records, &sending) {
        println!("{line}");
    }
    let calls = sending.last().map_or(0, |(call, _)| *call);
    println!(
        "dry run: {}, for {shard_count} open shard(s); {calls} PutRecords call(s), nothing sent{}",
        publish::Aggregation::of(&plan),
        skipped(skipped_count)
    );
    ExitCode::SUCCESS
}

async fn send(
    args: &PublishArgs,
    stream: StreamRef,
    records: &[Prepared],
    skipped_count: usize,
) -> ExitCode {
    let config = stream_core::aws::load_config().await;
    let client = stream_core::aws::kinesis_client(&config);
    if let Err(err) = check_stream(&client, &stream).await {
        eprintln!("producer: {err}");
        return ExitCode::FAILURE;
    }
    let persistence = publish::Persistence {
        max_attempts: args.max_attempts,
        timeout: args.timeout(),
    };
    let mut summary = match args.aggregation() {
        None => {
            publish::publish(KinesisPutRecords::new(client, stream), records, persistence).await
        }
        Some(limits) => {
            let plan = match plan_aggregates(&client, &stream, records, limits).await {
                Ok((_, plan)) => plan,
                Err(err) => {
                    eprintln!("producer: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let api = publish::KinesisPutEntries::new(client, stream);
            publish::publish_aggregated(api, records, &plan, persistence).await
        }
    };
    summary.skipped = skipped_count;
    println!("{summary}");
    if summary.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn skipped(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(" ({count} invalid skipped)")
    }
}

/// Every input's records, and what could not become one.
pub fn gather(files: &[String]) -> (Vec<Prepared>, Vec<Rejected>) {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for file in files {
        let items = match read_bytes(file) {
            Ok(bytes) => input::read(file, &bytes),
            Err(err) => vec![input::unreadable(file, err)],
        };
        for item in items {
            match item.and_then(prepare::prepare) {
                Ok(record) => records.push(record),
                Err(rejection) => rejected.push(rejection),
            }
        }
    }
    (records, rejected)
}

fn read_bytes(file: &str) -> Result<Vec<u8>, String> {
    if file == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|err| format!("cannot read standard input: {err}"))?;
        Ok(bytes)
    } else {
        std::fs::read(file).map_err(|err| format!("cannot read: {err}"))
    }
}

/// Fails fast, with the service's words, on a stream that is missing or
/// not allowed, instead of retrying every batch against it.
async fn check_stream(client: &aws_sdk_kinesis::Client, stream: &StreamRef) -> Result<(), String> {
    let request = client.describe_stream_summary();
    let request = match stream {
        StreamRef::Name(name) => request.stream_name(name),
        StreamRef::Arn(arn) => request.stream_arn(arn),
    };
    let (StreamRef::Name(shown) | StreamRef::Arn(shown)) = stream;
    request
        .send()
        .await
        .map(drop)
        .map_err(|err| format!("stream {shown}: {}", DisplayErrorContext(err)))
}
