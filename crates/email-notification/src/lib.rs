//! email-notification: the customer's emails for order events, sent through
//! SES v2: a welcome on `USER_REGISTERED`, an order confirmation on
//! `ORDER_PLACED`, "your order is complete" on `ORDER_COMPLETED` and "we
//! could not complete your order" on `ORDER_FAILED`.
//!
//! Layout:
//! - [`handler`]: the domain: which email, to whom, at most once.
//! - [`compose`]: subjects and the HTML and text parts, rendered from the
//!   typed templates in `templates/`.
//! - [`mail`]: the sending port ([`MailSender`]), the [`Email`] it sends
//!   and its error; [`mail::ses`] is the SES v2 adapter and its error
//!   classification, `mail::memory` the fake.
//! - [`address_book`]: registered addresses ([`AddressBook`]);
//!   [`address_book::dynamodb`] is the DynamoDB adapter
//!   (`CUSTOMERS_TABLE`), `address_book::memory` the fake.
//! - [`text`]: header-safe display text, bounded log echoes, address
//!   redaction.
//! - [`config`]: the environment and the tuning derived from it.
//!
//! The fakes (`memory` modules) are compiled only for tests and with the
//! `test-util` feature.
//!
//! Decoding, ordering per partition key, dead letters, batch item failures,
//! logs and metrics are the stream core's (`stream_core`).
//!
//! # Who receives the email
//!
//! The event's `email` when present; otherwise the address remembered from
//! the user's `USER_REGISTERED`. The lookup is strongly consistent and, on a
//! miss, repeated a few times over about half a second, because the
//! registration may be in the same batch under another partition key and
//! still being written. An event with no usable address is dead-lettered
//! with the reason (never retried forever). An `email` that is not a single
//! valid address (a comma-separated list, a CR/LF) makes the event invalid:
//! it is dead-lettered, and nothing is sent to any of the addresses in it.
//!
//! # At most one email per (event kind, order or user)
//!
//! Each email is guarded by the idempotency key
//! `email-notification#<EVENT_KIND>#<orderId or userId>` in
//! `IDEMPOTENCY_TABLE` (Powertools semantics, [`stream_core::Idempotency`]):
//! claimed (a conditional PutItem) before the SES call, confirmed (a PutItem)
//! after SES accepted the message. A redelivered event, a batch delivered
//! twice, or a second event of the same kind for the same order finds the
//! confirmed key and sends nothing. A failed send releases the claim, so the
//! retry sends.
//!
//! One window remains: the process dies (or the confirming PutItem fails)
//! after SES accepted the message and before the confirmation is written.
//! It lasts one DynamoDB PutItem round trip: against the local emulator,
//! median 2.0-2.3 ms and p99 6.5-10 ms over 500-1000 rounds on a busy 2-core
//! machine (`examples/confirm_window.rs`); DynamoDB in-region is typically a
//! few milliseconds too. The claim then stays IN_PROGRESS until the claiming invocation's
//! deadline; only after it lapses can a redelivery claim the key again and
//! send a second email. So a duplicate needs a crash inside those
//! milliseconds, and a resend can happen only in that case. A response lost
//! on the network after SES accepted (a timeout) is the same case seen from
//! outside: the send is retried, since a rare duplicate is preferred to a lost
//! email. SES has no idempotency token that could close the window.
//!
//! # Throttling and failures
//!
//! Throttling (`TooManyRequestsException`, `LimitExceededException`,
//! sending-rate messages, HTTP 429) and 5xx or network errors are retried
//! with exponential backoff and full jitter inside the invocation, never past
//! its deadline ([`stream_core::retry()`]); still failing, the record is
//! reported as a batch item failure and Lambda redelivers it. `MessageRejected`,
//! `MailFromDomainNotVerifiedException`, `BadRequestException` (invalid
//! addresses), a suspended or paused account and other 4xx are permanent:
//! the record is dead-lettered with the reason. DynamoDB errors of
//! `CUSTOMERS_TABLE` are retried (throttling, 5xx, timeouts, and faults of
//! the deployment such as a missing table) unless DynamoDB blames the
//! record's data (an item or key too large): then the record is
//! dead-lettered ([`address_book::dynamodb`]). At most
//! `EMAIL_MAX_CONCURRENCY` (default 8) SES calls are in flight at once, so
//! a burst does not exceed the account's sending rate.
//!
//! # Nothing leaked
//!
//! Addresses are [`order_events::EmailAddress`] values, which reject CR/LF,
//! commas and angle brackets; SES gets exactly one `To` entry. Subjects are
//! built from event data passed through [`text::single_line`], as is every
//! value shown in a body: one line, no control, bidirectional-override or
//! non-character code points, bounded length. The HTML templates escape
//! every value (names, order and product ids). A failure email shows only
//! the fixed wording of its reason code ([`order_events::FailureReason`]),
//! never the event's text. Logs and dead-letter reasons show addresses only
//! masked (`u***@example.com`), including addresses quoted inside SES error
//! messages, and outside error text cut to 256 characters.

// Data from outside the process never meets an unwrap or expect: a bad
// record is a dead letter, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod address_book;
pub mod compose;
pub mod config;
pub mod handler;
pub mod mail;
pub mod text;

pub use address_book::dynamodb::DynamoDbAddressBook;
#[cfg(any(test, feature = "test-util"))]
pub use address_book::memory::InMemoryAddressBook;
pub use address_book::{AddressBook, Lookup};
pub use config::Config;
pub use handler::{idempotency_key, EmailHandler, IDEMPOTENCY_SCOPE};
#[cfg(any(test, feature = "test-util"))]
pub use mail::memory::FakeMailSender;
pub use mail::ses::SesMailSender;
pub use mail::{Email, MailSender, SendError};

use order_events::EventKind;
use stream_core::config::{ConfigError, Vars};
use stream_core::function::ORDER_EVENTS_STREAM;
use stream_core::lambda::Function;
use stream_core::{DynamoDbIdempotencyStore, FunctionDescriptor, Pipeline, Source, SqsDeadLetters};

/// The handler wired to AWS.
pub type EmailHandlerAws =
    EmailHandler<SesMailSender, DynamoDbAddressBook, DynamoDbIdempotencyStore>;

/// The function's pipeline wired to AWS (it emits no records).
pub type EmailPipeline = Pipeline<EmailHandlerAws, SqsDeadLetters>;

/// Builds the pipeline from SDK clients made once from `sdk`; used by
/// `main`, the local event-source runner and end-to-end tests.
pub fn build_pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> EmailPipeline {
    let dynamodb = stream_core::aws::dynamodb_client(sdk);
    let handler = EmailHandler::new(
        SesMailSender::new(SesMailSender::client_from(sdk)),
        DynamoDbAddressBook::new(dynamodb.clone(), &config.customers_table),
        DynamoDbIdempotencyStore::new(dynamodb, &config.idempotency_table),
        config.clone(),
    );
    let dead_letters = SqsDeadLetters::new(
        stream_core::aws::sqs_client(sdk),
        &config.core.dead_letter_queue_url,
    );
    Pipeline::new(handler, dead_letters, config.core.clone())
}

/// What email-notification reads: the events it sends an email for.
pub const DESCRIPTOR: FunctionDescriptor = FunctionDescriptor {
    name: "email-notification",
    summary: "emails on registration, order placed, completed and failed",
    sources: &[Source {
        stream_var: ORDER_EVENTS_STREAM,
        kinds: &[
            EventKind::UserRegistered,
            EventKind::OrderPlaced,
            EventKind::OrderCompleted,
            EventKind::OrderFailed,
        ],
    }],
};

/// The deployed function.
pub struct EmailNotification;

impl Function for EmailNotification {
    const DESCRIPTOR: FunctionDescriptor = DESCRIPTOR;
    type Config = Config;
    type Handler = EmailHandlerAws;
    type DeadLetters = SqsDeadLetters;
    type Publisher = stream_core::NoPublisher;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    fn metrics_namespace(config: &Config) -> String {
        config.core.metrics_namespace.clone()
    }

    fn pipeline(sdk: &aws_config::SdkConfig, config: &Config) -> EmailPipeline {
        build_pipeline(sdk, config)
    }
}
