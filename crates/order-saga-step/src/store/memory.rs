//! The saga store in memory, with the same conditional-write semantics as
//! the table: for tests and local tools, never in a Lambda build.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use order_events::OrderId;

use super::{DuePage, SagaRecord, SagaStore, ScanCursor, StoreError, SweepStore};

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

    /// The sagas, or the store unavailable if a writer panicked holding
    /// them.
    fn locked(&self) -> Result<MutexGuard<'_, HashMap<OrderId, SagaRecord>>, StoreError> {
        self.sagas
            .lock()
            .map_err(|_| StoreError::Unavailable(anyhow::anyhow!("lock poisoned")))
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
        let sagas = self.locked()?;
        Ok(sagas.get(order_id).cloned())
    }

    async fn save(&self, record: &SagaRecord, read_version: Option<u64>) -> Result<(), StoreError> {
        let mut sagas = self.locked()?;
        let stored = sagas.get(&record.saga.order_id).map(|r| r.saga.version);
        if stored != read_version {
            return Err(StoreError::Conflict);
        }
        sagas.insert(record.saga.order_id.clone(), record.clone());
        Ok(())
    }
}

impl SweepStore for InMemorySagaStore {
    /// Scans in order-id order, so a cursor means the same on every call.
    async fn scan_due(
        &self,
        now_ms: u64,
        start: Option<&ScanCursor>,
        limit: u32,
    ) -> Result<DuePage, StoreError> {
        let sagas = self.locked()?;
        let mut keys: Vec<&OrderId> = sagas
            .keys()
            .filter(|k| start.is_none_or(|s| k.as_str() > s.0.as_str()))
            .collect();
        keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let mut page = DuePage::default();
        for key in keys.iter().take(limit) {
            page.scanned += 1;
            if let Some(record) = sagas.get(*key).filter(|r| r.is_due(now_ms)) {
                page.sagas.push(Ok(record.clone()));
            }
        }
        if keys.len() > limit {
            page.next = keys
                .get(limit - 1)
                .map(|k| ScanCursor(k.as_str().to_owned()));
        }
        Ok(page)
    }

    async fn confirm_published(
        &self,
        order_id: &OrderId,
        version: u64,
    ) -> Result<bool, StoreError> {
        let mut sagas = self.locked()?;
        match sagas.get_mut(order_id) {
            Some(record) if record.saga.version == version => {
                record.outbox_pending = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
