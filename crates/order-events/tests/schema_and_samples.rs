//! The JSON Schema in `schema/` and the Rust types agree, and every sample
//! event in `events/` validates and round-trips through the Rust types.

use std::path::{Path, PathBuf};

use aws_lambda_events::event::kinesis::KinesisEvent;
use order_events::{Envelope, Event, EventId, EventKind, OutgoingRecord, Timestamp};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(repo_root().join("schema/order-events.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn sample_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json")
                && !path.to_string_lossy().ends_with(".expected.json")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("events"), &mut files);
    files.sort();
    files
}

/// Parses a record's data the way the functions do: `Ok(Some(event))` for
/// a valid known event, `Ok(None)` for an unknown type, `Err` when the
/// record is undecodable or invalid.
fn read(data: &[u8]) -> Result<Option<Event>, String> {
    let envelope = Envelope::parse(data).map_err(|e| e.to_string())?;
    envelope.timestamp().map_err(|e| e.to_string())?;
    match envelope.kind() {
        None => Ok(None),
        Some(kind) => envelope.event(kind).map(Some).map_err(|e| e.to_string()),
    }
}

fn round_trips(event: &Event) {
    let out =
        OutgoingRecord::new(EventId::derived(&["round-trip"]), Timestamp::now(), event).unwrap();
    let again = read(&out.data).unwrap().unwrap();
    assert_eq!(&again, event);
    let json: serde_json::Value = serde_json::from_slice(&out.data).unwrap();
    assert!(
        validator().is_valid(&json),
        "written record fails the schema: {json}"
    );
}

#[test]
fn every_sample_event_validates_and_round_trips() {
    let validator = validator();
    let files = sample_files();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let event: KinesisEvent = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a Lambda KinesisEvent: {e}", file.display()));
        for record in &event.records {
            let data: &[u8] = &record.kinesis.data;
            if kinesis_deagg_like(data) {
                continue; // KPL aggregates are checked by the deaggregation tests.
            }
            let rust = read(data);
            let json = serde_json::from_slice::<serde_json::Value>(data).ok();
            let schema_ok = json.as_ref().is_some_and(|j| validator.is_valid(j));
            match rust {
                Ok(Some(event)) => {
                    assert!(
                        schema_ok,
                        "{}: valid in Rust but not in the schema: {json:?}",
                        file.display()
                    );
                    round_trips(&event);
                    checked += 1;
                }
                Ok(None) => {}
                // Rules that span lines (distinct products, summed
                // quantities) are beyond JSON Schema; only Rust checks them.
                Err(reason)
                    if reason.contains("distinct products") || reason.contains(" totals ") => {}
                Err(reason) => assert!(
                    !schema_ok,
                    "{}: the schema accepts a record the functions reject ({reason})",
                    file.display()
                ),
            }
        }
    }
    if !files.is_empty() {
        assert!(checked > 0, "no valid sample event found in events/");
    }
}

fn kinesis_deagg_like(data: &[u8]) -> bool {
    data.starts_with(&[0xF3, 0x89, 0x9A, 0xC2])
}

fn sample(kind: EventKind) -> String {
    let payload = match kind {
        EventKind::UserRegistered => {
            r#"{"userId":"u-1","email":"jane@example.com","registrationDate":"2025-10-30"}"#
        }
        EventKind::OrderCreated => {
            r#"{"orderId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2,"price":19.99}],"status":"PENDING","total":"39.98"}"#
        }
        EventKind::OrderPlaced => {
            r#"{"orderId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2,"price":"19.99"}],"total":39.98,"email":"jane@example.com"}"#
        }
        EventKind::OrderCancelled => {
            r#"{"orderId":"o-1","userId":"u-1","reason":"customer request"}"#
        }
        EventKind::InventoryReserved => {
            r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p-1","quantity":2}]}"#
        }
        EventKind::InventoryReservationFailed => {
            r#"{"orderId":"o-1","sagaId":"o-1","reason":"not enough stock","productId":"p-1"}"#
        }
        EventKind::InventoryReleased => r#"{"orderId":"o-1","sagaId":"o-1","items":[]}"#,
        EventKind::PaymentProcessed | EventKind::PaymentRefunded | EventKind::OrderShipped => {
            r#"{"orderId":"o-1","sagaId":"o-1"}"#
        }
        EventKind::PaymentFailed | EventKind::ShippingFailed => {
            r#"{"orderId":"o-1","sagaId":"o-1","reason":"declined"}"#
        }
        EventKind::OrderCompleted => r#"{"orderId":"o-1","sagaId":"o-1","userId":"u-1"}"#,
        EventKind::OrderFailed => r#"{"orderId":"o-1","sagaId":"o-1","reason":"payment declined"}"#,
        EventKind::ReserveInventory => {
            r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p-1","quantity":2}]}"#
        }
        EventKind::ReleaseInventory | EventKind::RefundPayment => {
            r#"{"orderId":"o-1","sagaId":"o-1"}"#
        }
        EventKind::ProcessPayment => {
            r#"{"orderId":"o-1","sagaId":"o-1","userId":"u-1","total":"39.98"}"#
        }
        EventKind::ShipOrder => {
            r#"{"orderId":"o-1","sagaId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2}]}"#
        }
    };
    format!(
        r#"{{"eventId":"e-1","eventType":"{}","timestamp":"2025-10-30T12:00:00.000Z","payload":{payload}}}"#,
        kind.as_str()
    )
}

#[test]
fn every_type_validates_parses_and_round_trips() {
    let validator = validator();
    for &kind in EventKind::ALL {
        let text = sample(kind);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(validator.is_valid(&json), "{kind}: schema rejects {text}");
        let event = read(text.as_bytes()).unwrap().unwrap();
        assert_eq!(event.kind(), kind);
        round_trips(&event);
    }
}

#[test]
fn schema_and_types_reject_the_same_broken_payloads() {
    let validator = validator();
    let broken = [
        r#"{"eventType":"ORDER_CREATED","payload":{"orderId":"o","userId":"u","items":[]}}"#,
        r#"{"eventType":"ORDER_CREATED","payload":{"orderId":"o","userId":"u","items":[{"productId":"p","quantity":0}]}}"#,
        r#"{"eventType":"ORDER_CREATED","payload":{"orderId":"","userId":"u","items":[{"productId":"p","quantity":1}]}}"#,
        r#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o","userId":"u","items":[{"productId":"p","quantity":1}],"total":"abc"}}"#,
        r#"{"eventType":"USER_REGISTERED","payload":{"userId":"u","email":"a@example.com, b@evil.com"}}"#,
        r#"{"eventType":"PROCESS_PAYMENT","payload":{"orderId":"o","sagaId":"o","userId":"u"}}"#,
        r#"{"eventType":"ORDER_PLACED","timestamp":"yesterday","payload":{"orderId":"o","userId":"u","items":[{"productId":"p","quantity":1}]}}"#,
        r#"{"commandType":"RESERVE_INVENTORY","orderId":"o"}"#,
        r#"{"payload":{}}"#,
    ];
    let long = |n: usize| "x".repeat(n);
    let oversized = [
        format!(
            r#"{{"eventId":"{}","eventType":"ORDER_CANCELLED","payload":{{"orderId":"o"}}}}"#,
            long(257)
        ),
        format!(r#"{{"eventType":"{}","payload":{{}}}}"#, long(65)),
        format!(
            r#"{{"eventType":"ORDER_CANCELLED","payload":{{"orderId":"o","reason":"{}"}}}}"#,
            long(1025)
        ),
        format!(
            r#"{{"eventType":"PAYMENT_FAILED","payload":{{"orderId":"o","sagaId":"o","reason":"{}"}}}}"#,
            long(5000)
        ),
        format!(
            r#"{{"eventType":"USER_REGISTERED","payload":{{"userId":"u","email":"a@example.com","name":"{}"}}}}"#,
            long(257)
        ),
        format!(
            r#"{{"eventType":"ORDER_CANCELLED","payload":{{"orderId":"{}"}}}}"#,
            long(129)
        ),
        r#"{"eventId":"a\u0007b","eventType":"ORDER_CANCELLED","payload":{"orderId":"o"}}"#
            .to_owned(),
    ];
    for text in broken
        .iter()
        .copied()
        .chain(oversized.iter().map(String::as_str))
    {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(!validator.is_valid(&json), "schema accepts {text}");
        assert!(read(text.as_bytes()).is_err(), "Rust accepts {text}");
    }
    let at_the_limits = format!(
        r#"{{"eventId":"{}","eventType":"ORDER_CANCELLED","payload":{{"orderId":"{}","reason":"{}"}}}}"#,
        long(256),
        long(128),
        long(1024)
    );
    assert!(validator.is_valid(&serde_json::from_str(&at_the_limits).unwrap()));
    assert!(read(at_the_limits.as_bytes()).unwrap().is_some());
    let command = r#"{"commandType":"RESERVE_INVENTORY","orderId":"o","userId":"u","items":[{"productId":"p","quantity":1}]}"#;
    assert!(validator.is_valid(&serde_json::from_str(command).unwrap()));
    assert!(read(command.as_bytes()).unwrap().is_some());
}
