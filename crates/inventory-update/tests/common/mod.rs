//! Builders of Lambda Kinesis events and of the records inside them.

#![allow(dead_code)]

use base64::Engine as _;
use stream_core::KinesisEvent;

/// A Lambda event of plain records `(partition key, data)` with sequence
/// numbers 1, 2, 3..., built from JSON exactly as Lambda sends it.
pub fn kinesis_event(records: &[(String, Vec<u8>)]) -> KinesisEvent {
    let records: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .map(|(i, (key, data))| {
            let sequence = sequence(i + 1);
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1761825600.0
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-events"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("a valid KinesisEvent")
}

pub fn sequence(n: usize) -> String {
    format!("{n:056}")
}

fn items(lines: &[(&str, u32)]) -> serde_json::Value {
    lines
        .iter()
        .map(|(p, q)| serde_json::json!({"productId": p, "quantity": q}))
        .collect()
}

fn record(order: &str, data: serde_json::Value) -> (String, Vec<u8>) {
    (order.to_owned(), data.to_string().into_bytes())
}

pub fn order_created(event_id: &str, order: &str, lines: &[(&str, u32)]) -> (String, Vec<u8>) {
    record(
        order,
        serde_json::json!({
            "eventId": event_id,
            "eventType": "ORDER_CREATED",
            "timestamp": "2025-10-30T12:00:00Z",
            "payload": {"orderId": order, "userId": "u-1", "items": items(lines), "status": "PENDING"}
        }),
    )
}

pub fn order_cancelled(event_id: &str, order: &str) -> (String, Vec<u8>) {
    record(
        order,
        serde_json::json!({
            "eventId": event_id,
            "eventType": "ORDER_CANCELLED",
            "payload": {"orderId": order}
        }),
    )
}

pub fn reserve(event_id: &str, order: &str, lines: &[(&str, u32)]) -> (String, Vec<u8>) {
    record(
        order,
        serde_json::json!({
            "eventId": event_id,
            "eventType": "RESERVE_INVENTORY",
            "payload": {"orderId": order, "sagaId": format!("saga-{order}"), "items": items(lines)}
        }),
    )
}

pub fn release(event_id: &str, order: &str) -> (String, Vec<u8>) {
    release_for(event_id, order, &format!("saga-{order}"))
}

pub fn reserve_for(
    event_id: &str,
    order: &str,
    saga: &str,
    lines: &[(&str, u32)],
) -> (String, Vec<u8>) {
    record(
        order,
        serde_json::json!({
            "eventId": event_id,
            "eventType": "RESERVE_INVENTORY",
            "payload": {"orderId": order, "sagaId": saga, "items": items(lines)}
        }),
    )
}

pub fn release_for(event_id: &str, order: &str, saga: &str) -> (String, Vec<u8>) {
    record(
        order,
        serde_json::json!({
            "eventId": event_id,
            "eventType": "RELEASE_INVENTORY",
            "payload": {"orderId": order, "sagaId": saga}
        }),
    )
}
