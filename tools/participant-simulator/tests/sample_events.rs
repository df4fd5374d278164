//! Every sample event in events/participant-simulator parses as a Lambda
//! Kinesis event and, run against fakes, gives the response in its sibling
//! `.expected.json` and the replies its name promises.

use std::sync::Arc;
use std::time::Duration;

use order_events::EventKind;
use participant_simulator::Simulator;
use stream_core::testing::{check_sample_events, Sample};
use stream_core::{
    BatchOutcome, CoreConfig, Deadline, FakePutRecords, InMemoryDeadLetters, OrderedPublisher,
    Pipeline, RetryPolicy,
};

/// The replies each case sends and the records it dead-letters.
fn expectations(case: &str) -> Option<(&'static [EventKind], usize)> {
    Some(match case {
        "process-payment" => (&[EventKind::PaymentProcessed], 0),
        "refund-payment" => (&[EventKind::PaymentRefunded], 0),
        "ship-order" => (&[EventKind::OrderShipped], 0),
        "not-mine" => (&[], 0),
        "duplicate" => (&[EventKind::OrderShipped, EventKind::OrderShipped], 0),
        "poison" => (&[], 2),
        _ => return None,
    })
}

/// The fakes a run leaves behind.
struct Fakes {
    replies: Arc<FakePutRecords>,
    dead_letters: Arc<InMemoryDeadLetters>,
}

#[tokio::test]
async fn every_sample_gives_its_expected_response_and_replies() {
    // A sample per command, a duplicate and a poison record.
    check_sample_events(
        "participant-simulator",
        6,
        |event| async move {
            let replies = Arc::new(FakePutRecords::default());
            let dead_letters = Arc::new(InMemoryDeadLetters::default());
            let pipeline = Pipeline::new(
                Simulator::succeeding(),
                dead_letters.clone(),
                CoreConfig::new("participant-simulator"),
            )
            .with_publisher(OrderedPublisher::new(
                replies.clone(),
                RetryPolicy::default(),
            ));
            let outcome = pipeline
                .process(&event, Deadline::in_(Duration::from_secs(30)))
                .await;
            (
                outcome,
                Fakes {
                    replies,
                    dead_letters,
                },
            )
        },
        sends_the_promised_replies,
    )
    .await;
}

/// The replies and dead letters the case's name promises.
fn sends_the_promised_replies(sample: &Sample, _: &BatchOutcome, fakes: &Fakes) {
    let case = sample.name.as_str();
    let (kinds, dead) =
        expectations(case).unwrap_or_else(|| panic!("{case}: add its expectations to this test"));
    let landed = fakes.replies.landed();
    assert_eq!(
        landed.iter().map(|r| r.kind).collect::<Vec<_>>(),
        kinds,
        "{case}"
    );
    assert_eq!(fakes.dead_letters.letters().len(), dead, "{case}");
    if case == "duplicate" {
        // The same reply: same id, same payload; only the time it was
        // written differs.
        let payload = |r: &order_events::OutgoingRecord| {
            let envelope = order_events::Envelope::parse(&r.data).unwrap();
            serde_json::from_str::<serde_json::Value>(envelope.payload_text()).unwrap()
        };
        assert_eq!(
            landed[0].event_id, landed[1].event_id,
            "a redelivered command gets the same reply id"
        );
        assert_eq!(payload(&landed[0]), payload(&landed[1]));
    }
    for reply in &landed {
        assert_eq!(
            reply.partition_key, sample.event.records[0].kinesis.partition_key,
            "{case}: keyed by order"
        );
    }
}
