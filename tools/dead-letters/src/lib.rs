//! The dead-letter queue tool: `list` shows every message in the queue,
//! `redrive` re-publishes chosen dead letters' bytes, unchanged, to their
//! stream.
//!
//! - [`letter`]: what a queue message says (the functions' dead letters and
//!   Lambda's on-failure records), read leniently.
//! - [`select`]: which messages a redrive acts on.
//! - [`redrive`]: listing and redriving, over two narrow ports:
//!   [`queue::Queue`] (SQS) and [`streams::Streams`] (Kinesis `PutRecords`).
//! - [`cli`], [`output`]: the command line and what it prints.

pub mod cli;
pub mod letter;
pub mod output;
pub mod queue;
pub mod redrive;
pub mod select;
pub mod streams;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Runs one command; what it printed is on stdout, problems on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    let Some(queue_url) = cli.queue_url.clone().filter(|url| !url.trim().is_empty()) else {
        eprintln!("dead-letters: no queue: pass --queue-url or set DEAD_LETTER_QUEUE_URL");
        return ExitCode::from(2);
    };
    let config = stream_core::aws::load_config().await;
    let queue = queue::SqsQueue::new(
        aws_sdk_sqs::Client::new(&config),
        queue_url,
        cli.visibility_timeout(),
        cli.wait(),
        cli.max_messages,
    );
    match &cli.command {
        Command::List => match redrive::list(&queue).await {
            Err(err) => {
                eprintln!("dead-letters: {err:#}");
                ExitCode::FAILURE
            }
            Ok((messages, release_failures)) => {
                println!("{}", output::LIST_HEADER);
                for (received, message) in &messages {
                    println!("{}", output::summary_line(&received.message_id, message));
                }
                eprintln!("{} messages", messages.len());
                for (id, why) in &release_failures {
                    eprintln!("warning: message {id} could not be made visible again: {why}");
                }
                ExitCode::SUCCESS
            }
        },
        Command::Redrive(args) => {
            let stream = match args.stream() {
                Ok(stream) => stream,
                Err(err) => {
                    eprintln!("dead-letters: {err}");
                    return ExitCode::from(2);
                }
            };
            let options = redrive::RedriveOptions {
                selection: args.selection(),
                stream,
                dry_run: args.dry_run,
                retry: redrive::Retry::default(),
            };
            let streams = streams::KinesisStreams::new(aws_sdk_kinesis::Client::new(&config));
            match redrive::redrive(&queue, &streams, &options).await {
                Err(err) => {
                    eprintln!("dead-letters: {err:#}");
                    ExitCode::FAILURE
                }
                Ok(report) => {
                    for line in output::redrive_lines(&report, args.dry_run) {
                        println!("{line}");
                    }
                    if report.has_failures() {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
            }
        }
    }
}
