//! The command line of the `event-source-runner` binary, parsed into
//! settings the binary turns into mappings.

use std::path::PathBuf;
use std::time::Duration;

use stream_core::StreamRef;

use crate::catalog::{self, FunctionSpec};
use crate::config::{MappingConfig, StartingPosition};
use crate::filter::{EventTypeFilter, NonJsonRecords};
use crate::runner::RunOptions;

pub const USAGE: &str = "\
Runs functions against Kinesis streams the way Lambda's event source mapping
does (batching, filtering, ReportBatchItemFailures checkpoints, retries,
bisection, on-failure destination). AWS_ENDPOINT_URL points it at a local
emulator; nothing else changes.

usage: event-source-runner [OPTIONS] FUNCTION[=STREAM]...

FUNCTION reads the streams named by ORDER_EVENTS_STREAM / ORDER_COMMANDS_STREAM
as the template maps it, with the template's filter; FUNCTION=STREAM reads
only STREAM (a name or an ARN) with the union of its filters.

options:
  --http URL               invoke through a Lambda-compatible endpoint
                           (`cargo lambda watch`, e.g. http://127.0.0.1:9000)
                           instead of in process
  --starting-position P    TRIM_HORIZON (default), LATEST, AT_TIMESTAMP:<unix s>
  --batch-size N           records per invocation, 1..=10000 (default 100)
  --batching-window-ms N   gather records up to N ms (default 0)
  --max-retry-attempts N   retries before a batch is skipped (default 3;
                           -1 retries until the record expires)
  --bisect-on-error        split a failing batch in two
  --max-record-age-s N     skip records older than N s
  --timeout-s N            function timeout, 1..=900 (default 60)
  --no-filter              deliver every record
  --deliver-non-json       with a filter, deliver records that are not JSON
                           (Lambda drops them)
  --on-failure QUEUE_URL   SQS queue for skipped batches (metadata only)
  --checkpoint-dir DIR     keep checkpoints in DIR and resume from them
  --until-idle             stop once every stream is drained; the report is
                           printed as JSON (exit 1 if --max-duration-s hit)
  --poll-interval-ms N     poll drained shards every N ms (default 1000,
                           100 with --until-idle)
  --max-duration-s N       stop after N s
  --list                   list the functions and exit
  -h, --help               this text";

/// A function to run, and the stream the command line chose for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArg {
    pub spec: &'static FunctionSpec,
    pub stream: Option<StreamRef>,
}

/// How the functions are invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeMode {
    InProcess,
    Http(String),
}

/// Everything the command line sets.
#[derive(Debug, Clone)]
pub struct Cli {
    pub functions: Vec<FunctionArg>,
    pub invoke: InvokeMode,
    pub starting_position: StartingPosition,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub max_retry_attempts: i32,
    pub bisect_on_error: bool,
    pub max_record_age: Option<Duration>,
    pub timeout: Duration,
    pub filter: bool,
    pub non_json: NonJsonRecords,
    pub on_failure_queue_url: Option<String>,
    pub checkpoint_dir: Option<PathBuf>,
    pub until_idle: bool,
    pub poll_interval: Option<Duration>,
    pub max_duration: Option<Duration>,
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    Help,
    List,
    Run(Box<Cli>),
}

/// A command line that cannot be run, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, CliError> {
    value
        .parse()
        .map_err(|_| CliError(format!("{flag}: `{value}` is not a valid number")))
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut cli = Cli {
        functions: Vec::new(),
        invoke: InvokeMode::InProcess,
        starting_position: StartingPosition::TrimHorizon,
        batch_size: 100,
        batching_window: Duration::ZERO,
        max_retry_attempts: 3,
        bisect_on_error: false,
        max_record_age: None,
        timeout: Duration::from_secs(60),
        filter: true,
        non_json: NonJsonRecords::Drop,
        on_failure_queue_url: None,
        checkpoint_dir: None,
        until_idle: false,
        poll_interval: None,
        max_duration: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, CliError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .ok_or_else(|| CliError(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list" => return Ok(Command::List),
            "--http" => {
                let url = value("--http")?;
                if !url.starts_with("http://") {
                    return Err(CliError(format!("--http: `{url}` is not an http:// URL")));
                }
                cli.invoke = InvokeMode::Http(url);
            }
            "--starting-position" => {
                cli.starting_position = value("--starting-position")?
                    .parse()
                    .map_err(|e| CliError(format!("--starting-position: {e}")))?;
            }
            "--batch-size" => cli.batch_size = number("--batch-size", &value("--batch-size")?)?,
            "--batching-window-ms" => {
                cli.batching_window = Duration::from_millis(number(
                    "--batching-window-ms",
                    &value("--batching-window-ms")?,
                )?)
            }
            "--max-retry-attempts" => {
                cli.max_retry_attempts =
                    number("--max-retry-attempts", &value("--max-retry-attempts")?)?
            }
            "--bisect-on-error" => cli.bisect_on_error = true,
            "--max-record-age-s" => {
                cli.max_record_age = Some(Duration::from_secs(number(
                    "--max-record-age-s",
                    &value("--max-record-age-s")?,
                )?))
            }
            "--timeout-s" => {
                cli.timeout = Duration::from_secs(number("--timeout-s", &value("--timeout-s")?)?)
            }
            "--no-filter" => cli.filter = false,
            "--deliver-non-json" => cli.non_json = NonJsonRecords::Deliver,
            "--on-failure" => cli.on_failure_queue_url = Some(value("--on-failure")?),
            "--checkpoint-dir" => {
                cli.checkpoint_dir = Some(PathBuf::from(value("--checkpoint-dir")?))
            }
            "--until-idle" => cli.until_idle = true,
            "--poll-interval-ms" => {
                cli.poll_interval = Some(Duration::from_millis(number(
                    "--poll-interval-ms",
                    &value("--poll-interval-ms")?,
                )?))
            }
            "--max-duration-s" => {
                cli.max_duration = Some(Duration::from_secs(number(
                    "--max-duration-s",
                    &value("--max-duration-s")?,
                )?))
            }
            other if other.starts_with('-') => {
                return Err(CliError(format!("unknown option {other}")))
            }
            _ => cli.functions.push(function_arg(&arg)?),
        }
    }
    if cli.functions.is_empty() {
        return Err(CliError(
            "name at least one function (--list shows them)".into(),
        ));
    }
    Ok(Command::Run(Box::new(cli)))
}

fn function_arg(arg: &str) -> Result<FunctionArg, CliError> {
    let (name, stream) = match arg.split_once('=') {
        Some((name, stream)) => (name, Some(stream)),
        None => (arg, None),
    };
    let spec = catalog::find(name).ok_or_else(|| {
        let known: Vec<&str> = catalog::FUNCTIONS.iter().map(|f| f.name).collect();
        CliError(format!(
            "unknown function `{name}`; known: {}",
            known.join(", ")
        ))
    })?;
    let stream = stream
        .map(|s| {
            StreamRef::parse("FUNCTION=STREAM", s).map_err(|e| CliError(format!("{name}: {e}")))
        })
        .transpose()?;
    Ok(FunctionArg { spec, stream })
}

impl Cli {
    /// The mapping of `function` on `stream` with filter `types` (empty for
    /// none); the on-failure destination is left to the caller.
    pub fn mapping_config(
        &self,
        function: &str,
        stream: StreamRef,
        types: &[&str],
    ) -> MappingConfig {
        let filter = (self.filter && !types.is_empty())
            .then(|| EventTypeFilter::new(types.iter().copied()).non_json(self.non_json));
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
            batching_window: self.batching_window,
            max_retry_attempts: self.max_retry_attempts,
            bisect_on_error: self.bisect_on_error,
            max_record_age: self.max_record_age,
            filter,
            timeout: self.timeout,
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
            poll_interval: self.poll_interval.unwrap_or(base.poll_interval),
            max_duration: self.max_duration,
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Cli {
        match parse(args.iter().map(|s| s.to_string())).unwrap() {
            Command::Run(cli) => *cli,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_functions_and_options() {
        let cli = run(&[
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
        ]);
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
        assert_eq!(cli.batching_window, Duration::from_millis(250));
        assert_eq!(cli.max_retry_attempts, -1);
        assert!(cli.bisect_on_error);
        assert_eq!(cli.starting_position, StartingPosition::Latest);
        assert_eq!(cli.invoke, InvokeMode::Http("http://127.0.0.1:9000".into()));
        assert_eq!(cli.run_options().poll_interval, Duration::from_millis(100));

        let config = cli.mapping_config(
            "inventory-update",
            StreamRef::Arn("arn:aws:kinesis:us-east-1:1:stream/cmds".into()),
            &["RESERVE_INVENTORY"],
        );
        assert_eq!(config.validate(), Ok(()));
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
    fn rejects_what_cannot_run() {
        let error = |args: &[&str]| parse(args.iter().map(|s| s.to_string())).unwrap_err().0;
        assert!(error(&[]).contains("at least one function"));
        assert!(error(&["nope"]).contains("unknown function `nope`"));
        assert!(error(&["print", "--batch-size"]).contains("needs a value"));
        assert!(error(&["print", "--batch-size", "many"]).contains("not a valid number"));
        assert!(error(&["print", "--frobnicate"]).contains("unknown option"));
        assert!(error(&["print=has space"]).contains("print"));
        assert!(matches!(parse(["--help".to_string()]), Ok(Command::Help)));
        let no_filter = run(&["print", "--no-filter"]);
        assert!(no_filter
            .mapping_config("f", StreamRef::Name("s".into()), &["ORDER_PLACED"])
            .filter
            .is_none());
    }
}
