//! Idempotent execution, with the semantics of Powertools for AWS Lambda:
//! a conditional put claims the key as IN_PROGRESS, success marks it
//! COMPLETED with the result, failure deletes it so a retry can run again.
//! Every record expires (a TTL attribute), and an IN_PROGRESS claim expires
//! with the invocation that made it, so a timed-out invocation does not lock
//! the event out until the TTL.
//!
//! Beyond Powertools, a claim knows its owner, so faults do not block it:
//! - Each attempt writes a random token with its claim. A claim put whose
//!   answer was lost (applied, then the connection dropped) is retried by
//!   the SDK with the same token, and the condition lets the owner in.
//! - The process remembers the claims it holds. If the work succeeded but
//!   the COMPLETED write failed (after its retries), a redelivery to the
//!   same process writes the stored result instead of doing the work again,
//!   and a claim left behind by a failed release is re-entered by its token.
//! - A claim held by another invocation is waited for (polled with backoff)
//!   while that is shorter than this invocation's time, instead of failing
//!   the record at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::deadline::Deadline;
use crate::handler::HandlerError;
use crate::retry::{retry, RetryPolicy};

mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
mod memory;

pub use dynamodb::DynamoDbIdempotencyStore;
#[cfg(any(test, feature = "test-util"))]
pub use memory::InMemoryIdempotencyStore;

/// The state of a key after trying to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller now owns the key and must complete or release it.
    Acquired,
    /// The work was done before; here is its stored result.
    AlreadyCompleted(Option<String>),
    /// Another invocation holds the key and has not finished; its claim
    /// lapses at `until_ms` (epoch milliseconds; 0 when unknown).
    InProgress { until_ms: u64 },
}

/// Why a call to the idempotency store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store refused the request itself (DynamoDB's
    /// `ValidationException`: a key or item beyond its limits). The same
    /// request can never succeed, so the record is a permanent failure, not
    /// one retried until it expires.
    #[error("the idempotency store rejected the request: {0}")]
    Rejected(String),
    /// The store could not serve the request; always worth retrying.
    #[error("idempotency store: {0:#}")]
    Unavailable(#[from] anyhow::Error),
}

fn store_failure(err: StoreError) -> HandlerError {
    if matches!(err, StoreError::Rejected(_)) {
        HandlerError::permanent(
            "idempotency record rejected by the store (input beyond its limits)",
        )
    } else {
        HandlerError::transient(err)
    }
}

/// The persistence of idempotency records.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for the attempt `token` unless a live record of another
    /// attempt holds it. A claim already held by `token` is acquired again.
    /// `in_progress_until_ms` is the claiming invocation's deadline (epoch
    /// milliseconds); `expires_at_s` the record's TTL (epoch seconds).
    fn claim(
        &self,
        key: &str,
        token: &str,
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

    /// Deletes the claim of attempt `token` so the work can run again; a
    /// claim of another attempt is left alone.
    fn release(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a guarded piece of work went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome<T> {
    /// The work ran now.
    Executed(T),
    /// The work had already run; this is its stored result.
    Replayed(T),
}

/// A claim this process holds or left behind.
#[derive(Debug, Clone)]
struct Held {
    token: String,
    /// The work is running now in this process.
    in_flight: bool,
    /// The work succeeded with this (serialised) result, but the COMPLETED
    /// write has not landed yet.
    unconfirmed: Option<String>,
}

/// One run of a key: the token its claim carries and whether this run
/// keeps the process's bookkeeping of the claim.
struct Attempt {
    key: String,
    token: String,
    tracked: bool,
    expires_at: u64,
}

/// Runs work at most once per key (while the record lives).
#[derive(Debug, Clone)]
pub struct Idempotency<S> {
    store: S,
    ttl: Duration,
    scope: String,
    /// Retries of the store writes that must land (COMPLETED, release).
    writes: RetryPolicy,
    /// Longest wait for a claim another invocation holds.
    in_progress_wait: Duration,
    held: Arc<Mutex<HashMap<String, Held>>>,
}

pub(crate) fn epoch_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn new_token() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

impl<S: IdempotencyStore> Idempotency<S> {
    /// `scope` prefixes every key (the function name), so functions sharing
    /// a table never see each other's records.
    pub fn new(store: S, scope: impl Into<String>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            scope: scope.into(),
            writes: RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_millis(25),
                max_delay: Duration::from_secs(1),
                deadline_margin: Duration::from_millis(500),
            },
            in_progress_wait: Duration::from_secs(3),
            held: Arc::default(),
        }
    }

    /// Sets how the writes that must land are retried.
    pub fn with_write_retry(mut self, policy: RetryPolicy) -> Self {
        self.writes = policy;
        self
    }

    /// Sets the longest wait for a claim held by another invocation.
    pub fn with_in_progress_wait(mut self, wait: Duration) -> Self {
        self.in_progress_wait = wait;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}#{}", self.scope, key)
    }

    fn held(&self, key: &str) -> Option<Held> {
        self.held.lock().ok().and_then(|h| h.get(key).cloned())
    }

    fn remember(&self, key: &str, held: Held) {
        if let Ok(mut map) = self.held.lock() {
            map.insert(key.to_owned(), held);
        }
    }

    fn forget(&self, key: &str) {
        if let Ok(mut map) = self.held.lock() {
            map.remove(key);
        }
    }

    /// Runs `work` unless `key` was completed before (then returns the
    /// stored result) or is being worked on by another invocation for
    /// longer than this one can wait (then a transient error, so the record
    /// is retried later).
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
        let existing = self.held(&key);
        // Another run of this key is in flight in this process (concurrent
        // invocations, as in tests): it owns the bookkeeping; this run takes
        // the plain path and meets its claim in the store.
        let tracked = !existing.as_ref().is_some_and(|h| h.in_flight);
        let left_behind = existing.filter(|_| tracked);
        if let Some(Held {
            unconfirmed: Some(stored),
            ..
        }) = &left_behind
        {
            // This process did the work in an earlier attempt but could not
            // record it: record it now and never do the work again.
            return self
                .confirm_left_behind(&key, stored, expires_at, deadline)
                .await;
        }
        let attempt = Attempt {
            token: left_behind.map_or_else(new_token, |h| h.token),
            key,
            tracked,
            expires_at,
        };
        // Remembered before the claim is sent: if its answer is lost, a
        // redelivery to this process claims again with the same token.
        self.note(&attempt, true, None);
        match self.acquire(&attempt, deadline).await {
            Ok(None) => {}
            Ok(Some(stored)) => {
                self.done_with(&attempt);
                return decode(&attempt.key, stored).map(IdempotentOutcome::Replayed);
            }
            Err(err) => {
                self.note(&attempt, false, None);
                return Err(err);
            }
        }
        match work().await {
            Ok(value) => {
                self.record_result(&attempt, &value, deadline).await?;
                Ok(IdempotentOutcome::Executed(value))
            }
            Err(err) => {
                self.release(&attempt, deadline).await;
                Err(err)
            }
        }
    }

    /// Writes the result an earlier attempt of this process left
    /// unconfirmed, and replays it.
    async fn confirm_left_behind<T: DeserializeOwned>(
        &self,
        key: &str,
        stored: &str,
        expires_at: u64,
        deadline: Deadline,
    ) -> Result<IdempotentOutcome<T>, HandlerError> {
        self.confirm(key, stored.to_owned(), expires_at, deadline)
            .await?;
        self.forget(key);
        decode(key, Some(stored.to_owned())).map(IdempotentOutcome::Replayed)
    }

    /// Updates what this process remembers of the attempt's claim, when
    /// the attempt keeps that bookkeeping.
    fn note(&self, attempt: &Attempt, in_flight: bool, unconfirmed: Option<String>) {
        if attempt.tracked {
            self.remember(
                &attempt.key,
                Held {
                    token: attempt.token.clone(),
                    in_flight,
                    unconfirmed,
                },
            );
        }
    }

    /// The attempt's claim is settled in the store: nothing to remember.
    fn done_with(&self, attempt: &Attempt) {
        if attempt.tracked {
            self.forget(&attempt.key);
        }
    }

    /// Stores the work's result as COMPLETED; until that lands the result
    /// stays remembered, so a redelivery writes it instead of redoing the
    /// work.
    async fn record_result<T: Serialize>(
        &self,
        attempt: &Attempt,
        value: &T,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        let key = &attempt.key;
        let stored = serde_json::to_string(value).map_err(|e| {
            HandlerError::transient(anyhow::anyhow!("result of {key} cannot be stored: {e}"))
        })?;
        self.note(attempt, false, Some(stored.clone()));
        self.confirm(key, stored, attempt.expires_at, deadline)
            .await?;
        self.done_with(attempt);
        Ok(())
    }

    /// Deletes the failed attempt's claim so a retry can run the work.
    async fn release(&self, attempt: &Attempt, deadline: Deadline) {
        let released = retry(
            &self.writes,
            deadline,
            |_| true,
            |_| self.store.release(&attempt.key, &attempt.token),
        )
        .await;
        match released {
            Ok(()) => self.done_with(attempt),
            Err(release_err) => {
                // Kept so a redelivery to this process re-enters the claim
                // by its token; elsewhere it lapses with this invocation's
                // deadline.
                self.note(attempt, false, None);
                tracing::warn!(
                    key = %order_events::values::mask_email(&attempt.key),
                    error = %release_err.into_inner(),
                    "could not release idempotency claim"
                );
            }
        }
    }

    /// Claims the key, waiting for a claim another invocation holds while
    /// that fits in this invocation. `Ok(None)`: acquired; `Ok(Some(r))`:
    /// completed before with result `r`.
    async fn acquire(
        &self,
        attempt: &Attempt,
        deadline: Deadline,
    ) -> Result<Option<Option<String>>, HandlerError> {
        let Attempt {
            key,
            token,
            expires_at,
            ..
        } = attempt;
        let started = Instant::now();
        let mut poll = Duration::from_millis(50);
        loop {
            let claim = self
                .store
                .claim(key, token, deadline.epoch_millis(), *expires_at)
                .await
                .map_err(store_failure)?;
            let until_ms = match claim {
                Claim::Acquired => return Ok(None),
                Claim::AlreadyCompleted(stored) => return Ok(Some(stored)),
                Claim::InProgress { until_ms } => until_ms,
            };
            let budget = deadline
                .remaining()
                .saturating_sub(self.writes.deadline_margin);
            let lapses_in =
                Duration::from_millis(until_ms.saturating_sub(epoch_now().as_millis() as u64));
            let polled = started.elapsed();
            let wait = if until_ms > 0 && lapses_in < budget {
                // The other claim lapses while this invocation still has
                // time: poll until then (it may complete before).
                poll.min(lapses_in + Duration::from_millis(10))
            } else if polled + poll < self.in_progress_wait.min(budget) {
                poll
            } else {
                return Err(HandlerError::transient(anyhow::anyhow!(
                    "{} is in progress in another invocation",
                    order_events::values::clip(key, 300)
                )));
            };
            tokio::time::sleep(wait).await;
            poll = (poll * 2).min(Duration::from_millis(800));
        }
    }

    /// Writes COMPLETED, retried within the deadline. On failure the result
    /// stays remembered, so a redelivery to this process writes it without
    /// redoing the work.
    async fn confirm(
        &self,
        key: &str,
        stored: String,
        expires_at: u64,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        retry(
            &self.writes,
            deadline,
            |e: &StoreError| !matches!(e, StoreError::Rejected(_)),
            |_| self.store.complete(key, Some(stored.clone()), expires_at),
        )
        .await
        .map_err(|e| store_failure(e.into_inner()))?;
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(key: &str, stored: Option<String>) -> Result<T, HandlerError> {
    let stored = stored.unwrap_or_else(|| "null".to_owned());
    serde_json::from_str(&stored).map_err(|e| {
        HandlerError::transient(anyhow::anyhow!("stored result of {key} is unreadable: {e}"))
    })
}

impl<T: IdempotencyStore> IdempotencyStore for std::sync::Arc<T> {
    fn claim(
        &self,
        key: &str,
        token: &str,
        until: u64,
        exp: u64,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, token, until, exp)
    }
    fn complete(
        &self,
        key: &str,
        result: Option<String>,
        exp: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(key, result, exp)
    }
    fn release(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;

    fn layer() -> Idempotency<Arc<InMemoryIdempotencyStore>> {
        Idempotency::new(
            Arc::new(InMemoryIdempotencyStore::default()),
            "fn",
            Duration::from_secs(3600),
        )
        .with_write_retry(quick())
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline_margin: Duration::from_millis(10),
        }
    }

    fn deadline() -> Deadline {
        Deadline::in_(Duration::from_secs(30))
    }

    /// Runs key `k` with work that fails with `failure`; the error.
    async fn run_failing<S: IdempotencyStore>(
        idem: &Idempotency<S>,
        failure: HandlerError,
    ) -> HandlerError {
        idem.run("k", deadline(), || async { Err::<u8, _>(failure) })
            .await
            .unwrap_err()
    }

    /// Runs key `k` with work that answers `value`.
    async fn run_answering<S: IdempotencyStore>(
        idem: &Idempotency<S>,
        value: u8,
    ) -> Result<IdempotentOutcome<u8>, HandlerError> {
        idem.run("k", deadline(), || async { Ok::<_, HandlerError>(value) })
            .await
    }

    /// A store whose calls fail on demand: before reaching the store, or
    /// after it applied the call (the answer lost on the way back).
    #[derive(Default)]
    struct Faulty {
        inner: InMemoryIdempotencyStore,
        lose_claim_answers: AtomicU32,
        fail_completes: AtomicBool,
        fail_releases: AtomicBool,
    }

    fn down() -> StoreError {
        StoreError::Unavailable(anyhow::anyhow!("HTTP 500"))
    }

    impl IdempotencyStore for Faulty {
        async fn claim(
            &self,
            key: &str,
            token: &str,
            until: u64,
            exp: u64,
        ) -> Result<Claim, StoreError> {
            let claim = self.inner.claim(key, token, until, exp).await?;
            let lose = self
                .lose_claim_answers
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lose {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "connection reset after the claim was applied"
                )));
            }
            Ok(claim)
        }
        async fn complete(
            &self,
            key: &str,
            result: Option<String>,
            exp: u64,
        ) -> Result<(), StoreError> {
            if self.fail_completes.load(Ordering::SeqCst) {
                return Err(down());
            }
            self.inner.complete(key, result, exp).await
        }
        async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
            if self.fail_releases.load(Ordering::SeqCst) {
                return Err(down());
            }
            self.inner.release(key, token).await
        }
    }

    fn faulty() -> Idempotency<Arc<Faulty>> {
        Idempotency::new(Arc::new(Faulty::default()), "fn", Duration::from_secs(3600))
            .with_write_retry(quick())
            .with_in_progress_wait(Duration::from_millis(50))
    }

    #[tokio::test]
    async fn runs_once_then_replays_the_stored_result() {
        let idem = layer();
        let runs = AtomicU32::new(0);
        for expected in [
            IdempotentOutcome::Executed(7),
            IdempotentOutcome::Replayed(7),
        ] {
            let out = idem
                .run("k", deadline(), || async {
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
        let err = run_failing(&idem, HandlerError::permanent("nope")).await;
        assert!(matches!(err, HandlerError::Permanent(_)));
        assert!(idem.store().is_empty());
        let out = run_answering(&idem, 1).await.unwrap();
        assert_eq!(out, IdempotentOutcome::Executed(1));
    }

    #[tokio::test]
    async fn a_live_claim_is_in_progress_its_owner_re_enters_and_a_lapsed_one_is_taken_over() {
        let store = InMemoryIdempotencyStore::default();
        let now_ms = epoch_now().as_millis() as u64;
        let ttl = epoch_now().as_secs() + 3600;
        assert_eq!(
            store.claim("k", "a", now_ms + 60_000, ttl).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.claim("k", "b", now_ms + 60_000, ttl).await.unwrap(),
            Claim::InProgress {
                until_ms: now_ms + 60_000
            }
        );
        // The owner's own retry (its first answer was lost) gets back in.
        assert_eq!(
            store.claim("k", "a", now_ms + 60_000, ttl).await.unwrap(),
            Claim::Acquired
        );
        // Another attempt's release leaves the claim alone.
        store.release("k", "b").await.unwrap();
        assert!(!store.is_empty());
        store.release("k", "a").await.unwrap();
        assert!(store.is_empty());
        // The first claimant's invocation timed out: its claim lapsed.
        assert_eq!(
            store.claim("k", "a", now_ms - 1, ttl).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.claim("k", "b", now_ms + 60_000, ttl).await.unwrap(),
            Claim::Acquired
        );
    }

    #[tokio::test]
    async fn a_lost_claim_answer_does_not_block_the_redelivery() {
        let idem = faulty();
        idem.store().lose_claim_answers.store(1, Ordering::SeqCst);
        let runs = AtomicU32::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(5u8)
        };
        // The claim landed but its answer did not: a transient failure.
        assert!(matches!(
            idem.run("k", deadline(), work).await,
            Err(HandlerError::Transient(_))
        ));
        // The redelivery recognises its own claim instead of waiting out
        // the invocation's deadline.
        assert_eq!(
            idem.run("k", deadline(), work).await.unwrap(),
            IdempotentOutcome::Executed(5)
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_confirm_is_written_on_redelivery_without_redoing_the_work() {
        let idem = faulty();
        let sends = AtomicU32::new(0);
        let send = || async {
            sends.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>("message-id-1".to_owned())
        };
        idem.store().fail_completes.store(true, Ordering::SeqCst);
        assert!(matches!(
            idem.run("k", deadline(), send).await,
            Err(HandlerError::Transient(_))
        ));
        // Still failing: the redelivery does not send again either.
        assert!(matches!(
            idem.run("k", deadline(), send).await,
            Err(HandlerError::Transient(_))
        ));
        idem.store().fail_completes.store(false, Ordering::SeqCst);
        assert_eq!(
            idem.run("k", deadline(), send).await.unwrap(),
            IdempotentOutcome::Replayed("message-id-1".to_owned())
        );
        assert_eq!(sends.load(Ordering::SeqCst), 1);
        assert!(idem.store().inner.is_completed("fn#k"));
        // And from then on it is a plain duplicate.
        assert_eq!(
            idem.run("k", deadline(), send).await.unwrap(),
            IdempotentOutcome::Replayed("message-id-1".to_owned())
        );
        assert_eq!(sends.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_request_the_store_rejects_is_permanent() {
        struct Refusing;
        impl IdempotencyStore for Refusing {
            async fn claim(&self, _: &str, _: &str, _: u64, _: u64) -> Result<Claim, StoreError> {
                Err(StoreError::Rejected("key too long".into()))
            }
            async fn complete(&self, _: &str, _: Option<String>, _: u64) -> Result<(), StoreError> {
                Ok(())
            }
            async fn release(&self, _: &str, _: &str) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let idem = Idempotency::new(Refusing, "fn", Duration::from_secs(60));
        let err = run_answering(&idem, 1).await.unwrap_err();
        assert!(matches!(err, HandlerError::Permanent(_)), "{err}");
    }

    #[tokio::test]
    async fn a_claim_left_by_a_failed_release_is_re_entered() {
        let idem = faulty();
        idem.store().fail_releases.store(true, Ordering::SeqCst);
        let err = run_failing(
            &idem,
            HandlerError::transient(anyhow::anyhow!("SES throttled")),
        )
        .await;
        assert!(matches!(err, HandlerError::Transient(_)));
        assert!(!idem.store().inner.is_empty(), "the claim stayed");
        let out = run_answering(&idem, 9).await.unwrap();
        assert_eq!(out, IdempotentOutcome::Executed(9));
    }

    #[tokio::test]
    async fn a_claim_that_lapses_within_this_invocation_is_waited_for() {
        // No polling allowed: only waiting for the lapse can succeed.
        let idem = layer().with_in_progress_wait(Duration::ZERO);
        let ttl = epoch_now().as_secs() + 3600;
        let lapse = epoch_now().as_millis() as u64 + 300;
        idem.store()
            .claim("fn#k", "someone-else", lapse, ttl)
            .await
            .unwrap();
        let out = run_answering(&idem, 1).await.unwrap();
        assert_eq!(out, IdempotentOutcome::Executed(1));
        // One that outlives this invocation is reported, not waited for.
        let idem = layer().with_in_progress_wait(Duration::from_millis(20));
        idem.store()
            .claim(
                "fn#k",
                "someone-else",
                epoch_now().as_millis() as u64 + 600_000,
                ttl,
            )
            .await
            .unwrap();
        let err = run_answering(&idem, 1).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("in progress in another invocation"),
            "{err}"
        );
    }
}
