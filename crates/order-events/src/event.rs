//! Every event and command of the contract, one enum variant each.
//!
//! Reading is two-step on purpose: the envelope gives an [`EventKind`]
//! cheaply, a function decides whether it handles that kind, and only then
//! is the payload parsed. Records a function ignores cost almost nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidEvent;
use crate::lines::{OrderLine, OrderLines};
use crate::values::{bounded, EmailAddress, Money, OrderId, ProductId, SagaId, UserId};

macro_rules! event_kinds {
    ($($variant:ident => $wire:literal),+ $(,)?) => {
        /// The `eventType` (or `commandType`) of a record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $($variant),+ }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $wire),+ }
            }
        }

        impl FromStr for EventKind {
            type Err = ();
            fn from_str(text: &str) -> Result<Self, ()> {
                match text { $($wire => Ok(EventKind::$variant),)+ _ => Err(()) }
            }
        }
    };
}

event_kinds! {
    UserRegistered => "USER_REGISTERED",
    OrderCreated => "ORDER_CREATED",
    OrderPlaced => "ORDER_PLACED",
    OrderCancelled => "ORDER_CANCELLED",
    InventoryReserved => "INVENTORY_RESERVED",
    InventoryReservationFailed => "INVENTORY_RESERVATION_FAILED",
    InventoryReleased => "INVENTORY_RELEASED",
    PaymentProcessed => "PAYMENT_PROCESSED",
    PaymentFailed => "PAYMENT_FAILED",
    PaymentRefunded => "PAYMENT_REFUNDED",
    OrderShipped => "ORDER_SHIPPED",
    ShippingFailed => "SHIPPING_FAILED",
    OrderCompleted => "ORDER_COMPLETED",
    OrderFailed => "ORDER_FAILED",
    ReserveInventory => "RESERVE_INVENTORY",
    ReleaseInventory => "RELEASE_INVENTORY",
    ProcessPayment => "PROCESS_PAYMENT",
    RefundPayment => "REFUND_PAYMENT",
    ShipOrder => "SHIP_ORDER",
}

impl EventKind {
    /// Commands travel on the commands stream; everything else is an event.
    pub fn is_command(self) -> bool {
        matches!(
            self,
            EventKind::ReserveInventory
                | EventKind::ReleaseInventory
                | EventKind::ProcessPayment
                | EventKind::RefundPayment
                | EventKind::ShipOrder
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    pub user_id: UserId,
    pub email: EmailAddress,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounded::opt_date"
    )]
    pub registration_date: Option<String>,
    /// Display name, when the producer sends one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounded::opt_name"
    )]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub items: OrderLines,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounded::opt_status"
    )]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub items: OrderLines,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
}

impl OrderPlaced {
    /// The order's total: as sent, else the sum of its priced lines.
    pub fn total_or_priced(&self) -> Option<Money> {
        self.total.or_else(|| self.items.priced_total())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    pub order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounded::opt_reason"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryReserved {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    pub items: OrderLines,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryReservationFailed {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    #[serde(deserialize_with = "bounded::reason")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryReleased {
    pub order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga_id: Option<SagaId>,
    /// Empty when there was nothing to release.
    #[serde(default)]
    pub items: Vec<OrderLine>,
}

/// The reply of a participant step (payment, shipping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReply {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounded::opt_reason"
    )]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCompleted {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFailed {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    #[serde(deserialize_with = "bounded::reason")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveInventory {
    pub order_id: OrderId,
    /// Absent in the CQRS command shape; see [`ReserveInventory::saga`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga_id: Option<SagaId>,
    pub items: OrderLines,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

impl ReserveInventory {
    pub fn saga(&self) -> SagaId {
        self.saga_id
            .clone()
            .unwrap_or_else(|| SagaId::for_order(&self.order_id))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseInventory {
    pub order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga_id: Option<SagaId>,
}

impl ReleaseInventory {
    pub fn saga(&self) -> SagaId {
        self.saga_id
            .clone()
            .unwrap_or_else(|| SagaId::for_order(&self.order_id))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessPayment {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    pub user_id: UserId,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayment {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipOrder {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    pub user_id: UserId,
    pub items: OrderLines,
}

/// One event or command, payload parsed and valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UserRegistered(UserRegistered),
    OrderCreated(OrderCreated),
    OrderPlaced(OrderPlaced),
    OrderCancelled(OrderCancelled),
    InventoryReserved(InventoryReserved),
    InventoryReservationFailed(InventoryReservationFailed),
    InventoryReleased(InventoryReleased),
    PaymentProcessed(StepReply),
    PaymentFailed(StepReply),
    PaymentRefunded(StepReply),
    OrderShipped(StepReply),
    ShippingFailed(StepReply),
    OrderCompleted(OrderCompleted),
    OrderFailed(OrderFailed),
    ReserveInventory(ReserveInventory),
    ReleaseInventory(ReleaseInventory),
    ProcessPayment(ProcessPayment),
    RefundPayment(RefundPayment),
    ShipOrder(ShipOrder),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            Event::UserRegistered($p) => $body,
            Event::OrderCreated($p) => $body,
            Event::OrderPlaced($p) => $body,
            Event::OrderCancelled($p) => $body,
            Event::InventoryReserved($p) => $body,
            Event::InventoryReservationFailed($p) => $body,
            Event::InventoryReleased($p) => $body,
            Event::PaymentProcessed($p)
            | Event::PaymentFailed($p)
            | Event::PaymentRefunded($p)
            | Event::OrderShipped($p)
            | Event::ShippingFailed($p) => $body,
            Event::OrderCompleted($p) => $body,
            Event::OrderFailed($p) => $body,
            Event::ReserveInventory($p) => $body,
            Event::ReleaseInventory($p) => $body,
            Event::ProcessPayment($p) => $body,
            Event::RefundPayment($p) => $body,
            Event::ShipOrder($p) => $body,
        }
    };
}

impl Event {
    /// Parses a payload (the JSON text of the envelope's `payload`, or the
    /// whole command object) as the given kind.
    pub fn parse(kind: EventKind, payload: &str) -> Result<Self, InvalidEvent> {
        fn read<'a, T: Deserialize<'a>>(
            kind: EventKind,
            payload: &'a str,
        ) -> Result<T, InvalidEvent> {
            serde_json::from_str(payload)
                .map_err(|e| InvalidEvent::new(kind.as_str(), e.to_string()))
        }
        Ok(match kind {
            EventKind::UserRegistered => Event::UserRegistered(read(kind, payload)?),
            EventKind::OrderCreated => Event::OrderCreated(read(kind, payload)?),
            EventKind::OrderPlaced => Event::OrderPlaced(read(kind, payload)?),
            EventKind::OrderCancelled => Event::OrderCancelled(read(kind, payload)?),
            EventKind::InventoryReserved => Event::InventoryReserved(read(kind, payload)?),
            EventKind::InventoryReservationFailed => {
                Event::InventoryReservationFailed(read(kind, payload)?)
            }
            EventKind::InventoryReleased => Event::InventoryReleased(read(kind, payload)?),
            EventKind::PaymentProcessed => Event::PaymentProcessed(read(kind, payload)?),
            EventKind::PaymentFailed => Event::PaymentFailed(read(kind, payload)?),
            EventKind::PaymentRefunded => Event::PaymentRefunded(read(kind, payload)?),
            EventKind::OrderShipped => Event::OrderShipped(read(kind, payload)?),
            EventKind::ShippingFailed => Event::ShippingFailed(read(kind, payload)?),
            EventKind::OrderCompleted => Event::OrderCompleted(read(kind, payload)?),
            EventKind::OrderFailed => Event::OrderFailed(read(kind, payload)?),
            EventKind::ReserveInventory => Event::ReserveInventory(read(kind, payload)?),
            EventKind::ReleaseInventory => Event::ReleaseInventory(read(kind, payload)?),
            EventKind::ProcessPayment => Event::ProcessPayment(read(kind, payload)?),
            EventKind::RefundPayment => Event::RefundPayment(read(kind, payload)?),
            EventKind::ShipOrder => Event::ShipOrder(read(kind, payload)?),
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::UserRegistered(_) => EventKind::UserRegistered,
            Event::OrderCreated(_) => EventKind::OrderCreated,
            Event::OrderPlaced(_) => EventKind::OrderPlaced,
            Event::OrderCancelled(_) => EventKind::OrderCancelled,
            Event::InventoryReserved(_) => EventKind::InventoryReserved,
            Event::InventoryReservationFailed(_) => EventKind::InventoryReservationFailed,
            Event::InventoryReleased(_) => EventKind::InventoryReleased,
            Event::PaymentProcessed(_) => EventKind::PaymentProcessed,
            Event::PaymentFailed(_) => EventKind::PaymentFailed,
            Event::PaymentRefunded(_) => EventKind::PaymentRefunded,
            Event::OrderShipped(_) => EventKind::OrderShipped,
            Event::ShippingFailed(_) => EventKind::ShippingFailed,
            Event::OrderCompleted(_) => EventKind::OrderCompleted,
            Event::OrderFailed(_) => EventKind::OrderFailed,
            Event::ReserveInventory(_) => EventKind::ReserveInventory,
            Event::ReleaseInventory(_) => EventKind::ReleaseInventory,
            Event::ProcessPayment(_) => EventKind::ProcessPayment,
            Event::RefundPayment(_) => EventKind::RefundPayment,
            Event::ShipOrder(_) => EventKind::ShipOrder,
        }
    }

    /// The payload as a JSON value. Amounts go through `serde_json::Value`,
    /// whose numbers are binary floats: for writing records use the
    /// payload's own serialisation ([`Event::payload`]), which keeps every
    /// digit.
    pub fn payload_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        dispatch!(self, p => serde_json::to_value(p))
    }

    /// The payload, serialisable as it is: money written from its own
    /// digits, never through a float.
    pub fn payload(&self) -> Payload<'_> {
        Payload(self)
    }

    /// The order this event is about, when it is about one.
    pub fn order_id(&self) -> Option<&OrderId> {
        match self {
            Event::UserRegistered(_) => None,
            Event::OrderCreated(p) => Some(&p.order_id),
            Event::OrderPlaced(p) => Some(&p.order_id),
            Event::OrderCancelled(p) => Some(&p.order_id),
            Event::InventoryReserved(p) => Some(&p.order_id),
            Event::InventoryReservationFailed(p) => Some(&p.order_id),
            Event::InventoryReleased(p) => Some(&p.order_id),
            Event::PaymentProcessed(p)
            | Event::PaymentFailed(p)
            | Event::PaymentRefunded(p)
            | Event::OrderShipped(p)
            | Event::ShippingFailed(p) => Some(&p.order_id),
            Event::OrderCompleted(p) => Some(&p.order_id),
            Event::OrderFailed(p) => Some(&p.order_id),
            Event::ReserveInventory(p) => Some(&p.order_id),
            Event::ReleaseInventory(p) => Some(&p.order_id),
            Event::ProcessPayment(p) => Some(&p.order_id),
            Event::RefundPayment(p) => Some(&p.order_id),
            Event::ShipOrder(p) => Some(&p.order_id),
        }
    }

    /// The partition key this project writes the event under: the order id,
    /// or the user id for user events.
    pub fn partition_key(&self) -> &str {
        match self {
            Event::UserRegistered(p) => p.user_id.as_str(),
            other => other.order_id().map(OrderId::as_str).unwrap_or_default(),
        }
    }
}

/// An event's payload for a serializer (see [`Event::payload`]).
pub struct Payload<'a>(&'a Event);

impl Serialize for Payload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        dispatch!(self.0, p => p.serialize(serializer))
    }
}
