//! A local Kinesis event source mapping: what Lambda's event source mapping
//! does, against any stream (a local emulator through `AWS_ENDPOINT_URL`, or
//! a real one). It reads every shard, builds Lambda's `KinesisEvent`
//! batches, invokes a function (in process, or over HTTP on a
//! Lambda-compatible invoke endpoint) and applies the answer the way Lambda
//! checkpoints a shard with `ReportBatchItemFailures`: redelivery from the
//! lowest reported record, whole-batch retries, bisection, bounded retries,
//! record age, filters and an on-failure destination.
//!
//! ```no_run
//! # async fn demo(pipeline: impl event_source_runner::Invoke + 'static, sdk: aws_config::SdkConfig)
//! # -> anyhow::Result<()> {
//! use event_source_runner::{EventSourceMapping, EventTypeFilter, MappingConfig, RunOptions, Runner};
//! use stream_core::StreamRef;
//!
//! let config = MappingConfig {
//!     filter: Some(EventTypeFilter::new(["ORDER_PLACED", "ORDER_CANCELLED"])),
//!     ..MappingConfig::new("order-saga-step", StreamRef::Name("order-events".into()))
//! };
//! let mapping = EventSourceMapping::kinesis(pipeline, &sdk, config)?;
//! let report = Runner::new().add(mapping).run_until_idle(&RunOptions::default()).await?;
//! println!("{} invocations", report.totals.invocations);
//! # Ok(()) }
//! ```
//!
//! Where it differs from Lambda, on purpose or by simplification:
//! - one batch per shard at a time (`ParallelizationFactor` 1); no tumbling
//!   windows, no enhanced fan-out consumer;
//! - `max_retry_attempts` defaults to 3, not -1, so a poison record cannot
//!   stall a local run; `max_record_age` accepts less than Lambda's 60 s;
//! - records from the checkpoint on are kept in memory and redelivered from
//!   there, rather than re-read from the stream;
//! - too-old records are skipped when they reach the front of a batch, as a
//!   run of their own; their on-failure condition is `RecordAgeExceeded`
//!   (Lambda documents no value for it);
//! - the retry backoff (doubling from `retry_delay`, at most 5 s) is the
//!   runner's own; Lambda does not publish its schedule;
//! - on-failure destinations are an SQS queue or memory (no SNS, no S3);
//! - filters are the project's `eventType`/`commandType` rule only, and drop
//!   records that are not JSON objects, as Lambda does (counted apart);
//! - the 6 MB payload limit uses an upper estimate of each record's size.
//!
//! Layout:
//! - [`config`]: a mapping's settings, with Lambda's names, defaults and limits.
//! - [`filter`]: the `eventType`/`commandType` filter of the template's
//!   `FilterCriteria`.
//! - [`source`]: the stream port (ListShards, GetShardIterator, GetRecords),
//!   its Kinesis adapter; [`fake`]: a scripted in-memory stream for tests.
//! - [`invoke`]: the function port, the in-process invoker for a
//!   `stream_core::Pipeline`, a closure invoker; [`http`]: the HTTP invoker.
//! - [`event`]: Lambda's event records, built field by field.
//! - [`shard`]: one shard's reader, batcher and checkpointer (the heart).
//! - [`mapping`]: one function on one stream, every shard.
//! - [`runner`]: several mappings driven together until idle or shutdown
//!   (it drives [`mapping`]s; a mapping knows nothing of the runner).
//! - [`on_failure`]: the on-failure destination (Lambda's metadata record).
//! - [`checkpoint`]: checkpoints kept in a JSON file for resuming.
//! - [`stats`]: counters and the run report.
//! - [`catalog`]: which function reads which stream and types (the
//!   descriptors), the mappings that follow from them, and `print`.
//! - `linked` (the `linked` feature, on by default): the one list of the
//!   functions that run in process, and their generic construction; the
//!   `event-source-runner` binary (`src/bin/`, with its command line) and
//!   the demo use it. Without the feature the library depends on no
//!   function crate.

pub mod catalog;
pub mod checkpoint;
pub mod config;
pub mod event;
pub mod fake;
pub mod filter;
pub mod http;
pub mod invoke;
#[cfg(feature = "linked")]
pub mod linked;
pub mod mapping;
pub mod on_failure;
pub mod runner;
pub mod shard;
pub mod source;
pub mod stats;

pub use config::{MappingConfig, MappingConfigError, StartingPosition};
pub use fake::FakeStream;
pub use filter::{EventTypeFilter, FilterVerdict, NonJsonRecords};
pub use http::HttpInvoker;
pub use invoke::{invoke_fn, FnInvoker, Invoke, InvokeError, Metered};

pub use mapping::{EventSourceMapping, RunError};
pub use on_failure::{FailureCondition, InMemoryOnFailure, OnFailureDestination, OnFailureRecord};
pub use runner::{RunOptions, Runner};
pub use source::{
    IteratorPosition, KinesisSource, RecordsPage, ShardInfo, SourceError, StreamRecord,
    StreamSource,
};
pub use stats::{MappingReport, MappingStats, RunOutcome, RunReport};

// The types a caller needs to write an invoker, so it names one version.
pub use stream_core::{
    Deadline, KinesisEvent, KinesisEventRecord, KinesisEventResponse, StreamRef,
};
