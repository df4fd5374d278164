//! Retries with exponential backoff and full jitter, bounded by attempts
//! and by the invocation deadline: a retry that cannot finish in time is
//! not started, so the record is reported and Lambda retries it instead.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::deadline::Deadline;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Time kept free before the deadline for reporting.
    pub deadline_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            deadline_margin: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// The cap of the backoff before attempt `attempt` (1-based retries).
    fn cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Why a retried operation gave up.
#[derive(Debug)]
pub enum RetryError<E> {
    /// Not worth retrying.
    Permanent(E),
    /// Still failing after every attempt the policy or the deadline allowed.
    Exhausted { last: E, attempts: u32 },
}

impl<E> RetryError<E> {
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Permanent(e) | RetryError::Exhausted { last: e, .. } => e,
        }
    }
}

/// Runs `op` until it succeeds, fails with an error `is_transient` rejects,
/// or attempts or time run out.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    deadline: Deadline,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(err) if !is_transient(&err) => return Err(RetryError::Permanent(err)),
            Err(err) => {
                if attempt >= policy.max_attempts {
                    return Err(RetryError::Exhausted {
                        last: err,
                        attempts: attempt,
                    });
                }
                let cap = policy.cap(attempt);
                let delay = rand::rng().random_range(Duration::ZERO..=cap);
                if deadline.remaining() <= delay + policy.deadline_margin {
                    return Err(RetryError::Exhausted {
                        last: err,
                        attempts: attempt,
                    });
                }
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline_margin: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn succeeds_after_transient_failures() {
        let calls = AtomicU32::new(0);
        let out: Result<u32, RetryError<&str>> = retry(
            &quick(),
            Deadline::in_(Duration::from_secs(5)),
            |_| true,
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        Err("throttled")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(out.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stops_at_max_attempts_and_on_permanent_errors() {
        let out: Result<(), _> = retry(
            &quick(),
            Deadline::in_(Duration::from_secs(5)),
            |_| true,
            |_| async { Err("busy") },
        )
        .await;
        assert!(matches!(
            out,
            Err(RetryError::Exhausted { attempts: 4, .. })
        ));
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(
            &quick(),
            Deadline::in_(Duration::from_secs(5)),
            |e: &&str| *e != "bad",
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("bad") }
            },
        )
        .await;
        assert!(matches!(out, Err(RetryError::Permanent("bad"))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline() {
        let policy = RetryPolicy {
            max_attempts: 100,
            deadline_margin: Duration::from_secs(10),
            ..quick()
        };
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(
            &policy,
            Deadline::in_(Duration::from_secs(1)),
            |_| true,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("throttled") }
            },
        )
        .await;
        assert!(matches!(
            out,
            Err(RetryError::Exhausted { attempts: 1, .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
