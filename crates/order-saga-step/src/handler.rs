//! The function's [`Handler`]: read the saga, decide with the pure state
//! machine, write the new state conditionally on the version read, and hand
//! the transition's records to the core, which publishes them only after
//! the handler returns (so only after the write succeeded). An order placed
//! skips the read: its saga is created with a write conditional on none
//! existing, and only when one does is it read and judged like any event.
//!
//! A lost race (another invocation advanced the saga between our read and
//! our write) is retried from the read, a few times, with backoff. The
//! event is then judged against the saga as it is now: usually a duplicate
//! or out of date, so concurrent deliveries never both advance a saga.
//!
//! # When the stored records are sent again
//!
//! The write and the publishing are two steps, so the records of the last
//! transition (the outbox) are stored with the saga, together with the
//! stream position of the record that made the transition. If publishing
//! fails, the core reports that very record and Lambda delivers it again
//! from the same position: the event is then a duplicate, and the outbox is
//! returned for publishing once more. Nothing is ever lost this way.
//!
//! Another copy of an applied event, at another position (a producer's
//! retry, or a participant answering a duplicated command again), re-sends
//! nothing: its first copy's redelivery already covers a failed publish,
//! and re-sending for every copy would multiply duplicates at every hop of
//! the saga (each copy of a command draws a reply, each copy of a reply
//! would draw the command again). Nor does an event older than the last
//! applied one: its records were followed by later ones, and sending them
//! again now would reorder the saga's commands.

use std::time::Duration;

use order_events::{Event, OrderId, OutgoingRecord, Timestamp};
use stream_core::{
    retry, Handled, Handler, HandlerError, IncomingEvent, RecordOrigin, RetryError, RetryPolicy,
};

use crate::config::DEFAULT_STEP_TIMEOUT;
use crate::machine::{transition, Decision, Emit, Timing, SHIPPED_AFTER_TIMEOUT};
use crate::saga::Saga;
use crate::store::{SagaRecord, SagaStore, StoreError};
use crate::text;

/// Retries after a lost race: each retry re-reads the saga.
pub const RACE_POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: Duration::from_millis(10),
    max_delay: Duration::from_millis(200),
    deadline_margin: Duration::from_millis(500),
};

pub struct SagaHandler<S> {
    store: S,
    race_policy: RetryPolicy,
    step_timeout: Duration,
}

/// Why one read-decide-write attempt did not finish.
#[derive(Debug)]
enum AttemptError {
    Conflict,
    Store(StoreError),
    Reject(String),
}

impl<S: SagaStore> SagaHandler<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            race_policy: RACE_POLICY,
            step_timeout: DEFAULT_STEP_TIMEOUT,
        }
    }

    pub fn with_race_policy(mut self, policy: RetryPolicy) -> Self {
        self.race_policy = policy;
        self
    }

    /// How long a participant has to answer each command sent
    /// (`SAGA_STEP_TIMEOUT_SECONDS`); the deadline is stored with the saga.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = timeout;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// One try: decide from the stored saga and write. `first`: no race
    /// has been lost yet, so an order placed may skip the read.
    async fn attempt(
        &self,
        order_id: &OrderId,
        incoming: &IncomingEvent,
        first: bool,
    ) -> Result<Handled, AttemptError> {
        if first {
            if let Some(started) = self.start_unread(order_id, incoming).await {
                return started;
            }
        }
        let current = self
            .store
            .load(order_id)
            .await
            .map_err(AttemptError::Store)?;
        let saga = current.as_ref().map(|r| &r.saga);
        let timing = Timing::new(crate::now_millis(), self.step_timeout);
        match transition(saga, &incoming.event, &incoming.dedup_key, timing) {
            Decision::Ignore { reason } => {
                log_ignored(order_id, incoming, saga, reason);
                Ok(Handled::Skipped { reason })
            }
            Decision::Duplicate { latest } => Ok(redelivered(order_id, incoming, current, latest)),
            Decision::Reject { reason } => Err(AttemptError::Reject(reason)),
            Decision::Apply { saga: next, emit } => {
                self.apply(order_id, incoming, saga, next, &emit).await
            }
        }
    }

    /// An order placed almost always starts a saga that does not exist yet,
    /// so its saga is written on that assumption without reading first
    /// (one store call instead of two): the write is conditional on no saga
    /// existing. `None` when the assumption does not hold (a redelivery, a
    /// saga already there) or gives no write: the caller then decides from
    /// the stored saga as for any other event.
    async fn start_unread(
        &self,
        order_id: &OrderId,
        incoming: &IncomingEvent,
    ) -> Option<Result<Handled, AttemptError>> {
        if !matches!(incoming.event, Event::OrderPlaced(_)) {
            return None;
        }
        let timing = Timing::new(crate::now_millis(), self.step_timeout);
        let Decision::Apply { saga, emit } =
            transition(None, &incoming.event, &incoming.dedup_key, timing)
        else {
            return None;
        };
        match self.apply(order_id, incoming, None, saga, &emit).await {
            Err(AttemptError::Conflict) => None,
            other => Some(other),
        }
    }

    /// Writes `next`, decided from `read`, with the records of `emit` as
    /// its outbox; conditional on `read`'s version.
    async fn apply(
        &self,
        order_id: &OrderId,
        incoming: &IncomingEvent,
        read: Option<&Saga>,
        next: Saga,
        emit: &[Emit],
    ) -> Result<Handled, AttemptError> {
        let now = Timestamp::now();
        let outbox = emit
            .iter()
            .map(|e| OutgoingRecord::new(e.event_id.clone(), now, &e.event))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                AttemptError::Reject(format!(
                    "a saga record cannot be written: {}",
                    text::echo(&e.to_string())
                ))
            })?;
        let record = SagaRecord {
            saga: next,
            outbox,
            source: Some(position(&incoming.origin)),
            outbox_pending: false,
        };
        match self.store.save(&record, read.map(|s| s.version)).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(AttemptError::Conflict),
            Err(other) => return Err(AttemptError::Store(other)),
        }
        tracing::info!(
            orderId = %order_id,
            eventType = incoming.event.kind().as_str(),
            from = status_of(read),
            to = record.saga.status().as_str(),
            step = record.saga.phase.step_name(),
            version = record.saga.version,
            reason = record.saga.reason.map(|r| r.code()),
            detail = record.saga.detail.as_deref(),
            stepDeadline = record.saga.step_deadline,
            emitted = ?record.outbox.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
            "saga advanced"
        );
        Ok(Handled::Done {
            emit: record.outbox,
        })
    }
}

/// The status of `saga` for the logs; `NONE` when there is no saga.
fn status_of(saga: Option<&Saga>) -> &'static str {
    saga.map(|s| s.status().as_str()).unwrap_or("NONE")
}

/// Logs an event that changes nothing: loudly when a shipment was made
/// for a saga that had already timed out, as someone has to undo it.
fn log_ignored(order_id: &OrderId, incoming: &IncomingEvent, saga: Option<&Saga>, reason: &str) {
    let event_type = incoming.event.kind().as_str();
    let saga_status = status_of(saga);
    if reason == SHIPPED_AFTER_TIMEOUT {
        tracing::warn!(
            orderId = %order_id,
            eventType = event_type,
            sagaStatus = saga_status,
            reason,
            "the shipping service answered after the saga timed out"
        );
    } else {
        tracing::debug!(
            orderId = %order_id,
            eventType = event_type,
            sagaStatus = saga_status,
            reason,
            "event changes nothing in the saga"
        );
    }
}

/// What a redelivery of an applied event sends: the stored outbox again
/// when it is the very record that made the last transition (its publish
/// may have failed), nothing otherwise.
fn redelivered(
    order_id: &OrderId,
    incoming: &IncomingEvent,
    current: Option<SagaRecord>,
    latest: bool,
) -> Handled {
    let position = position(&incoming.origin);
    let emit = match current {
        Some(record) if latest && record.source.as_deref() == Some(position.as_str()) => {
            record.outbox
        }
        _ => Vec::new(),
    };
    tracing::info!(
        orderId = %order_id,
        eventType = incoming.event.kind().as_str(),
        latest,
        resent = emit.len(),
        "event already applied to the saga"
    );
    Handled::Duplicate { emit }
}

/// Where a record sits on its stream: the same for every delivery of that
/// record, different for any other copy of the same event.
pub fn position(origin: &RecordOrigin) -> String {
    let shard = origin.shard_id.as_deref().unwrap_or("-");
    match origin.sub_sequence_number {
        Some(sub) => format!("{shard}:{}:{sub}", origin.sequence_number),
        None => format!("{shard}:{}", origin.sequence_number),
    }
}

impl<S: SagaStore> Handler for SagaHandler<S> {
    fn handles(&self, kind: order_events::EventKind) -> bool {
        crate::DESCRIPTOR.handles(kind)
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        let Some(order_id) = incoming.event.order_id().cloned() else {
            return Ok(Handled::Skipped {
                reason: "not about an order",
            });
        };
        let (order, event) = (&order_id, &incoming);
        let result = retry(
            &self.race_policy,
            incoming.deadline,
            |err: &AttemptError| matches!(err, AttemptError::Conflict),
            |attempt| {
                if attempt > 1 {
                    tracing::debug!(orderId = %order, attempt, "lost a race for the saga; reading it again");
                }
                self.attempt(order, event, attempt == 1)
            },
        )
        .await;
        match result {
            Ok(handled) => Ok(handled),
            Err(RetryError::Exhausted { attempts, .. }) => {
                Err(HandlerError::transient(anyhow::anyhow!(
                    "saga {order_id} kept changing under this write ({attempts} attempts)"
                )))
            }
            Err(RetryError::Permanent(AttemptError::Reject(reason))) => {
                Err(HandlerError::permanent(text::echo(&reason).into_owned()))
            }
            Err(RetryError::Permanent(AttemptError::Store(StoreError::Corrupt(reason)))) => {
                Err(HandlerError::permanent(format!(
                    "saga {order_id}: stored state unreadable: {}",
                    text::echo(&reason)
                )))
            }
            Err(RetryError::Permanent(err)) => Err(HandlerError::transient(anyhow::anyhow!(
                "saga {order_id}: {err:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
