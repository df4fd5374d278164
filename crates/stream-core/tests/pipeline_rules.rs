//! The ordering and partial-failure rules of the pipeline, with a scripted
//! handler and in-memory ports. What a test's handler does with an event is
//! decided by the event's order id prefix (`ok-`, `transient-`,
//! `permanent-`, `dup-`, `slow-`, `emit-`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use order_events::{Event, EventId, EventKind, OutgoingRecord, Timestamp};
use stream_core::publisher::FakePutRecords;
use stream_core::testing::{kinesis_event, kinesis_record, sequence};
use stream_core::{
    BatchOutcome, CoreConfig, Deadline, Handled, Handler, HandlerError, InMemoryDeadLetters,
    IncomingEvent, OrderedPublisher, Pipeline, RetryPolicy,
};

#[derive(Default)]
struct ScriptedHandler {
    calls: Mutex<Vec<(String, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    sleep: Duration,
}

impl ScriptedHandler {
    fn slow(sleep: Duration) -> Self {
        Self {
            sleep,
            ..Self::default()
        }
    }

    /// (order id, sequence number) of every call, in call order.
    fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }

    fn called_orders(&self) -> Vec<String> {
        self.calls().into_iter().map(|(order, _)| order).collect()
    }
}

impl Handler for ScriptedHandler {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderCreated
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        let order = incoming.event.order_id().unwrap().as_str().to_owned();
        self.calls
            .lock()
            .unwrap()
            .push((order.clone(), incoming.origin.sequence_number.clone()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Vary the time per order so keys interleave differently.
        let extra = Duration::from_millis(order.bytes().map(u64::from).sum::<u64>() % 5);
        if !self.sleep.is_zero() || order.starts_with("slow-") {
            tokio::time::sleep(self.sleep + extra).await;
        } else {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match order.split('-').next().unwrap() {
            "panic" => panic!("handler bug on {order}"),
            "transient" => Err(HandlerError::transient(anyhow::anyhow!("throttled"))),
            "permanent" => Err(HandlerError::permanent("unknown product p-404")),
            "dup" => Ok(Handled::duplicate()),
            "emit" => {
                let Event::OrderCreated(created) = &incoming.event else {
                    unreachable!()
                };
                let reply = Event::OrderCancelled(order_events::OrderCancelled {
                    order_id: created.order_id.clone(),
                    user_id: None,
                    reason: Some("test".into()),
                });
                let record = OutgoingRecord::new(
                    EventId::derived(&["reply", &order]),
                    Timestamp::now(),
                    &reply,
                )
                .unwrap();
                Ok(Handled::Done { emit: vec![record] })
            }
            _ => Ok(Handled::done()),
        }
    }
}

fn order_created(order: &str) -> String {
    format!(
        r#"{{"eventId":"evt-{order}","eventType":"ORDER_CREATED","timestamp":"2025-10-30T12:00:00Z","payload":{{"orderId":"{order}","userId":"u-1","items":[{{"productId":"p-1","quantity":1}}],"status":"PENDING","total":"9.99"}}}}"#
    )
}

/// A batch of ORDER_CREATED events. The partition key is the order id
/// without its behaviour prefix and `#n` suffix, so `ok-a#1` and
/// `transient-a#2` share key `a`.
fn batch(orders: &[&str]) -> aws_lambda_events::event::kinesis::KinesisEvent {
    kinesis_event(orders.iter().map(|o| (key_of(o), order_created(o))))
}

fn key_of(order: &str) -> String {
    let without_behaviour = order.split_once('-').map_or(order, |(_, rest)| rest);
    without_behaviour.split('#').next().unwrap().to_owned()
}

fn config(max_concurrency: usize) -> CoreConfig {
    CoreConfig {
        max_concurrency,
        deadline_margin: Duration::from_millis(100),
        ..CoreConfig::new("test-fn")
    }
}

/// The scripted handler with in-memory dead letters, four keys at once.
fn scripted() -> Pipeline<ScriptedHandler, InMemoryDeadLetters> {
    Pipeline::new(
        ScriptedHandler::default(),
        InMemoryDeadLetters::default(),
        config(4),
    )
}

fn minute() -> Deadline {
    Deadline::in_(Duration::from_secs(60))
}

fn failed(outcome: &BatchOutcome) -> Vec<String> {
    outcome
        .failed_sequence_numbers()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_failure_mid_key_stops_that_key_only() {
    let pipeline = scripted();
    // Key a: ok, transient, ok. Key b: ok, ok. Interleaved in the stream.
    let event = batch(&["ok-a#1", "ok-b#1", "transient-a#2", "ok-b#2", "ok-a#3"]);
    let outcome = pipeline.process(&event, minute()).await;

    // The failed record and the later record of its key are reported; the
    // later one never ran. Key b ran to the end.
    assert_eq!(failed(&outcome), vec![sequence(3), sequence(5)]);
    let called = pipeline.handler().called_orders();
    assert!(!called.contains(&"ok-a#3".to_owned()), "{called:?}");
    assert!(called.contains(&"ok-b#2".to_owned()), "{called:?}");
    assert_eq!(outcome.report.processed, 3);
    assert_eq!(outcome.report.transient_failures, 1);
    assert_eq!(outcome.report.not_attempted, 1);
}

#[tokio::test]
async fn transient_is_reported_and_permanent_is_dead_lettered() {
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    let pipeline = Pipeline::new(ScriptedHandler::default(), dead_letters.clone(), config(4));
    let event = batch(&["transient-x", "permanent-y", "ok-z"]);
    let outcome = pipeline.process(&event, minute()).await;

    assert_eq!(failed(&outcome), vec![sequence(1)]);
    let letters = dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].sequence_number, sequence(2));
    assert_eq!(letters[0].reason, "unknown product p-404");
    assert_eq!(letters[0].function_name, "test-fn");
    assert_eq!(letters[0].shard_id.as_deref(), Some("shardId-000000000000"));
    let data = base64::engine::general_purpose::STANDARD
        .decode(letters[0].data.as_deref().unwrap())
        .unwrap();
    assert_eq!(data, order_created("permanent-y").into_bytes());
    assert_eq!(outcome.report.permanent_failures, 1);
    assert_eq!(outcome.report.transient_failures, 1);
    assert_eq!(outcome.report.processed, 1);
}

#[tokio::test]
async fn near_the_deadline_no_record_starts_and_the_rest_are_reported() {
    let handler = ScriptedHandler::slow(Duration::from_millis(100));
    let mut cfg = config(1);
    cfg.deadline_margin = Duration::from_secs(1);
    let pipeline = Pipeline::new(handler, InMemoryDeadLetters::default(), cfg);
    let orders: Vec<String> = (0..20).map(|i| format!("ok-{i}")).collect();
    let refs: Vec<&str> = orders.iter().map(String::as_str).collect();
    let event = batch(&refs);
    let outcome = pipeline
        .process(&event, Deadline::in_(Duration::from_millis(1400)))
        .await;

    let called: Vec<String> = pipeline
        .handler()
        .calls()
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    let reported = failed(&outcome);
    assert!(!called.is_empty(), "the first record had time to run");
    assert!(!reported.is_empty(), "the deadline stopped the batch");
    // Exactly the records that never started are reported: nothing lost,
    // nothing processed twice.
    let all: Vec<String> = (1..=20).map(sequence).collect();
    let not_called: Vec<String> = all
        .iter()
        .filter(|s| !called.contains(s))
        .cloned()
        .collect();
    assert_eq!(reported, not_called);
    assert_eq!(outcome.report.processed + outcome.report.not_attempted, 20);
}

#[tokio::test]
async fn a_duplicate_is_acknowledged_and_counted() {
    let pipeline = scripted();
    let outcome = pipeline.process(&batch(&["dup-1", "ok-2"]), minute()).await;
    assert!(failed(&outcome).is_empty());
    assert_eq!(outcome.report.duplicates, 1);
    assert_eq!(outcome.report.processed, 1);
}

#[tokio::test]
async fn unknown_and_unhandled_types_are_skipped_without_calling_the_handler() {
    let pipeline = scripted();
    let event = kinesis_event([
        (
            "k1",
            r#"{"eventType":"LOYALTY_POINTS_EARNED","payload":{"points":3}}"#.to_owned(),
        ),
        (
            "k2",
            r#"{"eventType":"ORDER_SHIPPED","payload":{"orderId":"o","sagaId":"o"}}"#.to_owned(),
        ),
        ("k3", order_created("ok-3")),
    ]);
    let outcome = pipeline.process(&event, minute()).await;
    assert!(failed(&outcome).is_empty());
    assert_eq!(outcome.report.skipped, 2);
    assert_eq!(pipeline.handler().called_orders(), vec!["ok-3".to_owned()]);
}

#[tokio::test]
async fn undecodable_and_invalid_records_are_dead_lettered_and_later_records_run() {
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    let pipeline = Pipeline::new(ScriptedHandler::default(), dead_letters.clone(), config(4));
    let invalid =
        r#"{"eventType":"ORDER_CREATED","payload":{"orderId":"k","userId":"u","items":[]}}"#;
    let event = kinesis_event([
        ("k", b"\x00\x9fnot json at all".to_vec()),
        ("k", invalid.as_bytes().to_vec()),
        ("k", order_created("ok-k").into_bytes()),
    ]);
    let outcome = pipeline.process(&event, minute()).await;
    assert!(failed(&outcome).is_empty());
    assert_eq!(pipeline.handler().called_orders(), vec!["ok-k".to_owned()]);
    let reasons: Vec<String> = dead_letters
        .letters()
        .into_iter()
        .map(|l| l.reason)
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons[0].starts_with("undecodable record: record data is not UTF-8"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("items must not be empty"),
        "{reasons:?}"
    );
    assert_eq!(outcome.report.invalid_records, 2);
}

#[tokio::test]
async fn a_record_whose_dead_letter_cannot_be_written_is_retried_not_lost() {
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    dead_letters.fail_sends(true);
    let pipeline = Pipeline::new(ScriptedHandler::default(), dead_letters.clone(), config(4));
    let event = batch(&["permanent-a", "ok-b"]);
    let outcome = pipeline.process(&event, minute()).await;
    assert_eq!(failed(&outcome), vec![sequence(1)]);
}

#[tokio::test]
async fn a_dead_letter_send_that_fails_briefly_is_retried_and_sent_once() {
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    dead_letters.fail_next_sends(2);
    let pipeline = Pipeline::new(ScriptedHandler::default(), dead_letters.clone(), config(4));
    let outcome = pipeline
        .process(&batch(&["permanent-a", "ok-b"]), minute())
        .await;
    assert!(failed(&outcome).is_empty());
    assert_eq!(dead_letters.letters().len(), 1);
    assert_eq!(outcome.report.permanent_failures, 1);
}

#[tokio::test]
async fn a_panicking_handler_fails_its_record_alone() {
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    let pipeline = Pipeline::new(ScriptedHandler::default(), dead_letters.clone(), config(4));
    // Key b: the panic, then a record after it; keys a and c around it.
    let event = batch(&["ok-a#1", "panic-b#1", "ok-b#2", "ok-c#1", "transient-d#1"]);
    let outcome = pipeline.process(&event, minute()).await;
    // Only the transient failure is reported: the panicking record is
    // dead-lettered and acknowledged, and everything else ran.
    assert_eq!(failed(&outcome), vec![sequence(5)]);
    let mut called = pipeline.handler().called_orders();
    called.sort();
    assert_eq!(
        called,
        vec!["ok-a#1", "ok-b#2", "ok-c#1", "panic-b#1", "transient-d#1"]
    );
    let letters = dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, "internal error");
    assert_eq!(letters[0].sequence_number, sequence(2));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(letters[0].data.as_deref().unwrap())
            .unwrap(),
        order_created("panic-b#1").into_bytes()
    );
    assert_eq!(outcome.report.processed, 3);
    assert_eq!(outcome.report.permanent_failures, 1);
    assert_eq!(outcome.report.invalid_records, 0);
    // The process goes on: the next batch runs as usual.
    let next = pipeline.process(&batch(&["ok-e#1"]), minute()).await;
    assert_eq!(next.report.processed, 1);
}

#[tokio::test]
async fn transient_failures_wait_before_the_answer_and_success_resets_the_wait() {
    let pipeline = scripted().with_failure_backoff(Duration::from_secs(30));
    // The wait never eats into the deadline margin: with 400 ms left and a
    // 100 ms margin it is cut to what remains.
    let short = Deadline::in_(Duration::from_millis(400));
    let outcome = pipeline.process(&batch(&["transient-a"]), short).await;
    assert_eq!(failed(&outcome), vec![sequence(1)]);
    assert!(short.remaining() <= Duration::from_millis(200));
    let ok = pipeline.process(&batch(&["ok-a"]), minute()).await;
    assert!(failed(&ok).is_empty());
}

#[tokio::test]
async fn order_per_key_is_kept_while_keys_run_concurrently_within_the_bound() {
    let pipeline = Pipeline::new(
        ScriptedHandler::slow(Duration::from_millis(2)),
        InMemoryDeadLetters::default(),
        config(4),
    );
    let mut orders = Vec::new();
    for n in 0..10 {
        for key in 0..8 {
            orders.push(format!("ok-{key}#{n}"));
        }
    }
    let refs: Vec<&str> = orders.iter().map(String::as_str).collect();
    let outcome = pipeline.process(&batch(&refs), minute()).await;
    assert!(failed(&outcome).is_empty());

    let mut per_key: HashMap<String, Vec<String>> = HashMap::new();
    for (order, seq) in pipeline.handler().calls() {
        per_key.entry(key_of(&order)).or_default().push(seq);
    }
    for (key, seqs) in per_key {
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted, "key {key} ran out of stream order");
        assert_eq!(seqs.len(), 10);
    }
    let max = pipeline.handler().max_in_flight.load(Ordering::SeqCst);
    assert!(max > 1, "keys never overlapped");
    assert!(max <= 4, "concurrency bound exceeded: {max}");
}

#[tokio::test]
async fn a_failed_user_record_reports_its_aggregate_once() {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "../../kinesis-deagg/tests/fixtures/orders_aggregated.json"
    ))
    .unwrap();
    let aggregated = base64::engine::general_purpose::STANDARD
        .decode(fixture["aggregated_base64"].as_str().unwrap())
        .unwrap();
    // The aggregate holds orders o-1, o-2, o-3; rewrite o-2 to fail.
    let mut event = kinesis_event([("o-0", order_created("ok-0"))]);
    event.records.push(kinesis_record(2, "o-1", aggregated));
    event
        .records
        .push(kinesis_record(3, "o-9", order_created("ok-9")));
    struct FailO2(ScriptedHandler);
    impl Handler for FailO2 {
        fn handles(&self, kind: EventKind) -> bool {
            self.0.handles(kind)
        }
        async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
            let order = incoming.event.order_id().unwrap().as_str().to_owned();
            self.0
                .calls
                .lock()
                .unwrap()
                .push((order.clone(), incoming.origin.sequence_number.clone()));
            if order == "o-2" {
                return Err(HandlerError::transient(anyhow::anyhow!("throttled")));
            }
            Ok(Handled::done())
        }
    }
    let pipeline = Pipeline::new(
        FailO2(ScriptedHandler::default()),
        InMemoryDeadLetters::default(),
        config(4),
    );
    let outcome = pipeline.process(&event, minute()).await;
    assert_eq!(outcome.report.received, 5);
    assert_eq!(failed(&outcome), vec![sequence(2)]);
    let mut called = pipeline.handler().0.called_orders();
    called.sort();
    assert_eq!(called, vec!["o-1", "o-2", "o-3", "ok-0", "ok-9"]);
}

#[tokio::test]
async fn emits_that_cannot_be_published_fail_their_source_record() {
    let fake = Arc::new(FakePutRecords::failing(|_, record| {
        record.partition_key == "emit-2"
    }));
    let publisher = OrderedPublisher::new(
        fake.clone(),
        RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            deadline_margin: Duration::from_millis(1),
        },
    );
    let pipeline = scripted().with_publisher(publisher);
    let outcome = pipeline
        .process(&batch(&["emit-1", "emit-2", "emit-3"]), minute())
        .await;
    assert_eq!(failed(&outcome), vec![sequence(2)]);
    let landed: Vec<String> = fake.landed().into_iter().map(|r| r.partition_key).collect();
    assert_eq!(landed, vec!["emit-1", "emit-3"]);
    assert_eq!(outcome.report.unpublished, 1);
}

#[tokio::test]
async fn the_response_serialises_as_lambda_expects() {
    let pipeline = scripted();
    let ok = pipeline.process(&batch(&["ok-1"]), minute()).await;
    assert_eq!(
        serde_json::to_value(&ok.response).unwrap(),
        serde_json::json!({"batchItemFailures": []})
    );
    let failed = pipeline.process(&batch(&["transient-1"]), minute()).await;
    assert_eq!(
        serde_json::to_value(&failed.response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": sequence(1)}]})
    );
}
