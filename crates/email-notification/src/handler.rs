//! The function's domain: which email an event calls for, who receives it,
//! and sending it at most once per (event kind, order or user).
//!
//! Per event: (1) a `USER_REGISTERED` address is remembered; (2) the email
//! is rendered; (3) the idempotency key `<EVENT_KIND>#<orderId|userId>` is
//! claimed; (4) the recipient is resolved (the event's `email`, else the
//! registered address); (5) SES is called, throttling retried with backoff
//! inside the deadline, at most `EMAIL_MAX_CONCURRENCY` sends in flight;
//! (6) the claim is confirmed. A failure in (4) or (5) releases the claim,
//! so a retry sends.

use std::time::Duration;

use order_events::{EmailAddress, Event, EventKind, UserId};
use stream_core::idempotency::IdempotencyStore;
use stream_core::{
    retry, Deadline, Handled, Handler, HandlerError, Idempotency, IdempotentOutcome, IncomingEvent,
    RetryError,
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::address_book::{AddressBook, AddressBookError, Lookup};
use crate::compose::{self, Message};
use crate::config::Config;
use crate::mail::{Email, MailSender, SendError};
use crate::text::{for_log, redact_addresses};

/// Prefix of this function's keys in the idempotency table. Fixed rather
/// than the deployed function's name, so a redeployment under a new name
/// still sees what was sent.
pub const IDEMPOTENCY_SCOPE: &str = "email-notification";

/// The key guarding one email: `<EVENT_KIND>#<orderId or userId>` (the
/// idempotency layer prefixes [`IDEMPOTENCY_SCOPE`]).
pub fn idempotency_key(kind: EventKind, about: &str) -> String {
    format!("{}#{about}", kind.as_str())
}

/// Who an email goes to, before the address book is asked.
enum Recipient<'a> {
    Given(&'a EmailAddress),
    OfUser(&'a UserId),
    Nobody,
}

/// One email to send, worked out from one event.
struct Plan<'a> {
    kind: EventKind,
    /// The order id, or the user id for `USER_REGISTERED`.
    about: &'a str,
    recipient: Recipient<'a>,
    message: Message,
}

enum LookupFailure {
    Unknown,
    Unusable(String),
    Store(AddressBookError),
}

/// An address-book failure as the record's fate: refused for what the
/// record carries is permanent, anything else is retried.
fn address_book_failure(err: AddressBookError, user: &str) -> HandlerError {
    match err {
        AddressBookError::Rejected(detail) => HandlerError::permanent(format!(
            "the address book refused the request for user {user}: {detail}"
        )),
        AddressBookError::Unavailable(err) => HandlerError::transient(err),
    }
}

/// The email-notification [`Handler`], generic over its three ports.
pub struct EmailHandler<M, A, S> {
    mail: M,
    addresses: A,
    idempotency: Idempotency<S>,
    slots: Semaphore,
    config: Config,
}

impl<M: MailSender, A: AddressBook, S: IdempotencyStore> EmailHandler<M, A, S> {
    /// The handler around its ports, tuned by `config` (the From address,
    /// the sending limit, retries and waits).
    pub fn new(mail: M, addresses: A, idempotency_store: S, config: Config) -> Self {
        Self {
            mail,
            addresses,
            idempotency: Idempotency::new(
                idempotency_store,
                IDEMPOTENCY_SCOPE,
                config.idempotency_ttl,
            ),
            slots: Semaphore::new(config.email_max_concurrency.max(1)),
            config,
        }
    }

    pub fn mail(&self) -> &M {
        &self.mail
    }

    pub fn addresses(&self) -> &A {
        &self.addresses
    }

    pub fn idempotency_store(&self) -> &S {
        self.idempotency.store()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn plan<'a>(&self, event: &'a Event) -> Result<Option<Plan<'a>>, HandlerError> {
        let render_failed = |e: compose::RenderError| HandlerError::permanent(e.to_string());
        Ok(Some(match event {
            Event::UserRegistered(user) => Plan {
                kind: EventKind::UserRegistered,
                about: user.user_id.as_str(),
                recipient: Recipient::Given(&user.email),
                message: compose::welcome(user).map_err(render_failed)?,
            },
            Event::OrderPlaced(order) => Plan {
                kind: EventKind::OrderPlaced,
                about: order.order_id.as_str(),
                recipient: recipient(order.email.as_ref(), Some(&order.user_id)),
                message: compose::order_placed(order).map_err(render_failed)?,
            },
            Event::OrderCompleted(order) => Plan {
                kind: EventKind::OrderCompleted,
                about: order.order_id.as_str(),
                recipient: recipient(order.email.as_ref(), order.user_id.as_ref()),
                message: compose::order_completed(&order.order_id).map_err(render_failed)?,
            },
            Event::OrderFailed(order) => Plan {
                kind: EventKind::OrderFailed,
                about: order.order_id.as_str(),
                recipient: recipient(order.email.as_ref(), order.user_id.as_ref()),
                message: compose::order_failed(&order.order_id, &order.reason)
                    .map_err(render_failed)?,
            },
            _ => return Ok(None),
        }))
    }

    /// The event's address, else the one the user registered with.
    async fn resolve(
        &self,
        plan: &Plan<'_>,
        arrived_at_s: Option<f64>,
        deadline: Deadline,
    ) -> Result<EmailAddress, HandlerError> {
        let user = match plan.recipient {
            Recipient::Given(email) => return Ok(email.clone()),
            Recipient::OfUser(user) => user,
            Recipient::Nobody => {
                return Err(HandlerError::permanent(format!(
                    "no recipient: {} for order {} carries neither `email` nor `userId`",
                    plan.kind,
                    redact_addresses(plan.about)
                )))
            }
        };
        let found = retry(
            &self.config.lookup_retry,
            deadline,
            |failure: &LookupFailure| matches!(failure, LookupFailure::Unknown),
            |_| async {
                match self.addresses.lookup(user).await {
                    Ok(Lookup::Found(email)) => Ok(email),
                    Ok(Lookup::Unknown) => Err(LookupFailure::Unknown),
                    Ok(Lookup::Unusable(reason)) => Err(LookupFailure::Unusable(reason)),
                    Err(err) => Err(LookupFailure::Store(err)),
                }
            },
        )
        .await;
        self.lookup_verdict(plan, &redact_addresses(user.as_str()), found, arrived_at_s)
    }

    /// What a lookup of `user`'s address (masked) came to, for the record:
    /// the address, or why not and whether to try again later.
    fn lookup_verdict(
        &self,
        plan: &Plan<'_>,
        user: &str,
        found: Result<EmailAddress, RetryError<LookupFailure>>,
        arrived_at_s: Option<f64>,
    ) -> Result<EmailAddress, HandlerError> {
        let policy = &self.config.lookup_retry;
        match found {
            Ok(email) => Ok(email),
            // The registration may still be on its way on another shard:
            // retried (reported) while the record is young.
            Err(RetryError::Exhausted { attempts, .. })
                if attempts >= policy.max_attempts
                    && younger_than(arrived_at_s, self.config.address_wait) =>
            {
                Err(HandlerError::transient(anyhow::anyhow!(
                    "no address for user {user} yet after {attempts} lookup(s); waiting for its USER_REGISTERED"
                )))
            }
            // Looked as long as the policy allows, and long after the
            // record arrived: nobody registered this user.
            Err(RetryError::Exhausted { attempts, .. }) if attempts >= policy.max_attempts => {
                Err(HandlerError::permanent(format!(
                    "no known address: {} for order {} has no `email` and no USER_REGISTERED was seen for user {user}",
                    plan.kind,
                    redact_addresses(plan.about)
                )))
            }
            // Cut short by the deadline: look again in the next invocation.
            Err(RetryError::Exhausted { attempts, .. }) => Err(HandlerError::transient(anyhow::anyhow!(
                "no address for user {user} yet after {attempts} lookup(s); the deadline is near"
            ))),
            Err(RetryError::Permanent(LookupFailure::Unusable(reason))) => Err(HandlerError::permanent(format!(
                "the stored address of user {user} is unusable: {reason}"
            ))),
            Err(RetryError::Permanent(LookupFailure::Store(err))) => Err(address_book_failure(err, user)),
            Err(RetryError::Permanent(LookupFailure::Unknown)) => Err(HandlerError::permanent(format!(
                "no known address for user {user}"
            ))),
        }
    }

    /// A sending slot, waited for no later than the retry margin before the
    /// deadline.
    async fn slot(&self, deadline: Deadline) -> Option<SemaphorePermit<'_>> {
        let until = deadline
            .instant()
            .checked_sub(self.config.send_retry.deadline_margin)
            .unwrap_or_else(std::time::Instant::now);
        tokio::time::timeout_at(tokio::time::Instant::from_std(until), self.slots.acquire())
            .await
            .ok()?
            .ok()
    }

    /// One attempt at sending, in a sending slot; a failure worth
    /// retrying is logged.
    async fn send_once(
        &self,
        kind: EventKind,
        email: &Email,
        masked: &str,
        attempt: u32,
        deadline: Deadline,
    ) -> Result<String, SendError> {
        let outcome = match self.slot(deadline).await {
            // The permit is held for the call only, never across a backoff
            // sleep.
            Some(_permit) => self.mail.send(email).await,
            None => Err(SendError::Throttled(
                "no sending slot free before the deadline".into(),
            )),
        };
        if let Err(err) = &outcome {
            if err.is_transient() {
                tracing::warn!(
                    eventType = kind.as_str(),
                    recipient = %masked,
                    attempt,
                    error = %for_log(&err.to_string()),
                    "email not sent yet; backing off"
                );
            }
        }
        outcome
    }

    /// Sends, retrying transient failures with backoff and jitter while
    /// the deadline allows. Returns the provider's message id.
    async fn deliver(
        &self,
        kind: EventKind,
        email: &Email,
        deadline: Deadline,
    ) -> Result<String, HandlerError> {
        let masked = email.to.masked();
        let result = retry(
            &self.config.send_retry,
            deadline,
            SendError::is_transient,
            |attempt| self.send_once(kind, email, &masked, attempt, deadline),
        )
        .await;
        match result {
            Ok(message_id) => Ok(message_id),
            Err(RetryError::Permanent(SendError::OutcomeUnknown(detail))) => {
                // At most one email: an unanswered send counts as sent.
                tracing::warn!(
                    eventType = kind.as_str(),
                    recipient = %masked,
                    effect = "send_outcome_unknown",
                    error = %for_log(&detail),
                    "SES may have sent the email but did not answer; not sending again"
                );
                Ok(OUTCOME_UNKNOWN.to_owned())
            }
            Err(RetryError::Permanent(err)) => Err(HandlerError::permanent(format!(
                "SES refused the {kind} email to {masked}: {}",
                for_log(&err.to_string())
            ))),
            Err(RetryError::Exhausted { last, attempts }) => {
                Err(HandlerError::transient(anyhow::anyhow!(
                    "the {kind} email to {masked} was not sent after {attempts} attempt(s): {}",
                    for_log(&last.to_string())
                )))
            }
        }
    }

    async fn resolve_and_send(
        &self,
        plan: &Plan<'_>,
        arrived_at_s: Option<f64>,
        deadline: Deadline,
    ) -> Result<(String, String), HandlerError> {
        let to = self.resolve(plan, arrived_at_s, deadline).await?;
        let email = Email {
            from: self.config.sender.clone(),
            to,
            subject: plan.message.subject.clone(),
            html: plan.message.html.clone(),
            text: plan.message.text.clone(),
        };
        let message_id = self.deliver(plan.kind, &email, deadline).await?;
        Ok((message_id, email.to.masked()))
    }
}

/// The message id stored for a send whose outcome is unknown.
pub const OUTCOME_UNKNOWN: &str = "outcome-unknown";

/// True when a record that reached the stream at `arrived_at_s` (epoch
/// seconds) is younger than `age`; unknown arrival counts as old.
fn younger_than(arrived_at_s: Option<f64>, age: Duration) -> bool {
    let Some(arrived) = arrived_at_s.filter(|a| a.is_finite() && *a > 0.0) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    now - arrived < age.as_secs_f64()
}

fn recipient<'a>(email: Option<&'a EmailAddress>, user: Option<&'a UserId>) -> Recipient<'a> {
    match (email, user) {
        (Some(email), _) => Recipient::Given(email),
        (None, Some(user)) => Recipient::OfUser(user),
        (None, None) => Recipient::Nobody,
    }
}

impl<M: MailSender, A: AddressBook, S: IdempotencyStore> Handler for EmailHandler<M, A, S> {
    fn handles(&self, kind: EventKind) -> bool {
        crate::DESCRIPTOR.handles(kind)
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        let deadline = incoming.deadline;
        let arrived_at_s = incoming.origin.approximate_arrival_timestamp;
        if let Event::UserRegistered(user) = &incoming.event {
            // Outside the once-only guard: remembering is itself
            // idempotent, and a redelivery must still leave the address
            // in place for the user's orders.
            self.addresses
                .remember(&user.user_id, &user.email)
                .await
                .map_err(|e| address_book_failure(e, &redact_addresses(user.user_id.as_str())))?;
        }
        let Some(plan) = self.plan(&incoming.event)? else {
            return Ok(Handled::Skipped {
                reason: "no email for this event type",
            });
        };
        let key = idempotency_key(plan.kind, plan.about);
        let outcome = self
            .idempotency
            .run(&key, deadline, || {
                self.resolve_and_send(&plan, arrived_at_s, deadline)
            })
            .await?;
        let ((message_id, recipient), handled, effect, what) = match outcome {
            IdempotentOutcome::Executed(sent) => (sent, Handled::done(), "sent", "email sent"),
            IdempotentOutcome::Replayed(sent) => (
                sent,
                Handled::duplicate(),
                "already_sent",
                "email already sent for this key; not sending again",
            ),
        };
        tracing::info!(
            eventType = plan.kind.as_str(),
            idempotencyKey = %redact_addresses(&key),
            recipient = %recipient,
            messageId = %message_id,
            effect,
            "{what}"
        );
        Ok(handled)
    }
}
