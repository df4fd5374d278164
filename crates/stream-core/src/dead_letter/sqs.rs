//! Dead letters to an SQS queue, one message a letter.

use super::{DeadLetter, DeadLetterSink};

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl DeadLetterSink for SqsDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        use anyhow::Context as _;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(letter.to_json())
            .send()
            .await
            .context("sending a dead letter to SQS")?;
        Ok(())
    }
}
