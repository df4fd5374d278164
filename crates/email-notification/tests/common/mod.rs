//! Shared by the test binaries: Kinesis events built from envelopes,
//! and the pipeline wired to in-memory fakes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use email_notification::{EmailHandler, FakeMailSender, InMemoryAddressBook, Settings};
use order_events::EmailAddress;
use serde_json::{json, Value};
use stream_core::{
    InMemoryDeadLetters, InMemoryIdempotencyStore, KinesisEvent, Pipeline, PipelineConfig,
    RetryPolicy,
};

pub type FakeHandler =
    EmailHandler<Arc<FakeMailSender>, Arc<InMemoryAddressBook>, Arc<InMemoryIdempotencyStore>>;
pub type FakePipeline = Pipeline<FakeHandler, Arc<InMemoryDeadLetters>>;

pub struct Fakes {
    pub mail: Arc<FakeMailSender>,
    pub addresses: Arc<InMemoryAddressBook>,
    pub store: Arc<InMemoryIdempotencyStore>,
    pub dead_letters: Arc<InMemoryDeadLetters>,
    pub pipeline: FakePipeline,
}

pub const SENDER: &str = "orders@shop.example.com";

/// Settings with short backoffs, so tests that retry stay quick.
pub fn quick_settings() -> Settings {
    let mut settings = Settings::new(EmailAddress::parse(SENDER).unwrap());
    settings.send_retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        deadline_margin: Duration::from_millis(100),
    };
    settings.lookup_retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        deadline_margin: Duration::from_millis(100),
    };
    settings
}

pub fn fakes_with(settings: Settings, pipeline: PipelineConfig) -> Fakes {
    let mail = Arc::new(FakeMailSender::default());
    let addresses = Arc::new(InMemoryAddressBook::default());
    let store = Arc::new(InMemoryIdempotencyStore::default());
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    let handler = EmailHandler::new(mail.clone(), addresses.clone(), store.clone(), settings);
    Fakes {
        mail,
        addresses,
        store,
        dead_letters: dead_letters.clone(),
        pipeline: Pipeline::new(handler, dead_letters, pipeline),
    }
}

pub fn fakes() -> Fakes {
    let mut config = PipelineConfig::new("email-notification-test");
    config.deadline_margin = Duration::from_millis(50);
    fakes_with(quick_settings(), config)
}

pub fn envelope(event_id: &str, event_type: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": "2025-10-30T12:00:00.000Z",
        "payload": payload,
    }))
    .unwrap()
}

/// A Lambda Kinesis event whose records carry `(partition key, data)`,
/// sequence numbers `first_sequence`, `first_sequence + 1`, ...
pub fn kinesis_event(first_sequence: u64, records: &[(&str, Vec<u8>)]) -> KinesisEvent {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (key, data))| {
            let sequence = (first_sequence + i as u64).to_string();
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1761825600.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

pub fn user_registered(user: &str, email: &str, name: Option<&str>) -> (String, Vec<u8>) {
    let mut payload =
        json!({"userId": user, "email": email, "registrationDate": "2025-10-30T11:00:00Z"});
    if let Some(name) = name {
        payload["name"] = json!(name);
    }
    (
        user.to_owned(),
        envelope(&format!("ur-{user}"), "USER_REGISTERED", payload),
    )
}

pub fn order_placed(order: &str, user: &str, email: Option<&str>) -> (String, Vec<u8>) {
    let mut payload = json!({
        "orderId": order,
        "userId": user,
        "items": [
            {"productId": "sku-mug", "quantity": 2, "price": 12.5},
            {"productId": "sku-tea", "quantity": 3, "price": "4.99"},
        ],
    });
    if let Some(email) = email {
        payload["email"] = json!(email);
    }
    (
        order.to_owned(),
        envelope(&format!("op-{order}"), "ORDER_PLACED", payload),
    )
}

pub fn batch(first_sequence: u64, records: &[(String, Vec<u8>)]) -> KinesisEvent {
    let borrowed: Vec<(&str, Vec<u8>)> = records
        .iter()
        .map(|(k, d)| (k.as_str(), d.clone()))
        .collect();
    kinesis_event(first_sequence, &borrowed)
}

pub fn failures(outcome: &stream_core::BatchOutcome) -> Vec<String> {
    outcome
        .failed_sequence_numbers()
        .into_iter()
        .map(str::to_owned)
        .collect()
}
