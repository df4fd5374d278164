//! Fuzzing of every decoder of the pipeline, on stable Rust.
//!
//! Targets (see [`targets`]):
//! - `kinesis-event`: Lambda `KinesisEvent` JSON, through serde and
//!   `stream_core::Pipeline::process` with a scripted handler and fake
//!   effects, to the response; `inventory-update`, `email-notification`
//!   and `order-saga-step`: the same path with each function's real
//!   handler over its in-memory fakes.
//! - `envelope`: `Envelope::parse`, `Envelope::event(kind)` for every kind,
//!   and the round trip through `OutgoingRecord::new`; `timestamp`:
//!   `Timestamp::parse` and its round trip.
//! - `kpl`: `kinesis_deagg::deaggregate`.
//! - `compose`: the emails of email-notification from any event.
//!
//! The engine ([`engine`]) runs seeds, then structured generation
//! ([`gen`]) and mutation ([`mutate`]) for a budget of time or cases,
//! guided by coverage when the build is instrumented ([`coverage`]) and by
//! the targets' outcome signatures otherwise.

pub mod coverage;
pub mod engine;
pub mod gen;
pub mod known;
pub mod mutate;
pub mod rng;
pub mod targets;

use std::path::{Path, PathBuf};

/// `tools/fuzz`.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seed corpus of a target in the repository.
pub fn corpus_dir(target: &str) -> PathBuf {
    crate_dir().join("corpus").join(target)
}
