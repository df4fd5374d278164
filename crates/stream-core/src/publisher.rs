//! Publishing records to a stream with `PutRecords`: batched (at most 500
//! entries and 5 MiB a call), re-sending only the entries that failed inside
//! a partly failed call, and never letting one partition key's records
//! overtake each other. A call carries at most one record per key, so a
//! failed entry can be re-sent before anything after it of the same key.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use order_events::OutgoingRecord;

use crate::deadline::Deadline;
use crate::retry::RetryPolicy;

mod kinesis;
#[cfg(any(test, feature = "test-util"))]
mod memory;

pub use kinesis::KinesisPutRecords;
#[cfg(any(test, feature = "test-util"))]
pub use memory::FakePutRecords;

/// Most entries in one `PutRecords` call.
pub const MAX_ENTRIES_PER_CALL: usize = 500;
/// Most bytes (data plus partition keys) in one `PutRecords` call.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;

/// The result of one entry of a `PutRecords` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Ok,
    Failed { code: String, message: String },
}

/// The `PutRecords` call itself: one narrow port, so the batching and
/// re-sending logic is tested against a fake that fails entries at will.
pub trait PutRecordsApi: Send + Sync {
    /// Returns one result per entry, in request order, or an error for the
    /// whole call.
    fn put_records(
        &self,
        entries: &[&OutgoingRecord],
    ) -> impl Future<Output = anyhow::Result<Vec<EntryResult>>> + Send;
}

/// What a publish achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Indexes (into the input) of records that did not land.
    pub failed: Vec<usize>,
    /// `PutRecords` calls made.
    pub calls: u32,
}

/// Publishes records in order per partition key.
pub trait RecordPublisher: Send + Sync {
    fn publish(
        &self,
        records: &[OutgoingRecord],
        deadline: Deadline,
    ) -> impl Future<Output = PublishReport> + Send;
}

/// For functions that emit nothing: every record is reported unpublished,
/// which surfaces a wiring mistake as failures rather than lost records.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPublisher;

impl RecordPublisher for NoPublisher {
    async fn publish(&self, records: &[OutgoingRecord], _deadline: Deadline) -> PublishReport {
        if !records.is_empty() {
            tracing::error!(
                records = records.len(),
                "records emitted but this function has no publisher"
            );
        }
        PublishReport {
            failed: (0..records.len()).collect(),
            calls: 0,
        }
    }
}

/// Routes commands to one publisher and events to another: the saga writes
/// commands to the commands stream and its outcome events to the events
/// stream.
#[derive(Debug, Clone)]
pub struct SplitPublisher<C, E> {
    pub commands: C,
    pub events: E,
}

impl<C: RecordPublisher, E: RecordPublisher> RecordPublisher for SplitPublisher<C, E> {
    async fn publish(&self, records: &[OutgoingRecord], deadline: Deadline) -> PublishReport {
        let (commands, events): (Vec<usize>, Vec<usize>) =
            (0..records.len()).partition(|&i| records[i].kind.is_command());
        let pick = |indexes: &[usize]| {
            indexes
                .iter()
                .map(|&i| records[i].clone())
                .collect::<Vec<_>>()
        };
        let (to_commands, to_events) = (pick(&commands), pick(&events));
        // Boxed: joined unboxed, two Kinesis publishers make a future whose
        // layout overflows the compiler's query depth limit in any binary
        // that serves it.
        let (from_commands, from_events) = futures::join!(
            Box::pin(self.commands.publish(&to_commands, deadline)),
            Box::pin(self.events.publish(&to_events, deadline))
        );
        let mut failed: Vec<usize> = from_commands
            .failed
            .iter()
            .map(|&i| commands[i])
            .chain(from_events.failed.iter().map(|&i| events[i]))
            .collect();
        failed.sort_unstable();
        PublishReport {
            failed,
            calls: from_commands.calls + from_events.calls,
        }
    }
}

/// The batching, ordering and re-sending logic over any [`PutRecordsApi`].
#[derive(Debug, Clone)]
pub struct OrderedPublisher<A> {
    api: A,
    policy: RetryPolicy,
}

impl<A: PutRecordsApi> OrderedPublisher<A> {
    pub fn new(api: A, policy: RetryPolicy) -> Self {
        Self { api, policy }
    }

    pub fn api(&self) -> &A {
        &self.api
    }
}

impl<A: PutRecordsApi> RecordPublisher for OrderedPublisher<A> {
    async fn publish(&self, records: &[OutgoingRecord], deadline: Deadline) -> PublishReport {
        let mut report = PublishReport::default();
        let mut queues = KeyQueues::new(records);
        let mut failures_in_a_row: u32 = 0;
        loop {
            let batch = queues.next_batch(records);
            if batch.is_empty() {
                break;
            }
            report.calls += 1;
            if self.send(records, &batch, &mut queues).await {
                failures_in_a_row = 0;
                continue;
            }
            failures_in_a_row += 1;
            let delay = self.backoff(failures_in_a_row);
            if failures_in_a_row >= self.policy.max_attempts
                || deadline.remaining() <= delay + self.policy.deadline_margin
            {
                queues.abandon(&mut report.failed);
                break;
            }
            tokio::time::sleep(delay).await;
        }
        report.failed.sort_unstable();
        report
    }
}

impl<A: PutRecordsApi> OrderedPublisher<A> {
    /// Sends one batch; the entries that landed leave their queues. True
    /// when every entry landed.
    async fn send(
        &self,
        records: &[OutgoingRecord],
        batch: &[usize],
        queues: &mut KeyQueues<'_>,
    ) -> bool {
        let entries: Vec<&OutgoingRecord> = batch.iter().map(|&i| &records[i]).collect();
        let results = match self.api.put_records(&entries).await {
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), entries = entries.len(), "PutRecords call failed");
                return false;
            }
            Ok(results) if results.len() != batch.len() => {
                tracing::warn!(
                    sent = batch.len(),
                    answered = results.len(),
                    "PutRecords answered a different number of entries"
                );
                return false;
            }
            Ok(results) => results,
        };
        let mut all_landed = true;
        for (&index, result) in batch.iter().zip(&results) {
            match result {
                EntryResult::Ok => queues.landed(&records[index]),
                EntryResult::Failed { code, message } => {
                    all_landed = false;
                    tracing::debug!(code = %code, message = %message, "PutRecords entry failed; re-sending");
                }
            }
        }
        all_landed
    }

    /// The wait after the `failures_in_a_row`th failed call in a row: full
    /// jitter under a cap that doubles with each.
    fn backoff(&self, failures_in_a_row: u32) -> std::time::Duration {
        let cap = self
            .policy
            .base_delay
            .saturating_mul(1 << failures_in_a_row.min(16))
            .min(self.policy.max_delay);
        rand::Rng::random_range(&mut rand::rng(), std::time::Duration::ZERO..=cap)
    }
}

/// Per partition key, the indexes of the records still to send, in order;
/// keys in the order they first appear.
struct KeyQueues<'a> {
    order: Vec<&'a str>,
    by_key: HashMap<&'a str, VecDeque<usize>>,
}

impl<'a> KeyQueues<'a> {
    fn new(records: &'a [OutgoingRecord]) -> Self {
        let mut order: Vec<&str> = Vec::new();
        let mut by_key: HashMap<&str, VecDeque<usize>> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            by_key
                .entry(record.partition_key.as_str())
                .or_insert_with(|| {
                    order.push(record.partition_key.as_str());
                    VecDeque::new()
                })
                .push_back(index);
        }
        Self { order, by_key }
    }

    /// The next call's entries: the first waiting record of each key, within
    /// a call's limits. Empty when everything landed.
    fn next_batch(&mut self, records: &[OutgoingRecord]) -> Vec<usize> {
        let by_key = &self.by_key;
        self.order
            .retain(|k| by_key.get(k).is_some_and(|q| !q.is_empty()));
        let mut batch: Vec<usize> = Vec::new();
        let mut bytes = 0;
        for key in &self.order {
            let Some(&index) = self.by_key.get(key).and_then(|q| q.front()) else {
                continue;
            };
            let size = records[index].data.len() + records[index].partition_key.len();
            if batch.len() == MAX_ENTRIES_PER_CALL
                || (!batch.is_empty() && bytes + size > MAX_BYTES_PER_CALL)
            {
                break;
            }
            bytes += size;
            batch.push(index);
        }
        batch
    }

    /// `record` landed: the next of its key may go.
    fn landed(&mut self, record: &OutgoingRecord) {
        if let Some(queue) = self.by_key.get_mut(record.partition_key.as_str()) {
            queue.pop_front();
        }
    }

    /// Gives up: every record still waiting is reported unpublished.
    fn abandon(&mut self, failed: &mut Vec<usize>) {
        for queue in self.by_key.values_mut() {
            failed.extend(queue.drain(..));
        }
    }
}

impl<T: PutRecordsApi> PutRecordsApi for std::sync::Arc<T> {
    fn put_records(
        &self,
        entries: &[&OutgoingRecord],
    ) -> impl Future<Output = anyhow::Result<Vec<EntryResult>>> + Send {
        (**self).put_records(entries)
    }
}

impl<T: RecordPublisher> RecordPublisher for std::sync::Arc<T> {
    fn publish(
        &self,
        records: &[OutgoingRecord],
        deadline: Deadline,
    ) -> impl Future<Output = PublishReport> + Send {
        (**self).publish(records, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::{EventId, EventKind};
    use std::sync::Arc;
    use std::time::Duration;

    fn record(key: &str, n: usize) -> OutgoingRecord {
        OutgoingRecord {
            event_id: EventId::derived(&[key, &n.to_string()]),
            kind: EventKind::ReserveInventory,
            partition_key: key.to_owned(),
            data: format!("{key}-{n}").into_bytes(),
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline_margin: Duration::from_millis(1),
        }
    }

    fn order_of(records: &[OutgoingRecord], key: &str) -> Vec<String> {
        records
            .iter()
            .filter(|r| r.partition_key == key)
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn partly_failed_calls_are_resent_until_all_land_in_key_order() {
        // Fail every entry of key "a" on the first two calls, and "b-1" once.
        let fake = Arc::new(FakePutRecords::failing(|call, r| {
            (r.partition_key == "a" && call < 2) || (r.data == b"b-1" && call == 1)
        }));
        let publisher = OrderedPublisher::new(fake.clone(), quick());
        let records: Vec<_> = (0..3)
            .flat_map(|n| [record("a", n), record("b", n), record("c", n)])
            .collect();
        let report = publisher
            .publish(&records, Deadline::in_(Duration::from_secs(10)))
            .await;
        assert!(report.failed.is_empty(), "{report:?}");
        let landed = fake.landed();
        assert_eq!(landed.len(), 9);
        for key in ["a", "b", "c"] {
            assert_eq!(
                order_of(&landed, key),
                vec![format!("{key}-0"), format!("{key}-1"), format!("{key}-2")]
            );
        }
        for call in fake.calls() {
            let mut keys: Vec<_> = call.iter().map(|r| r.partition_key.clone()).collect();
            let before = keys.len();
            keys.dedup();
            assert_eq!(before, keys.len(), "one record per key per call");
        }
    }

    #[tokio::test]
    async fn batches_at_most_500_entries() {
        let fake = Arc::new(FakePutRecords::default());
        let publisher = OrderedPublisher::new(fake.clone(), quick());
        let records: Vec<_> = (0..1200).map(|n| record(&format!("k{n}"), 0)).collect();
        let report = publisher
            .publish(&records, Deadline::in_(Duration::from_secs(10)))
            .await;
        assert!(report.failed.is_empty());
        assert_eq!(report.calls, 3);
        assert_eq!(
            fake.calls().iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 200]
        );
    }

    #[tokio::test]
    async fn gives_up_with_the_unlanded_records_reported() {
        let fake = Arc::new(FakePutRecords::failing(|_, r| r.partition_key == "a"));
        let publisher = OrderedPublisher::new(
            fake.clone(),
            RetryPolicy {
                max_attempts: 3,
                ..quick()
            },
        );
        let records = vec![record("a", 0), record("b", 0), record("a", 1)];
        let report = publisher
            .publish(&records, Deadline::in_(Duration::from_secs(10)))
            .await;
        assert_eq!(report.failed, vec![0, 2]);
        assert_eq!(order_of(&fake.landed(), "b"), vec!["b-0"]);
        assert!(order_of(&fake.landed(), "a").is_empty());
    }
}
