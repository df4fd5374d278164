//! The dead-letter queue: read every message, delete, make visible again.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};

/// One message received, hidden from other readers until deleted, released
/// or its visibility timeout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// The queue operations the tool needs: one narrow port, so the redrive
/// logic is tested against a fake as well as against the emulator.
pub trait Queue: Sync {
    /// Every message in the queue now, each received once.
    fn receive_all(&self) -> impl Future<Output = anyhow::Result<Vec<Received>>> + Send;

    /// Deletes the messages: one result per message, in order.
    fn delete(
        &self,
        messages: &[&Received],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;

    /// Makes the messages visible again at once: one result per message.
    fn release(
        &self,
        messages: &[&Received],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}

/// SQS's limit of entries per batch call.
const BATCH: usize = 10;

/// An SQS queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    /// How long received messages stay hidden: longer than a run.
    visibility_timeout: Duration,
    /// Long polling of each receive; an empty answer ends the reading.
    wait: Duration,
    /// Most messages one run reads.
    max_messages: usize,
}

impl SqsQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        url: impl Into<String>,
        visibility_timeout: Duration,
        wait: Duration,
        max_messages: usize,
    ) -> Self {
        Self {
            client,
            url: url.into(),
            visibility_timeout,
            wait,
            max_messages,
        }
    }

    async fn receive_into(&self, received: &mut Vec<Received>) -> anyhow::Result<()> {
        // A message received again (its visibility ended during a long run)
        // keeps its place with the newer receipt handle.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let visibility = i32::try_from(self.visibility_timeout.as_secs()).unwrap_or(43_200);
        let wait = i32::try_from(self.wait.as_secs()).unwrap_or(20).min(20);
        while received.len() < self.max_messages {
            let room = (self.max_messages - received.len()).min(BATCH);
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(i32::try_from(room).unwrap_or(1))
                .visibility_timeout(visibility)
                .wait_time_seconds(wait)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("ReceiveMessage: {}", DisplayErrorContext(e)))?;
            let messages = out.messages();
            if messages.is_empty() {
                return Ok(());
            }
            for message in messages {
                let Some(handle) = message.receipt_handle() else {
                    continue;
                };
                let id = message.message_id().unwrap_or_default().to_owned();
                let entry = Received {
                    message_id: id.clone(),
                    receipt_handle: handle.to_owned(),
                    body: message.body().unwrap_or_default().to_owned(),
                };
                match seen.get(&id) {
                    Some(&at) if !id.is_empty() => received[at] = entry,
                    _ => {
                        seen.insert(id, received.len());
                        received.push(entry);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Queue for SqsQueue {
    async fn receive_all(&self) -> anyhow::Result<Vec<Received>> {
        let mut received = Vec::new();
        if let Err(err) = self.receive_into(&mut received).await {
            // Leave nothing hidden behind a failed read.
            let all: Vec<&Received> = received.iter().collect();
            self.release(&all).await;
            return Err(err);
        }
        Ok(received)
    }

    async fn delete(&self, messages: &[&Received]) -> Vec<Result<(), String>> {
        let mut results = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(BATCH) {
            let entries = chunk.iter().enumerate().map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .build()
            });
            let entries: Result<Vec<_>, _> = entries.collect();
            let answer = match entries {
                Err(err) => Err(format!("DeleteMessageBatch request: {err}")),
                Ok(entries) => self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| format!("DeleteMessageBatch: {}", DisplayErrorContext(e))),
            };
            results.extend(per_entry(
                chunk.len(),
                answer.map(|out| failed_entries(out.failed())),
            ));
        }
        results
    }

    async fn release(&self, messages: &[&Received]) -> Vec<Result<(), String>> {
        let mut results = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(BATCH) {
            let entries = chunk.iter().enumerate().map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .visibility_timeout(0)
                    .build()
            });
            let entries: Result<Vec<_>, _> = entries.collect();
            let answer = match entries {
                Err(err) => Err(format!("ChangeMessageVisibilityBatch request: {err}")),
                Ok(entries) => self
                    .client
                    .change_message_visibility_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        format!("ChangeMessageVisibilityBatch: {}", DisplayErrorContext(e))
                    }),
            };
            results.extend(per_entry(
                chunk.len(),
                answer.map(|out| failed_entries(out.failed())),
            ));
        }
        results
    }
}

/// The entries a batch call reports failed: (entry id, code and message).
fn failed_entries(failed: &[BatchResultErrorEntry]) -> HashMap<String, String> {
    failed
        .iter()
        .map(|f| {
            (
                f.id().to_owned(),
                format!("{}: {}", f.code(), f.message().unwrap_or_default()),
            )
        })
        .collect()
}

/// One result per entry of a batch call whose entries were numbered from 0:
/// the call's error for all of them, or each entry's own failure.
fn per_entry(
    len: usize,
    answer: Result<HashMap<String, String>, String>,
) -> Vec<Result<(), String>> {
    match answer {
        Err(err) => vec![Err(err); len],
        Ok(failed) => (0..len)
            .map(|i| match failed.get(&i.to_string()) {
                Some(why) => Err(why.clone()),
                None => Ok(()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_map_back_to_their_entries() {
        let failed = HashMap::from([("1".to_owned(), "ReceiptHandleIsInvalid: x".to_owned())]);
        assert_eq!(
            per_entry(3, Ok(failed)),
            vec![Ok(()), Err("ReceiptHandleIsInvalid: x".to_owned()), Ok(())]
        );
        assert_eq!(
            per_entry(2, Err("down".to_owned())),
            vec![Err("down".to_owned()), Err("down".to_owned())]
        );
    }
}
