//! The envelope every record carries, the CQRS command shape, the
//! deduplication key, and the writer for outgoing records.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{DecodeError, InvalidEvent};
use crate::event::{Event, EventKind};
use crate::values::{check_len, limits, EventId, Timestamp};

/// A record's envelope, read without parsing the payload.
#[derive(Debug)]
pub struct Envelope<'a> {
    event_id: Option<Cow<'a, str>>,
    event_type: Cow<'a, str>,
    timestamp: Option<Cow<'a, str>>,
    payload: &'a str,
    data: &'a [u8],
    command_shape: bool,
}

#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(rename = "eventId", borrow, default)]
    event_id: Option<CowStr<'a>>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<CowStr<'a>>,
    #[serde(rename = "commandType", borrow, default)]
    command_type: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    timestamp: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// A string borrowed from the record when it has no escapes, owned
/// otherwise. (serde borrows a bare `Cow<str>` field but not one inside an
/// `Option`, which would cost three allocations per record.)
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visit(std::marker::PhantomData))
    }
}

impl<'a> Envelope<'a> {
    /// Reads the envelope of one record's data (one user record, after
    /// deaggregation).
    pub fn parse(data: &'a [u8]) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(data).map_err(|e| DecodeError::NotUtf8(e.valid_up_to()))?;
        let trimmed = text.trim_start();
        if !trimmed.starts_with('{') {
            return Err(DecodeError::NotJson("expected a JSON object".into()));
        }
        let wire: WireEnvelope<'a> =
            serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        let (event_type, payload, command_shape) =
            match (wire.event_type.map(|c| c.0), wire.command_type.map(|c| c.0)) {
                (Some(event_type), _) => {
                    let payload = wire.payload.ok_or(DecodeError::MissingPayload)?.get();
                    if !payload.starts_with('{') {
                        return Err(DecodeError::MissingPayload);
                    }
                    (event_type, payload, false)
                }
                // The CQRS command shape: the whole object is the payload.
                (None, Some(command_type)) => (command_type, text, true),
                (None, None) => return Err(DecodeError::MissingType),
            };
        let event_id = wire.event_id.map(|c| c.0).filter(|id| !id.is_empty());
        check_envelope(event_id.as_deref(), &event_type)?;
        Ok(Self {
            event_id,
            event_type,
            timestamp: wire.timestamp.map(|c| c.0),
            payload,
            data,
            command_shape,
        })
    }

    /// The type as written, even when this project does not know it
    /// (at most [`limits::EVENT_TYPE`] characters).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The type, when it is one of the contract's.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::from_str(&self.event_type).ok()
    }

    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    pub fn is_command_shape(&self) -> bool {
        self.command_shape
    }

    /// The raw JSON text of the payload.
    pub fn payload_text(&self) -> &'a str {
        self.payload
    }

    /// The key under which this logical event is deduplicated: its
    /// `eventId`, or else a hash of the record's bytes. Never the sequence
    /// number, which changes when a producer retries a put.
    pub fn dedup_key(&self) -> DedupKey {
        match &self.event_id {
            Some(id) => DedupKey::EventId(id.to_string()),
            None => DedupKey::of_data(self.data),
        }
    }

    pub fn timestamp(&self) -> Result<Option<Timestamp>, InvalidEvent> {
        self.timestamp
            .as_deref()
            .map(|t| {
                Timestamp::parse(t).map_err(|reason| InvalidEvent::new(self.event_type(), reason))
            })
            .transpose()
    }

    /// Parses and validates the payload as `kind`.
    pub fn event(&self, kind: EventKind) -> Result<Event, InvalidEvent> {
        Event::parse(kind, self.payload)
    }
}

/// The envelope's own limits: an `eventId` becomes part of keys and log
/// lines, and an `eventType` is logged even when unknown, so both are
/// bounded and free of control characters.
fn check_envelope(event_id: Option<&str>, event_type: &str) -> Result<(), DecodeError> {
    if let Some(id) = event_id {
        check_len("eventId", id, limits::EVENT_ID).map_err(DecodeError::InvalidEnvelope)?;
        if id.chars().any(char::is_control) {
            return Err(DecodeError::InvalidEnvelope(
                "eventId must not contain control characters".into(),
            ));
        }
    }
    check_len("eventType", event_type, limits::EVENT_TYPE).map_err(DecodeError::InvalidEnvelope)?;
    if event_type.chars().any(char::is_control) {
        return Err(DecodeError::InvalidEnvelope(
            "eventType must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// The deduplication key of a logical event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DedupKey {
    EventId(String),
    /// SHA-256 of the record's data, hex, for producers that omit `eventId`.
    DataHash(String),
}

impl DedupKey {
    pub fn of_data(data: &[u8]) -> Self {
        DedupKey::DataHash(hex::encode(Sha256::digest(data)))
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupKey::EventId(id) => write!(f, "event:{id}"),
            DedupKey::DataHash(hash) => write!(f, "sha256:{hash}"),
        }
    }
}

/// A record this project writes: the envelope always carries `eventId` and
/// `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub event_id: EventId,
    pub kind: EventKind,
    pub partition_key: String,
    pub data: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOut<'a> {
    event_id: &'a EventId,
    event_type: &'static str,
    timestamp: Timestamp,
    payload: crate::event::Payload<'a>,
}

impl OutgoingRecord {
    pub fn new(
        event_id: EventId,
        timestamp: Timestamp,
        event: &Event,
    ) -> Result<Self, serde_json::Error> {
        let data = serde_json::to_vec(&WireOut {
            event_id: &event_id,
            event_type: event.kind().as_str(),
            timestamp,
            payload: event.payload(),
        })?;
        Ok(Self {
            event_id,
            kind: event.kind(),
            partition_key: event.partition_key().to_owned(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::OrderId;

    const PLACED: &str = r#"{"eventId":"e-1","eventType":"ORDER_PLACED","timestamp":"2025-10-30T12:00:00","payload":{"orderId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2,"price":19.99}],"total":39.98,"extra":{"nested":true}},"schemaVersion":3}"#;

    #[test]
    fn reads_envelope_and_ignores_unknown_fields() {
        let env = Envelope::parse(PLACED.as_bytes()).unwrap();
        assert_eq!(env.kind(), Some(EventKind::OrderPlaced));
        assert_eq!(env.dedup_key(), DedupKey::EventId("e-1".into()));
        assert_eq!(
            env.timestamp().unwrap().unwrap().to_rfc3339(),
            "2025-10-30T12:00:00.000Z"
        );
        let Event::OrderPlaced(placed) = env.event(EventKind::OrderPlaced).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(placed.order_id, OrderId::parse("o-1").unwrap());
        assert_eq!(placed.total.unwrap().to_string(), "39.98");
    }

    #[test]
    fn cqrs_command_shape_is_an_envelope_of_itself() {
        let data = br#"{"commandType":"RESERVE_INVENTORY","orderId":"o-9","userId":"u-1","items":[{"productId":"p","quantity":1}]}"#;
        let env = Envelope::parse(data).unwrap();
        assert!(env.is_command_shape());
        let Event::ReserveInventory(cmd) = env.event(EventKind::ReserveInventory).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(cmd.saga().as_str(), "o-9");
        // No eventId: deduplicated by the data's hash, stable across deliveries.
        assert_eq!(env.dedup_key(), Envelope::parse(data).unwrap().dedup_key());
        assert!(matches!(env.dedup_key(), DedupKey::DataHash(_)));
    }

    #[test]
    fn undecodable_records_say_why() {
        assert_eq!(
            Envelope::parse(&[0xff, 0xfe]).unwrap_err(),
            DecodeError::NotUtf8(0)
        );
        assert!(matches!(
            Envelope::parse(b"[1,2]").unwrap_err(),
            DecodeError::NotJson(_)
        ));
        assert!(matches!(
            Envelope::parse(b"{\"eventType\":").unwrap_err(),
            DecodeError::NotJson(_)
        ));
        assert_eq!(
            Envelope::parse(b"{\"payload\":{}}").unwrap_err(),
            DecodeError::MissingType
        );
        assert_eq!(
            Envelope::parse(b"{\"eventType\":\"ORDER_PLACED\"}").unwrap_err(),
            DecodeError::MissingPayload
        );
        assert_eq!(
            Envelope::parse(b"{\"eventType\":\"ORDER_PLACED\",\"payload\":[]}").unwrap_err(),
            DecodeError::MissingPayload
        );
    }

    #[test]
    fn oversized_or_odd_envelope_fields_are_invalid() {
        let long_id = format!(
            r#"{{"eventId":"{}","eventType":"ORDER_PLACED","payload":{{}}}}"#,
            "e".repeat(4096)
        );
        assert!(matches!(
            Envelope::parse(long_id.as_bytes()).unwrap_err(),
            DecodeError::InvalidEnvelope(reason) if reason.contains("eventId is longer than 256")
        ));
        let ok_id = format!(
            r#"{{"eventId":"{}","eventType":"ORDER_PLACED","payload":{{}}}}"#,
            "e".repeat(256)
        );
        assert!(Envelope::parse(ok_id.as_bytes()).is_ok());
        let control = br#"{"eventId":"a\u0000b","eventType":"ORDER_PLACED","payload":{}}"#;
        let err = Envelope::parse(control).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidEnvelope(_)), "{err:?}");
        let long_type = format!(r#"{{"eventType":"{}","payload":{{}}}}"#, "T".repeat(65));
        assert!(matches!(
            Envelope::parse(long_type.as_bytes()).unwrap_err(),
            DecodeError::InvalidEnvelope(_)
        ));
        let far =
            br#"{"eventType":"ORDER_PLACED","timestamp":"9999-12-31T23:30:00-01:00","payload":{}}"#;
        assert!(Envelope::parse(far).unwrap().timestamp().is_err());
    }

    #[test]
    fn unknown_types_are_readable_but_have_no_kind() {
        let env = Envelope::parse(br#"{"eventType":"LOYALTY_POINTS","payload":{}}"#).unwrap();
        assert_eq!(env.kind(), None);
        assert_eq!(env.event_type(), "LOYALTY_POINTS");
    }

    #[test]
    fn invalid_payloads_name_the_problem() {
        let data = br#"{"eventType":"ORDER_CREATED","payload":{"orderId":"o","userId":"u","items":[{"productId":"p","quantity":0}]}}"#;
        let env = Envelope::parse(data).unwrap();
        let err = env.event(EventKind::OrderCreated).unwrap_err();
        assert_eq!(err.event_type, "ORDER_CREATED");
        assert!(err.reason.contains("quantity 0 is out of range"), "{err}");
    }

    #[test]
    fn amounts_are_written_from_their_digits_whatever_their_size() {
        for total in [
            "18446744073709551616",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "0.000000000000000000000008",
        ] {
            let data = format!(
                r#"{{"eventId":"e-1","eventType":"PROCESS_PAYMENT","payload":{{"orderId":"o-1","sagaId":"o-1","userId":"u-1","total":"{total}"}}}}"#
            );
            let env = Envelope::parse(data.as_bytes()).unwrap();
            let event = env.event(EventKind::ProcessPayment).unwrap();
            let out =
                OutgoingRecord::new(EventId::derived(&["x"]), Timestamp::now(), &event).unwrap();
            let text = std::str::from_utf8(&out.data).unwrap();
            assert!(
                text.contains(&format!("\"total\":{total}")),
                "{total}: {text}"
            );
            let again = Envelope::parse(&out.data).unwrap();
            assert_eq!(
                again.event(EventKind::ProcessPayment).unwrap(),
                event,
                "{text}"
            );
            let twice =
                OutgoingRecord::new(EventId::derived(&["x"]), out_timestamp(&out), &event).unwrap();
            assert_eq!(
                twice.data, out.data,
                "the same event is written to the same bytes"
            );
        }
    }

    fn out_timestamp(out: &OutgoingRecord) -> Timestamp {
        Envelope::parse(&out.data)
            .unwrap()
            .timestamp()
            .unwrap()
            .unwrap()
    }

    #[test]
    fn outgoing_records_round_trip() {
        let env = Envelope::parse(PLACED.as_bytes()).unwrap();
        let event = env.event(EventKind::OrderPlaced).unwrap();
        let out = OutgoingRecord::new(EventId::derived(&["x"]), Timestamp::now(), &event).unwrap();
        assert_eq!(out.partition_key, "o-1");
        let again = Envelope::parse(&out.data).unwrap();
        assert_eq!(again.event_id(), Some(out.event_id.as_str()));
        assert_eq!(again.event(EventKind::OrderPlaced).unwrap(), event);
        let text = std::str::from_utf8(&out.data).unwrap();
        assert!(text.contains("\"price\":19.99"), "{text}");
    }
}
