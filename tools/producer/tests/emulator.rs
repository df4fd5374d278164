//! `producer publish` against the local AWS emulator: what it puts is what
//! a reader gets back, in order per partition key, including when entries
//! of a `PutRecords` call fail and are re-sent. Run with
//! `scripts/local-aws.sh run -- cargo test -p producer`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use order_events::OutgoingRecord;
use producer::publish::{publish, Persistence};
use stream_core::publisher::{EntryResult, PutRecordsApi};
use stream_core::{KinesisPutRecords, StreamRef};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

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

/// (partition key, envelope) of every record on the stream, in stream order
/// per shard.
async fn read_back(stream: &str) -> Vec<(String, serde_json::Value)> {
    let cfg = testkit::aws_config().await;
    testkit::read_stream(&cfg, stream)
        .await
        .into_iter()
        .map(|r| {
            let envelope = serde_json::from_slice(r.data().as_ref()).expect("records are JSON");
            (r.partition_key().unwrap_or_default().to_owned(), envelope)
        })
        .collect()
}

/// The `eventId`s of each partition key, in the order read.
fn ids_per_key(records: &[(String, serde_json::Value)]) -> BTreeMap<String, Vec<String>> {
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, envelope) in records {
        per_key
            .entry(key.clone())
            .or_default()
            .push(envelope["eventId"].as_str().unwrap_or_default().to_owned());
    }
    per_key
}

#[tokio::test]
async fn publishes_sample_events_and_json_lines_as_read_back() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer");
    let arn = testkit::create_stream(&cfg, &stream, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("orders.jsonl");
    std::fs::write(
        &lines,
        concat!(
            r#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o-7","userId":"u-1","items":[{"productId":"p","quantity":1,"price":19.99}]}}"#,
            "\n",
            r#"{"eventId":"e-cancel-7","eventType":"ORDER_CANCELLED","orderId":"o-7","reason":"changed mind"}"#,
            "\n"
        ),
    )
    .unwrap();
    let sample = events_dir().join("inventory-update/mixed-batch.json");

    // By ARN, as the contract allows.
    let output = producer(&[
        "publish",
        "--stream",
        &arn,
        sample.to_str().unwrap(),
        lines.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "sent 8, re-sent 0, failed 0 (2 PutRecords calls)"
    );
    assert!(stderr(&output).contains("mixes commands and events"));

    let records = read_back(&stream).await;
    assert_eq!(records.len(), 8);
    let per_key = ids_per_key(&records);
    // The sample's own ids and order are kept; o-3001 was created, then cancelled.
    assert_eq!(
        per_key["o-3001"],
        [
            "aa000000-0000-4000-8000-000000003001",
            "aa000000-0000-4000-8000-000000013001"
        ]
    );
    assert_eq!(per_key["u-9"], ["aa000000-0000-4000-8000-000000009001"]);
    // The placed order got a v4 id and a timestamp; its cancellation,
    // a bare payload, was wrapped and kept its id.
    let o7: Vec<&serde_json::Value> = records
        .iter()
        .filter(|(key, _)| key == "o-7")
        .map(|(_, envelope)| envelope)
        .collect();
    assert_eq!(o7.len(), 2);
    let placed_id = o7[0]["eventId"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(placed_id).unwrap().get_version_num(),
        4
    );
    assert!(o7[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(o7[0]["payload"]["items"][0]["price"], 19.99);
    assert_eq!(o7[1]["eventId"], "e-cancel-7");
    assert_eq!(o7[1]["payload"]["reason"], "changed mind");
}

#[tokio::test]
async fn invalid_input_publishes_nothing_unless_skipped() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-invalid");
    testkit::create_stream(&cfg, &stream, 1).await;
    // One order, then a record that is not JSON (the sample's poison).
    let sample = events_dir().join("inventory-update/poison-in-batch.json");
    let sample = sample.to_str().unwrap();

    let refused = producer(&["publish", "--stream", &stream, sample]);
    assert_eq!(refused.status.code(), Some(2));
    let errors = stderr(&refused);
    assert!(
        errors.contains("poison-in-batch.json:1 Records[1]: record data is not a JSON object"),
        "{errors}"
    );
    assert!(errors.contains("nothing published"), "{errors}");
    assert!(read_back(&stream).await.is_empty());

    let skipped = producer(&["publish", "--skip-invalid", "--stream", &stream, sample]);
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    assert_eq!(
        stdout(&skipped).trim(),
        "sent 2, re-sent 0, failed 0 (1 PutRecords call, 1 invalid skipped)"
    );
    assert_eq!(read_back(&stream).await.len(), 2);
}

#[tokio::test]
async fn a_missing_stream_fails_fast_with_the_service_error() {
    let output = producer(&[
        "publish",
        "--stream",
        &testkit::unique_name("producer-absent"),
        events_dir()
            .join("order-saga-step/order-placed.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("ResourceNotFoundException"),
        "{}",
        stderr(&output)
    );
}

/// Kinesis in front of which chosen entries fail, as a throttled shard
/// fails them: they are answered failed without reaching the stream.
struct Throttled {
    kinesis: KinesisPutRecords,
    call: AtomicUsize,
    fail: fn(usize, &OutgoingRecord) -> bool,
}

impl PutRecordsApi for Throttled {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        let call = self.call.fetch_add(1, Ordering::SeqCst);
        let (failing, passing): (Vec<(usize, &OutgoingRecord)>, Vec<_>) = entries
            .iter()
            .copied()
            .enumerate()
            .partition(|(_, entry)| (self.fail)(call, entry));
        let passed: Vec<&OutgoingRecord> = passing.iter().map(|(_, entry)| *entry).collect();
        let mut answers = self.kinesis.put_records(&passed).await?.into_iter();
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
async fn failed_entries_are_resent_and_land_once_in_key_order() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("producer-faults");
    testkit::create_stream(&cfg, &stream, 2).await;
    let text: String = (0..4)
        .flat_map(|n| {
            ["o-a", "o-b", "o-c"].map(|order| {
                format!(
                    "{{\"eventId\":\"{order}-{n}\",\"eventType\":\"ORDER_CANCELLED\",\"payload\":{{\"orderId\":\"{order}\"}}}}\n"
                )
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cancellations.jsonl");
    std::fs::write(&file, text).unwrap();
    let (records, rejected) = producer::gather(&[file.to_str().unwrap().to_owned()]);
    assert!(rejected.is_empty(), "{rejected:?}");

    let throttled = Throttled {
        kinesis: KinesisPutRecords::new(
            stream_core::aws::kinesis_client(&cfg),
            StreamRef::Name(stream.clone()),
        ),
        call: AtomicUsize::new(0),
        // o-a fails on the first two calls, o-b-1 on the second only.
        fail: |call, r| {
            (r.partition_key == "o-a" && call < 2) || (r.event_id.as_str() == "o-b-1" && call == 1)
        },
    };
    let summary = publish(
        throttled,
        &records,
        Persistence {
            max_attempts: 5,
            timeout: Duration::from_secs(60),
        },
    )
    .await;
    assert_eq!(
        (summary.sent, summary.resent, summary.failed),
        (12, 3, 0),
        "{summary}"
    );

    let per_key = ids_per_key(&read_back(&stream).await);
    for order in ["o-a", "o-b", "o-c"] {
        let expected: Vec<String> = (0..4).map(|n| format!("{order}-{n}")).collect();
        assert_eq!(per_key[order], expected, "{order}: each once, in order");
    }
}
