//! The stream-batch core: everything about a Kinesis batch that is not a
//! function's own domain logic. A function supplies a [`Handler`] ("handle
//! one event") and gets ordering, concurrency, partial-failure reporting,
//! dead letters, idempotency, logs and metrics.
//!
//! Layout:
//! - [`function`]: a function's descriptor (name, streams, kinds), said once.
//! - [`pipeline`]: one batch in, `batchItemFailures` out (the heart).
//! - [`handler`]: the trait a function implements and what it returns.
//! - [`record`]: where a record came from.
//! - [`dead_letter`]: the dead-letter port; its SQS adapter
//!   (`dead_letter/sqs.rs`) and in-memory fake (`dead_letter/memory.rs`).
//! - [`publisher`]: ordered, batched `PutRecords` with re-sending of
//!   failed entries; the Kinesis adapter (`publisher/kinesis.rs`) and a
//!   scripted fake (`publisher/memory.rs`).
//! - [`idempotency`]: run-once semantics of Powertools for AWS Lambda; the
//!   DynamoDB store (`idempotency/dynamodb.rs`) and an in-memory one
//!   (`idempotency/memory.rs`).
//! - [`retry`]: backoff with jitter bounded by attempts and the deadline.
//! - [`deadline`], [`config`], [`aws`], [`logging`], [`metrics`], [`lambda`]:
//!   the plumbing around them; [`xray`]: subsegments per invocation,
//!   record and AWS call when Lambda's tracing is active (the default
//!   `xray` feature; `xray_off.rs` stands in without it).
//!
//! Test doubles (each port's `memory.rs` fake, captured logs) and
//! [`testing`] (Kinesis event builders, the sample-event checker, the fakes
//! re-exported) exist only with the `test-util` feature, which tests and
//! local tools enable and a Lambda build never does.

// Data from outside the process never meets an unwrap or expect: a bad
// record is a dead letter, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod aws;
pub mod config;
pub mod dead_letter;
pub mod deadline;
pub mod function;
pub mod handler;
pub mod idempotency;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod publisher;
pub mod record;
pub mod retry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
#[cfg(feature = "xray")]
pub mod xray;
#[cfg(not(feature = "xray"))]
#[path = "xray_off.rs"]
pub mod xray;

pub use config::{ConfigError, CoreConfig, StreamRef};
#[cfg(any(test, feature = "test-util"))]
pub use dead_letter::InMemoryDeadLetters;
pub use dead_letter::{DeadLetter, DeadLetterSink, SqsDeadLetters};
pub use deadline::Deadline;
pub use function::{FunctionDescriptor, Source};
pub use handler::{Handled, Handler, HandlerError, IncomingEvent};
#[cfg(any(test, feature = "test-util"))]
pub use idempotency::InMemoryIdempotencyStore;
pub use idempotency::{DynamoDbIdempotencyStore, Idempotency, IdempotencyStore, IdempotentOutcome};
pub use metrics::BatchReport;
pub use pipeline::{BatchOutcome, Pipeline};
#[cfg(any(test, feature = "test-util"))]
pub use publisher::FakePutRecords;
pub use publisher::{
    KinesisPutRecords, NoPublisher, OrderedPublisher, RecordPublisher, SplitPublisher,
};
pub use record::RecordOrigin;
pub use retry::{retry, RetryError, RetryPolicy};

// Re-exported so functions and tests name one version of these.
pub use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
pub use aws_lambda_events::event::streams::KinesisEventResponse;
pub use order_events;
