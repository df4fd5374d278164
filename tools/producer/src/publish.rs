//! Putting prepared records on a stream through the core's ordered
//! publisher (batches of at most 500 entries and 5 MiB, one record per key
//! per call, failed entries re-sent with backoff), counting what was sent
//! again; and the dry run, which batches the same way without AWS.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use order_events::OutgoingRecord;
use stream_core::publisher::{EntryResult, PutRecordsApi};
use stream_core::{Deadline, OrderedPublisher, RecordPublisher, RetryPolicy};

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

/// The dry run: which `PutRecords` call (1-based) each record would go in,
/// by the publisher's own batching, in sending order.
pub async fn rehearse(records: &[Prepared]) -> Vec<(u32, &Prepared)> {
    let rehearsal = Rehearsal::default();
    let outgoing: Vec<OutgoingRecord> = records.iter().map(|p| p.record.clone()).collect();
    let base = outgoing.as_ptr() as usize;
    let publisher = OrderedPublisher::new(&rehearsal, RetryPolicy::default());
    publisher
        .publish(&outgoing, Deadline::in_(Duration::from_secs(3600)))
        .await;
    let calls = rehearsal.calls.into_inner().unwrap_or_default();
    calls
        .into_iter()
        .enumerate()
        .flat_map(|(call, addresses)| {
            addresses.into_iter().filter_map(move |address| {
                let index = (address - base) / std::mem::size_of::<OutgoingRecord>();
                records.get(index).map(|record| (call as u32 + 1, record))
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
                skipped: 0
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
}
