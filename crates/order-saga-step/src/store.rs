//! The saga store port: read a saga, write it conditionally on the version
//! read; for the sweep, scan for sagas whose step deadline has passed.
//! Adapters: [`dynamodb`] (`SAGA_TABLE`) and, for tests and local tools,
//! [`memory`].

pub mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

pub use dynamodb::DynamoDbSagaStore;
#[cfg(any(test, feature = "test-util"))]
pub use memory::InMemorySagaStore;

use std::future::Future;

use order_events::{OrderId, OutgoingRecord};

use crate::saga::Saga;

/// A saga as stored: its state and the records of its last transition
/// (the outbox), kept so a redelivery of that transition's event can send
/// them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaRecord {
    pub saga: Saga,
    pub outbox: Vec<OutgoingRecord>,
    /// Where the stream record that made the last transition sits (shard,
    /// sequence number, sub-sequence number). Only a redelivery of that
    /// very record re-sends the outbox: see [`crate::handler`].
    pub source: Option<String>,
    /// The outbox was written by the sweep and is not known to have been
    /// published. Only an ended saga is written so (a saga that goes on
    /// gets its command re-sent at its next deadline anyway); the sweep
    /// publishes it again until [`SweepStore::confirm_published`] clears
    /// the mark, so an ORDER_FAILED decided by a deadline is never lost.
    pub outbox_pending: bool,
}

impl SagaRecord {
    /// True when the sweep has something to do with this saga at `now_ms`:
    /// it is RUNNING or COMPENSATING and its step deadline has come (or it
    /// has none), or its outbox still has to be published.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.outbox_pending
            || (!self.saga.status().is_final()
                && self.saga.step_deadline.is_none_or(|d| d <= now_ms))
    }
}

/// Where a scan goes on: after the saga of this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScanCursor(pub String);

/// A scanned item that does not read as a saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The item's key, when it has a string key (as stored: clip it before
    /// logging it).
    pub key: Option<String>,
    /// Why it is unreadable (bounded).
    pub error: String,
}

/// One page of a scan for sagas that are due (see [`SagaRecord::is_due`]).
#[derive(Debug, Default)]
pub struct DuePage {
    /// The due sagas of the page, in scan order.
    pub sagas: Vec<Result<SagaRecord, Unreadable>>,
    /// Items the page evaluated, due or not.
    pub scanned: usize,
    /// Where the next page starts; `None`: the scan reached the end.
    pub next: Option<ScanCursor>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The saga is not at the version read any more (or already exists
    /// when creating): another writer got there first.
    #[error("the saga was changed by another writer")]
    Conflict,
    /// The stored item cannot be read as a saga; retrying will not help.
    #[error("stored saga is unreadable: {0}")]
    Corrupt(String),
    /// The store could not be reached or refused the call; worth retrying.
    #[error("saga store unavailable: {0:#}")]
    Unavailable(anyhow::Error),
}

/// Persistence of sagas, one per order.
pub trait SagaStore: Send + Sync {
    /// The saga of `order_id`, read strongly consistent.
    fn load(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<SagaRecord>, StoreError>> + Send;

    /// Writes `record` if the stored saga is still at `read_version`
    /// (`None`: only if no saga exists for the order); otherwise
    /// [`StoreError::Conflict`] and nothing is written.
    fn save(
        &self,
        record: &SagaRecord,
        read_version: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the sweep needs beyond reading and writing one saga.
pub trait SweepStore: SagaStore {
    /// One page of the scan for due sagas: at most `limit` items evaluated,
    /// starting after `start` (`None`: from the beginning). Eventually
    /// consistent: the conditional write decides, not the scan.
    fn scan_due(
        &self,
        now_ms: u64,
        start: Option<&ScanCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;

    /// Clears the unpublished mark of `order_id`'s saga if it is still at
    /// `version`. `Ok(false)`: the saga has moved on, nothing was changed.
    fn confirm_published(
        &self,
        order_id: &OrderId,
        version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<T: SweepStore> SweepStore for std::sync::Arc<T> {
    fn scan_due(
        &self,
        now_ms: u64,
        start: Option<&ScanCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send {
        (**self).scan_due(now_ms, start, limit)
    }

    fn confirm_published(
        &self,
        order_id: &OrderId,
        version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).confirm_published(order_id, version)
    }
}

impl<T: SagaStore> SagaStore for std::sync::Arc<T> {
    fn load(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<SagaRecord>, StoreError>> + Send {
        (**self).load(order_id)
    }

    fn save(
        &self,
        record: &SagaRecord,
        read_version: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(record, read_version)
    }
}
