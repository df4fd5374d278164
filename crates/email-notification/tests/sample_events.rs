//! Every sample event under `events/email-notification/` parses as a Lambda
//! Kinesis event, and the pipeline (with fakes) answers it with the response
//! in the sibling `.expected.json`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::fakes;
use stream_core::{Deadline, KinesisEvent};

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/email-notification")
}

#[tokio::test]
async fn every_sample_event_gives_its_expected_response() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(samples_dir())
        .expect("events/email-notification exists")
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected the sample cases, found {cases:?}"
    );

    for path in cases {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: KinesisEvent = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not a Kinesis event: {e}"));
        assert!(!event.records.is_empty(), "{name}: no records");
        let expected_path = path.with_file_name(format!("{name}.expected.json"));
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{name}: {expected_path:?}: {e}")),
        )
        .unwrap();

        let f = fakes();
        let outcome = f
            .pipeline
            .process(&event, Deadline::in_(Duration::from_secs(30)))
            .await;
        assert_eq!(
            serde_json::to_value(&outcome.response).unwrap(),
            expected,
            "{name}"
        );

        let sent = f.mail.sent();
        let subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
        let recipients: Vec<&str> = sent.iter().map(|e| e.to.as_str()).collect();
        let reasons: Vec<String> = f
            .dead_letters
            .letters()
            .into_iter()
            .map(|l| l.reason)
            .collect();
        match name.as_str() {
            "user_registered" => {
                assert_eq!(subjects, ["Welcome, Ada Lovelace!"], "{name}");
                assert_eq!(recipients, ["ada@example.com"], "{name}");
            }
            "order_placed" => {
                assert_eq!(subjects, ["Order order-2001 confirmed"], "{name}");
                assert!(
                    sent[0].text.contains("- sku-tea x 3 at 4.99 = 14.97"),
                    "{}",
                    sent[0].text
                );
                assert!(sent[0].text.contains("Total: 39.97"), "{}", sent[0].text);
            }
            "order_completed" => {
                assert_eq!(subjects, ["Your order order-2001 is complete"], "{name}")
            }
            "order_failed" => {
                assert_eq!(
                    subjects,
                    ["We could not complete your order order-2002"],
                    "{name}"
                );
                let wording = order_events::FailureReason::PaymentDeclined.wording();
                assert!(sent[0].text.contains(wording), "{}", sent[0].text);
                assert!(sent[0].html.contains(wording), "{}", sent[0].html);
            }
            "order_failed_free_text_reason" => {
                assert_eq!(
                    subjects,
                    ["We could not complete your order order-2007"],
                    "{name}"
                );
                let wording = order_events::FailureReason::Other.wording();
                for part in [&sent[0].text, &sent[0].html] {
                    assert!(part.contains(wording), "{part}");
                    assert!(!part.contains("DispatchFailure"), "{part}");
                    assert!(!part.contains("10.0.0.1"), "{part}");
                }
            }
            "order_placed_registered_user" => {
                assert_eq!(subjects.len(), 2, "{name}: {subjects:?}");
                assert!(
                    subjects.contains(&"Order order-2003 confirmed"),
                    "{name}: {subjects:?}"
                );
                assert_eq!(
                    recipients,
                    ["grace@example.com", "grace@example.com"],
                    "{name}"
                );
            }
            "duplicate" => {
                assert_eq!(subjects, ["Order order-2004 confirmed"], "{name}");
                assert_eq!(outcome.report.duplicates, 1, "{name}");
            }
            "poison" => {
                assert_eq!(reasons.len(), 1, "{name}: {reasons:?}");
                assert!(
                    reasons[0].starts_with("undecodable record"),
                    "{name}: {reasons:?}"
                );
                assert_eq!(subjects, ["Your order order-2005 is complete"], "{name}");
            }
            "unknown_address" => {
                assert!(sent.is_empty(), "{name}");
                assert_eq!(reasons.len(), 1, "{name}: {reasons:?}");
                assert!(
                    reasons[0].starts_with("no known address"),
                    "{name}: {reasons:?}"
                );
            }
            // A new sample is held to its expected response only.
            _ => {}
        }
    }
}
