//! The function port: one batch in, Lambda's `batchItemFailures` answer (or
//! an error) out.

use std::future::Future;
use std::time::Duration;

use stream_core::{
    BatchOutcome, DeadLetterSink, Deadline, Handler, KinesisEvent, KinesisEventResponse, Pipeline,
    RecordPublisher,
};

/// Why an invocation produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The function ran and failed (an error result, a crash, a response
    /// that is not Lambda's answer): the whole batch failed and counts as a
    /// retry, as in Lambda.
    #[error("function error: {0}")]
    Function(String),
    /// The function ran past its timeout: the whole batch failed.
    #[error("function timed out after {0:?}")]
    Timeout(Duration),
    /// The function could not be reached (the invoke endpoint is down).
    /// Lambda retries these without using up the retry attempts, until the
    /// records expire; so does the runner.
    #[error("function unavailable: {0:#}")]
    Unavailable(anyhow::Error),
}

/// An invocation's answer, with the metrics line (a CloudWatch EMF
/// document) the function writes for the batch in Lambda, when the invoker
/// has it.
#[derive(Debug)]
pub struct Metered {
    pub answer: Result<KinesisEventResponse, InvokeError>,
    pub metrics: Option<serde_json::Value>,
}

/// A function that takes Kinesis batches.
pub trait Invoke: Send + Sync {
    fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KinesisEventResponse, InvokeError>> + Send;

    /// [`Invoke::invoke`], with the batch's metrics line when the function
    /// runs in process (none from the others).
    fn invoke_metered(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Metered> + Send {
        async move {
            Metered {
                answer: self.invoke(event, deadline).await,
                metrics: None,
            }
        }
    }
}

/// In process: the pipeline answers as it does inside Lambda; the metrics
/// line `lambda::serve` writes is returned by [`Invoke::invoke_metered`],
/// never printed.
impl<H, D, P> Invoke for Pipeline<H, D, P>
where
    H: Handler,
    D: DeadLetterSink,
    P: RecordPublisher,
{
    async fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> Result<KinesisEventResponse, InvokeError> {
        Ok(processed(self, &event, deadline).await.response)
    }

    async fn invoke_metered(&self, event: KinesisEvent, deadline: Deadline) -> Metered {
        let outcome = processed(self, &event, deadline).await;
        let config = self.config();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let metrics = outcome.report.to_emf(
            &config.metrics_namespace,
            &config.function_name,
            now.as_millis(),
        );
        Metered {
            answer: Ok(outcome.response),
            metrics: Some(metrics),
        }
    }
}

async fn processed<H, D, P>(
    pipeline: &Pipeline<H, D, P>,
    event: &KinesisEvent,
    deadline: Deadline,
) -> BatchOutcome
where
    H: Handler,
    D: DeadLetterSink,
    P: RecordPublisher,
{
    let outcome = pipeline.process(event, deadline).await;
    tracing::debug!(
        function = %pipeline.config().function_name,
        received = outcome.report.received,
        processed = outcome.report.processed,
        failed = outcome.response.batch_item_failures.len(),
        "batch processed in process"
    );
    outcome
}

impl<T: Invoke> Invoke for std::sync::Arc<T> {
    fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KinesisEventResponse, InvokeError>> + Send {
        (**self).invoke(event, deadline)
    }

    fn invoke_metered(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Metered> + Send {
        (**self).invoke_metered(event, deadline)
    }
}

/// A function given as a closure, for tests and quick experiments.
pub struct FnInvoker<F>(F);

/// Wraps `f(event, deadline)` as a function.
pub fn invoke_fn<F, Fut>(f: F) -> FnInvoker<F>
where
    F: Fn(KinesisEvent, Deadline) -> Fut + Send + Sync,
    Fut: Future<Output = Result<KinesisEventResponse, InvokeError>> + Send,
{
    FnInvoker(f)
}

impl<F, Fut> Invoke for FnInvoker<F>
where
    F: Fn(KinesisEvent, Deadline) -> Fut + Send + Sync,
    Fut: Future<Output = Result<KinesisEventResponse, InvokeError>> + Send,
{
    fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KinesisEventResponse, InvokeError>> + Send {
        (self.0)(event, deadline)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::event::EventSource;
    use crate::source::StreamRecord;

    fn one_record_event() -> KinesisEvent {
        let source = EventSource::from_stream_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
            None,
        );
        let record = StreamRecord {
            sequence_number: "1".into(),
            partition_key: "o-1".into(),
            data: br#"{"eventType":"ORDER_PLACED"}"#.to_vec(),
            approximate_arrival: UNIX_EPOCH + Duration::from_millis(1_545_084_650_987),
        };
        source.event("shardId-000000000000", [&record])
    }

    #[tokio::test]
    async fn an_in_process_pipeline_returns_its_metrics_line() {
        let pipeline = crate::catalog::print_pipeline();
        let deadline = Deadline::in_(Duration::from_secs(30));
        let metered = pipeline.invoke_metered(one_record_event(), deadline).await;
        assert!(metered.answer.is_ok());
        let metrics = metered.metrics.expect("a pipeline has a metrics line");
        assert_eq!(metrics["FunctionName"], "print");
        assert_eq!(metrics["RecordsReceived"], 1.0);
        assert!(metrics["_aws"]["Timestamp"].as_u64().unwrap_or(0) > 1_545_084_650_987);
    }

    #[tokio::test]
    async fn other_invokers_answer_without_metrics() {
        let echo = invoke_fn(|_, _| async { Ok(KinesisEventResponse::default()) });
        let deadline = Deadline::in_(Duration::from_secs(30));
        let metered = echo.invoke_metered(one_record_event(), deadline).await;
        assert!(metered.answer.is_ok());
        assert!(metered.metrics.is_none());
    }
}
