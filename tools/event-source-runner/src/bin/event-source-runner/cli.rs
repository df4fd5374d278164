//! The command line, parsed into settings the binary turns into mappings.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use event_source_runner::{
    linked, EventTypeFilter, MappingConfig, NonJsonRecords, RunOptions, StartingPosition,
};
use stream_core::{FunctionDescriptor, StreamRef};

/// Runs functions against Kinesis streams the way Lambda's event source
/// mapping does (batching, filtering, ReportBatchItemFailures checkpoints,
/// retries, bisection, on-failure destination). AWS_ENDPOINT_URL points it
/// at a local emulator; nothing else changes.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "event-source-runner",
    after_help = "FUNCTION reads the streams named by ORDER_EVENTS_STREAM / ORDER_COMMANDS_STREAM\n\
                  as the template maps it, with the template's filter; FUNCTION=STREAM reads\n\
                  only STREAM (a name or an ARN) with the union of its filters."
)]
pub struct Cli {
    /// The functions to run, each as FUNCTION or FUNCTION=STREAM
    #[arg(value_name = "FUNCTION[=STREAM]", value_parser = function_arg)]
    pub functions: Vec<FunctionArg>,
    /// Invoke through a Lambda-compatible endpoint (`cargo lambda watch`,
    /// e.g. http://127.0.0.1:9000) instead of in process
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub http: Option<String>,
    /// TRIM_HORIZON (default), LATEST, AT_TIMESTAMP:<unix s>
    #[arg(long, value_name = "P", default_value = "TRIM_HORIZON")]
    pub starting_position: StartingPosition,
    /// Records per invocation, 1..=10000
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batch_size: usize,
    /// Gather records up to N ms
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub batching_window_ms: u64,
    /// Retries before a batch is skipped (-1 retries until the record
    /// expires)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        allow_negative_numbers = true
    )]
    pub max_retry_attempts: i32,
    /// Split a failing batch in two
    #[arg(long)]
    pub bisect_on_error: bool,
    /// Skip records older than N s
    #[arg(long, value_name = "N")]
    pub max_record_age_s: Option<u64>,
    /// Function timeout, 1..=900
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub timeout_s: u64,
    /// Deliver every record
    #[arg(long)]
    pub no_filter: bool,
    /// With a filter, deliver records that are not JSON (Lambda drops them)
    #[arg(long)]
    pub deliver_non_json: bool,
    /// SQS queue for skipped batches (metadata only)
    #[arg(long = "on-failure", value_name = "QUEUE_URL")]
    pub on_failure_queue_url: Option<String>,
    /// Keep checkpoints in DIR and resume from them
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Stop once every stream is drained; the report is printed as JSON
    /// (exit 1 if --max-duration-s hit)
    #[arg(long)]
    pub until_idle: bool,
    /// Poll drained shards every N ms (default 1000, 100 with --until-idle)
    #[arg(long, value_name = "N")]
    pub poll_interval_ms: Option<u64>,
    /// Stop after N s
    #[arg(long, value_name = "N")]
    pub max_duration_s: Option<u64>,
    /// List the functions and exit
    #[arg(long)]
    pub list: bool,
}

/// A function to run, and the stream the command line chose for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArg {
    pub spec: &'static FunctionDescriptor,
    pub stream: Option<StreamRef>,
}

/// How the functions are invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeMode<'a> {
    InProcess,
    Http(&'a str),
}

fn function_arg(arg: &str) -> Result<FunctionArg, String> {
    let (name, stream) = match arg.split_once('=') {
        Some((name, stream)) => (name, Some(stream)),
        None => (arg, None),
    };
    let spec = linked::find(name).ok_or_else(|| {
        let known: Vec<&str> = linked::FUNCTIONS.iter().map(|f| f.name).collect();
        format!("unknown function `{name}`; known: {}", known.join(", "))
    })?;
    let stream = stream
        .map(|s| StreamRef::parse("FUNCTION=STREAM", s).map_err(|e| format!("{name}: {e}")))
        .transpose()?;
    Ok(FunctionArg { spec, stream })
}

fn http_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") {
        Ok(url.to_owned())
    } else {
        Err(format!("`{url}` is not an http:// URL"))
    }
}

impl Cli {
    pub fn invoke(&self) -> InvokeMode<'_> {
        match &self.http {
            Some(endpoint) => InvokeMode::Http(endpoint),
            None => InvokeMode::InProcess,
        }
    }

    /// The mapping of `function` on `stream` with filter `types` (empty for
    /// none); the on-failure destination is left to the caller.
    pub fn mapping_config(
        &self,
        function: &str,
        stream: StreamRef,
        types: &[&str],
    ) -> MappingConfig {
        let non_json = if self.deliver_non_json {
            NonJsonRecords::Deliver
        } else {
            NonJsonRecords::Drop
        };
        let filter = (!self.no_filter && !types.is_empty())
            .then(|| EventTypeFilter::new(types.iter().copied()).non_json(non_json));
        let checkpoint_file = self.checkpoint_dir.as_ref().map(|dir| {
            let stream_name = match &stream {
                StreamRef::Name(name) => name.as_str(),
                StreamRef::Arn(arn) => {
                    stream_core::record::stream_name_from_arn(arn).unwrap_or(arn)
                }
            };
            dir.join(format!("{function}--{stream_name}.json"))
        });
        MappingConfig {
            starting_position: self.starting_position,
            batch_size: self.batch_size,
            batching_window: Duration::from_millis(self.batching_window_ms),
            max_retry_attempts: self.max_retry_attempts,
            bisect_on_error: self.bisect_on_error,
            max_record_age: self.max_record_age_s.map(Duration::from_secs),
            filter,
            timeout: Duration::from_secs(self.timeout_s),
            checkpoint_file,
            ..MappingConfig::new(function, stream)
        }
    }

    pub fn run_options(&self) -> RunOptions {
        let base = if self.until_idle {
            RunOptions {
                max_duration: None,
                ..RunOptions::default()
            }
        } else {
            RunOptions::forever()
        };
        RunOptions {
            poll_interval: self
                .poll_interval_ms
                .map_or(base.poll_interval, Duration::from_millis),
            max_duration: self.max_duration_s.map(Duration::from_secs),
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("event-source-runner").chain(args.iter().copied()))
    }

    #[test]
    fn parses_functions_and_options() {
        let cli = parse(&[
            "order-saga-step",
            "inventory-update=arn:aws:kinesis:us-east-1:1:stream/cmds",
            "--batch-size",
            "10",
            "--batching-window-ms=250",
            "--max-retry-attempts",
            "-1",
            "--bisect-on-error",
            "--starting-position",
            "LATEST",
            "--http",
            "http://127.0.0.1:9000",
            "--until-idle",
            "--checkpoint-dir",
            "/tmp/cp",
        ])
        .unwrap();
        assert_eq!(cli.functions.len(), 2);
        assert_eq!(cli.functions[0].spec.name, "order-saga-step");
        assert_eq!(cli.functions[0].stream, None);
        assert_eq!(
            cli.functions[1].stream,
            Some(StreamRef::Arn(
                "arn:aws:kinesis:us-east-1:1:stream/cmds".into()
            ))
        );
        assert_eq!(cli.batch_size, 10);
        assert_eq!(cli.batching_window_ms, 250);
        assert_eq!(cli.max_retry_attempts, -1);
        assert!(cli.bisect_on_error);
        assert_eq!(cli.starting_position, StartingPosition::Latest);
        assert_eq!(cli.invoke(), InvokeMode::Http("http://127.0.0.1:9000"));
        assert_eq!(cli.run_options().poll_interval, Duration::from_millis(100));

        let config = cli.mapping_config(
            "inventory-update",
            StreamRef::Arn("arn:aws:kinesis:us-east-1:1:stream/cmds".into()),
            &["RESERVE_INVENTORY"],
        );
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.batching_window, Duration::from_millis(250));
        assert_eq!(
            config.checkpoint_file,
            Some(PathBuf::from("/tmp/cp/inventory-update--cmds.json"))
        );
        assert_eq!(
            config.filter.unwrap().types().collect::<Vec<_>>(),
            vec!["RESERVE_INVENTORY"]
        );
    }

    #[test]
    fn defaults_are_lambdas_with_a_bounded_retry() {
        let cli = parse(&["print"]).unwrap();
        assert_eq!(cli.invoke(), InvokeMode::InProcess);
        let config = cli.mapping_config("f", StreamRef::Name("s".into()), &["ORDER_PLACED"]);
        assert_eq!(config.starting_position, StartingPosition::TrimHorizon);
        assert_eq!((config.batch_size, config.max_retry_attempts), (100, 3));
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(cli.run_options().poll_interval, Duration::from_secs(1));
        assert!(parse(&["--list"]).unwrap().list);
    }

    #[test]
    fn rejects_what_cannot_run() {
        let error = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert!(error(&["nope"]).contains("unknown function `nope`"));
        assert!(error(&["print", "--batch-size"]).contains("a value is required"));
        assert!(error(&["print", "--batch-size", "many"]).contains("invalid digit"));
        assert!(error(&["print", "--frobnicate"]).contains("--frobnicate"));
        assert!(error(&["print=has space"]).contains("print"));
        assert!(error(&["print", "--http", "https://x"]).contains("not an http:// URL"));
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
        let no_filter = parse(&["print", "--no-filter"]).unwrap();
        assert!(no_filter
            .mapping_config("f", StreamRef::Name("s".into()), &["ORDER_PLACED"])
            .filter
            .is_none());
    }
}
