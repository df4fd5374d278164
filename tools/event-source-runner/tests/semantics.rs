//! Lambda's event source semantics, against a scripted in-memory stream and
//! scripted functions (no emulator needed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::streams::KinesisBatchItemFailure;
use event_source_runner::{
    invoke_fn, EventSourceMapping, EventTypeFilter, FailureCondition, FakeStream, Invoke,
    InvokeError, KinesisEvent, KinesisEventResponse, MappingConfig, OnFailureDestination,
    RunOptions, RunOutcome, RunReport, Runner, StartingPosition, StreamSource,
};

/// Every batch a function was given, as sequence numbers.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Vec<String>>>>);

impl Calls {
    fn push(&self, batch: Vec<String>) -> usize {
        let mut calls = self.0.lock().unwrap();
        calls.push(batch);
        calls.len() - 1
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().clone()
    }

    fn sizes(&self) -> Vec<usize> {
        self.batches().iter().map(Vec::len).collect()
    }
}

type Answer = Result<Vec<Option<String>>, InvokeError>;

/// A function that records each batch and answers with the failures
/// `answer(call index, batch)` names (`None` is a null identifier).
fn scripted<F>(calls: &Calls, answer: F) -> impl Invoke + 'static
where
    F: Fn(usize, &[String]) -> Answer + Send + Sync + 'static,
{
    let calls = calls.clone();
    let answer = Arc::new(answer);
    invoke_fn(move |event: KinesisEvent, _deadline| {
        let calls = calls.clone();
        let answer = Arc::clone(&answer);
        async move {
            let batch: Vec<String> = event
                .records
                .iter()
                .map(|r| r.kinesis.sequence_number.clone())
                .collect();
            let index = calls.push(batch.clone());
            let mut response = KinesisEventResponse::default();
            for failure in answer(index, &batch)? {
                let mut item = KinesisBatchItemFailure::default();
                item.item_identifier = failure;
                response.batch_item_failures.push(item);
            }
            Ok(response)
        }
    })
}

fn succeed(calls: &Calls) -> impl Invoke + 'static {
    scripted(calls, |_, _| Ok(vec![]))
}

fn event(kind: &str, n: usize) -> Vec<u8> {
    format!(r#"{{"eventType":"{kind}","payload":{{"orderId":"o-{n}"}}}}"#).into_bytes()
}

/// Puts `n` ORDER_PLACED records, one key each, into shard `shard`.
fn put_many(stream: &FakeStream, shard: usize, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| stream.put(shard, &format!("k{i}"), event("ORDER_PLACED", i)))
        .collect()
}

fn config(stream: &FakeStream) -> MappingConfig {
    MappingConfig {
        retry_delay: Duration::ZERO,
        ..MappingConfig::new("fn", stream.stream_ref())
    }
}

/// A mapping of `stream` with the tests' settings, changed by `tune`.
fn fake_mapping<I: Invoke>(
    invoker: I,
    stream: &Arc<FakeStream>,
    tune: impl FnOnce(&mut MappingConfig),
) -> EventSourceMapping<I, Arc<FakeStream>> {
    let mut mapping_config = config(stream);
    tune(&mut mapping_config);
    EventSourceMapping::new(invoker, Arc::clone(stream), mapping_config).unwrap()
}

fn options() -> RunOptions {
    RunOptions {
        poll_interval: Duration::from_millis(5),
        quiet_polls: 2,
        max_duration: Some(Duration::from_secs(60)),
        ..RunOptions::default()
    }
}

async fn drain<I: Invoke, S: StreamSource>(mapping: &mut EventSourceMapping<I, S>) -> RunReport {
    let report = mapping.run_until_idle(&options()).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Idle, "{report:#?}");
    report
}

fn seqs(all: &[String], range: std::ops::Range<usize>) -> Vec<String> {
    all[range].to_vec()
}

#[tokio::test]
async fn a_partial_failure_redelivers_from_the_lowest_failed_record() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 6);
    let calls = Calls::default();
    let (r3, r5) = (records[2].clone(), records[4].clone());
    let invoker = scripted(&calls, move |call, _| {
        Ok(if call == 0 {
            // Reported out of order: the lowest one counts.
            vec![Some(r5.clone()), Some(r3.clone())]
        } else {
            vec![]
        })
    });
    let mut mapping = fake_mapping(invoker, &stream, |_| {});
    let report = drain(&mut mapping).await;

    assert_eq!(
        calls.batches(),
        vec![seqs(&records, 0..6), seqs(&records, 2..6)]
    );
    assert_eq!(report.totals.invocations, 2);
    assert_eq!(report.totals.partial_failures, 1);
    assert_eq!(report.totals.redelivered, 4);
    assert_eq!(report.totals.records_delivered, 10);
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[5]);
}

#[tokio::test]
async fn a_null_empty_or_unknown_identifier_or_an_error_fails_the_whole_batch() {
    let answers: Vec<(&str, Answer)> = vec![
        ("null", Ok(vec![None])),
        ("empty", Ok(vec![Some(String::new())])),
        ("unknown", Ok(vec![Some("999".into())])),
        ("error", Err(InvokeError::Function("boom".into()))),
    ];
    for (name, first) in answers {
        let stream = Arc::new(FakeStream::new("s", 1));
        let records = put_many(&stream, 0, 3);
        let calls = Calls::default();
        let first = Mutex::new(Some(first));
        let invoker = scripted(&calls, move |_, _| {
            first.lock().unwrap().take().unwrap_or(Ok(vec![]))
        });
        let mut mapping = fake_mapping(invoker, &stream, |_| {});
        let report = drain(&mut mapping).await;
        assert_eq!(
            calls.batches(),
            vec![records.clone(), records.clone()],
            "{name}"
        );
        assert_eq!(report.totals.whole_batch_failures, 1, "{name}");
        assert_eq!(
            report.totals.function_errors,
            u64::from(name == "error"),
            "{name}"
        );
        assert_eq!(report.totals.redelivered, 3, "{name}");
    }
}

#[tokio::test]
async fn bisection_isolates_a_poison_record_then_bounded_retries_send_it_to_on_failure() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 8);
    let calls = Calls::default();
    let poison = records[5].clone();
    let invoker = scripted(&calls, move |_, batch| {
        if batch.contains(&poison) {
            Err(InvokeError::Function("cannot handle it".into()))
        } else {
            Ok(vec![])
        }
    });
    let (destination, on_failure) = OnFailureDestination::memory();
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.bisect_on_error = true;
        c.max_retry_attempts = 2;
        c.on_failure = Some(destination);
    });
    let report = drain(&mut mapping).await;

    // 8 fails; halves 4 (ok) and 4 (fails); 2 fails; 1 ok, then the poison
    // record alone: once and 2 retries; then the last 2.
    assert_eq!(calls.sizes(), vec![8, 4, 4, 2, 1, 1, 1, 1, 2]);
    assert_eq!(report.totals.bisections, 3);
    let reports = on_failure.records();
    assert_eq!(reports.len(), 1);
    let info = &reports[0].kinesis_batch_info;
    assert_eq!(
        (
            info.start_sequence_number.as_str(),
            info.end_sequence_number.as_str()
        ),
        (records[5].as_str(), records[5].as_str())
    );
    assert_eq!(info.batch_size, 1);
    assert_eq!(info.shard_id, "shardId-000000000000");
    assert_eq!(info.stream_arn, stream.arn());
    assert_eq!(
        reports[0].request_context.condition,
        FailureCondition::RetryAttemptsExhausted
    );
    assert_eq!(reports[0].request_context.approximate_invoke_count, 3);
    assert_eq!(
        reports[0].request_context.function_arn,
        "arn:aws:lambda:us-east-1:123456789012:function:fn"
    );
    assert_eq!(
        reports[0]
            .response_context
            .as_ref()
            .and_then(|r| r.function_error.as_deref()),
        Some("Unhandled")
    );
    // Every other record was delivered in a successful batch exactly once.
    let mut succeeded: HashMap<String, usize> = HashMap::new();
    for batch in calls.batches().iter().filter(|b| !b.contains(&records[5])) {
        for s in batch {
            *succeeded.entry(s.clone()).or_default() += 1;
        }
    }
    for (i, r) in records.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert_eq!(succeeded.get(r), Some(&1), "record {i}");
    }
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[7]);
}

#[tokio::test]
async fn retries_are_bounded_and_the_rest_of_the_batch_goes_to_on_failure() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 3);
    let calls = Calls::default();
    let failing = records[1].clone();
    let invoker = scripted(&calls, move |_, batch| {
        Ok(batch
            .iter()
            .filter(|s| **s == failing)
            .cloned()
            .map(Some)
            .collect())
    });
    let (destination, on_failure) = OnFailureDestination::memory();
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.max_retry_attempts = 2;
        c.on_failure = Some(destination);
    });
    let report = drain(&mut mapping).await;

    assert_eq!(
        calls.batches(),
        vec![records.clone(), seqs(&records, 1..3), seqs(&records, 1..3)]
    );
    let reports = on_failure.records();
    assert_eq!(reports.len(), 1);
    let info = &reports[0].kinesis_batch_info;
    assert_eq!(info.start_sequence_number, records[1]);
    assert_eq!(info.end_sequence_number, records[2]);
    assert_eq!(info.batch_size, 2);
    // The function answered (no function error); the record says so.
    assert_eq!(
        reports[0].response_context.as_ref().unwrap().function_error,
        None
    );
    assert_eq!(report.totals.on_failure_batches, 1);
    assert_eq!(report.totals.on_failure_records, 2);
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[2]);

    // Later records flow again.
    let more = put_many(&stream, 0, 2);
    drain(&mut mapping).await;
    assert_eq!(calls.batches().last().unwrap(), &more);
}

#[tokio::test]
async fn skipped_records_stay_until_the_destination_takes_the_report() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 2);
    let calls = Calls::default();
    let invoker = scripted(&calls, |_, batch| Ok(vec![Some(batch[0].clone())]));
    let (destination, on_failure) = OnFailureDestination::memory();
    on_failure.fail_sends(true);
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.max_retry_attempts = 0;
        c.on_failure = Some(destination);
    });
    for _ in 0..5 {
        mapping.poll().await.unwrap();
    }
    assert!(
        mapping.checkpoints().is_empty(),
        "nothing acknowledged while the destination is down"
    );
    assert_eq!(
        calls.batches().len(),
        1,
        "the batch is not invoked again while its report waits"
    );
    on_failure.fail_sends(false);
    drain(&mut mapping).await;
    assert_eq!(on_failure.records().len(), 1);
    assert!(mapping.stats().destination_errors >= 1);
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[1]);
}

#[tokio::test]
async fn no_destination_discards_and_counts() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 1);
    let calls = Calls::default();
    let invoker = scripted(&calls, |_, _| Err(InvokeError::Function("no".into())));
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.max_retry_attempts = 1;
    });
    let report = drain(&mut mapping).await;
    assert_eq!(calls.sizes(), vec![1, 1]);
    assert_eq!(
        (
            report.totals.discarded_batches,
            report.totals.discarded_records
        ),
        (1, 1)
    );
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[0]);
}

#[tokio::test]
async fn the_filter_drops_unmatched_types_before_invocation_and_counts_non_json() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let placed = stream.put(0, "a", event("ORDER_PLACED", 1));
    stream.put(0, "b", event("ORDER_SHIPPED", 2));
    stream.put(0, "c", b"not json".to_vec());
    let command = stream.put(
        0,
        "d",
        br#"{"commandType":"RESERVE_INVENTORY","orderId":"o"}"#.to_vec(),
    );
    let last = stream.put(0, "e", event("PAYMENT_FAILED", 3));
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.filter = Some(EventTypeFilter::new(["ORDER_PLACED", "RESERVE_INVENTORY"]));
    });
    let report = drain(&mut mapping).await;
    assert_eq!(calls.batches(), vec![vec![placed, command]]);
    assert_eq!(report.totals.filtered_out, 3);
    assert_eq!(report.totals.filtered_non_json, 1);
    assert_eq!(report.totals.records_read, 5);
    // The trailing filtered record is passed by the checkpoint too.
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], last);

    // A stream of only unmatched records is checkpointed with no invocation.
    let other = stream.put(0, "f", event("ORDER_SHIPPED", 4));
    let report = drain(&mut mapping).await;
    assert_eq!(report.totals.invocations, 0);
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], other);
}

#[tokio::test]
async fn batches_hold_at_most_batch_size_records_and_fit_the_payload_limit() {
    let stream = Arc::new(FakeStream::new("s", 1));
    stream.limit_page_size(7);
    put_many(&stream, 0, 25);
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.batch_size = 10;
    });
    drain(&mut mapping).await;
    // With no window, a batch is what the reads have buffered, up to 10.
    assert!(
        calls.sizes().iter().all(|&n| (1..=10).contains(&n)),
        "{:?}",
        calls.sizes()
    );
    assert_eq!(calls.sizes().iter().sum::<usize>(), 25);

    // 1 MiB records: four fit in Lambda's 6 MiB payload once in base64.
    let big = Arc::new(FakeStream::new("big", 1));
    for i in 0..10 {
        big.put(0, &format!("k{i}"), vec![b'x'; 1024 * 1024]);
    }
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &big, |_| {});
    drain(&mut mapping).await;
    assert_eq!(calls.sizes(), vec![4, 4, 2]);
}

#[tokio::test]
async fn the_batching_window_gathers_records_until_the_batch_is_full() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.batch_size = 5;
        c.batching_window = Duration::from_secs(120);
    });
    let first = put_many(&stream, 0, 3);
    for _ in 0..3 {
        let activity = mapping.poll().await.unwrap();
        assert!(
            !activity.quiet && activity.wake_at.is_some(),
            "{activity:?}"
        );
    }
    assert!(
        calls.batches().is_empty(),
        "the window is open and the batch not full"
    );
    let second = put_many(&stream, 0, 2);
    mapping.poll().await.unwrap();
    assert_eq!(calls.batches(), vec![[first, second].concat()]);

    // A short window closes with fewer records.
    let stream = Arc::new(FakeStream::new("s", 1));
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.batch_size = 5;
        c.batching_window = Duration::from_millis(20);
    });
    let records = put_many(&stream, 0, 2);
    drain(&mut mapping).await;
    assert_eq!(calls.batches(), vec![records]);
}

#[tokio::test]
async fn records_older_than_the_maximum_age_are_skipped_to_on_failure() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let old = SystemTime::now() - Duration::from_secs(600);
    let a = stream.put_at(0, "a", event("ORDER_PLACED", 1), old);
    let b = stream.put_at(0, "b", event("ORDER_PLACED", 2), old);
    let fresh = stream.put(0, "c", event("ORDER_PLACED", 3));
    let calls = Calls::default();
    let (destination, on_failure) = OnFailureDestination::memory();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.max_record_age = Some(Duration::from_secs(60));
        c.on_failure = Some(destination);
    });
    let report = drain(&mut mapping).await;
    assert_eq!(calls.batches(), vec![vec![fresh]]);
    let reports = on_failure.records();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].request_context.condition,
        FailureCondition::RecordAgeExceeded
    );
    assert_eq!(reports[0].response_context, None);
    let info = &reports[0].kinesis_batch_info;
    assert_eq!(
        (
            info.start_sequence_number.clone(),
            info.end_sequence_number.clone()
        ),
        (a, b)
    );
    assert_eq!(report.totals.expired_records, 2);
}

#[tokio::test]
async fn read_errors_and_expired_iterators_lose_and_repeat_nothing() {
    let stream = Arc::new(FakeStream::new("s", 1));
    stream.limit_page_size(3);
    let mut records = put_many(&stream, 0, 5);
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |_| {});
    stream.fail_reads(2);
    mapping.poll().await.unwrap();
    mapping.poll().await.unwrap();
    stream.expire_iterators();
    let report = drain(&mut mapping).await;
    stream.expire_iterators();
    records.extend(put_many(&stream, 0, 4));
    drain(&mut mapping).await;
    assert_eq!(calls.batches().concat(), records);
    assert!(report.totals.source_errors >= 1);
    assert_eq!(mapping.stats().source_errors, 2);
}

#[tokio::test]
async fn an_unreachable_function_is_retried_without_using_up_retries() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 2);
    let calls = Calls::default();
    let invoker = scripted(&calls, |call, _| {
        if call < 3 {
            Err(InvokeError::Unavailable(anyhow::anyhow!(
                "connection refused"
            )))
        } else {
            Ok(vec![])
        }
    });
    let (destination, on_failure) = OnFailureDestination::memory();
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.max_retry_attempts = 0;
        c.on_failure = Some(destination);
    });
    let report = drain(&mut mapping).await;
    assert_eq!(calls.batches().len(), 4);
    assert_eq!(report.totals.unavailable, 3);
    assert!(on_failure.records().is_empty());
    assert_eq!(mapping.checkpoints()["shardId-000000000000"], records[1]);
}

#[tokio::test]
async fn a_function_running_past_its_timeout_fails_the_whole_batch() {
    let stream = Arc::new(FakeStream::new("s", 1));
    put_many(&stream, 0, 1);
    let deadlines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&deadlines);
    let invoker = invoke_fn(
        move |_event: KinesisEvent, deadline: event_source_runner::Deadline| {
            seen.lock().unwrap().push(deadline.remaining());
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(KinesisEventResponse::default())
            }
        },
    );
    let (destination, on_failure) = OnFailureDestination::memory();
    let mut mapping = fake_mapping(invoker, &stream, |c| {
        c.timeout = Duration::from_millis(50);
        c.max_retry_attempts = 0;
        c.on_failure = Some(destination);
    });
    let report = drain(&mut mapping).await;
    assert_eq!(report.totals.function_errors, 1);
    assert!(deadlines.lock().unwrap()[0] <= Duration::from_millis(50));
    let reports = on_failure.records();
    assert_eq!(
        reports[0]
            .response_context
            .as_ref()
            .unwrap()
            .function_error
            .as_deref(),
        Some("Unhandled")
    );
}

#[tokio::test]
async fn a_restarted_mapping_resumes_from_its_checkpoint_file() {
    let dir = tempfile::tempdir().unwrap();
    let stream = Arc::new(FakeStream::new("s", 2));
    put_many(&stream, 0, 3);
    put_many(&stream, 1, 2);
    let checkpoints = |c: &mut MappingConfig| c.checkpoint_file = Some(dir.path().join("fn.json"));
    let calls = Calls::default();
    let mut first = fake_mapping(succeed(&calls), &stream, checkpoints);
    drain(&mut first).await;
    assert_eq!(calls.sizes().iter().sum::<usize>(), 5);
    drop(first);

    let later = put_many(&stream, 1, 2);
    let calls = Calls::default();
    let mut second = fake_mapping(succeed(&calls), &stream, checkpoints);
    drain(&mut second).await;
    assert_eq!(calls.batches(), vec![later]);
}

#[tokio::test]
async fn latest_delivers_only_records_written_after_the_start() {
    let stream = Arc::new(FakeStream::new("s", 1));
    put_many(&stream, 0, 2);
    let calls = Calls::default();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| {
        c.starting_position = StartingPosition::Latest;
    });
    mapping.start().await.unwrap();
    let after = stream.put(0, "k", event("ORDER_PLACED", 9));
    drain(&mut mapping).await;
    assert_eq!(calls.batches(), vec![vec![after]]);
}

#[tokio::test]
async fn child_shards_are_read_after_their_parent_and_new_shards_are_found() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let calls = Calls::default();
    let parent = put_many(&stream, 0, 5);
    let (left, right) = stream.split(0);
    let children = [put_many(&stream, left, 2), put_many(&stream, right, 2)].concat();
    let mut mapping = fake_mapping(succeed(&calls), &stream, |c| c.batch_size = 2);
    // One quiet poll is enough to stop: finishing the parent must count as
    // work, or the run would stop before the children start.
    let report = mapping
        .run_until_idle(&RunOptions {
            quiet_polls: 1,
            ..options()
        })
        .await
        .unwrap();
    let delivered = calls.batches().concat();
    assert_eq!(
        delivered[..5],
        parent[..],
        "the parent's records come first"
    );
    let mut rest = delivered[5..].to_vec();
    rest.sort();
    let mut expected = children.clone();
    expected.sort();
    assert_eq!(rest, expected);
    assert_eq!(report.mappings[0].checkpoints.len(), 3);

    // A split after the start is found when the run looks for new shards.
    let (grandchild, _) = stream.split(left);
    let later = put_many(&stream, grandchild, 2);
    drain(&mut mapping).await;
    assert_eq!(calls.batches().concat()[9..], later[..]);
}

#[tokio::test]
async fn mappings_run_together_until_all_are_idle() {
    // Function A reads stream 1 and writes each record on to stream 2, where
    // function B reads it: a run ends only when B has seen everything.
    let one = Arc::new(FakeStream::new("one", 2));
    let two = Arc::new(FakeStream::new("two", 1));
    let forward = {
        let two = Arc::clone(&two);
        invoke_fn(move |event: KinesisEvent, _| {
            for record in &event.records {
                two.put(
                    0,
                    &record.kinesis.partition_key,
                    record.kinesis.data.0.clone(),
                );
            }
            async { Ok(KinesisEventResponse::default()) }
        })
    };
    let seen = Calls::default();
    let mut runner = Runner::new()
        .add(
            EventSourceMapping::new(
                forward,
                Arc::clone(&one),
                MappingConfig::new("a", one.stream_ref()),
            )
            .unwrap(),
        )
        .add(
            EventSourceMapping::new(
                succeed(&seen),
                Arc::clone(&two),
                MappingConfig::new("b", two.stream_ref()),
            )
            .unwrap(),
        );
    put_many(&one, 0, 4);
    put_many(&one, 1, 3);
    let report = runner.run_until_idle(&options()).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Idle);
    assert_eq!(seen.sizes().iter().sum::<usize>(), 7);
    assert_eq!(report.mapping("b").unwrap().stats.records_delivered, 7);
    assert_eq!(report.totals.records_delivered, 14);
    assert_eq!(runner.function_names(), vec!["a", "b"]);
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_and_a_missing_stream_stops_the_run() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let calls = Calls::default();
    let bad = MappingConfig {
        batch_size: 0,
        ..config(&stream)
    };
    let error = EventSourceMapping::new(succeed(&calls), Arc::clone(&stream), bad)
        .err()
        .unwrap();
    assert_eq!(error.field, "batch_size");

    let missing = MappingConfig::new("fn", event_source_runner::StreamRef::Name("nope".into()));
    let mut mapping =
        EventSourceMapping::new(succeed(&calls), Arc::clone(&stream), missing).unwrap();
    let error = mapping.run_until_idle(&options()).await.unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
}

#[test]
fn runs_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let mut runner = Runner::new();
    let options = options();
    let run = runner.run_forever(&options, std::future::pending());
    assert_send(&run);
    drop(run);
    let stream = Arc::new(FakeStream::new("s", 1));
    let mut mapping = EventSourceMapping::new(
        succeed(&Calls::default()),
        Arc::clone(&stream),
        config(&stream),
    )
    .unwrap();
    let run = mapping.run_until_idle(&options);
    assert_send(&run);
}

#[tokio::test]
async fn run_forever_stops_on_the_shutdown_signal_after_the_batch_under_way() {
    let stream = Arc::new(FakeStream::new("s", 1));
    let records = put_many(&stream, 0, 3);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let calls = Calls::default();
    let invoker = scripted(&calls, move |_, _| {
        // The signal comes while the batch is being handled.
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
        Ok(vec![])
    });
    let mut runner = Runner::new()
        .add(EventSourceMapping::new(invoker, Arc::clone(&stream), config(&stream)).unwrap());
    let report = runner
        .run_forever(&options(), async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Shutdown);
    assert_eq!(calls.batches(), vec![records.clone()]);
    assert_eq!(
        report.mappings[0].checkpoints["shardId-000000000000"],
        records[2]
    );
}
