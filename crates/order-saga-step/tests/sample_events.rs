//! Every sample event in events/order-saga-step parses as a Lambda Kinesis
//! event and, run against fakes, gives the response in its sibling
//! `.expected.json`, with the saga state and records its name promises.

mod common;

use std::time::Duration;

use common::Harness;
use order_events::EventKind as K;
use order_saga_step::SagaStatus as S;
use stream_core::testing::{check_sample_events, Sample};
use stream_core::{BatchOutcome, Deadline, FakePutRecords};

const FUNCTION: &str = "order-saga-step";

/// What each case leaves behind: the saga's status, the commands and the
/// events sent, and how many records were dead-lettered.
/// (saga status, commands sent, events sent, dead letters).
type Expectation = (Option<S>, &'static [K], &'static [K], usize);

fn expectations(case: &str) -> Option<Expectation> {
    use K::*;
    Some(match case {
        "order-placed" => (Some(S::Running), &[ReserveInventory], &[], 0),
        "order-cancelled" => (
            Some(S::Compensating),
            &[ReserveInventory, ReleaseInventory],
            &[],
            0,
        ),
        "inventory-reserved" => (
            Some(S::Running),
            &[ReserveInventory, ProcessPayment],
            &[],
            0,
        ),
        "inventory-reservation-failed" => (Some(S::Failed), &[ReserveInventory], &[OrderFailed], 0),
        "inventory-released" => (
            Some(S::Failed),
            &[ReserveInventory, ProcessPayment, ReleaseInventory],
            &[OrderFailed],
            0,
        ),
        "payment-processed" => (
            Some(S::Running),
            &[ReserveInventory, ProcessPayment, ShipOrder],
            &[],
            0,
        ),
        "payment-failed" => (
            Some(S::Compensating),
            &[ReserveInventory, ProcessPayment, ReleaseInventory],
            &[],
            0,
        ),
        "payment-refunded" => (
            Some(S::Compensating),
            &[
                ReserveInventory,
                ProcessPayment,
                ShipOrder,
                RefundPayment,
                ReleaseInventory,
            ],
            &[],
            0,
        ),
        "order-shipped" => (
            Some(S::Completed),
            &[ReserveInventory, ProcessPayment, ShipOrder],
            &[OrderCompleted],
            0,
        ),
        "shipping-failed" => (
            Some(S::Compensating),
            &[ReserveInventory, ProcessPayment, ShipOrder, RefundPayment],
            &[],
            0,
        ),
        // The second copy changes nothing and sends nothing.
        "duplicate" => (
            Some(S::Running),
            &[ReserveInventory, ProcessPayment],
            &[],
            0,
        ),
        "order-cancelled-compensated" => (
            Some(S::Failed),
            &[ReserveInventory, ReleaseInventory],
            &[OrderFailed],
            0,
        ),
        "payment-failed-free-text" => (
            Some(S::Failed),
            &[ReserveInventory, ProcessPayment, ReleaseInventory],
            &[OrderFailed],
            0,
        ),
        "poison" => (None, &[], &[], 3),
        _ => return None,
    })
}

/// The code each failing case's ORDER_FAILED carries, whatever text the
/// participant or producer sent.
fn failure_code(case: &str) -> Option<&'static str> {
    Some(match case {
        "inventory-reservation-failed" => "OUT_OF_STOCK",
        "inventory-released" => "PAYMENT_DECLINED",
        "order-cancelled-compensated" => "ORDER_CANCELLED",
        "payment-failed-free-text" => "PAYMENT_DECLINED",
        _ => return None,
    })
}

#[tokio::test]
async fn every_sample_gives_its_expected_response() {
    // A sample per handled type, a duplicate and a poison record.
    check_sample_events(
        FUNCTION,
        14,
        |event| async move {
            let harness = Harness::succeeding();
            let outcome = harness
                .pipeline
                .process(&event, Deadline::in_(Duration::from_secs(30)))
                .await;
            (outcome, harness)
        },
        leaves_the_promised_saga,
    )
    .await;
}

/// The saga state, commands, events and dead letters the case's name
/// promises.
fn leaves_the_promised_saga(sample: &Sample, _: &BatchOutcome, harness: &Harness) {
    let case = sample.name.as_str();
    let (status, commands, events, dead) =
        expectations(case).unwrap_or_else(|| panic!("{case}: add its expectations to this test"));
    let sagas = harness.store.all();
    assert_eq!(sagas.first().map(|r| r.saga.status()), status, "{case}");
    assert!(sagas.len() <= 1, "{case}: one order per sample");
    let kinds = |fake: &FakePutRecords| fake.landed().iter().map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&harness.commands), commands, "{case}: commands");
    assert_eq!(kinds(&harness.events), events, "{case}: events");
    assert_eq!(
        harness.dead_letters.letters().len(),
        dead,
        "{case}: dead letters"
    );

    let failed: Vec<String> = harness
        .events
        .landed()
        .iter()
        .filter(|r| r.kind == K::OrderFailed)
        .map(|r| {
            let envelope = order_events::Envelope::parse(&r.data).unwrap();
            let payload: serde_json::Value = serde_json::from_str(envelope.payload_text()).unwrap();
            payload["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    let codes: Vec<&str> = failure_code(case).into_iter().collect();
    assert_eq!(failed, codes, "{case}: ORDER_FAILED reason");
    if let Some(saga) = sagas.first().map(|r| &r.saga) {
        if let Some(detail) = &saga.detail {
            assert!(
                detail.chars().count() <= order_saga_step::text::MAX_DETAIL_CHARS,
                "{case}: {detail}"
            );
            assert!(!detail.chars().any(char::is_control), "{case}: {detail:?}");
        }
        if !saga.status().is_final() {
            assert!(
                saga.step_deadline.is_some(),
                "{case}: a waiting saga has a deadline"
            );
        } else {
            assert_eq!(saga.step_deadline, None, "{case}");
        }
    }
}

#[tokio::test]
async fn a_participants_free_text_stays_in_the_saga_and_out_of_order_failed() {
    let event = Sample::named(FUNCTION, "payment-failed-free-text").event;
    let harness = Harness::succeeding();
    harness
        .pipeline
        .process(&event, Deadline::in_(Duration::from_secs(30)))
        .await;
    let saga = harness.store.all().remove(0).saga;
    assert_eq!(
        saga.reason,
        Some(order_events::FailureReason::PaymentDeclined)
    );
    let detail = saga.detail.unwrap();
    assert!(
        detail.starts_with("card declinedissuer said: DO NOT HONOUR ref=999"),
        "{detail}"
    );
    assert_eq!(
        detail.chars().count(),
        order_saga_step::text::MAX_DETAIL_CHARS
    );
    let failed = &harness.events.landed()[0];
    let data = String::from_utf8_lossy(&failed.data);
    assert!(!data.contains("HONOUR"), "the text never travels: {data}");
}

#[tokio::test]
async fn a_redelivered_batch_resends_the_same_commands_and_applies_nothing() {
    let event = Sample::named(FUNCTION, "duplicate").event;
    let harness = Harness::succeeding();
    let first = harness
        .pipeline
        .process(&event, Deadline::in_(Duration::from_secs(30)))
        .await;
    assert_eq!((first.report.processed, first.report.duplicates), (2, 1));

    // Lambda delivers the batch again (say its answer was lost): every
    // record is a duplicate, and the record that made the last transition
    // sends its command again, the same id and bytes.
    let again = harness
        .pipeline
        .process(&event, Deadline::in_(Duration::from_secs(30)))
        .await;
    assert_eq!((again.report.processed, again.report.duplicates), (0, 3));
    let payments: Vec<_> = harness
        .commands
        .landed()
        .into_iter()
        .filter(|r| r.kind == K::ProcessPayment)
        .collect();
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[0], payments[1], "same id, same bytes");
    assert_eq!(harness.store.all()[0].saga.version, 2);
}
