//! The command line.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use stream_core::StreamRef;

use crate::select::Selection;

/// Lists the dead-letter queue, and re-publishes chosen dead letters' bytes,
/// unchanged, to their stream.
///
/// The AWS SDK's usual configuration applies (credentials, AWS_REGION,
/// AWS_PROFILE); AWS_ENDPOINT_URL points it at a local emulator.
#[derive(Debug, Parser)]
#[command(name = "dead-letters", version)]
pub struct Cli {
    /// The dead-letter queue's URL (the stack's DeadLetterQueueUrl output).
    #[arg(long, env = "DEAD_LETTER_QUEUE_URL", global = true)]
    pub queue_url: Option<String>,

    /// How long messages read stay hidden from other readers during a run;
    /// every message not deleted is made visible again at the end.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", global = true)]
    pub visibility_timeout: u64,

    /// Long polling of each receive; an empty answer ends the reading.
    #[arg(long, default_value_t = 1, value_name = "SECONDS", global = true,
          value_parser = clap::value_parser!(u64).range(0..=20))]
    pub wait_seconds: u64,

    /// Most messages one run reads.
    #[arg(long, default_value_t = 10_000, global = true)]
    pub max_messages: usize,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One line per message: function, reason, event source, shard,
    /// sequence number, dead-letter id and whether the data is there.
    List,
    /// Re-publish the chosen letters' data, unchanged, to their stream and
    /// delete each message once its record has landed.
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("choice")
        .required(true)
        .multiple(true)
        .args(["function", "reason_contains", "sequence_number", "all"]),
))]
pub struct RedriveArgs {
    /// Letters whose functionName is this (repeatable).
    #[arg(long, value_name = "NAME")]
    pub function: Vec<String>,

    /// Letters whose reason contains this text.
    #[arg(long, value_name = "TEXT")]
    pub reason_contains: Option<String>,

    /// Letters of this sequence number (repeatable).
    #[arg(long, value_name = "NUMBER")]
    pub sequence_number: Vec<String>,

    /// Every letter in the queue.
    #[arg(long, conflicts_with_all = ["function", "reason_contains", "sequence_number"])]
    pub all: bool,

    /// Publish to this stream (name or ARN) instead of the one named by each
    /// letter's eventSourceArn.
    #[arg(long, value_name = "NAME_OR_ARN")]
    pub stream: Option<String>,

    /// Show what would be published; publish and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl RedriveArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            all: self.all,
            functions: self.function.clone(),
            reason_contains: self.reason_contains.clone(),
            sequence_numbers: self.sequence_number.clone(),
        }
    }

    pub fn stream(&self) -> Result<Option<StreamRef>, String> {
        self.stream
            .as_deref()
            .map(|s| StreamRef::parse("--stream", s).map_err(|e| e.to_string()))
            .transpose()
    }
}

impl Cli {
    pub fn visibility_timeout(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout)
    }

    pub fn wait(&self) -> Duration {
        Duration::from_secs(self.wait_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dead-letters").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn redrive_needs_a_choice_and_all_stands_alone() {
        assert!(parse(&["--queue-url", "http://q", "redrive"]).is_err());
        assert!(parse(&["redrive", "--all", "--function", "f"]).is_err());
        let cli = parse(&[
            "--queue-url",
            "http://q",
            "redrive",
            "--function",
            "a",
            "--function",
            "b",
            "--reason-contains",
            "not JSON",
            "--sequence-number",
            "49",
            "--dry-run",
        ])
        .unwrap();
        let Command::Redrive(args) = cli.command else {
            panic!("expected redrive");
        };
        let selection = args.selection();
        assert_eq!(selection.functions, ["a", "b"]);
        assert_eq!(selection.reason_contains.as_deref(), Some("not JSON"));
        assert_eq!(selection.sequence_numbers, ["49"]);
        assert!(!selection.all && args.dry_run);
    }

    #[test]
    fn stream_takes_a_name_or_an_arn() {
        let stream = |s: &str| {
            let Command::Redrive(args) =
                parse(&["redrive", "--all", "--stream", s]).unwrap().command
            else {
                panic!("expected redrive");
            };
            args.stream()
        };
        assert_eq!(stream("orders"), Ok(Some(StreamRef::Name("orders".into()))));
        assert!(matches!(
            stream("arn:aws:kinesis:us-east-1:123456789012:stream/orders"),
            Ok(Some(StreamRef::Arn(_)))
        ));
        assert!(stream("not a stream").is_err());
        assert!(stream("arn:aws:sqs:us-east-1:123456789012:q").is_err());
    }

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        let cli = parse(&["list", "--queue-url", "http://q", "--wait-seconds", "0"]).unwrap();
        assert_eq!(cli.queue_url.as_deref(), Some("http://q"));
        assert_eq!(cli.wait(), Duration::ZERO);
        assert!(parse(&["list", "--wait-seconds", "21"]).is_err());
    }
}
