//! Serving a pipeline as a Lambda function.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{service_fn, LambdaEvent};

use crate::dead_letter::DeadLetterSink;
use crate::deadline::Deadline;
use crate::handler::Handler;
use crate::pipeline::Pipeline;
use crate::publisher::RecordPublisher;

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
    let pipeline = Arc::new(pipeline);
    let namespace = Arc::new(metrics_namespace);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisEvent>| {
        let pipeline = Arc::clone(&pipeline);
        let namespace = Arc::clone(&namespace);
        async move {
            let deadline = Deadline::from_epoch_millis(event.context.deadline);
            let outcome = pipeline.process(&event.payload, deadline).await;
            outcome
                .report
                .emit(&namespace, &pipeline.config().function_name);
            Ok::<KinesisEventResponse, lambda_runtime::Error>(outcome.response)
        }
    }))
    .await
}

/// Prints a configuration error as one line and exits: a misconfigured
/// function stops at start, never per record.
pub fn exit_on_config_error(err: &crate::config::ConfigError) -> ! {
    // Plain stderr rather than the log subscriber: the line must appear
    // whatever the log format or level.
    eprintln!("{err}");
    std::process::exit(2)
}
