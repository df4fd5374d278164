//! Every sample event in events/inventory-update is a Lambda KinesisEvent,
//! and the function, run on it with in-memory fakes and the stock the
//! README there describes, answers what the sibling `.expected.json` says
//! and has the documented effect.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use inventory_update::{assemble, InMemoryStockStore, InventoryHandler};
use order_events::Envelope;
use stream_core::testing::{check_sample_events, sample_events_dir, sample_files, Sample};
use stream_core::{
    BatchOutcome, CoreConfig, Deadline, FakePutRecords, InMemoryDeadLetters,
    InMemoryIdempotencyStore, KinesisEvent, OrderedPublisher, RetryPolicy,
};

const STOCK: [(&str, i64); 4] = [("p-1", 100), ("p-2", 100), ("p-3", 100), ("p-low", 1)];

const FUNCTION: &str = "inventory-update";

/// The fakes a run leaves behind.
struct Fakes {
    stock: Arc<InMemoryStockStore>,
    dead: Arc<InMemoryDeadLetters>,
    put: Arc<FakePutRecords>,
}

async fn run(event: &KinesisEvent) -> (BatchOutcome, Fakes) {
    let stock = Arc::new(InMemoryStockStore::with_stock(STOCK));
    let dead = Arc::new(InMemoryDeadLetters::default());
    let put = Arc::new(FakePutRecords::default());
    let pipeline = assemble(
        InventoryHandler::new(stock.clone(), Arc::new(InMemoryIdempotencyStore::default())),
        dead.clone(),
        OrderedPublisher::new(put.clone(), RetryPolicy::default()),
        CoreConfig::new("inventory-update"),
    );
    let outcome = pipeline
        .process(event, Deadline::in_(Duration::from_secs(60)))
        .await;
    (outcome, Fakes { stock, dead, put })
}

/// The documented effect of a case: stock that differs from [`STOCK`]
/// afterwards, reply types in order, dead letters.
struct Effect {
    stock: &'static [(&'static str, i64)],
    replies: &'static [&'static str],
    dead_letters: usize,
}

fn documented_effect(case: &str) -> Option<Effect> {
    let effect = |stock, replies, dead_letters| {
        Some(Effect {
            stock,
            replies,
            dead_letters,
        })
    };
    match case {
        "order-created" => effect(&[("p-1", 98), ("p-2", 99)], &[], 0),
        "reserve-command" => effect(&[("p-1", 99), ("p-3", 98)], &["INVENTORY_RESERVED"], 0),
        "reserve-command-cqrs" => effect(&[("p-2", 97)], &["INVENTORY_RESERVED"], 0),
        "reserve-command-insufficient" => effect(&[], &["INVENTORY_RESERVATION_FAILED"], 0),
        "release-command" => effect(&[], &["INVENTORY_RELEASED"], 0),
        "order-cancelled" => effect(&[], &[], 0),
        "mixed-batch" => effect(&[], &["INVENTORY_RESERVED", "INVENTORY_RELEASED"], 0),
        "duplicate" => effect(&[("p-3", 96)], &[], 0),
        "poison-in-batch" => effect(&[("p-1", 99), ("p-2", 99)], &[], 1),
        "kpl-aggregated" => effect(&[("p-1", 97), ("p-2", 99), ("p-3", 96)], &[], 0),
        "unknown-product" => effect(&[], &[], 1),
        "insufficient-stock" => effect(&[], &[], 0),
        "too-many-lines" => effect(&[], &[], 1),
        "cancel-saga-reservation" => effect(&[("p-1", 98)], &["INVENTORY_RESERVED"], 0),
        "release-order-created-reservation" => effect(&[("p-2", 97)], &["INVENTORY_RELEASED"], 0),
        _ => None,
    }
}

#[test]
fn the_required_cases_exist() {
    let names: Vec<String> = sample_files(&sample_events_dir(FUNCTION))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "order-created",
        "reserve-command",
        "release-command",
        "order-cancelled",
        "mixed-batch",
        "duplicate",
        "poison-in-batch",
        "kpl-aggregated",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "events/inventory-update/{required}.json is missing"
        );
    }
}

#[tokio::test]
async fn every_sample_parses_and_answers_as_documented() {
    check_sample_events(
        FUNCTION,
        1,
        |event| async move { run(&event).await },
        has_the_documented_effect,
    )
    .await;
}

fn has_the_documented_effect(sample: &Sample, _: &BatchOutcome, fakes: &Fakes) {
    let case = sample.name.as_str();
    let effect = documented_effect(case)
        .unwrap_or_else(|| panic!("{case}: no documented effect in this test"));
    for (product, initial) in STOCK {
        let expected = effect
            .stock
            .iter()
            .find(|(p, _)| *p == product)
            .map_or(initial, |(_, units)| *units);
        assert_eq!(
            fakes.stock.available(product),
            Some(expected),
            "{case}: stock of {product}"
        );
    }
    let replies: Vec<String> = fakes
        .put
        .landed()
        .iter()
        .map(|r| Envelope::parse(&r.data).unwrap().event_type().to_owned())
        .collect();
    assert_eq!(replies, effect.replies, "{case}: replies");
    assert_eq!(
        fakes.dead.letters().len(),
        effect.dead_letters,
        "{case}: dead letters"
    );
}

#[tokio::test]
async fn the_poison_record_is_dead_lettered_with_its_data() {
    let event = Sample::named(FUNCTION, "poison-in-batch").event;
    let (_, fakes) = run(&event).await;
    let letters = fakes.dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].sequence_number,
        event.records[1].kinesis.sequence_number
    );
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(letters[0].data.as_deref().unwrap())
        .unwrap();
    assert_eq!(data, b"this is not JSON {");
}

#[tokio::test]
async fn the_kpl_sample_holds_the_reference_aggregate() {
    let event = Sample::named(FUNCTION, "kpl-aggregated").event;
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../kinesis-deagg/tests/fixtures/orders_aggregated.json"),
        )
        .unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(fixture["aggregated_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(event.records.len(), 1);
    assert_eq!(event.records[0].kinesis.data.0, bytes);
    let (outcome, _) = run(&event).await;
    assert_eq!(
        outcome.report.received, 3,
        "three user records in one aggregate"
    );
    assert_eq!(outcome.report.processed, 3);
}
