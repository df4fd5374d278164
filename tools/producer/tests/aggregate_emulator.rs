//! `producer publish --aggregate` against the local AWS emulator: every
//! shard is read back and deaggregated as the functions deaggregate, and
//! each event must arrive once, on the shard its own partition key maps
//! to, in input order per key, in fewer Kinesis records than events. Run
//! with `scripts/local-aws.sh run -- cargo test -p producer`.
//!
//! The emulator (moto) places a record by its `ExplicitHashKey` when it has
//! one and by the MD5 of its partition key otherwise, as Kinesis does
//! (`get_shard_for_key` in moto's kinesis/models.py), so where a record
//! lands here is where it would land on Kinesis.
//! [`the_explicit_hash_key_is_sent_and_decides_the_shard`] checks that.

use std::collections::{BTreeMap, HashMap};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use kinesis_deagg::{deaggregate, Deaggregated};
use md5::{Digest, Md5};
use producer::aggregate::{self, Limits, UserRecord};
use producer::publish::{publish_aggregated, Entry, KinesisPutEntries, Persistence, PutEntriesApi};
use producer::shards::list_open_shards;
use stream_core::publisher::EntryResult;
use stream_core::StreamRef;

/// Runs the binary with the emulator's endpoint and static credentials
/// only, so no real AWS profile is ever used.
fn producer(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_producer"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ENDPOINT_URL", testkit::endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", testkit::REGION)
        .output()
        .expect("the producer binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A shard as `ListShards` gives it: id and hash key range.
struct Range {
    id: String,
    start: u128,
    end: u128,
}

/// The stream's shards, read here without the producer's code.
async fn shard_ranges(client: &Client, stream: &str) -> Vec<Range> {
    let out = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    assert!(out.next_token().is_none(), "one page for a small stream");
    out.shards()
        .iter()
        .map(|s| {
            let range = s.hash_key_range().unwrap();
            Range {
                id: s.shard_id().to_owned(),
                start: range.starting_hash_key().parse().unwrap(),
                end: range.ending_hash_key().parse().unwrap(),
            }
        })
        .collect()
}

/// The shard Kinesis maps `key` to.
fn shard_of<'a>(ranges: &'a [Range], key: &str) -> &'a str {
    let hash = u128::from_be_bytes(Md5::digest(key.as_bytes()).into());
    let shard = ranges
        .iter()
        .find(|r| r.start <= hash && hash <= r.end)
        .expect("the shards cover the hash key space");
    &shard.id
}

/// A Kinesis record read back: its shard, partition key and data.
struct Read {
    shard: String,
    partition_key: String,
    data: Vec<u8>,
}

/// Every record of every shard, from TRIM_HORIZON, in order per shard.
async fn read_every_shard(client: &Client, stream: &str) -> Vec<Read> {
    let mut read = Vec::new();
    for range in shard_ranges(client, stream).await {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&range.id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator
            .expect("an iterator");
        loop {
            let out = client
                .get_records()
                .shard_iterator(&iterator)
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords");
            // An open shard always hands out a next iterator: an empty page
            // is the end of what has been written.
            if out.records.is_empty() {
                break;
            }
            read.extend(out.records.iter().map(|r| Read {
                shard: range.id.clone(),
                partition_key: r.partition_key().unwrap_or_default().to_owned(),
                data: r.data().as_ref().to_vec(),
            }));
            match out.next_shard_iterator {
                Some(next) => iterator = next,
                None => break,
            }
        }
    }
    read
}

/// An event read back: the shard it arrived on, its partition key and
/// `eventId`, and whether it came inside an aggregate.
struct Arrived {
    shard: String,
    key: String,
    event_id: String,
    aggregated: bool,
}

/// The events of the records read, deaggregated as the functions do.
fn events(read: &[Read]) -> Vec<Arrived> {
    let mut arrived = Vec::new();
    for record in read {
        let users: Vec<(String, &[u8], bool)> = match deaggregate(&record.data) {
            Deaggregated::Aggregated(users) => users
                .iter()
                .map(|u| (u.partition_key.unwrap().to_owned(), u.data, true))
                .collect(),
            Deaggregated::Single { data, reason } => {
                assert_eq!(reason, None, "a broken aggregate");
                vec![(record.partition_key.clone(), data, false)]
            }
        };
        for (key, data, aggregated) in users {
            let envelope: serde_json::Value = serde_json::from_slice(data).expect("JSON events");
            arrived.push(Arrived {
                shard: record.shard.clone(),
                key,
                event_id: envelope["eventId"].as_str().unwrap().to_owned(),
                aggregated,
            });
        }
    }
    arrived
}

/// `eventId`s `{key}-{n}`, n counting each key's events from 0.
fn sent_ids(keys: &[String]) -> Vec<String> {
    let mut next: HashMap<&str, usize> = HashMap::new();
    keys.iter()
        .map(|key| {
            let n = next.entry(key).or_default();
            *n += 1;
            format!("{key}-{}", *n - 1)
        })
        .collect()
}

fn event_line(key: &str, id: &str, padding: usize) -> String {
    format!(
        "{{\"eventId\":\"{id}\",\"eventType\":\"ORDER_CANCELLED\",\"padding\":\"{}\",\"payload\":{{\"orderId\":\"{key}\",\"reason\":\"changed mind\"}}}}\n",
        "p".repeat(padding)
    )
}

/// Asserts every sent event arrived once, on its key's shard, in order
/// per key.
fn assert_arrived_once_on_its_shard_in_order(
    ranges: &[Range],
    keys: &[String],
    ids: &[String],
    arrived: &[Arrived],
) {
    assert_eq!(arrived.len(), ids.len(), "as many events as were sent");
    let mut count: HashMap<&str, usize> = HashMap::new();
    for event in arrived {
        *count.entry(&event.event_id).or_default() += 1;
        assert_eq!(
            event.shard,
            shard_of(ranges, &event.key),
            "{} arrived on another key's shard",
            event.event_id
        );
    }
    assert!(
        ids.iter().all(|id| count.get(id.as_str()) == Some(&1)),
        "every event exactly once"
    );
    let mut expected: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, id) in keys.iter().zip(ids) {
        expected.entry(key).or_default().push(id);
    }
    let mut got: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for event in arrived {
        got.entry(&event.key).or_default().push(&event.event_id);
    }
    assert_eq!(got, expected, "each key's events in input order");
}

/// The number after `word` in `text`: "in 12 Kinesis" gives 12 for "in".
fn number_before(text: &str, what: &str) -> usize {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("no `{what}` in {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before `{what}` in {text}"))
}

#[tokio::test]
async fn aggregated_events_arrive_once_on_their_keys_shard_in_order() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-aggregate");
    testkit::create_stream(&cfg, &stream, 3).await;
    let kinesis = stream_core::aws::kinesis_client(&cfg);
    // 600 events over 50 orders in a scattered order; two of them too big
    // to share an aggregate of 4,096 bytes.
    let keys: Vec<String> = (0..600).map(|i| format!("o-{}", i * 7 % 50)).collect();
    let ids = sent_ids(&keys);
    let big = [100, 401];
    let text: String = keys
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (key, id))| event_line(key, id, if big.contains(&i) { 5_000 } else { 0 }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    let limit = ["--aggregate-max-bytes", "4096"];

    let rehearsed = producer(
        &[
            &["publish", "--aggregate", "--dry-run", "--stream", &stream][..],
            &limit,
            &[file],
        ]
        .concat(),
    );
    assert!(rehearsed.status.success(), "{}", stderr(&rehearsed));
    let rehearsal = stdout(&rehearsed);
    let last = rehearsal.lines().last().unwrap().to_owned();
    assert!(
        last.starts_with("dry run: 600 user records in ")
            && last.contains(", for 3 open shard(s); ")
            && last.ends_with("nothing sent"),
        "{last}"
    );
    let planned = number_before(&last, "Kinesis records");
    assert_eq!(rehearsal.lines().count(), planned + 2, "a line per record");
    assert!(read_every_shard(&kinesis, &stream).await.is_empty());

    let published = producer(
        &[
            &["publish", "--aggregate", "--stream", &stream][..],
            &limit,
            &[file],
        ]
        .concat(),
    );
    assert!(published.status.success(), "{}", stderr(&published));
    let summary = stdout(&published);
    assert!(
        summary.starts_with("sent 600, re-sent 0, failed 0 (")
            && summary.contains("; 600 user records in "),
        "{summary}"
    );
    let kinesis_records = number_before(&summary, "Kinesis records");
    assert_eq!(kinesis_records, planned, "as the dry run planned");

    let read = read_every_shard(&kinesis, &stream).await;
    assert_eq!(read.len(), kinesis_records);
    assert!(
        read.len() * 5 < 600,
        "{} Kinesis records for 600 events",
        read.len()
    );
    for record in &read {
        if kinesis_deagg::is_aggregated(&record.data) {
            assert!(record.data.len() + record.partition_key.len() <= 4_096);
        }
    }
    let ranges = shard_ranges(&kinesis, &stream).await;
    let arrived = events(&read);
    assert_arrived_once_on_its_shard_in_order(&ranges, &keys, &ids, &arrived);
    for (i, id) in ids.iter().enumerate() {
        let event = arrived.iter().find(|e| &e.event_id == id).unwrap();
        assert_eq!(event.aggregated, !big.contains(&i), "{id}");
    }
    for range in &ranges {
        assert!(
            read.iter().any(|r| r.shard == range.id),
            "{} got nothing",
            range.id
        );
    }
    eprintln!(
        "600 events in {} Kinesis records on {} shards\n{}{}\n{summary}",
        read.len(),
        ranges.len(),
        rehearsal.lines().take(4).collect::<Vec<_>>().join("\n"),
        format_args!("\n...\n{last}")
    );
}

#[tokio::test]
async fn the_explicit_hash_key_is_sent_and_decides_the_shard() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-hash-key");
    testkit::create_stream(&cfg, &stream, 2).await;
    let kinesis = stream_core::aws::kinesis_client(&cfg);
    let ranges = shard_ranges(&kinesis, &stream).await;
    // "a" hashes into the lower half; the upper shard's starting hash key
    // sends it to the upper shard instead.
    let upper = ranges.iter().max_by_key(|r| r.start).unwrap();
    assert_ne!(shard_of(&ranges, "a"), upper.id);
    let hash_key = upper.start.to_string();
    let api = KinesisPutEntries::new(kinesis.clone(), StreamRef::Name(stream.clone()));
    let results = api
        .put_entries(&[Entry {
            partition_key: "a",
            explicit_hash_key: Some(&hash_key),
            data: b"routed",
        }])
        .await
        .unwrap();
    assert_eq!(results, [EntryResult::Ok]);
    let read = read_every_shard(&kinesis, &stream).await;
    assert_eq!(read.len(), 1);
    assert_eq!(
        (read[0].shard.as_str(), read[0].data.as_slice()),
        (upper.id.as_str(), &b"routed"[..])
    );
}

/// Paging is covered by the unit tests: moto ties a `ListShards` page
/// token to the stream named beside it, which Kinesis refuses (a token
/// names its stream alone), so a second page cannot be asked of it the
/// way Kinesis wants it.
#[tokio::test]
async fn the_open_shards_are_listed_by_name_and_by_arn() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-shard-list");
    let arn = testkit::create_stream(&cfg, &stream, 3).await;
    let client = stream_core::aws::kinesis_client(&cfg);
    for by in [StreamRef::Name(stream.clone()), StreamRef::Arn(arn)] {
        let map = list_open_shards(&client, &by).await.unwrap();
        let shards = map.shards();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].starting_hash_key, 0);
        assert_eq!(shards[2].ending_hash_key, u128::MAX);
        for pair in shards.windows(2) {
            assert_eq!(pair[0].ending_hash_key + 1, pair[1].starting_hash_key);
        }
    }
    let absent = list_open_shards(
        &client,
        &StreamRef::Name(testkit::unique_name("producer-absent")),
    )
    .await
    .unwrap_err();
    assert!(absent.contains("ResourceNotFoundException"), "{absent}");
}

/// Kinesis in front of which chosen entries fail, as a throttled shard
/// fails them: they are answered failed without reaching the stream.
struct Throttled {
    kinesis: KinesisPutEntries,
    call: AtomicUsize,
    fail: fn(usize, &Entry<'_>) -> bool,
}

impl PutEntriesApi for Throttled {
    async fn put_entries(&self, entries: &[Entry<'_>]) -> anyhow::Result<Vec<EntryResult>> {
        let call = self.call.fetch_add(1, Ordering::SeqCst);
        let (failing, passing): (Vec<(usize, Entry<'_>)>, Vec<_>) = entries
            .iter()
            .copied()
            .enumerate()
            .partition(|(_, entry)| (self.fail)(call, entry));
        let passed: Vec<Entry<'_>> = passing.iter().map(|(_, entry)| *entry).collect();
        let mut answers = self.kinesis.put_entries(&passed).await?.into_iter();
        let mut results = vec![EntryResult::Ok; entries.len()];
        for (index, _) in passing {
            results[index] = answers.next().unwrap_or(EntryResult::Failed {
                code: "Missing".into(),
                message: "no answer".into(),
            });
        }
        for (index, _) in failing {
            results[index] = EntryResult::Failed {
                code: "ProvisionedThroughputExceededException".into(),
                message: "Rate exceeded for shard".into(),
            };
        }
        Ok(results)
    }
}

#[tokio::test]
async fn failed_aggregates_are_resent_whole_and_land_once_in_key_order() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-aggregate-faults");
    testkit::create_stream(&cfg, &stream, 2).await;
    let kinesis = stream_core::aws::kinesis_client(&cfg);
    let keys: Vec<String> = (0..120).map(|i| format!("o-{}", i % 12)).collect();
    let ids = sent_ids(&keys);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cancellations.jsonl");
    let text: String = keys
        .iter()
        .zip(&ids)
        .map(|(k, id)| event_line(k, id, 0))
        .collect();
    std::fs::write(&file, text).unwrap();
    let (records, rejected) = producer::gather(&[file.to_str().unwrap().to_owned()]);
    assert!(rejected.is_empty(), "{rejected:?}");

    let client = kinesis.clone();
    let stream_ref = StreamRef::Name(stream.clone());
    let shards = list_open_shards(&client, &stream_ref).await.unwrap();
    let users: Vec<UserRecord<'_>> = records
        .iter()
        .map(|p| UserRecord {
            partition_key: &p.record.partition_key,
            data: &p.record.data,
        })
        .collect();
    let plan = aggregate::plan(
        &users,
        &shards,
        Limits {
            max_bytes: 51_200,
            max_records: 10,
        },
    );
    assert_eq!(plan.len(), 12, "120 events in aggregates of ten");

    let throttled = Throttled {
        kinesis: KinesisPutEntries::new(client, stream_ref),
        call: AtomicUsize::new(0),
        // Aggregates holding o-4 fail on the first two calls; the one
        // holding o-7-5 on the third.
        fail: |call, entry| {
            let Deaggregated::Aggregated(users) = deaggregate(entry.data) else {
                return false;
            };
            users.iter().any(|u| {
                let text = String::from_utf8_lossy(u.data);
                (call < 2 && text.contains("\"o-4-")) || (call == 2 && text.contains("\"o-7-5\""))
            })
        },
    };
    let summary = publish_aggregated(
        throttled,
        &records,
        &plan,
        Persistence {
            max_attempts: 5,
            timeout: Duration::from_secs(60),
        },
    )
    .await;
    assert_eq!((summary.sent, summary.failed), (120, 0), "{summary}");
    assert!(summary.resent >= 20, "{summary}");
    assert_eq!(summary.resent % 10, 0, "whole aggregates of ten: {summary}");

    let read = read_every_shard(&kinesis, &stream).await;
    assert_eq!(read.len(), 12, "each aggregate landed once");
    let ranges = shard_ranges(&kinesis, &stream).await;
    assert_arrived_once_on_its_shard_in_order(&ranges, &keys, &ids, &events(&read));
}
