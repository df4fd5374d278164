//! The fuzz targets, by name.

pub mod batch;
pub mod decoders;
pub mod functions;

use crate::engine::Target;

/// Every target's name, in the order runs go through them.
pub const NAMES: &[&str] = &[
    "kinesis-event",
    "inventory-update",
    "email-notification",
    "order-saga-step",
    "envelope",
    "timestamp",
    "kpl",
    "compose",
];

/// The targets that run a whole Lambda batch per case.
pub const BATCH: &[&str] = &[
    "kinesis-event",
    "inventory-update",
    "email-notification",
    "order-saga-step",
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "kinesis-event" => Box::new(functions::PipelineTarget::new()),
        "inventory-update" => Box::new(functions::InventoryTarget::new()),
        "email-notification" => Box::new(functions::EmailTarget::new()),
        "order-saga-step" => Box::new(functions::SagaTarget::new()),
        "envelope" => Box::new(decoders::EnvelopeTarget),
        "timestamp" => Box::new(decoders::TimestampTarget),
        "kpl" => Box::new(decoders::KplTarget),
        "compose" => Box::new(decoders::ComposeTarget),
        _ => return None,
    })
}
