//! `event-source-runner`: runs the project's functions against Kinesis
//! streams (local or real) the way Lambda's event source mapping does.
//! `--help` shows the command line.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;
use cli::{Cli, FunctionArg, InvokeMode};
use event_source_runner::catalog;
use event_source_runner::linked::{self, FUNCTIONS};
use event_source_runner::{MappingConfig, OnFailureDestination, RunOutcome, Runner};
use stream_core::config::ProcessEnv;
use stream_core::StreamRef;

#[tokio::main]
async fn main() -> ExitCode {
    stream_core::logging::init();
    let cli = Cli::parse();
    if cli.list {
        list();
        return ExitCode::SUCCESS;
    }
    if cli.functions.is_empty() {
        eprintln!(
            "event-source-runner: name at least one function (--list shows them; --help the usage)"
        );
        return ExitCode::from(2);
    }
    let sdk = stream_core::aws::load_config().await;
    let mut runner = Runner::new();
    for function in &cli.functions {
        if let Err(err) = wire(&mut runner, &sdk, &cli, function) {
            eprintln!("event-source-runner: {}: {err}", function.spec.name);
            return ExitCode::from(2);
        }
    }
    let options = cli.run_options();
    let result = if cli.until_idle {
        runner.run_until_idle(&options).await
    } else {
        runner.run_forever(&options, shutdown_signal()).await
    };
    match result {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.outcome == RunOutcome::TimedOut && cli.until_idle {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("event-source-runner: {err}");
            ExitCode::from(1)
        }
    }
}

fn wire(
    runner: &mut Runner,
    sdk: &aws_config::SdkConfig,
    cli: &Cli,
    function: &FunctionArg,
) -> Result<(), linked::WiringError> {
    let spec = function.spec;
    let mut configs: Vec<MappingConfig> = match &function.stream {
        Some(stream) => vec![cli.mapping_config(
            spec.name,
            stream.clone(),
            &catalog::type_names(&spec.kinds()),
        )],
        None => spec
            .sources
            .iter()
            .map(|source| {
                let stream = StreamRef::from_env(&ProcessEnv, source.stream_var)?;
                Ok(cli.mapping_config(spec.name, stream, &catalog::type_names(source.kinds)))
            })
            .collect::<Result<_, stream_core::ConfigError>>()?,
    };
    if let Some(queue_url) = &cli.on_failure_queue_url {
        let destination = OnFailureDestination::sqs(aws_sdk_sqs::Client::new(sdk), queue_url);
        for config in &mut configs {
            config.on_failure = Some(destination.clone());
        }
    }
    match cli.invoke() {
        InvokeMode::Http(endpoint) => linked::add_http(runner, sdk, endpoint, spec.name, configs),
        InvokeMode::InProcess => {
            linked::add_in_process(runner, sdk, &ProcessEnv, spec.name, configs)
        }
    }
}

fn list() {
    for function in FUNCTIONS {
        let streams: Vec<&str> = function.sources.iter().map(|s| s.stream_var).collect();
        let linked = if linked::is_linked(function.name) {
            "in process or --http"
        } else {
            "--http only in this build"
        };
        println!(
            "{:<22} reads {:<42} {} ({linked})",
            function.name,
            streams.join(", "),
            function.summary
        );
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down after the invocations under way");
}
