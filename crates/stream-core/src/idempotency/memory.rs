//! The in-memory idempotency store: the same claim, completion, release
//! and expiry rules as the DynamoDB one, for tests and local tools.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{epoch_now, Claim, IdempotencyStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
struct MemoryRecord {
    token: String,
    completed: bool,
    result: Option<String>,
    in_progress_until_ms: u64,
    expires_at_s: u64,
}

/// An in-memory store for unit tests, with the same expiry rules.
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, MemoryRecord>>,
}

impl InMemoryIdempotencyStore {
    pub fn len(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_completed(&self, full_key: &str) -> bool {
        self.records
            .lock()
            .map(|r| r.get(full_key).is_some_and(|rec| rec.completed))
            .unwrap_or(false)
    }
}

fn poisoned() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("in-memory store lock poisoned"))
}

impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        token: &str,
        in_progress_until_ms: u64,
        expires_at_s: u64,
    ) -> Result<Claim, StoreError> {
        let now = epoch_now();
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        if let Some(existing) = records.get(key) {
            let expired = existing.expires_at_s < now.as_secs();
            let lapsed =
                !existing.completed && existing.in_progress_until_ms < now.as_millis() as u64;
            let own = !existing.completed && existing.token == token;
            if !expired && !lapsed && !own {
                return Ok(if existing.completed {
                    Claim::AlreadyCompleted(existing.result.clone())
                } else {
                    Claim::InProgress {
                        until_ms: existing.in_progress_until_ms,
                    }
                });
            }
        }
        records.insert(
            key.to_owned(),
            MemoryRecord {
                token: token.to_owned(),
                completed: false,
                result: None,
                in_progress_until_ms,
                expires_at_s,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(
        &self,
        key: &str,
        result: Option<String>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        records.insert(
            key.to_owned(),
            MemoryRecord {
                token: String::new(),
                completed: true,
                result,
                in_progress_until_ms: 0,
                expires_at_s,
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        if records
            .get(key)
            .is_some_and(|r| !r.completed && r.token == token)
        {
            records.remove(key);
        }
        Ok(())
    }
}
