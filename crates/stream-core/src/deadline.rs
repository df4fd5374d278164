//! The invocation deadline, as an instant on the monotonic clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the current invocation must have answered Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at: Instant,
    epoch_millis: u64,
}

/// Lambda's longest timeout.
const LONGEST_INVOCATION: Duration = Duration::from_secs(900);

/// `now + remaining`, or a day from now when that is past what `Instant`
/// can hold.
fn after(remaining: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(remaining)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

impl Deadline {
    /// From Lambda's deadline (milliseconds since the Unix epoch).
    pub fn from_epoch_millis(epoch_millis: u64) -> Self {
        let now_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        // The runtime API's header is outside data: a deadline past Lambda's
        // longest timeout is read as that timeout, never an overflow.
        let remaining =
            Duration::from_millis(epoch_millis.saturating_sub(now_millis)).min(LONGEST_INVOCATION);
        Self {
            at: after(remaining),
            epoch_millis,
        }
    }

    /// A deadline `remaining` from now; for tests and local runs.
    pub fn in_(remaining: Duration) -> Self {
        let now_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
        Self {
            at: after(remaining),
            epoch_millis: now_millis.saturating_add(remaining_ms),
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    /// Milliseconds since the Unix epoch, as stored in the idempotency
    /// table's in-progress expiry.
    pub fn epoch_millis(&self) -> u64 {
        self.epoch_millis
    }

    /// True when less than `margin` is left.
    pub fn is_near(&self, margin: Duration) -> bool {
        self.remaining() < margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_down_and_never_underflows() {
        let d = Deadline::in_(Duration::from_secs(60));
        assert!(d.remaining() > Duration::from_secs(59));
        assert!(!d.is_near(Duration::from_secs(1)));
        let past = Deadline::from_epoch_millis(1);
        assert_eq!(past.remaining(), Duration::ZERO);
        assert!(past.is_near(Duration::from_millis(1)));
    }

    #[test]
    fn an_absurd_deadline_from_the_runtime_is_capped_not_a_panic() {
        let far = Deadline::from_epoch_millis(u64::MAX);
        assert!(far.remaining() <= LONGEST_INVOCATION);
        assert!(far.remaining() > Duration::from_secs(890));
        let long = Deadline::in_(Duration::MAX);
        assert_eq!(long.epoch_millis(), u64::MAX);
    }
}
