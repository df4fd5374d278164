//! From a document to a record ready to put: the envelope completed
//! (`eventId`, `timestamp`), validated by the event model, and keyed as the
//! contract says. The document's own fields are kept as written (unknown
//! fields, amounts as JSON numbers or strings): only what is missing is
//! added.

use std::collections::BTreeMap;

use order_events::{Envelope, EventId, EventKind, OutgoingRecord, Timestamp};
use serde_json::value::RawValue;

use crate::input::{Document, Location, Rejected};

/// Most bytes of one Kinesis record: data plus partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

const ENVELOPE_FIELDS: [&str; 3] = ["eventId", "eventType", "timestamp"];

/// A valid record, with what the summary and the dry run show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub location: Location,
    pub record: OutgoingRecord,
    /// As sent; may be longer than an [`EventId`] allows (the envelope
    /// admits 256 characters).
    pub event_id: String,
}

impl Prepared {
    pub fn kind(&self) -> EventKind {
        self.record.kind
    }

    /// Bytes Kinesis counts for the record.
    pub fn size(&self) -> usize {
        self.record.data.len() + self.record.partition_key.len()
    }
}

/// Completes and validates one document.
pub fn prepare(document: Document) -> Result<Prepared, Rejected> {
    let reject = |reason: String| Rejected {
        location: document.location.clone(),
        reason,
    };
    // Data that is no envelope at all is described in the event model's
    // words, as a function would dead-letter it.
    let data = complete(&document.data).map_err(|err| {
        reject(Envelope::parse(&document.data).map_or_else(|e| e.to_string(), |_| err))
    })?;
    let (kind, event_id, partition_key) = validate(&data).map_err(reject)?;
    let size = data.len() + partition_key.len();
    if size > MAX_RECORD_BYTES {
        return Err(reject(format!(
            "{size} bytes with its partition key, more than a Kinesis record holds ({MAX_RECORD_BYTES})"
        )));
    }
    // The publisher puts only the data and the key; the record's own id is
    // bookkeeping, and stands in for an id longer than `EventId` allows.
    let record_id =
        EventId::parse(event_id.as_str()).unwrap_or_else(|_| EventId::derived(&[&event_id]));
    Ok(Prepared {
        location: document.location,
        record: OutgoingRecord {
            event_id: record_id,
            kind,
            partition_key,
            data,
        },
        event_id,
    })
}

/// The document with its envelope complete: a bare payload (`eventType`
/// beside the payload's fields) wrapped in `payload`, and a missing
/// `eventId` (UUID v4) or `timestamp` (now, RFC 3339 UTC) filled in.
/// Values are carried as their raw JSON text, so no amount passes through
/// a binary float.
fn complete(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(data).map_err(|err| format!("not a JSON object: {err}"))?;
    if fields.contains_key("eventType") && !fields.contains_key("payload") {
        let payload_keys: Vec<String> = fields
            .keys()
            .filter(|key| !ENVELOPE_FIELDS.contains(&key.as_str()))
            .cloned()
            .collect();
        let payload: BTreeMap<String, Box<RawValue>> = payload_keys
            .into_iter()
            .filter_map(|key| fields.remove(&key).map(|value| (key, value)))
            .collect();
        fields.insert("payload".into(), raw(&payload)?);
    }
    if fields
        .get("eventId")
        .is_none_or(|id| matches!(id.get(), "null" | "\"\""))
    {
        fields.insert("eventId".into(), raw(&EventId::random())?);
    }
    if fields.get("timestamp").is_none_or(|t| t.get() == "null") {
        fields.insert("timestamp".into(), raw(&Timestamp::now())?);
    }
    serde_json::to_vec(&fields).map_err(|err| err.to_string())
}

fn raw(value: &impl serde::Serialize) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(value).map_err(|err| err.to_string())
}

/// Reads the record as a function would: envelope, a known type, a valid
/// timestamp and payload. Returns the type, the `eventId` and the
/// partition key.
fn validate(data: &[u8]) -> Result<(EventKind, String, String), String> {
    let envelope = Envelope::parse(data).map_err(|err| err.to_string())?;
    let kind = envelope
        .kind()
        .ok_or_else(|| format!("unknown eventType `{}`", envelope.event_type()))?;
    envelope.timestamp().map_err(|err| err.to_string())?;
    let event = envelope.event(kind).map_err(|err| err.to_string())?;
    let partition_key = event.partition_key();
    if partition_key.is_empty() {
        return Err(format!("{kind} has no key to partition by"));
    }
    Ok((
        kind,
        envelope.event_id().unwrap_or_default().to_owned(),
        partition_key.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str) -> Document {
        Document {
            location: Location {
                input: "in.json".into(),
                line: Some(7),
                detail: None,
            },
            data: text.as_bytes().to_vec(),
        }
    }

    fn envelope(prepared: &Prepared) -> serde_json::Value {
        serde_json::from_slice(&prepared.record.data).unwrap()
    }

    const PLACED: &str = r#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o-1","userId":"u-1","items":[{"productId":"p","quantity":2,"price":19.99}],"total":"39.98","note":"kept"}}"#;

    #[test]
    fn missing_id_and_timestamp_are_filled_and_the_rest_is_kept_as_written() {
        let prepared = prepare(document(PLACED)).unwrap();
        let sent = envelope(&prepared);
        let id = sent["eventId"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert_eq!(prepared.event_id, id);
        let stamp = sent["timestamp"].as_str().unwrap();
        assert!(
            Timestamp::parse(stamp).is_ok() && stamp.ends_with('Z'),
            "{stamp}"
        );
        assert_eq!(sent["payload"]["note"], "kept");
        let text = String::from_utf8(prepared.record.data.clone()).unwrap();
        assert!(text.contains(r#""price":19.99"#), "{text}");
        assert_eq!(prepared.record.partition_key, "o-1");
        assert_eq!(prepared.kind(), EventKind::OrderPlaced);
        assert_eq!(prepared.size(), text.len() + 3);
    }

    #[test]
    fn given_id_and_timestamp_are_left_alone() {
        let text = r#"{"eventId":"e-1","timestamp":"2025-10-30T12:00:00","eventType":"USER_REGISTERED","payload":{"userId":"u-9","email":"a@example.com"}}"#;
        let prepared = prepare(document(text)).unwrap();
        let sent = envelope(&prepared);
        assert_eq!(sent["eventId"], "e-1");
        assert_eq!(sent["timestamp"], "2025-10-30T12:00:00");
        assert_eq!(
            prepared.record.partition_key, "u-9",
            "user events by userId"
        );
    }

    #[test]
    fn a_bare_payload_with_event_type_is_wrapped() {
        let text = r#"{"eventType":"ORDER_CANCELLED","orderId":"o-5","reason":"changed mind"}"#;
        let sent = envelope(&prepare(document(text)).unwrap());
        assert_eq!(sent["payload"]["orderId"], "o-5");
        assert_eq!(sent["payload"]["reason"], "changed mind");
        assert!(sent.get("orderId").is_none());
    }

    #[test]
    fn the_command_shape_is_keyed_by_its_order() {
        let text = r#"{"commandType":"RESERVE_INVENTORY","orderId":"o-2","items":[{"productId":"p","quantity":1}]}"#;
        let prepared = prepare(document(text)).unwrap();
        assert_eq!(prepared.record.partition_key, "o-2");
        assert_eq!(prepared.kind(), EventKind::ReserveInventory);
        assert!(envelope(&prepared)["eventId"].is_string());
    }

    #[test]
    fn invalid_events_are_rejected_naming_input_line_and_reason() {
        for (text, why) in [
            ("[1]", "not a JSON object"),
            (r#"{"payload":{}}"#, "neither `eventType` nor `commandType`"),
            (
                r#"{"eventType":"LOYALTY","payload":{}}"#,
                "unknown eventType `LOYALTY`",
            ),
            (
                r#"{"eventType":"ORDER_CREATED","payload":{"orderId":"o","userId":"u","items":[{"productId":"p","quantity":0}]}}"#,
                "quantity 0 is out of range",
            ),
            (
                r#"{"eventType":"ORDER_CANCELLED","timestamp":"yesterday","payload":{"orderId":"o"}}"#,
                "not an RFC 3339",
            ),
        ] {
            let rejected = prepare(document(text)).unwrap_err();
            let message = rejected.to_string();
            assert!(message.starts_with("in.json:7: "), "{message}");
            assert!(message.contains(why), "{text}: {message}");
        }
    }

    #[test]
    fn a_record_beyond_one_mebibyte_is_rejected() {
        let padded = |bytes: usize| {
            format!(
                r#"{{"eventType":"ORDER_CANCELLED","padding":"{}","payload":{{"orderId":"o"}}}}"#,
                "x".repeat(bytes)
            )
        };
        assert!(prepare(document(&padded(MAX_RECORD_BYTES - 200))).is_ok());
        let message = prepare(document(&padded(MAX_RECORD_BYTES)))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("more than a Kinesis record holds"),
            "{message}"
        );
    }

    #[test]
    fn an_event_id_longer_than_an_id_but_within_the_envelope_is_sent_as_is() {
        let id = "e".repeat(200);
        let text = format!(
            r#"{{"eventId":"{id}","eventType":"ORDER_CANCELLED","payload":{{"orderId":"o"}}}}"#
        );
        let prepared = prepare(document(&text)).unwrap();
        assert_eq!(prepared.event_id, id);
        assert_eq!(envelope(&prepared)["eventId"], id.as_str());
    }
}
