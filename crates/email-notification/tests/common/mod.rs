//! Shared by the test binaries: Kinesis events built from envelopes,
//! and the pipeline wired to in-memory fakes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use email_notification::{Config, EmailHandler, FakeMailSender, InMemoryAddressBook};
use order_events::EmailAddress;
use serde_json::{json, Value};
// Not every test binary reads sequence numbers.
use stream_core::testing::kinesis_record;
#[allow(unused_imports)]
pub use stream_core::testing::sequence;
use stream_core::{
    CoreConfig, InMemoryDeadLetters, InMemoryIdempotencyStore, KinesisEvent, Pipeline, RetryPolicy,
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

/// The configuration with short backoffs, so tests that retry stay quick.
pub fn quick_config() -> Config {
    let mut config = Config::new(EmailAddress::parse(SENDER).unwrap());
    config.send_retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        deadline_margin: Duration::from_millis(100),
    };
    config.lookup_retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        deadline_margin: Duration::from_millis(100),
    };
    config
}

pub fn fakes_with(config: Config, pipeline: CoreConfig) -> Fakes {
    let mail = Arc::new(FakeMailSender::default());
    let addresses = Arc::new(InMemoryAddressBook::default());
    let store = Arc::new(InMemoryIdempotencyStore::default());
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    let handler = EmailHandler::new(mail.clone(), addresses.clone(), store.clone(), config);
    Fakes {
        mail,
        addresses,
        store,
        dead_letters: dead_letters.clone(),
        pipeline: Pipeline::new(handler, dead_letters, pipeline),
    }
}

pub fn fakes() -> Fakes {
    let mut config = CoreConfig::new("email-notification-test");
    config.deadline_margin = Duration::from_millis(50);
    fakes_with(quick_config(), config)
}

/// A record of `event_type` under partition key `key`.
pub fn record(key: &str, event_id: &str, event_type: &str, payload: Value) -> (String, Vec<u8>) {
    (
        key.to_owned(),
        stream_core::testing::envelope(event_type, event_id, payload),
    )
}

pub fn user_registered(user: &str, email: &str, name: Option<&str>) -> (String, Vec<u8>) {
    let mut payload =
        json!({"userId": user, "email": email, "registrationDate": "2025-10-30T11:00:00Z"});
    if let Some(name) = name {
        payload["name"] = json!(name);
    }
    record(user, &format!("ur-{user}"), "USER_REGISTERED", payload)
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
    record(order, &format!("op-{order}"), "ORDER_PLACED", payload)
}

/// When the records of [`batch`] reached the stream: long ago, so an
/// order whose address is unknown is not waited for.
const LONG_AGO_S: f64 = 1761825600.0;

/// A Lambda Kinesis event whose records carry `(partition key, data)`,
/// sequence numbers `first_sequence`, `first_sequence + 1`, ...
/// ([`sequence`]), all arrived at [`LONG_AGO_S`].
pub fn batch(first_sequence: u64, records: &[(String, Vec<u8>)]) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .zip(first_sequence..)
        .map(|((key, data), n)| {
            let mut record = kinesis_record(n, key, data.clone());
            record.kinesis.approximate_arrival_timestamp =
                serde_json::from_value(json!(LONG_AGO_S)).unwrap();
            record
        })
        .collect();
    event
}

impl Fakes {
    /// The recipient of every email sent so far, in order.
    pub fn recipients(&self) -> Vec<String> {
        self.mail
            .sent()
            .iter()
            .map(|m| m.to.as_str().to_owned())
            .collect()
    }
}

/// Asserts that Lambda is told every record of the batch is done with.
#[track_caller]
pub fn assert_acknowledged(outcome: &stream_core::BatchOutcome) {
    assert!(
        outcome.failed_sequence_numbers().is_empty(),
        "{:?}",
        outcome.response
    );
}

pub fn failures(outcome: &stream_core::BatchOutcome) -> Vec<String> {
    outcome
        .failed_sequence_numbers()
        .into_iter()
        .map(str::to_owned)
        .collect()
}
