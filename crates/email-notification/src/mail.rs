//! The mail-sending port: one narrow trait ([`MailSender`]), so the domain
//! never sees the SES SDK, the email it sends ([`Email`]) and its one
//! error. The SES v2 adapter is [`ses`]; the in-memory fake that records
//! mail and fails on demand is `memory` (tests and the `test-util`
//! feature only).

#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod ses;

use std::future::Future;

use order_events::EmailAddress;

/// A rendered email to one recipient: a subject, an HTML part and a
/// plain-text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub from: EmailAddress,
    pub to: EmailAddress,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Why a send failed, already split by what to do about it. The texts are
/// for logs and dead letters, so adapters keep addresses out of them (see
/// [`crate::text::redact_addresses`]).
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
