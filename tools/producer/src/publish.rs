//! Putting prepared records on a stream through the core's ordered
//! publisher (batches of at most 500 entries and 5 MiB, one record per key
//! per call, failed entries re-sent with backoff), counting what was sent
//! again; and the dry run, which batches the same way without AWS.
//!
//! Aggregated ([`publish_aggregated`]), the same publisher puts the
//! Kinesis records of an [`aggregate::plan`](crate::aggregate::plan), one
//! queue per shard instead of per key: a shard's Kinesis records go one
//! per call, each after the one before it has landed, and a failed one is
//! re-sent whole. Aggregates of one shard may share keys, so this is what
//! keeps each key's order.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use order_events::{EventId, OutgoingRecord};
use stream_core::publisher::{EntryResult, KinesisPutRecords, PutRecordsApi};
use stream_core::{Deadline, OrderedPublisher, RecordPublisher, RetryPolicy, StreamRef};

use crate::aggregate::KinesisRecord;
use crate::prepare::Prepared;

/// What a publish achieved, for the one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records that landed.
    pub sent: usize,
    /// Entries sent again after a failed attempt.
    pub resent: u64,
    /// Records that never landed.
    pub failed: usize,
    pub calls: u32,
    /// Invalid inputs left out (`--skip-invalid`).
    pub skipped: usize,
    /// How user records were packed, when aggregated; then `sent`,
    /// `resent` and `failed` count user records.
    pub aggregation: Option<Aggregation>,
}

/// How the user records of an aggregated publish were packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aggregation {
    pub user_records: usize,
    pub kinesis_records: usize,
    /// Kinesis records holding more than one user record.
    pub aggregates: usize,
}

impl Aggregation {
    pub fn of(plan: &[KinesisRecord]) -> Self {
        Self {
            user_records: plan.iter().map(|k| k.members.len()).sum(),
            kinesis_records: plan.len(),
            aggregates: plan.iter().filter(|k| k.is_aggregate()).count(),
        }
    }
}

impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} user record{} in {} Kinesis record{}, {} of them aggregate{}",
            self.user_records,
            plural(self.user_records),
            self.kinesis_records,
            plural(self.kinesis_records),
            self.aggregates,
            plural(self.aggregates)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {}, re-sent {}, failed {} ({} PutRecords call{}",
            self.sent,
            self.resent,
            self.failed,
            self.calls,
            if self.calls == 1 { "" } else { "s" }
        )?;
        if self.skipped > 0 {
            write!(f, ", {} invalid skipped", self.skipped)?;
        }
        if let Some(aggregation) = &self.aggregation {
            write!(f, "; {aggregation}")?;
        }
        f.write_str(")")
    }
}

/// How hard to try before reporting a record as failed.
#[derive(Debug, Clone, Copy)]
pub struct Persistence {
    /// `PutRecords` rounds in a row with a failure before giving up.
    pub max_attempts: u32,
    /// Time for the whole publish.
    pub timeout: Duration,
}

impl Persistence {
    fn policy(self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            deadline_margin: Duration::ZERO,
        }
    }
}

/// Publishes `records` in order per partition key.
pub async fn publish<A: PutRecordsApi>(
    api: A,
    records: &[Prepared],
    persistence: Persistence,
) -> Summary {
    let outgoing: Vec<OutgoingRecord> = records.iter().map(|p| p.record.clone()).collect();
    let counting = Counting::new(api);
    let publisher = OrderedPublisher::new(counting, persistence.policy());
    let report = publisher
        .publish(&outgoing, Deadline::in_(persistence.timeout))
        .await;
    Summary {
        sent: outgoing.len() - report.failed.len(),
        resent: publisher.api().resent(),
        failed: report.failed.len(),
        calls: report.calls,
        skipped: 0,
        aggregation: None,
    }
}

/// Counts entries sent more than once. The publisher hands the port
/// references into the slice it publishes, so an entry's address names its
/// record for the length of one publish.
struct Counting<A> {
    inner: A,
    seen: Mutex<HashSet<usize>>,
    resent: AtomicU64,
}

impl<A> Counting<A> {
    fn new(inner: A) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashSet::new()),
            resent: AtomicU64::new(0),
        }
    }

    fn resent(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }
}

impl<A: PutRecordsApi> PutRecordsApi for Counting<A> {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        if let Ok(mut seen) = self.seen.lock() {
            let again = entries
                .iter()
                .filter(|entry| !seen.insert(std::ptr::from_ref::<OutgoingRecord>(entry) as usize))
                .count();
            self.resent.fetch_add(again as u64, Ordering::Relaxed);
        }
        self.inner.put_records(entries).await
    }
}

/// The longest partition key Kinesis takes.
const MAX_PARTITION_KEY_LEN: usize = 256;

/// Publishes the Kinesis records of `plan`, built from `records`, in order
/// per shard (see the module documentation). `sent`, `resent` and `failed`
/// count user records: those of a Kinesis record that did not land failed.
pub async fn publish_aggregated<A: PutEntriesApi>(
    api: A,
    records: &[Prepared],
    plan: &[KinesisRecord],
    persistence: Persistence,
) -> Summary {
    let outgoing = queued(records, plan);
    let publisher = OrderedPublisher::new(Routed::new(api, plan), persistence.policy());
    let report = publisher
        .publish(&outgoing, Deadline::in_(persistence.timeout))
        .await;
    let aggregation = Aggregation::of(plan);
    let failed: usize = report
        .failed
        .iter()
        .filter_map(|&n| plan.get(n))
        .map(|kinesis| kinesis.members.len())
        .sum();
    Summary {
        sent: aggregation.user_records - failed,
        resent: publisher.api().resent(),
        failed,
        calls: report.calls,
        skipped: 0,
        aggregation: Some(aggregation),
    }
}

/// The plan as the ordered publisher's records: each named by its
/// position, queued by its shard (by its key for a key in no open shard).
/// A queue's name is padded to the longest partition key so that the
/// publisher's count of a call's bytes never falls short of what is sent.
fn queued(records: &[Prepared], plan: &[KinesisRecord]) -> Vec<OutgoingRecord> {
    plan.iter()
        .enumerate()
        .filter_map(|(n, kinesis)| {
            let first = records.get(*kinesis.members.first()?)?;
            let queue = match &kinesis.shard_id {
                Some(shard) => format!("shard {shard}"),
                None => format!("key {}", kinesis.partition_key),
            };
            Some(OutgoingRecord {
                event_id: entry_id(n),
                kind: first.kind(),
                partition_key: format!("{queue:<MAX_PARTITION_KEY_LEN$}"),
                data: kinesis.data.clone(),
            })
        })
        .collect()
}

fn entry_id(n: usize) -> EventId {
    EventId::derived(&["kinesis record", &n.to_string()])
}

/// One Kinesis record as `PutRecords` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub partition_key: &'a str,
    pub explicit_hash_key: Option<&'a str>,
    pub data: &'a [u8],
}

/// `PutRecords` with explicit hash keys: the port of the aggregated
/// publish, so its re-sending is tested against a fake.
pub trait PutEntriesApi: Send + Sync {
    /// One result per entry, in request order, or an error for the call.
    fn put_entries(
        &self,
        entries: &[Entry<'_>],
    ) -> impl Future<Output = anyhow::Result<Vec<EntryResult>>> + Send;
}

impl<T: PutEntriesApi> PutEntriesApi for std::sync::Arc<T> {
    fn put_entries(
        &self,
        entries: &[Entry<'_>],
    ) -> impl Future<Output = anyhow::Result<Vec<EntryResult>>> + Send {
        (**self).put_entries(entries)
    }
}

/// `PutRecords` against Kinesis, explicit hash keys included: the core's
/// Kinesis adapter, sent entries built here.
#[derive(Debug, Clone)]
pub struct KinesisPutEntries(KinesisPutRecords);

impl KinesisPutEntries {
    pub fn new(client: aws_sdk_kinesis::Client, stream: StreamRef) -> Self {
        Self(KinesisPutRecords::new(client, stream))
    }
}

impl PutEntriesApi for KinesisPutEntries {
    async fn put_entries(&self, entries: &[Entry<'_>]) -> anyhow::Result<Vec<EntryResult>> {
        use aws_sdk_kinesis::primitives::Blob;
        use aws_sdk_kinesis::types::PutRecordsRequestEntry;
        let entries = entries
            .iter()
            .map(|entry| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(entry.data))
                    .partition_key(entry.partition_key)
                    .set_explicit_hash_key(entry.explicit_hash_key.map(str::to_owned))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.0.send(entries).await
    }
}

/// The ordered publisher's port over a [`PutEntriesApi`]: each queued
/// record is put as the Kinesis record of the plan it names, with its own
/// partition key and explicit hash key; user records sent again are
/// counted.
struct Routed<'p, A> {
    api: A,
    plan: &'p [KinesisRecord],
    by_id: HashMap<String, usize>,
    seen: Mutex<HashSet<usize>>,
    resent: AtomicU64,
}

impl<'p, A> Routed<'p, A> {
    fn new(api: A, plan: &'p [KinesisRecord]) -> Self {
        let by_id = (0..plan.len())
            .map(|n| (entry_id(n).as_str().to_owned(), n))
            .collect();
        Self {
            api,
            plan,
            by_id,
            seen: Mutex::new(HashSet::new()),
            resent: AtomicU64::new(0),
        }
    }

    fn resent(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }
}

impl<A: PutEntriesApi> PutRecordsApi for Routed<'_, A> {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        let mut put = Vec::with_capacity(entries.len());
        for entry in entries {
            let kinesis = self
                .by_id
                .get(entry.event_id.as_str())
                .and_then(|&n| Some((n, self.plan.get(n)?)));
            let Some((n, kinesis)) = kinesis else {
                anyhow::bail!("no planned Kinesis record {}", entry.event_id.as_str());
            };
            if let Ok(mut seen) = self.seen.lock() {
                if !seen.insert(n) {
                    self.resent
                        .fetch_add(kinesis.members.len() as u64, Ordering::Relaxed);
                }
            }
            put.push(Entry {
                partition_key: &kinesis.partition_key,
                explicit_hash_key: kinesis.explicit_hash_key.as_deref(),
                data: &kinesis.data,
            });
        }
        self.api.put_entries(&put).await
    }
}

/// The dry run: which `PutRecords` call (1-based) each record would go in,
/// by the publisher's own batching, in sending order.
pub async fn rehearse(records: &[Prepared]) -> Vec<(u32, &Prepared)> {
    let outgoing: Vec<OutgoingRecord> = records.iter().map(|p| p.record.clone()).collect();
    rehearse_outgoing(&outgoing)
        .await
        .into_iter()
        .filter_map(|(call, index)| records.get(index).map(|record| (call, record)))
        .collect()
}

/// The aggregated dry run: which call each Kinesis record of `plan` would
/// go in, in sending order.
pub async fn rehearse_aggregated<'p>(
    records: &[Prepared],
    plan: &'p [KinesisRecord],
) -> Vec<(u32, &'p KinesisRecord)> {
    rehearse_outgoing(&queued(records, plan))
        .await
        .into_iter()
        .filter_map(|(call, index)| plan.get(index).map(|kinesis| (call, kinesis)))
        .collect()
}

/// (call, index into `outgoing`) of each entry, in sending order.
async fn rehearse_outgoing(outgoing: &[OutgoingRecord]) -> Vec<(u32, usize)> {
    let rehearsal = Rehearsal::default();
    let base = outgoing.as_ptr() as usize;
    let publisher = OrderedPublisher::new(&rehearsal, RetryPolicy::default());
    publisher
        .publish(outgoing, Deadline::in_(Duration::from_secs(3600)))
        .await;
    let calls = rehearsal.calls.into_inner().unwrap_or_default();
    calls
        .into_iter()
        .enumerate()
        .flat_map(|(call, addresses)| {
            addresses.into_iter().map(move |address| {
                let index = (address - base) / std::mem::size_of::<OutgoingRecord>();
                (call as u32 + 1, index)
            })
        })
        .collect()
}

/// A `PutRecords` that accepts everything and remembers each call's entries
/// (by address, see [`Counting`]).
#[derive(Default)]
struct Rehearsal {
    calls: Mutex<Vec<Vec<usize>>>,
}

impl PutRecordsApi for &Rehearsal {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        let addresses = entries
            .iter()
            .map(|entry| std::ptr::from_ref::<OutgoingRecord>(entry) as usize)
            .collect();
        self.calls
            .lock()
            .map_err(|_| anyhow::anyhow!("rehearsal poisoned"))?
            .push(addresses);
        Ok(vec![EntryResult::Ok; entries.len()])
    }
}

/// The dry run's lines: a header, then one line per record in sending order.
pub fn dry_run_lines(plan: &[(u32, &Prepared)]) -> Vec<String> {
    let header = [
        "call",
        "partitionKey",
        "bytes",
        "eventType",
        "eventId",
        "from",
    ];
    let rows: Vec<[String; 6]> = plan
        .iter()
        .map(|(call, p)| {
            [
                call.to_string(),
                p.record.partition_key.clone(),
                p.size().to_string(),
                p.kind().to_string(),
                p.event_id.clone(),
                p.location.to_string(),
            ]
        })
        .collect();
    columns(header, rows)
}

/// The aggregated dry run's lines: a header, then one line per Kinesis
/// record in sending order, with where its first user record came from.
pub fn aggregated_dry_run_lines(
    records: &[Prepared],
    plan: &[(u32, &KinesisRecord)],
) -> Vec<String> {
    let header = [
        "call",
        "shard",
        "partitionKey",
        "userRecords",
        "bytes",
        "from",
    ];
    let rows: Vec<[String; 6]> = plan
        .iter()
        .map(|(call, kinesis)| {
            let from = kinesis
                .members
                .first()
                .and_then(|&i| records.get(i))
                .map(|p| p.location.to_string())
                .unwrap_or_default();
            [
                call.to_string(),
                kinesis.shard_id.clone().unwrap_or_else(|| "-".into()),
                kinesis.partition_key.clone(),
                kinesis.members.len().to_string(),
                kinesis.size().to_string(),
                from,
            ]
        })
        .collect();
    columns(header, rows)
}

/// Left-aligned columns, two spaces apart.
fn columns<const N: usize>(header: [&str; N], rows: Vec<[String; N]>) -> Vec<String> {
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(header.map(str::to_owned))
        .chain(rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Document, Location};
    use crate::prepare::prepare;
    use stream_core::FakePutRecords;

    use std::sync::Arc;

    fn placed(order: &str, n: usize) -> Prepared {
        let text = format!(
            r#"{{"eventId":"{order}-{n}","eventType":"ORDER_CANCELLED","payload":{{"orderId":"{order}"}}}}"#
        );
        prepare(Document {
            location: Location {
                input: "t".into(),
                line: Some(n + 1),
                detail: None,
            },
            data: text.into_bytes(),
        })
        .unwrap()
    }

    fn quick() -> Persistence {
        Persistence {
            max_attempts: 5,
            timeout: Duration::from_secs(10),
        }
    }

    fn ids_of(records: &[OutgoingRecord], key: &str) -> Vec<String> {
        records
            .iter()
            .filter(|r| r.partition_key == key)
            .map(|r| r.event_id.to_string())
            .collect()
    }

    #[tokio::test]
    async fn failed_entries_alone_are_resent_and_counted_with_key_order_kept() {
        // Every entry of o-a fails on the first two calls, o-b's second once.
        let fake = Arc::new(FakePutRecords::failing(|call, r| {
            (r.partition_key == "o-a" && call < 2) || (r.event_id.as_str() == "o-b-1" && call == 1)
        }));
        let records: Vec<Prepared> = (0..3)
            .flat_map(|n| [placed("o-a", n), placed("o-b", n)])
            .collect();
        let summary = publish(fake.clone(), &records, quick()).await;
        assert_eq!(
            summary,
            Summary {
                sent: 6,
                resent: 3,
                failed: 0,
                calls: fake.calls().len() as u32,
                skipped: 0,
                aggregation: None,
            }
        );
        let sent: usize = fake.calls().iter().map(Vec::len).sum();
        assert_eq!(sent, 6 + 3, "only failed entries went again");
        let landed = fake.landed();
        assert_eq!(ids_of(&landed, "o-a"), ["o-a-0", "o-a-1", "o-a-2"]);
        assert_eq!(ids_of(&landed, "o-b"), ["o-b-0", "o-b-1", "o-b-2"]);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_the_rest_reported_failed() {
        let fake = Arc::new(FakePutRecords::failing(|_, r| r.partition_key == "o-a"));
        let records = vec![placed("o-a", 0), placed("o-b", 0), placed("o-a", 1)];
        let summary = publish(
            fake.clone(),
            &records,
            Persistence {
                max_attempts: 3,
                ..quick()
            },
        )
        .await;
        assert_eq!((summary.sent, summary.failed), (1, 2));
        assert_eq!(summary.resent, 2, "o-a-0 sent three times in all");
        assert_eq!(ids_of(&fake.landed(), "o-b"), ["o-b-0"]);
        assert!(summary
            .to_string()
            .starts_with("sent 1, re-sent 2, failed 2 ("));
    }

    #[tokio::test]
    async fn the_dry_run_batches_like_the_publisher_one_record_per_key_per_call() {
        let records = vec![placed("o-a", 0), placed("o-a", 1), placed("o-b", 0)];
        let plan = rehearse(&records).await;
        let order: Vec<(u32, &str)> = plan
            .iter()
            .map(|(call, p)| (*call, p.event_id.as_str()))
            .collect();
        assert_eq!(order, [(1, "o-a-0"), (1, "o-b-0"), (2, "o-a-1")]);
        let lines = dry_run_lines(&plan);
        assert_eq!(lines.len(), 4);
        assert!(
            lines[0].starts_with("call  partitionKey  bytes"),
            "{}",
            lines[0]
        );
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "1",
                "o-a",
                &records[0].size().to_string(),
                "ORDER_CANCELLED",
                "o-a-0",
                "t:1"
            ]
        );
    }

    #[tokio::test]
    async fn the_dry_run_of_many_keys_fills_calls_of_500() {
        let records: Vec<Prepared> = (0..1001).map(|n| placed(&format!("o-{n}"), 0)).collect();
        let plan = rehearse(&records).await;
        let last_calls: Vec<u32> = [0, 499, 500, 1000].iter().map(|&i| plan[i].0).collect();
        assert_eq!(last_calls, [1, 1, 2, 3]);
    }

    /// An entry as the fake saw it: partition key, explicit hash key,
    /// data, and whether it landed.
    type Put = (String, Option<String>, Vec<u8>, bool);

    /// An in-memory `PutRecords` with explicit hash keys that fails the
    /// entries `fail(call, entry)` picks.
    struct FakeEntries {
        fail: fn(usize, &Entry<'_>) -> bool,
        calls: Mutex<Vec<Vec<Put>>>,
    }

    impl FakeEntries {
        fn failing(fail: fn(usize, &Entry<'_>) -> bool) -> Self {
            Self {
                fail,
                calls: Mutex::new(Vec::new()),
            }
        }

        fn calls(&self) -> Vec<Vec<Put>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl PutEntriesApi for FakeEntries {
        async fn put_entries(&self, entries: &[Entry<'_>]) -> anyhow::Result<Vec<EntryResult>> {
            let mut calls = self.calls.lock().unwrap();
            let call = calls.len();
            let mut seen = Vec::new();
            let results = entries
                .iter()
                .map(|entry| {
                    let failed = (self.fail)(call, entry);
                    seen.push((
                        entry.partition_key.to_owned(),
                        entry.explicit_hash_key.map(str::to_owned),
                        entry.data.to_vec(),
                        !failed,
                    ));
                    if failed {
                        EntryResult::Failed {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "Rate exceeded for shard".into(),
                        }
                    } else {
                        EntryResult::Ok
                    }
                })
                .collect();
            calls.push(seen);
            Ok(results)
        }
    }

    /// The `eventId`s in a Kinesis record's data, aggregated or not.
    fn event_ids(data: &[u8]) -> Vec<String> {
        let datas: Vec<&[u8]> = match kinesis_deagg::deaggregate(data) {
            kinesis_deagg::Deaggregated::Aggregated(users) => {
                users.iter().map(|u| u.data).collect()
            }
            kinesis_deagg::Deaggregated::Single { data, .. } => vec![data],
        };
        datas
            .iter()
            .map(|d| {
                let v: serde_json::Value = serde_json::from_slice(d).unwrap();
                v["eventId"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn halves() -> crate::shards::ShardMap {
        use crate::shards::Shard;
        let half = 1u128 << 127;
        crate::shards::ShardMap::new(vec![
            Shard {
                shard_id: "shard-low".into(),
                starting_hash_key: 0,
                ending_hash_key: half - 1,
            },
            Shard {
                shard_id: "shard-high".into(),
                starting_hash_key: half,
                ending_hash_key: u128::MAX,
            },
        ])
    }

    /// Six events of each of eight orders, interleaved, planned in
    /// aggregates of at most three.
    fn aggregated_input() -> (Vec<Prepared>, Vec<KinesisRecord>) {
        let records: Vec<Prepared> = (0..6)
            .flat_map(|n| (0..8).map(move |o| placed(&format!("o-{o}"), n)))
            .collect();
        let users: Vec<crate::aggregate::UserRecord<'_>> = records
            .iter()
            .map(|p| crate::aggregate::UserRecord {
                partition_key: &p.record.partition_key,
                data: &p.record.data,
            })
            .collect();
        let plan = crate::aggregate::plan(
            &users,
            &halves(),
            crate::aggregate::Limits {
                max_bytes: 51_200,
                max_records: 3,
            },
        );
        (records, plan)
    }

    #[tokio::test]
    async fn a_failed_aggregate_is_resent_whole_and_every_key_keeps_its_order() {
        let (records, plan) = aggregated_input();
        assert_eq!(plan.len(), 16, "48 events in aggregates of three");
        // Aggregates holding o-3 fail twice, the one holding o-5-2 once.
        let fake = Arc::new(FakeEntries::failing(|call, entry| {
            let ids = event_ids(entry.data);
            (call < 2 && ids.iter().any(|id| id.starts_with("o-3-")))
                || (call == 2 && ids.iter().any(|id| id == "o-5-2"))
        }));
        let summary = publish_aggregated(fake.clone(), &records, &plan, quick()).await;
        let calls = fake.calls();
        let failed_users: usize = calls
            .iter()
            .flatten()
            .filter(|(_, _, _, landed)| !landed)
            .map(|(_, _, data, _)| event_ids(data).len())
            .sum();
        assert!(failed_users >= 6, "{failed_users}");
        assert_eq!(
            summary,
            Summary {
                sent: 48,
                resent: failed_users as u64,
                failed: 0,
                calls: calls.len() as u32,
                skipped: 0,
                aggregation: Some(Aggregation {
                    user_records: 48,
                    kinesis_records: 16,
                    aggregates: 16
                }),
            }
        );
        let mut per_key: HashMap<String, Vec<String>> = HashMap::new();
        let mut puts_of: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
        for call in &calls {
            // One Kinesis record per shard per call: the shard's next one
            // waits for it to land.
            let map = halves();
            let mut shards: Vec<&str> = call
                .iter()
                .map(|(key, _, _, _)| map.shard_of(key).unwrap().shard_id.as_str())
                .collect();
            shards.sort_unstable();
            let before = shards.len();
            shards.dedup();
            assert_eq!(
                shards.len(),
                before,
                "two Kinesis records of a shard in a call"
            );
            for (key, hash_key, data, landed) in call {
                let kinesis = plan
                    .iter()
                    .find(|k| &k.data == data)
                    .expect("sent as planned, byte for byte");
                assert_eq!(
                    (key, hash_key),
                    (&kinesis.partition_key, &kinesis.explicit_hash_key)
                );
                let counts = puts_of.entry(data.clone()).or_default();
                counts.0 += 1;
                if *landed {
                    counts.1 += 1;
                    for id in event_ids(data) {
                        let key = id.rsplit_once('-').unwrap().0.to_owned();
                        per_key.entry(key).or_default().push(id);
                    }
                }
            }
        }
        assert_eq!(puts_of.len(), 16);
        assert!(
            puts_of.values().all(|&(_, landed)| landed == 1),
            "each landed once"
        );
        assert!(
            puts_of.values().any(|&(puts, _)| puts == 3),
            "o-3's went three times"
        );
        for o in 0..8 {
            let expected: Vec<String> = (0..6).map(|n| format!("o-{o}-{n}")).collect();
            assert_eq!(per_key[&format!("o-{o}")], expected);
        }
    }

    #[tokio::test]
    async fn user_records_of_an_aggregate_that_never_lands_are_all_failed() {
        let (records, plan) = aggregated_input();
        let fake = Arc::new(FakeEntries::failing(|_, entry| {
            event_ids(entry.data).iter().any(|id| id == "o-1-0")
        }));
        let summary = publish_aggregated(
            fake.clone(),
            &records,
            &plan,
            Persistence {
                max_attempts: 3,
                ..quick()
            },
        )
        .await;
        // The publisher gives up after three failing calls in a row, on the
        // aggregate of o-1-0 and on whatever has not landed by then.
        let landed: Vec<String> = fake
            .calls()
            .iter()
            .flatten()
            .filter(|(_, _, _, landed)| *landed)
            .flat_map(|(_, _, data, _)| event_ids(data))
            .collect();
        assert!(
            !landed.iter().any(|id| id.starts_with("o-1-")),
            "{landed:?}"
        );
        let stuck = 48 - landed.len();
        assert!(stuck >= 6, "o-1's six at least");
        assert_eq!((summary.sent, summary.failed), (landed.len(), stuck));
        assert!(summary
            .to_string()
            .starts_with(&format!("sent {}, re-sent 6, failed {stuck} (", 48 - stuck)));
        assert!(
            summary
                .to_string()
                .ends_with("; 48 user records in 16 Kinesis records, 16 of them aggregates)"),
            "{summary}"
        );
    }

    #[tokio::test]
    async fn the_aggregated_dry_run_sends_one_kinesis_record_per_shard_per_call() {
        let (records, plan) = aggregated_input();
        let sending = rehearse_aggregated(&records, &plan).await;
        assert_eq!(sending.len(), plan.len());
        let per_shard = |shard: &str| {
            plan.iter()
                .filter(|k| k.shard_id.as_deref() == Some(shard))
                .count() as u32
        };
        let calls = sending.last().unwrap().0;
        assert_eq!(calls, per_shard("shard-low").max(per_shard("shard-high")));
        let lines = aggregated_dry_run_lines(&records, &sending);
        assert_eq!(lines.len(), plan.len() + 1);
        assert!(
            lines[0].starts_with("call  shard       partitionKey  userRecords  bytes"),
            "{}",
            lines[0]
        );
        let first: Vec<&str> = lines[1].split_whitespace().collect();
        let kinesis = sending[0].1;
        assert_eq!(
            first,
            [
                "1",
                kinesis.shard_id.as_deref().unwrap(),
                &kinesis.partition_key,
                "3",
                &kinesis.size().to_string(),
                &records[kinesis.members[0]].location.to_string()
            ]
        );
    }
}
