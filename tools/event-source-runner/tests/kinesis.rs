//! Against the local emulator: run with
//! `scripts/local-aws.sh run -- cargo test -p event-source-runner`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_kinesis::primitives::Blob;
use event_source_runner::{
    invoke_fn, EventSourceMapping, EventTypeFilter, InvokeError, KinesisEvent, MappingConfig,
    OnFailureDestination, RunOptions, RunOutcome, Runner, StartingPosition, StreamRef,
};
use stream_core::order_events::{EventId, EventKind, OutgoingRecord};
use stream_core::{
    CoreConfig, Handled, Handler, HandlerError, InMemoryDeadLetters, IncomingEvent,
    KinesisPutRecords, OrderedPublisher, Pipeline, RetryPolicy,
};

/// Hash keys that land in the first and the second shard of a two-shard
/// stream (each shard owns half of the 128-bit hash space).
const FIRST_HALF: &str = "0";
const SECOND_HALF: &str = "170141183460469231731687303715884105728";

fn options() -> RunOptions {
    RunOptions {
        poll_interval: Duration::from_millis(20),
        max_duration: Some(Duration::from_secs(120)),
        ..RunOptions::default()
    }
}

fn order_placed(key: &str, n: usize) -> Vec<u8> {
    format!(
        r#"{{"eventId":"{key}-{n}","eventType":"ORDER_PLACED","timestamp":"2025-10-30T12:00:00.000Z","payload":{{"orderId":"{key}","userId":"u-{key}","items":[{{"productId":"p-1","quantity":{q}}}]}}}}"#,
        q = n + 1
    )
    .into_bytes()
}

/// Puts one record, into the shard the hash key picks; returns its
/// sequence number.
async fn put(
    cfg: &SdkConfig,
    stream: &str,
    key: &str,
    hash_key: Option<&str>,
    data: Vec<u8>,
) -> String {
    aws_sdk_kinesis::Client::new(cfg)
        .put_record()
        .stream_name(stream)
        .partition_key(key)
        .set_explicit_hash_key(hash_key.map(str::to_owned))
        .data(Blob::new(data))
        .send()
        .await
        .unwrap()
        .sequence_number
}

/// Applies each event once: a redelivered event it has applied is a
/// duplicate. Fails one chosen event once, as a throttled call would.
#[derive(Default)]
struct Recorder {
    fail_once: Mutex<Option<String>>,
    applied: Mutex<Vec<(String, String)>>,
    attempts: Mutex<HashMap<String, usize>>,
}

impl Recorder {
    fn failing_once(event_id: &str) -> Self {
        Self {
            fail_once: Mutex::new(Some(event_id.to_owned())),
            ..Self::default()
        }
    }

    fn applied(&self) -> Vec<(String, String)> {
        self.applied.lock().unwrap().clone()
    }
}

impl Handler for Recorder {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderPlaced
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        let id = event.dedup_key.to_string();
        *self.attempts.lock().unwrap().entry(id.clone()).or_default() += 1;
        {
            let mut fail = self.fail_once.lock().unwrap();
            if fail.as_deref().is_some_and(|f| id.ends_with(f)) {
                *fail = None;
                return Err(HandlerError::transient(anyhow::anyhow!("throttled, once")));
            }
        }
        let mut applied = self.applied.lock().unwrap();
        if applied.iter().any(|(_, seen)| *seen == id) {
            return Ok(Handled::duplicate());
        }
        applied.push((event.origin.partition_key.clone(), id));
        Ok(Handled::done())
    }
}

#[tokio::test]
async fn every_record_is_applied_once_in_key_order_despite_a_transient_failure() {
    let cfg = testkit::aws_config().await;
    let name = testkit::unique_name("esr-order");
    let arn = testkit::create_stream(&cfg, &name, 2).await;

    let keys = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let mut last_in_shard: HashMap<&str, String> = HashMap::new();
    for n in 0..5 {
        for (i, key) in keys.iter().enumerate() {
            let hash = if i % 2 == 0 { FIRST_HALF } else { SECOND_HALF };
            let sequence = put(&cfg, &name, key, Some(hash), order_placed(key, n)).await;
            last_in_shard.insert(hash, sequence);
        }
    }
    // A type the function's filter drops, and a record that is not JSON.
    put(
        &cfg,
        &name,
        "k0",
        Some(FIRST_HALF),
        br#"{"eventType":"ORDER_SHIPPED","payload":{}}"#.to_vec(),
    )
    .await;
    let last_first = put(&cfg, &name, "k0", Some(FIRST_HALF), b"garbage".to_vec()).await;
    last_in_shard.insert(FIRST_HALF, last_first);

    // k3's third event fails once, in the middle of a batch.
    let pipeline = Arc::new(Pipeline::new(
        Recorder::failing_once("k3-2"),
        InMemoryDeadLetters::default(),
        CoreConfig::new("recorder"),
    ));
    let config = MappingConfig {
        batch_size: 7,
        retry_delay: Duration::ZERO,
        filter: Some(EventTypeFilter::new(["ORDER_PLACED"])),
        ..MappingConfig::new("recorder", StreamRef::Arn(arn.clone()))
    };
    let mut mapping = EventSourceMapping::kinesis(Arc::clone(&pipeline), &cfg, config).unwrap();
    let report = mapping.run_until_idle(&options()).await.unwrap();

    assert_eq!(report.outcome, RunOutcome::Idle, "{report:#?}");
    let recorder = pipeline.handler();
    let applied = recorder.applied();
    assert_eq!(applied.len(), 30, "every event applied once: {applied:?}");
    for key in keys {
        let order: Vec<String> = applied
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, id)| id.clone())
            .collect();
        let expected: Vec<String> = (0..5).map(|n| format!("event:{key}-{n}")).collect();
        assert_eq!(order, expected, "{key} in stream order");
    }
    assert_eq!(
        recorder.attempts.lock().unwrap()["event:k3-2"],
        2,
        "failed once, then redelivered"
    );
    assert_eq!(report.totals.partial_failures, 1);
    assert!(report.totals.redelivered >= 1);
    assert_eq!(report.totals.filtered_out, 2);
    assert_eq!(report.totals.filtered_non_json, 1);
    assert_eq!(report.totals.records_read, 32);
    assert_eq!(report.mappings[0].stream_arn, arn);
    let mut checkpoints: Vec<String> = report.mappings[0].checkpoints.values().cloned().collect();
    checkpoints.sort();
    let mut expected: Vec<String> = last_in_shard.into_values().collect();
    expected.sort();
    assert_eq!(
        checkpoints, expected,
        "both shards checkpointed at their last record"
    );
}

#[tokio::test]
async fn skipped_batches_are_reported_to_an_sqs_queue() {
    let cfg = testkit::aws_config().await;
    let name = testkit::unique_name("esr-dlq");
    let arn = testkit::create_stream(&cfg, &name, 1).await;
    let queue = testkit::create_queue(&cfg, &testkit::unique_name("esr-on-failure")).await;
    let mut sequences = Vec::new();
    for n in 0..3 {
        sequences.push(put(&cfg, &name, "k", None, order_placed("k", n)).await);
    }
    let calls = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&calls);
    let failing = invoke_fn(move |_event: KinesisEvent, _| {
        *counted.lock().unwrap() += 1;
        async { Err(InvokeError::Function("always fails".into())) }
    });
    let config = MappingConfig {
        max_retry_attempts: 1,
        retry_delay: Duration::ZERO,
        on_failure: Some(OnFailureDestination::sqs(
            aws_sdk_sqs::Client::new(&cfg),
            &queue,
        )),
        ..MappingConfig::new("always-fails", StreamRef::Name(name.clone()))
    };
    let mut mapping = EventSourceMapping::kinesis(failing, &cfg, config).unwrap();
    let report = mapping.run_until_idle(&options()).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Idle);
    assert_eq!(*calls.lock().unwrap(), 2, "the first attempt and one retry");

    let messages = testkit::receive_all(&cfg, &queue).await;
    assert_eq!(messages.len(), 1);
    let message: serde_json::Value = serde_json::from_str(&messages[0]).unwrap();
    let info = &message["KinesisBatchInfo"];
    assert_eq!(info["shardId"], "shardId-000000000000");
    assert_eq!(info["startSequenceNumber"], sequences[0].as_str());
    assert_eq!(info["endSequenceNumber"], sequences[2].as_str());
    assert_eq!(info["batchSize"], 3);
    assert_eq!(info["streamArn"], arn.as_str());
    assert_eq!(
        message["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(message["requestContext"]["approximateInvokeCount"], 2);
    assert!(
        message.get("data").is_none() && !messages[0].contains("ORDER_PLACED"),
        "metadata only"
    );
}

#[tokio::test]
async fn latest_and_checkpoint_files_pick_up_where_they_should() {
    let cfg = testkit::aws_config().await;
    let name = testkit::unique_name("esr-resume");
    testkit::create_stream(&cfg, &name, 1).await;
    put(&cfg, &name, "old", None, order_placed("old", 0)).await;

    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorder = |seen: &Arc<Mutex<Vec<String>>>| {
        let seen = Arc::clone(seen);
        invoke_fn(move |event: KinesisEvent, _| {
            seen.lock().unwrap().extend(
                event
                    .records
                    .iter()
                    .map(|r| r.kinesis.partition_key.clone()),
            );
            async { Ok(Default::default()) }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let config = MappingConfig {
        starting_position: StartingPosition::Latest,
        checkpoint_file: Some(dir.path().join("checkpoints.json")),
        ..MappingConfig::new("resume", StreamRef::Name(name.clone()))
    };
    let mut first = EventSourceMapping::kinesis(recorder(&seen), &cfg, config.clone()).unwrap();
    first.start().await.unwrap();
    put(&cfg, &name, "new-1", None, order_placed("new-1", 0)).await;
    first.run_until_idle(&options()).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["new-1"],
        "LATEST skips what came before the start"
    );
    drop(first);

    put(&cfg, &name, "new-2", None, order_placed("new-2", 0)).await;
    let mut second = EventSourceMapping::kinesis(recorder(&seen), &cfg, config).unwrap();
    second.run_until_idle(&options()).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["new-1", "new-2"],
        "resumed after the checkpoint"
    );
}

/// Forwards each ORDER_PLACED as an ORDER_CANCELLED to another stream.
struct Forward;

impl Handler for Forward {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderPlaced
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        let key = event.origin.partition_key.clone();
        let id = EventId::derived(&["forward", &event.dedup_key.to_string()]);
        let data = format!(
            r#"{{"eventId":"{id}","eventType":"ORDER_CANCELLED","timestamp":"2025-10-30T12:00:00.000Z","payload":{{"orderId":"{key}"}}}}"#
        );
        Ok(Handled::Done {
            emit: vec![OutgoingRecord {
                event_id: id,
                kind: EventKind::OrderCancelled,
                partition_key: key,
                data: data.into_bytes(),
            }],
        })
    }
}

#[tokio::test]
async fn a_runner_drains_a_chain_of_functions() {
    let cfg = testkit::aws_config().await;
    let first = testkit::unique_name("esr-chain-a");
    let second = testkit::unique_name("esr-chain-b");
    testkit::create_stream(&cfg, &first, 2).await;
    testkit::create_stream(&cfg, &second, 1).await;
    for n in 0..6 {
        put(
            &cfg,
            &first,
            &format!("o{n}"),
            None,
            order_placed(&format!("o{n}"), 0),
        )
        .await;
    }

    let publisher = OrderedPublisher::new(
        KinesisPutRecords::new(
            aws_sdk_kinesis::Client::new(&cfg),
            StreamRef::Name(second.clone()),
        ),
        RetryPolicy::default(),
    );
    let forward = Pipeline::new(
        Forward,
        InMemoryDeadLetters::default(),
        CoreConfig::new("forward"),
    )
    .with_publisher(publisher);
    let cancelled = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let cancelled = Arc::clone(&cancelled);
        invoke_fn(move |event: KinesisEvent, _| {
            cancelled.lock().unwrap().extend(
                event
                    .records
                    .iter()
                    .map(|r| r.kinesis.partition_key.clone()),
            );
            async { Ok(Default::default()) }
        })
    };
    let mut runner = Runner::new()
        .add(
            EventSourceMapping::kinesis(
                forward,
                &cfg,
                MappingConfig::new("forward", StreamRef::Name(first)),
            )
            .unwrap(),
        )
        .add(
            EventSourceMapping::kinesis(
                sink,
                &cfg,
                MappingConfig {
                    filter: Some(EventTypeFilter::new(["ORDER_CANCELLED"])),
                    ..MappingConfig::new("sink", StreamRef::Name(second))
                },
            )
            .unwrap(),
        );
    let report = runner.run_until_idle(&options()).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Idle);
    let mut seen = cancelled.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec!["o0", "o1", "o2", "o3", "o4", "o5"]);
    assert_eq!(report.mapping("sink").unwrap().stats.records_delivered, 6);
}
