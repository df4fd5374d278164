//! Why a record could not be read. Both kinds are permanent: retrying the
//! same bytes can never succeed, so the core dead-letters them.

use thiserror::Error;

/// The record's bytes are not an envelope at all.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record data is not UTF-8 (first bad byte at offset {0})")]
    NotUtf8(usize),
    #[error("record data is not a JSON object: {0}")]
    NotJson(String),
    #[error("record has neither `eventType` nor `commandType`")]
    MissingType,
    #[error("record has no `payload` object")]
    MissingPayload,
    /// A field of the envelope breaks its limit (length, characters).
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
}

/// The envelope is readable but its payload breaks the contract.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid {event_type} payload: {reason}")]
pub struct InvalidEvent {
    pub event_type: String,
    pub reason: String,
}

impl InvalidEvent {
    pub fn new(event_type: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            event_type: event_type.into(),
            reason: reason.into(),
        }
    }
}
