//! Every sample event under `events/email-notification/` parses as a Lambda
//! Kinesis event, and the pipeline (with fakes) answers it with the response
//! in the sibling `.expected.json` and sends the mail its name promises.

mod common;

use std::time::Duration;

use common::{fakes, Fakes};
use stream_core::testing::{check_sample_events, Sample};
use stream_core::{BatchOutcome, Deadline};

#[tokio::test]
async fn every_sample_event_gives_its_expected_response() {
    check_sample_events(
        "email-notification",
        8,
        |event| async move {
            let fakes = fakes();
            let outcome = fakes
                .pipeline
                .process(&event, Deadline::in_(Duration::from_secs(30)))
                .await;
            (outcome, fakes)
        },
        the_documented_mail,
    )
    .await;
}

/// The mail and dead letters each case is documented to leave behind.
fn the_documented_mail(sample: &Sample, outcome: &BatchOutcome, fakes: &Fakes) {
    let name = &sample.name;
    let sent = fakes.mail.sent();
    let subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    let recipients: Vec<&str> = sent.iter().map(|e| e.to.as_str()).collect();
    let reasons: Vec<String> = fakes
        .dead_letters
        .letters()
        .into_iter()
        .map(|l| l.reason)
        .collect();
    match sample.name.as_str() {
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
