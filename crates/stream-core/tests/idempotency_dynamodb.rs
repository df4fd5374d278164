//! The idempotency layer on a real DynamoDB API (the local emulator): the
//! conditional claim holds under concurrent invocations of one event.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use order_events::EventKind;
use stream_core::idempotency::Claim;
use stream_core::testing::kinesis_event;
use stream_core::{
    CoreConfig, Deadline, DynamoDbIdempotencyStore, Handled, Handler, HandlerError, Idempotency,
    IdempotencyStore, IdempotentOutcome, InMemoryDeadLetters, IncomingEvent, Pipeline,
};

async fn layer() -> Idempotency<DynamoDbIdempotencyStore> {
    let cfg = testkit::aws_config().await;
    let table = testkit::unique_name("idem");
    testkit::create_table(&cfg, &table, "id").await;
    let store = DynamoDbIdempotencyStore::new(aws_sdk_dynamodb::Client::new(&cfg), table);
    Idempotency::new(store, "test-fn", Duration::from_secs(3600))
}

fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(60))
}

#[tokio::test]
async fn two_concurrent_invocations_of_one_event_do_the_work_once() {
    let idem = layer().await;
    let runs = AtomicU32::new(0);
    let work = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        // Long enough that the other invocation arrives while this one works.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, HandlerError>("sent".to_owned())
    };
    let (a, b) = tokio::join!(
        idem.run("evt-1", deadline(), work),
        idem.run("evt-1", deadline(), work)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let outcomes = [a, b];
    let executed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(IdempotentOutcome::Executed(v)) if v == "sent"))
        .count();
    // The other waited for the claim instead of failing, and got the
    // stored result once the first completed.
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(IdempotentOutcome::Replayed(v)) if v == "sent"))
        .count();
    assert_eq!((executed, replayed), (1, 1), "{outcomes:?}");

    // Once completed, a redelivery is told it is done and gets the result.
    let replay = idem
        .run("evt-1", deadline(), || async {
            Ok::<_, HandlerError>("again".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(replay, IdempotentOutcome::Replayed("sent".to_owned()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_attempt_releases_the_key_and_a_timed_out_claim_lapses() {
    let idem = layer().await;
    let err = idem
        .run("evt-2", deadline(), || async {
            Err::<u8, _>(HandlerError::transient(anyhow::anyhow!("SES throttled")))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)));
    let retried = idem
        .run("evt-2", deadline(), || async { Ok::<_, HandlerError>(2u8) })
        .await
        .unwrap();
    assert_eq!(retried, IdempotentOutcome::Executed(2));

    // An invocation that claimed and then timed out (its deadline passed)
    // does not lock the event out until the TTL.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ttl = now_ms / 1000 + 3600;
    let store = idem.store();
    let claim = |id: &'static str, owner: &'static str, until_ms: u64| async move {
        store.claim(id, owner, until_ms, ttl).await.unwrap()
    };
    assert_eq!(
        claim("test-fn#evt-3", "crashed-attempt", now_ms - 1_000).await,
        Claim::Acquired
    );
    let taken_over = idem
        .run("evt-3", deadline(), || async { Ok::<_, HandlerError>(3u8) })
        .await
        .unwrap();
    assert_eq!(taken_over, IdempotentOutcome::Executed(3));
    // A live claim is reported in progress, with its lapse time, to
    // everyone but its owner, whose retried put (the first answer lost)
    // gets back in.
    let live = now_ms + 60_000;
    assert_eq!(claim("test-fn#evt-4", "owner", live).await, Claim::Acquired);
    assert_eq!(
        claim("test-fn#evt-4", "other", live).await,
        Claim::InProgress { until_ms: live }
    );
    assert_eq!(claim("test-fn#evt-4", "owner", live).await, Claim::Acquired);
    // Only the owner's release deletes the claim.
    store.release("test-fn#evt-4", "other").await.unwrap();
    assert!(matches!(
        claim("test-fn#evt-4", "third", live).await,
        Claim::InProgress { .. }
    ));
    store.release("test-fn#evt-4", "owner").await.unwrap();
    assert_eq!(claim("test-fn#evt-4", "third", live).await, Claim::Acquired);
}

/// A handler whose one effect is guarded by the idempotency layer.
struct Guarded {
    idem: Idempotency<DynamoDbIdempotencyStore>,
    effects: Arc<AtomicU32>,
}

impl Handler for Guarded {
    fn handles(&self, kind: EventKind) -> bool {
        kind == EventKind::OrderCancelled
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        let effects = self.effects.clone();
        let outcome = self
            .idem
            .run(
                &event.dedup_key.to_string(),
                event.deadline,
                || async move {
                    effects.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, HandlerError>(())
                },
            )
            .await?;
        Ok(match outcome {
            IdempotentOutcome::Executed(()) => Handled::done(),
            IdempotentOutcome::Replayed(()) => Handled::duplicate(),
        })
    }
}

#[tokio::test]
async fn two_concurrent_invocations_of_one_batch_through_the_pipeline() {
    let effects = Arc::new(AtomicU32::new(0));
    let pipeline = Pipeline::new(
        Guarded {
            idem: layer().await,
            effects: effects.clone(),
        },
        InMemoryDeadLetters::default(),
        CoreConfig::new("test-fn"),
    );
    let event = kinesis_event([(
        "o-1",
        r#"{"eventId":"cancel-1","eventType":"ORDER_CANCELLED","payload":{"orderId":"o-1"}}"#,
    )]);
    let (a, b) = tokio::join!(
        pipeline.process(&event, deadline()),
        pipeline.process(&event, deadline())
    );
    assert_eq!(effects.load(Ordering::SeqCst), 1);
    // One invocation did the work; the other waited for its claim and
    // found it completed: a duplicate, with nothing to report.
    assert!(a.failed_sequence_numbers().is_empty());
    assert!(b.failed_sequence_numbers().is_empty());
    assert_eq!(a.report.duplicates + b.report.duplicates, 1);
    let redelivery = pipeline.process(&event, deadline()).await;
    assert!(redelivery.failed_sequence_numbers().is_empty());
    assert_eq!(redelivery.report.duplicates, 1);
    assert_eq!(effects.load(Ordering::SeqCst), 1);
}
