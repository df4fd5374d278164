//! Replies to saga commands. A reply is decided once, stored with the
//! command's idempotency record, and rebuilt from the stored form on every
//! redelivery, so a redelivered command re-sends the very same record: same
//! `eventId` (derived from the command's deduplication key), same payload,
//! same timestamp, even when stock changed in between.
//!
//! One narrow case rebuilds rather than replays: when the effect was applied
//! but storing the reply failed, the redelivery runs again, the stock store
//! answers "already reserved/released", and the reply is decided anew with
//! the same `eventId` and a later `timestamp` (a release then answers with
//! empty `items`: the first run gave the units back).
//!
//! A failure's `reason` goes out as a [`FailureReason`] code, whatever was
//! stored: a reply stored with free text (as written before reasons were
//! codes) is re-sent with the code that text reads as (`OTHER`).

use order_events::{
    DedupKey, Event, EventId, FailureReason, InventoryReleased, InventoryReservationFailed,
    InventoryReserved, OutgoingRecord, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A reply as stored in the idempotency table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredReply {
    /// When the reply was decided, epoch milliseconds.
    pub at_ms: i64,
    pub reply: Reply,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", content = "payload")]
pub enum Reply {
    #[serde(rename = "INVENTORY_RESERVED")]
    Reserved(InventoryReserved),
    #[serde(rename = "INVENTORY_RESERVATION_FAILED")]
    ReservationFailed(InventoryReservationFailed),
    #[serde(rename = "INVENTORY_RELEASED")]
    Released(InventoryReleased),
}

impl StoredReply {
    pub fn now(reply: Reply) -> Self {
        Self {
            at_ms: Timestamp::now().unix_millis(),
            reply,
        }
    }

    /// The reply's event id: a function of the command's deduplication key
    /// only.
    pub fn event_id(command: &DedupKey) -> EventId {
        EventId::derived(&["inventory-reply", &command.to_string()])
    }

    /// The record to publish (partition key = the order id).
    pub fn to_record(&self, command: &DedupKey) -> Result<OutgoingRecord, serde_json::Error> {
        let event = match &self.reply {
            Reply::Reserved(p) => Event::InventoryReserved(p.clone()),
            Reply::ReservationFailed(p) => {
                Event::InventoryReservationFailed(InventoryReservationFailed {
                    reason: FailureReason::from_wire(&p.reason).code().to_owned(),
                    ..p.clone()
                })
            }
            Reply::Released(p) => Event::InventoryReleased(p.clone()),
        };
        let at = Timestamp::from_unix_millis(self.at_ms).unwrap_or_else(Timestamp::now);
        OutgoingRecord::new(Self::event_id(command), at, &event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::{Envelope, EventKind, OrderId, ProductId, SagaId};

    #[test]
    fn stored_replies_rebuild_the_same_record() {
        let reply = StoredReply::now(Reply::ReservationFailed(InventoryReservationFailed {
            order_id: OrderId::parse("o-1").unwrap(),
            saga_id: SagaId::parse("s-1").unwrap(),
            reason: FailureReason::OutOfStock.code().into(),
            product_id: Some(ProductId::parse("p-9").unwrap()),
        }));
        let key = DedupKey::EventId("cmd-1".into());
        let stored = serde_json::to_string(&reply).unwrap();
        let again: StoredReply = serde_json::from_str(&stored).unwrap();
        let first = reply.to_record(&key).unwrap();
        assert_eq!(first, again.to_record(&key).unwrap());
        assert_eq!(first.partition_key, "o-1");
        assert_eq!(first.kind, EventKind::InventoryReservationFailed);
        let envelope = Envelope::parse(&first.data).unwrap();
        assert_eq!(
            envelope.event_id(),
            Some(StoredReply::event_id(&key).as_str())
        );
        assert_ne!(
            StoredReply::event_id(&key),
            StoredReply::event_id(&DedupKey::EventId("cmd-2".into()))
        );
        let Event::InventoryReservationFailed(payload) = envelope
            .event(EventKind::InventoryReservationFailed)
            .unwrap()
        else {
            panic!("wrong kind");
        };
        assert_eq!(payload.product_id.unwrap().as_str(), "p-9");
        assert_eq!(payload.reason, "OUT_OF_STOCK");
    }

    #[test]
    fn a_reply_stored_with_free_text_goes_out_with_a_code() {
        let stored = r#"{"atMs":1761825600000,"reply":{"eventType":"INVENTORY_RESERVATION_FAILED","payload":{"orderId":"o-1","sagaId":"s-1","reason":"reserve for order o-1: ValidationException: Item size has exceeded 10.0.0.1","productId":"p-9"}}}"#;
        let reply: StoredReply = serde_json::from_str(stored).unwrap();
        let record = reply.to_record(&DedupKey::EventId("cmd-1".into())).unwrap();
        let envelope = Envelope::parse(&record.data).unwrap();
        let Event::InventoryReservationFailed(payload) = envelope
            .event(EventKind::InventoryReservationFailed)
            .unwrap()
        else {
            panic!("wrong kind");
        };
        assert_eq!(payload.reason, "OTHER");
        assert_eq!(payload.product_id.unwrap().as_str(), "p-9");
        let data = String::from_utf8(record.data.to_vec()).unwrap();
        assert!(!data.contains("ValidationException"), "{data}");
    }
}
