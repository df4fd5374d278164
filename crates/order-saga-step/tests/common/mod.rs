//! Building Lambda Kinesis events, running the saga with fakes, and the
//! streams, table and queue of an emulator test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::Record;
use base64::Engine as _;
use order_events::{
    Envelope, Event, EventId, EventKind, InventoryReleased, InventoryReserved, OutgoingRecord,
    Timestamp,
};
use order_saga_step::testing::{fake_publisher, FakeSagaPublisher};
use order_saga_step::{InMemorySagaStore, SagaHandler};
use serde_json::{json, Value};
use stream_core::{
    CoreConfig, DeadLetterSink, Deadline, FakePutRecords, Handler, InMemoryDeadLetters,
    KinesisEvent, Pipeline, RecordPublisher,
};

pub const EVENTS_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events";

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
    stream_core::testing::from_stream(
        stream_core::testing::kinesis_event(records.iter().map(|(k, d)| (*k, d.clone()))),
        EVENTS_ARN,
    )
}

/// The saga over an in-memory store, in-memory dead letters and two fake
/// streams.
pub struct Harness {
    pub store: Arc<InMemorySagaStore>,
    pub dead_letters: Arc<InMemoryDeadLetters>,
    pub commands: Arc<FakePutRecords>,
    pub events: Arc<FakePutRecords>,
    pub pipeline:
        Pipeline<SagaHandler<Arc<InMemorySagaStore>>, Arc<InMemoryDeadLetters>, FakeSagaPublisher>,
}

impl Harness {
    pub fn new(commands: FakePutRecords, events: FakePutRecords) -> Self {
        let store = Arc::new(InMemorySagaStore::new());
        let dead_letters = Arc::new(InMemoryDeadLetters::default());
        let (commands, events) = (Arc::new(commands), Arc::new(events));
        let pipeline = Pipeline::new(
            SagaHandler::new(store.clone()),
            dead_letters.clone(),
            CoreConfig::new("order-saga-step"),
        )
        .with_publisher(fake_publisher(&commands, &events, 6));
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

/// Environment variables from `(name, value)` pairs.
pub fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The invocation deadline of every delivery of these tests.
pub fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(60))
}

/// The ORDER_PLACED payload of `order`: one line, 3 x 4.20, for u-7.
pub fn placed_payload(order: &str) -> String {
    format!(
        r#"{{"orderId":"{order}","userId":"u-7","email":"sam@example.com","items":[{{"productId":"p-1","quantity":3,"price":"4.20"}}]}}"#
    )
}

/// The types of `written`, in order.
pub fn kinds(written: &[(EventKind, Value)]) -> Vec<EventKind> {
    written.iter().map(|(k, _)| *k).collect()
}

/// The string attribute `name` of a table item.
pub fn string_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

/// The item of `order` in the saga table `table`, read strongly
/// consistent; `None` when there is none.
pub async fn saga_item(
    cfg: &aws_config::SdkConfig,
    table: &str,
    order: &str,
) -> Option<HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(cfg)
        .get_item()
        .table_name(table)
        .key("orderId", AttributeValue::S(order.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

/// Hands `records` of the stream `arn` to `pipeline` as one batch, as the
/// event source mapping would; every record must succeed.
pub async fn deliver<H: Handler, D: DeadLetterSink, P: RecordPublisher>(
    pipeline: &Pipeline<H, D, P>,
    records: &[Record],
    arn: &str,
) {
    if records.is_empty() {
        return;
    }
    let outcome = pipeline
        .process(&lambda_event(records, arn), deadline())
        .await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.report
    );
}

/// The streams (one shard each), saga table and dead-letter queue of one
/// emulator test, under names of its own.
pub struct Emulator {
    pub cfg: aws_config::SdkConfig,
    pub table: String,
    pub events: String,
    pub commands: String,
    pub events_arn: String,
    pub commands_arn: String,
    pub queue: String,
}

impl Emulator {
    pub async fn new() -> Self {
        let cfg = testkit::aws_config().await;
        let table = testkit::unique_name("sagas");
        let events = testkit::unique_name("order-events");
        let commands = testkit::unique_name("order-commands");
        testkit::create_table(&cfg, &table, "orderId").await;
        let events_arn = testkit::create_stream(&cfg, &events, 1).await;
        let commands_arn = testkit::create_stream(&cfg, &commands, 1).await;
        let queue = testkit::create_queue(&cfg, &testkit::unique_name("dlq")).await;
        Self {
            cfg,
            table,
            events,
            commands,
            events_arn,
            commands_arn,
            queue,
        }
    }

    pub async fn put(&self, stream: &str, record: &OutgoingRecord) {
        aws_sdk_kinesis::Client::new(&self.cfg)
            .put_record()
            .stream_name(stream)
            .partition_key(&record.partition_key)
            .data(Blob::new(record.data.clone()))
            .send()
            .await
            .unwrap();
    }

    /// Puts `order`'s ORDER_PLACED ([`placed_payload`]) on the events
    /// stream under `event_id`.
    pub async fn place(&self, order: &str, event_id: EventId) {
        let placed = Event::parse(EventKind::OrderPlaced, &placed_payload(order)).unwrap();
        let record = OutgoingRecord::new(event_id, Timestamp::now(), &placed).unwrap();
        self.put(&self.events, &record).await;
    }

    /// Answers the inventory commands among `records` as inventory-update
    /// would.
    pub async fn answer_inventory(&self, records: &[Record]) {
        for command in records {
            if let Some(reply) = inventory_reply(command) {
                self.put(&self.events, &reply).await;
            }
        }
    }

    /// The saga item of `order`, read strongly consistent.
    pub async fn item(&self, order: &str) -> HashMap<String, AttributeValue> {
        saga_item(&self.cfg, &self.table, order).await.unwrap()
    }

    /// The distinct records of `order` on `stream` (one per deduplication
    /// key), in stream order: (type, payload).
    pub async fn written(&self, stream: &str, order: &str) -> Vec<(EventKind, Value)> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for record in testkit::read_stream(&self.cfg, stream).await {
            let envelope = Envelope::parse(record.data().as_ref()).unwrap();
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

    pub async fn dead_letters(&self) -> Vec<String> {
        testkit::receive_all(&self.cfg, &self.queue).await
    }
}
