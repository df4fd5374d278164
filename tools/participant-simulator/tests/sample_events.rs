//! Every sample event in events/participant-simulator parses as a Lambda
//! Kinesis event and, run against fakes, gives the response in its sibling
//! `.expected.json` and the replies its name promises.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use order_events::EventKind;
use participant_simulator::Simulator;
use stream_core::{
    Deadline, FakePutRecords, InMemoryDeadLetters, KinesisEvent, OrderedPublisher, Pipeline,
    PipelineConfig, RetryPolicy,
};

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/participant-simulator");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

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

#[tokio::test]
async fn every_sample_gives_its_expected_response_and_replies() {
    let files = samples();
    assert!(
        files.len() >= 6,
        "expected a sample per command, a duplicate and a poison record"
    );
    for file in files {
        let case = file.file_stem().unwrap().to_string_lossy().into_owned();
        let event: KinesisEvent = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{case}: not a Kinesis event: {e}"));
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(file.with_extension("expected.json"))
                .unwrap_or_else(|e| panic!("{case}: no expected response: {e}")),
        )
        .unwrap();

        let replies = Arc::new(FakePutRecords::default());
        let dead_letters = Arc::new(InMemoryDeadLetters::default());
        let pipeline = Pipeline::new(
            Simulator::succeeding(),
            dead_letters.clone(),
            PipelineConfig::new("participant-simulator"),
        )
        .with_publisher(OrderedPublisher::new(
            replies.clone(),
            RetryPolicy::default(),
        ));
        let outcome = pipeline
            .process(&event, Deadline::in_(Duration::from_secs(30)))
            .await;
        assert_eq!(
            serde_json::to_value(&outcome.response).unwrap(),
            expected,
            "{case}"
        );

        let (kinds, dead) = expectations(&case)
            .unwrap_or_else(|| panic!("{case}: add its expectations to this test"));
        let landed = replies.landed();
        assert_eq!(
            landed.iter().map(|r| r.kind).collect::<Vec<_>>(),
            kinds,
            "{case}"
        );
        assert_eq!(dead_letters.letters().len(), dead, "{case}");
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
                reply.partition_key, event.records[0].kinesis.partition_key,
                "{case}: keyed by order"
            );
        }
    }
}
