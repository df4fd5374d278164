//! The producer side: how a shop's order service writes its events to the
//! `ORDER_EVENTS_STREAM`, in Rust.
//!
//! Every event gets the contract's envelope (`eventId`, `eventType`,
//! `timestamp`, `payload`) and is written under its partition key: the
//! `orderId`, or the `userId` for user events, so one order's events stay
//! in order in one shard. Events are sent with `PutRecords`, at most 500 a
//! call; `PutRecords` can succeed as a call while failing some of its
//! entries (throttling), so the failed entries, and only they, are sent
//! again with backoff. All of that is `stream_core::OrderedPublisher`, the
//! same code the functions publish with; it also keeps one key's records
//! from overtaking each other when an entry has to be re-sent.

use std::time::Duration;

use anyhow::{bail, Context};
use order_events::{Event, EventId, EventKind, OrderCancelled, OutgoingRecord, Timestamp};
use stream_core::{
    Deadline, KinesisPutRecords, OrderedPublisher, RecordPublisher, RetryPolicy, StreamRef,
};

/// How long one publish may keep re-sending failed entries.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes order events to one stream.
pub struct OrderEventPublisher {
    publisher: OrderedPublisher<KinesisPutRecords>,
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub records: usize,
    /// `PutRecords` calls, re-sends of failed entries included.
    pub calls: u32,
}

impl OrderEventPublisher {
    pub fn new(kinesis: aws_sdk_kinesis::Client, stream: StreamRef) -> Self {
        Self {
            publisher: OrderedPublisher::new(
                KinesisPutRecords::new(kinesis, stream),
                RetryPolicy::default(),
            ),
        }
    }

    /// The record of `event`: a new `eventId` (a producer's event is a new
    /// fact), the time now, and the event's partition key.
    pub fn record(event: &Event) -> anyhow::Result<OutgoingRecord> {
        OutgoingRecord::new(EventId::random(), Timestamp::now(), event)
            .with_context(|| format!("writing a {} record", event.kind()))
    }

    /// A record carrying `data` as it is, for data that is not a valid
    /// event. `kind` only says which stream it belongs to.
    pub fn raw(partition_key: &str, data: Vec<u8>) -> OutgoingRecord {
        OutgoingRecord {
            event_id: EventId::random(),
            kind: EventKind::OrderPlaced,
            partition_key: partition_key.to_owned(),
            data,
        }
    }

    /// Publishes `events` in order per partition key.
    pub async fn publish_events(&self, events: &[Event]) -> anyhow::Result<Published> {
        let records = events
            .iter()
            .map(Self::record)
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.publish(&records).await
    }

    /// Publishes `records` as they are. Publishing a record again (the same
    /// bytes) is what a producer does when it retries after a timeout whose
    /// first attempt did land: consumers see it twice.
    pub async fn publish(&self, records: &[OutgoingRecord]) -> anyhow::Result<Published> {
        let report = self
            .publisher
            .publish(records, Deadline::in_(PUBLISH_TIMEOUT))
            .await;
        if !report.failed.is_empty() {
            bail!(
                "{} of {} records could not be published after {} PutRecords calls",
                report.failed.len(),
                records.len(),
                report.calls
            );
        }
        Ok(Published {
            records: records.len(),
            calls: report.calls,
        })
    }

    /// The customer cancels an order.
    pub async fn cancel(&self, cancelled: OrderCancelled) -> anyhow::Result<Published> {
        self.publish_events(&[Event::OrderCancelled(cancelled)])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::{Envelope, OrderId, UserId, UserRegistered};

    #[test]
    fn records_carry_the_envelope_and_the_contract_partition_key() {
        let user = Event::UserRegistered(UserRegistered {
            user_id: UserId::parse("user-0001").unwrap(),
            email: order_events::EmailAddress::parse("jane.doe@example.com").unwrap(),
            registration_date: None,
            name: None,
        });
        let record = OrderEventPublisher::record(&user).unwrap();
        assert_eq!(record.partition_key, "user-0001");
        let envelope = Envelope::parse(&record.data).unwrap();
        assert_eq!(envelope.kind(), Some(EventKind::UserRegistered));
        assert_eq!(envelope.event_id(), Some(record.event_id.as_str()));
        assert!(envelope.timestamp().unwrap().is_some());

        let cancel = Event::OrderCancelled(OrderCancelled {
            order_id: OrderId::parse("ord-1008").unwrap(),
            user_id: None,
            reason: Some("changed my mind".into()),
        });
        let first = OrderEventPublisher::record(&cancel).unwrap();
        let second = OrderEventPublisher::record(&cancel).unwrap();
        assert_eq!(first.partition_key, "ord-1008");
        assert_ne!(first.event_id, second.event_id, "each event is a new fact");
    }
}
