//! Serving a pipeline as a Lambda function.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use tracing::Instrument as _;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{service_fn, LambdaEvent};

use crate::dead_letter::DeadLetterSink;
use crate::deadline::Deadline;
use crate::handler::Handler;
use crate::metrics::InvocationIds;
use crate::pipeline::Pipeline;
use crate::publisher::RecordPublisher;

/// A function's parts, so one entry point serves every `main`: its
/// descriptor, how it reads its configuration, and how it builds its
/// pipeline (AWS clients made once per process).
pub trait Function {
    const DESCRIPTOR: crate::function::FunctionDescriptor;
    type Config;
    type Handler: Handler + 'static;
    type DeadLetters: DeadLetterSink + 'static;
    type Publisher: RecordPublisher + 'static;

    /// Reads the configuration; an error names the variable.
    fn config(vars: &impl crate::config::Vars) -> Result<Self::Config, crate::config::ConfigError>;

    /// The CloudWatch namespace of the function's metrics.
    fn metrics_namespace(config: &Self::Config) -> String;

    /// The deployed pipeline.
    fn pipeline(
        sdk: &aws_config::SdkConfig,
        config: &Self::Config,
    ) -> Pipeline<Self::Handler, Self::DeadLetters, Self::Publisher>;
}

/// The `main` of every function's binary: [`run`] on a current-thread
/// runtime.
///
/// Why one thread: Lambda hands a process one invocation at a time and a
/// small function gets a fraction of one vCPU. The pipeline already runs
/// its partition keys as futures on one task; on a multi-thread runtime
/// the SDK's connection tasks land on other workers, so every request and
/// response crosses threads (a futex wake-up and a context switch each),
/// which measured as most of the CPU spent per AWS call.
pub fn main<F: Function>() -> Result<(), lambda_runtime::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run::<F>())
}

/// The Lambda entry point of every function: logs, configuration (a bad
/// variable stops the process at start with one line), the SDK
/// configuration, the pipeline, then the runtime loop.
pub async fn run<F: Function>() -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let config =
        F::config(&crate::config::ProcessEnv).unwrap_or_else(|err| exit_on_config_error(&err));
    tracing::debug!(function = F::DESCRIPTOR.name, "starting");
    let sdk = crate::aws::load_config().await;
    let namespace = F::metrics_namespace(&config);
    serve(F::pipeline(&sdk, &config), namespace).await
}

/// Runs the Lambda runtime loop with `pipeline` answering every batch, and
/// writes one metrics line per invocation.
pub async fn serve<H, D, P>(
    pipeline: Pipeline<H, D, P>,
    metrics_namespace: String,
) -> Result<(), lambda_runtime::Error>
where
    H: Handler + 'static,
    D: DeadLetterSink + 'static,
    P: RecordPublisher + 'static,
{
    let backoff_ms: u64 = match crate::config::parsed_or(
        &crate::config::ProcessEnv,
        "FAILURE_BACKOFF_MAX_MS",
        DEFAULT_FAILURE_BACKOFF_MS,
    ) {
        Ok(ms) => ms,
        Err(err) => exit_on_config_error(&err),
    };
    let pipeline =
        Arc::new(pipeline.with_failure_backoff(std::time::Duration::from_millis(backoff_ms)));
    let namespace = Arc::new(metrics_namespace);
    let handler = service_fn(move |event: LambdaEvent<KinesisEvent>| {
        let pipeline = Arc::clone(&pipeline);
        let namespace = Arc::clone(&namespace);
        async move {
            let deadline = invocation_deadline(event.context.deadline);
            let ids = InvocationIds {
                request_id: &event.context.request_id,
                xray_trace_id: event.context.xray_trace_id.as_deref(),
            };
            let span = crate::logging::invocation_span(ids.request_id, ids.xray_trace_id);
            // Each record's handling is already contained; this catches a
            // fault in the core itself, which fails the invocation (Lambda
            // retries the batch) instead of ending the process.
            // Boxed so the served future's layout stays shallow whatever
            // the handler's future nests.
            let processing: std::pin::Pin<
                Box<dyn std::future::Future<Output = crate::pipeline::BatchOutcome> + Send + '_>,
            > = Box::pin(pipeline.process(&event.payload, deadline));
            let outcome = AssertUnwindSafe(processing)
                .catch_unwind()
                .instrument(span)
                .await
                .map_err(|_| {
                    lambda_runtime::Error::from("internal error while processing the batch")
                })?;
            outcome
                .report
                .emit(&namespace, &pipeline.config().function_name, &ids);
            Ok::<KinesisEventResponse, lambda_runtime::Error>(outcome.response)
        }
    });
    run_runtime(handler).await
}

/// The runtime loop; with X-Ray on, lambda_runtime's OpenTelemetry span
/// wraps each invocation, under the trace Lambda gives it.
async fn run_runtime<S>(handler: S) -> Result<(), lambda_runtime::Error>
where
    S: lambda_runtime::tower::Service<
            LambdaEvent<KinesisEvent>,
            Response = KinesisEventResponse,
            Error = lambda_runtime::Error,
        > + Send
        + 'static,
    S::Future: Send,
{
    let runtime = lambda_runtime::Runtime::new(handler);
    #[cfg(feature = "xray")]
    let runtime = {
        use lambda_runtime::tower::util::option_layer;
        let traced = crate::xray::enabled();
        runtime
            .layer(option_layer(traced.then(crate::xray::invocation_layer)))
            .layer(option_layer(
                traced.then_some(crate::xray::LambdaTraceParent),
            ))
    };
    runtime.run().await
}

/// The longest wait before answering with transient failures
/// (`FAILURE_BACKOFF_MAX_MS`): long enough that a redelivery does not meet
/// the same second of an outage, short against a 30 s timeout.
pub const DEFAULT_FAILURE_BACKOFF_MS: u64 = 10_000;

/// Lambda's deadline, or 15 minutes (Lambda's longest timeout) from now
/// when the runtime API sent one that cannot be real: `cargo lambda watch`
/// sends a fixed 600000, a moment in January 1970, which would otherwise
/// fail every record as "deadline near".
fn invocation_deadline(epoch_millis: u64) -> Deadline {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    if epoch_millis < YEAR_2001_MS {
        tracing::warn!(
            deadlineMs = epoch_millis,
            "runtime API sent an impossible deadline; using 15 minutes"
        );
        return Deadline::in_(std::time::Duration::from_secs(900));
    }
    Deadline::from_epoch_millis(epoch_millis)
}

/// Prints a configuration error as one line and exits: a misconfigured
/// function stops at start, never per record.
pub fn exit_on_config_error(err: &crate::config::ConfigError) -> ! {
    // Plain stderr rather than the log subscriber: the line must appear
    // whatever the log format or level.
    eprintln!("{err}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_deadline_becomes_fifteen_minutes() {
        let bogus = invocation_deadline(600_000);
        assert!(bogus.remaining() > std::time::Duration::from_secs(890));
        let real =
            invocation_deadline(Deadline::in_(std::time::Duration::from_secs(30)).epoch_millis());
        assert!(real.remaining() <= std::time::Duration::from_secs(30));
    }
}
