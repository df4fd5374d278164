//! The saga store port: read a saga, write it conditionally on the version
//! read. Plus an in-memory store for tests.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

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

/// Sagas in memory, with the same conditional-write semantics.
#[derive(Debug, Default)]
pub struct InMemorySagaStore {
    sagas: Mutex<HashMap<OrderId, SagaRecord>>,
}

impl InMemorySagaStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored saga of `order_id`, for assertions.
    pub fn get(&self, order_id: &str) -> Option<SagaRecord> {
        let order_id = OrderId::parse(order_id).ok()?;
        self.sagas.lock().ok()?.get(&order_id).cloned()
    }

    /// Every stored saga.
    pub fn all(&self) -> Vec<SagaRecord> {
        self.sagas
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl SagaStore for InMemorySagaStore {
    async fn load(&self, order_id: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        let sagas = self
            .sagas
            .lock()
            .map_err(|_| StoreError::Unavailable(anyhow::anyhow!("lock poisoned")))?;
        Ok(sagas.get(order_id).cloned())
    }

    async fn save(&self, record: &SagaRecord, read_version: Option<u64>) -> Result<(), StoreError> {
        let mut sagas = self
            .sagas
            .lock()
            .map_err(|_| StoreError::Unavailable(anyhow::anyhow!("lock poisoned")))?;
        let stored = sagas.get(&record.saga.order_id).map(|r| r.saga.version);
        if stored != read_version {
            return Err(StoreError::Conflict);
        }
        sagas.insert(record.saga.order_id.clone(), record.clone());
        Ok(())
    }
}
