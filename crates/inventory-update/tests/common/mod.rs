//! Builders of the records this function reads, and of the Lambda
//! Kinesis events that carry them.

#![allow(dead_code)]

/// Lambda events built as Lambda sends them: records with sequence numbers
/// 1, 2, 3... on shard 0.
pub use stream_core::testing::{kinesis_event, sequence};

/// The `items` of an order or a command.
pub fn items(lines: &[(&str, u32)]) -> serde_json::Value {
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
