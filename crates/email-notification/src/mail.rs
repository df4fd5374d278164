//! The mail-sending port: one narrow trait, so the domain never sees the
//! SES SDK, and an in-memory fake that records mail and fails on demand.

#[cfg(any(test, feature = "test-util"))]
use std::collections::VecDeque;
use std::future::Future;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicU32, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::Mutex;

use crate::email::Email;

/// Why a send failed, already split by what to do about it. The texts are
/// for logs and dead letters, so adapters keep addresses out of them (see
/// [`crate::email::redact_addresses`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The account's sending rate or quota was hit: back off and retry.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The service or the network failed (5xx, timeout): retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The message can never be sent as it is (rejected, invalid address,
    /// unverified sender): dead-letter it.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The request may have reached the provider but no answer came back
    /// (the connection dropped after the request was written, or the answer
    /// timed out). SES has no idempotency token, so sending again could
    /// send twice: the email is taken as sent and never retried.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl SendError {
    /// Worth sending again: the provider said no for now, or the request
    /// never left.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Throttled(_) | SendError::Unavailable(_))
    }
}

/// Sends one email; returns the provider's message id.
pub trait MailSender: Send + Sync {
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, SendError>> + Send;
}

impl<T: MailSender> MailSender for std::sync::Arc<T> {
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, SendError>> + Send {
        (**self).send(email)
    }
}

#[cfg(any(test, feature = "test-util"))]
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

#[cfg(any(test, feature = "test-util"))]
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

#[cfg(any(test, feature = "test-util"))]
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
