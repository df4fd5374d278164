//! The function port: one batch in, Lambda's `batchItemFailures` answer (or
//! an error) out.

use std::future::Future;
use std::time::Duration;

use stream_core::{
    DeadLetterSink, Deadline, Handler, KinesisEvent, KinesisEventResponse, Pipeline,
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

/// A function that takes Kinesis batches.
pub trait Invoke: Send + Sync {
    fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KinesisEventResponse, InvokeError>> + Send;
}

/// In process: the pipeline answers as it does inside Lambda, without the
/// metrics line `lambda::serve` writes.
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
        let outcome = self.process(&event, deadline).await;
        tracing::debug!(
            function = %self.config().function_name,
            received = outcome.report.received,
            processed = outcome.report.processed,
            failed = outcome.response.batch_item_failures.len(),
            "batch processed in process"
        );
        Ok(outcome.response)
    }
}

impl<T: Invoke> Invoke for std::sync::Arc<T> {
    fn invoke(
        &self,
        event: KinesisEvent,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KinesisEventResponse, InvokeError>> + Send {
        (**self).invoke(event, deadline)
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
