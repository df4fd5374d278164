//! Idempotent execution, with the semantics of Powertools for AWS Lambda:
//! a conditional put claims the key as IN_PROGRESS, success marks it
//! COMPLETED with the result, failure deletes it so a retry can run again.
//! Every record expires (a TTL attribute), and an IN_PROGRESS claim expires
//! with the invocation that made it, so a timed-out invocation does not lock
//! the event out until the TTL.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::deadline::Deadline;
use crate::handler::HandlerError;

/// The state of a key after trying to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller now owns the key and must complete or release it.
    Acquired,
    /// The work was done before; here is its stored result.
    AlreadyCompleted(Option<String>),
    /// Another invocation holds the key and has not finished.
    InProgress,
}

/// A failure of the store itself; always worth retrying.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0:#}")]
pub struct StoreError(#[from] pub anyhow::Error);

/// The persistence of idempotency records.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` unless a live record holds it. `in_progress_until` is
    /// the claiming invocation's deadline (epoch milliseconds); `expires_at`
    /// the record's TTL (epoch seconds).
    fn claim(
        &self,
        key: &str,
        in_progress_until_ms: u64,
        expires_at_s: u64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Marks `key` COMPLETED with the result.
    fn complete(
        &self,
        key: &str,
        result: Option<String>,
        expires_at_s: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the claim so the work can run again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a guarded piece of work went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome<T> {
    /// The work ran now.
    Executed(T),
    /// The work had already run; this is its stored result.
    Replayed(T),
}

/// Runs work at most once per key (while the record lives).
#[derive(Debug, Clone)]
pub struct Idempotency<S> {
    store: S,
    ttl: Duration,
    scope: String,
}

pub(crate) fn epoch_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// `scope` prefixes every key (the function name), so functions sharing
    /// a table never see each other's records.
    pub fn new(store: S, scope: impl Into<String>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            scope: scope.into(),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}#{}", self.scope, key)
    }

    /// Runs `work` unless `key` was completed before (then returns the
    /// stored result) or is being worked on by another invocation (then a
    /// transient error, so the record is retried later).
    pub async fn run<T, F, Fut>(
        &self,
        key: &str,
        deadline: Deadline,
        work: F,
    ) -> Result<IdempotentOutcome<T>, HandlerError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, HandlerError>>,
    {
        let key = self.full_key(key);
        let expires_at = (epoch_now() + self.ttl).as_secs();
        match self
            .store
            .claim(&key, deadline.epoch_millis(), expires_at)
            .await
            .map_err(HandlerError::transient)?
        {
            Claim::AlreadyCompleted(stored) => {
                let stored = stored.unwrap_or_else(|| "null".to_owned());
                let value = serde_json::from_str(&stored).map_err(|e| {
                    HandlerError::transient(anyhow::anyhow!(
                        "stored result of {key} is unreadable: {e}"
                    ))
                })?;
                Ok(IdempotentOutcome::Replayed(value))
            }
            Claim::InProgress => Err(HandlerError::transient(anyhow::anyhow!(
                "{key} is in progress in another invocation"
            ))),
            Claim::Acquired => match work().await {
                Ok(value) => {
                    let stored = serde_json::to_string(&value).map_err(|e| {
                        HandlerError::transient(anyhow::anyhow!(
                            "result of {key} cannot be stored: {e}"
                        ))
                    })?;
                    // The effect happened; failing to record it would
                    // repeat the effect on redelivery, so this is retried
                    // like any store call before giving up.
                    self.store
                        .complete(&key, Some(stored), expires_at)
                        .await
                        .map_err(HandlerError::transient)?;
                    Ok(IdempotentOutcome::Executed(value))
                }
                Err(err) => {
                    if let Err(release_err) = self.store.release(&key).await {
                        // The claim then lapses with the invocation's
                        // deadline, so the record is not locked out.
                        tracing::warn!(
                            key = %order_events::values::mask_email(&key),
                            error = %release_err,
                            "could not release idempotency claim"
                        );
                    }
                    Err(err)
                }
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MemoryRecord {
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
    StoreError(anyhow::anyhow!("in-memory store lock poisoned"))
}

impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        in_progress_until_ms: u64,
        expires_at_s: u64,
    ) -> Result<Claim, StoreError> {
        let now = epoch_now();
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        if let Some(existing) = records.get(key) {
            let expired = existing.expires_at_s < now.as_secs();
            let lapsed =
                !existing.completed && existing.in_progress_until_ms < now.as_millis() as u64;
            if !expired && !lapsed {
                return Ok(if existing.completed {
                    Claim::AlreadyCompleted(existing.result.clone())
                } else {
                    Claim::InProgress
                });
            }
        }
        records.insert(
            key.to_owned(),
            MemoryRecord {
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
                completed: true,
                result,
                in_progress_until_ms: 0,
                expires_at_s,
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.records.lock().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }
}

impl<T: IdempotencyStore> IdempotencyStore for std::sync::Arc<T> {
    fn claim(
        &self,
        key: &str,
        until: u64,
        exp: u64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, until, exp)
    }
    fn complete(
        &self,
        key: &str,
        result: Option<String>,
        exp: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(key, result, exp)
    }
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn layer() -> Idempotency<Arc<InMemoryIdempotencyStore>> {
        Idempotency::new(
            Arc::new(InMemoryIdempotencyStore::default()),
            "fn",
            Duration::from_secs(3600),
        )
    }

    #[tokio::test]
    async fn runs_once_then_replays_the_stored_result() {
        let idem = layer();
        let runs = AtomicU32::new(0);
        let deadline = Deadline::in_(Duration::from_secs(30));
        for expected in [
            IdempotentOutcome::Executed(7),
            IdempotentOutcome::Replayed(7),
        ] {
            let out = idem
                .run("k", deadline, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, HandlerError>(7)
                })
                .await
                .unwrap();
            assert_eq!(out, expected);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(idem.store().is_completed("fn#k"));
    }

    #[tokio::test]
    async fn failure_releases_the_key_so_a_retry_runs() {
        let idem = layer();
        let deadline = Deadline::in_(Duration::from_secs(30));
        let err = idem
            .run("k", deadline, || async {
                Err::<u8, _>(HandlerError::permanent("nope"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)));
        assert!(idem.store().is_empty());
        let out = idem
            .run("k", deadline, || async { Ok::<_, HandlerError>(1u8) })
            .await
            .unwrap();
        assert_eq!(out, IdempotentOutcome::Executed(1));
    }

    #[tokio::test]
    async fn a_live_claim_is_in_progress_and_a_lapsed_one_is_taken_over() {
        let store = InMemoryIdempotencyStore::default();
        let now_ms = epoch_now().as_millis() as u64;
        let ttl = epoch_now().as_secs() + 3600;
        assert_eq!(
            store.claim("k", now_ms + 60_000, ttl).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.claim("k", now_ms + 60_000, ttl).await.unwrap(),
            Claim::InProgress
        );
        // The first claimant's invocation timed out: its claim lapsed.
        let lapsed = InMemoryIdempotencyStore::default();
        assert_eq!(
            lapsed.claim("k", now_ms - 1, ttl).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            lapsed.claim("k", now_ms + 60_000, ttl).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            lapsed.claim("k", now_ms + 60_000, ttl).await.unwrap(),
            Claim::InProgress
        );
    }
}
