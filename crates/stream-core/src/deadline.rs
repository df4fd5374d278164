//! The invocation deadline, as an instant on the monotonic clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the current invocation must have answered Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at: Instant,
    epoch_millis: u64,
}

impl Deadline {
    /// From Lambda's deadline (milliseconds since the Unix epoch).
    pub fn from_epoch_millis(epoch_millis: u64) -> Self {
        let now_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let remaining = Duration::from_millis(epoch_millis.saturating_sub(now_millis));
        Self {
            at: Instant::now() + remaining,
            epoch_millis,
        }
    }

    /// A deadline `remaining` from now; for tests and local runs.
    pub fn in_(remaining: Duration) -> Self {
        let now_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            at: Instant::now() + remaining,
            epoch_millis: now_millis + remaining.as_millis() as u64,
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
}
