//! The typed event model of the order streams.
//!
//! Everything that crosses a stream is parsed here, at the edge, into values
//! that cannot be invalid once constructed. No AWS SDK type appears in this
//! crate: the functions and the stream-batch core depend on it, not the
//! other way round.
//!
//! Layout:
//! - [`values`]: identifiers, quantities, addresses, money and timestamps as
//!   newtypes that validate on construction.
//! - [`lines`]: the order lines of an order (`items`), merged per product and
//!   bounded so one order always fits one DynamoDB transaction.
//! - [`envelope`]: the record envelope (and the CQRS command shape), the
//!   deduplication key rule, and the writer for outgoing records.
//! - [`event`]: every event and command type as one enum, with payload structs.
//! - [`error`]: why a record could not be read.
//! - [`reason`]: why an order failed, as codes with fixed wording.

// Data from outside the process never meets an unwrap or expect: a bad
// record is a dead letter, not a panic (tests may unwrap what they build).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod envelope;
pub mod error;
pub mod event;
pub mod lines;
pub mod reason;
pub mod values;

pub use envelope::{DedupKey, Envelope, OutgoingRecord};
pub use error::{DecodeError, InvalidEvent};
pub use event::{
    Event, EventKind, InventoryReleased, InventoryReservationFailed, InventoryReserved,
    OrderCancelled, OrderCompleted, OrderCreated, OrderFailed, OrderPlaced, Payload,
    ProcessPayment, RefundPayment, ReleaseInventory, ReserveInventory, ShipOrder, StepReply,
    UserRegistered,
};
pub use lines::{OrderLine, OrderLines, MAX_LINES, MAX_QUANTITY};
pub use reason::FailureReason;
pub use values::{
    EmailAddress, EventId, Money, OrderId, ProductId, Quantity, SagaId, Timestamp, UserId,
};
