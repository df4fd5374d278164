//! Building Lambda Kinesis events and running the saga with fakes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::types::Record;
use base64::Engine as _;
use order_events::{
    Envelope, Event, EventId, InventoryReleased, InventoryReserved, OutgoingRecord, Timestamp,
};
use order_saga_step::{InMemorySagaStore, SagaHandler};
use serde_json::{json, Value};
use stream_core::{
    FakePutRecords, InMemoryDeadLetters, KinesisEvent, OrderedPublisher, Pipeline, PipelineConfig,
    RetryPolicy, SplitPublisher,
};

pub const EVENTS_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events";

/// An envelope's bytes.
pub fn envelope(event_type: &str, event_id: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": "2025-10-30T12:00:00.000Z",
        "payload": payload,
    }))
    .unwrap()
}

/// One Lambda Kinesis record.
pub fn record(
    sequence: &str,
    partition_key: &str,
    data: &[u8],
    arrival: f64,
    source_arn: &str,
) -> Value {
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{sequence}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-1",
        "eventSourceARN": source_arn,
    })
}

/// A batch of `(partition key, data)` on the events stream, sequence
/// numbers 1, 2, ...
pub fn batch(records: &[(&str, Vec<u8>)]) -> KinesisEvent {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(n, (key, data))| {
            record(
                &(n + 1).to_string(),
                key,
                data,
                1_761_825_600.0 + n as f64,
                EVENTS_ARN,
            )
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        deadline_margin: Duration::from_millis(1),
    }
}

pub type FakePublisher =
    SplitPublisher<OrderedPublisher<Arc<FakePutRecords>>, OrderedPublisher<Arc<FakePutRecords>>>;

/// The saga over an in-memory store, in-memory dead letters and two fake
/// streams.
pub struct Harness {
    pub store: Arc<InMemorySagaStore>,
    pub dead_letters: Arc<InMemoryDeadLetters>,
    pub commands: Arc<FakePutRecords>,
    pub events: Arc<FakePutRecords>,
    pub pipeline:
        Pipeline<SagaHandler<Arc<InMemorySagaStore>>, Arc<InMemoryDeadLetters>, FakePublisher>,
}

impl Harness {
    pub fn new(commands: FakePutRecords, events: FakePutRecords) -> Self {
        let store = Arc::new(InMemorySagaStore::new());
        let dead_letters = Arc::new(InMemoryDeadLetters::default());
        let (commands, events) = (Arc::new(commands), Arc::new(events));
        let pipeline = Pipeline::new(
            SagaHandler::new(store.clone()),
            dead_letters.clone(),
            PipelineConfig::new("order-saga-step"),
        )
        .with_publisher(SplitPublisher {
            commands: OrderedPublisher::new(commands.clone(), quick_retries()),
            events: OrderedPublisher::new(events.clone(), quick_retries()),
        });
        Self {
            store,
            dead_letters,
            commands,
            events,
            pipeline,
        }
    }

    pub fn succeeding() -> Self {
        Self::new(FakePutRecords::default(), FakePutRecords::default())
    }
}

/// The records of `stream` after the first `seen`; moves `seen` on.
pub async fn new_records(
    cfg: &aws_config::SdkConfig,
    stream: &str,
    seen: &mut usize,
) -> Vec<Record> {
    let all = testkit::read_stream(cfg, stream).await;
    let new = all[*seen..].to_vec();
    *seen = all.len();
    new
}

/// A Lambda Kinesis event holding `records` of the stream `arn`.
pub fn lambda_event(records: &[Record], arn: &str) -> KinesisEvent {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let arrival = r
                .approximate_arrival_timestamp()
                .map_or(0.0, |t| t.as_secs_f64());
            record(
                r.sequence_number(),
                r.partition_key().unwrap_or_default(),
                r.data().as_ref(),
                arrival,
                arn,
            )
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// What inventory-update answers: every reservation succeeds, every
/// release replies; the reply id follows the command's, as the contract
/// asks.
pub fn inventory_reply(command: &Record) -> Option<OutgoingRecord> {
    let envelope = Envelope::parse(command.data().as_ref()).unwrap();
    let kind = envelope.kind()?;
    let reply = match envelope.event(kind).unwrap() {
        Event::ReserveInventory(reserve) => Event::InventoryReserved(InventoryReserved {
            saga_id: reserve.saga(),
            order_id: reserve.order_id,
            items: reserve.items,
        }),
        Event::ReleaseInventory(release) => Event::InventoryReleased(InventoryReleased {
            saga_id: Some(release.saga()),
            order_id: release.order_id,
            items: Vec::new(),
        }),
        _ => return None,
    };
    let id = EventId::derived(&["inventory-stand-in", &envelope.dedup_key().to_string()]);
    Some(OutgoingRecord::new(id, Timestamp::now(), &reply).unwrap())
}

/// The distinct records of `order` on `stream` (one per deduplication
/// key), in stream order: (type, payload).
pub async fn written(
    cfg: &aws_config::SdkConfig,
    stream: &str,
    order: &str,
) -> Vec<(order_events::EventKind, Value)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for record in testkit::read_stream(cfg, stream).await {
        let envelope = order_events::Envelope::parse(record.data().as_ref()).unwrap();
        if record.partition_key() != Some(order) || seen.contains(&envelope.dedup_key()) {
            continue;
        }
        seen.push(envelope.dedup_key());
        out.push((
            envelope.kind().unwrap(),
            serde_json::from_str(envelope.payload_text()).unwrap(),
        ));
    }
    out
}
