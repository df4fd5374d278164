//! Dead letters kept in memory, with sends that fail on demand.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use super::{DeadLetter, DeadLetterSink};

/// Keeps dead letters in memory, for tests.
#[derive(Debug, Default)]
pub struct InMemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
    fail: AtomicBool,
    fail_next: AtomicU32,
}

impl InMemoryDeadLetters {
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Makes every later send fail, to test that a record is not
    /// acknowledged when its dead letter could not be written.
    pub fn fail_sends(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// Makes the next `n` sends fail, as a queue that throttles briefly.
    pub fn fail_next_sends(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }
}

impl DeadLetterSink for InMemoryDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        let failing_briefly = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing_briefly || self.fail.load(Ordering::SeqCst) {
            anyhow::bail!("dead-letter queue unavailable");
        }
        self.letters
            .lock()
            .map_err(|_| anyhow::anyhow!("lock poisoned"))?
            .push(letter.clone());
        Ok(())
    }
}
