//! A mail sender in memory, for tests and local tools.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::{Email, MailSender, SendError};

/// Records every email it accepts. Failures can be queued (returned by the
/// next calls, in order) or made permanent (returned by every call until
/// cleared); queued failures come first.
#[derive(Debug, Default)]
pub struct FakeMailSender {
    sent: Mutex<Vec<Email>>,
    queued: Mutex<VecDeque<SendError>>,
    always: Mutex<Option<SendError>>,
    attempts: AtomicU32,
}

impl FakeMailSender {
    /// Every email accepted so far, in order.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Makes the next calls fail with `errors`, one each.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        if let Ok(mut queued) = self.queued.lock() {
            queued.extend(errors);
        }
    }

    /// Makes every call fail with `error` (or succeed again with `None`).
    pub fn fail_always(&self, error: Option<SendError>) {
        if let Ok(mut always) = self.always.lock() {
            *always = error;
        }
    }

    /// Calls made, failed ones included.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl MailSender for FakeMailSender {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let poisoned = || SendError::Unavailable("fake mail sender lock poisoned".into());
        if let Some(error) = self.queued.lock().map_err(|_| poisoned())?.pop_front() {
            return Err(error);
        }
        if let Some(error) = self.always.lock().map_err(|_| poisoned())?.clone() {
            return Err(error);
        }
        self.sent
            .lock()
            .map_err(|_| poisoned())?
            .push(email.clone());
        Ok(format!("fake-message-{attempt}"))
    }
}
