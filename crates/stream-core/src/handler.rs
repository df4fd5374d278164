//! What a function supplies: "handle one event". Everything around it
//! (decoding, ordering, failures, dead letters, metrics) is the core's.

use std::future::Future;

use order_events::{DedupKey, Event, EventKind, OutgoingRecord, Timestamp};

use crate::deadline::Deadline;
use crate::record::RecordOrigin;

/// One valid event, ready for the function.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    pub event: Event,
    /// `eventId`, or the hash of the data when the producer sent none.
    pub dedup_key: DedupKey,
    pub timestamp: Option<Timestamp>,
    pub origin: RecordOrigin,
    pub deadline: Deadline,
}

/// What handling an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The effect was applied. Records in `emit` are published after the
    /// handler returns, in order per partition key; if publishing fails the
    /// event's record is reported failed so Lambda redelivers it, so the
    /// handler must emit the same records again on a redelivery.
    Done { emit: Vec<OutgoingRecord> },
    /// A redelivery: nothing changed. `emit` re-sends what the first
    /// delivery emitted, for the case where publishing failed after the
    /// effect was applied.
    Duplicate { emit: Vec<OutgoingRecord> },
    /// Valid but not for this function (an event it chose not to act on).
    Skipped { reason: &'static str },
}

impl Handled {
    pub fn done() -> Self {
        Handled::Done { emit: Vec::new() }
    }

    pub fn duplicate() -> Self {
        Handled::Duplicate { emit: Vec::new() }
    }
}

/// Why handling failed. The split decides the record's fate.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (throttling, timeouts, 5xx, a concurrent invocation
    /// holding the event): reported to Lambda as a batch item failure.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Can never succeed (invalid data, unknown reference, rejected
    /// address): dead-lettered with the reason, then acknowledged.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandlerError {
    pub fn transient(err: impl Into<anyhow::Error>) -> Self {
        HandlerError::Transient(err.into())
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        HandlerError::Permanent(reason.into())
    }
}

/// A function's domain logic.
pub trait Handler: Send + Sync {
    /// The kinds this function acts on. Other kinds are skipped, counted and
    /// acknowledged without parsing their payload.
    fn handles(&self, kind: EventKind) -> bool;

    /// Handles one event. Called for the events of one partition key in
    /// stream order, never concurrently with another event of the same key.
    fn handle(
        &self,
        event: IncomingEvent,
    ) -> impl Future<Output = Result<Handled, HandlerError>> + Send;
}
