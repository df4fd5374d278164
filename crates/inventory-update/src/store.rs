//! The stock store port: the one side effect of this function that holds
//! state. A reservation belongs to an order, so both operations are keyed by
//! the order and are idempotent by construction: the store, not the caller,
//! decides whether an order was already reserved or released.
//!
//! # One owner per reservation
//!
//! Every reservation records who made it ([`Owner`]), and only that owner's
//! release gives its stock back:
//!
//! | reservation owned by | `ORDER_CANCELLED` | `RELEASE_INVENTORY` of saga S | `RESERVE_INVENTORY` of saga S |
//! |---|---|---|---|
//! | `ORDER_CREATED` | releases | nothing (another owner) | takes it over: it becomes S's |
//! | saga S | nothing (skipped) | releases | already reserved |
//! | another saga T | nothing (skipped) | nothing (another owner) | fails (held by another saga) |
//! | nobody recorded (written before owners were) | releases | releases | takes it over |
//!
//! Why the takeover: once a saga is told its stock is reserved, it goes on
//! to payment and shipping, and a saga refuses a cancellation after
//! `SHIP_ORDER`. If `ORDER_CANCELLED` could still release that stock, stock
//! would go back up while the goods ship. So the reservation answered to a
//! saga is the saga's, released by its compensation alone.
//!
//! Reservations written before owners were recorded carry no owner. They
//! keep the rule they were made under (the first release, from either
//! flow, gives the stock back once), so orders in flight during a
//! deployment are neither leaked nor stuck; a saga that reserves such an
//! order takes it over like one owned by `ORDER_CREATED`.
//!
//! The DynamoDB adapter is [`dynamodb`]; the in-memory fake with scripted
//! faults is `memory`, compiled only for tests and the `test-util` feature.

pub mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

use std::fmt;
use std::future::Future;

use order_events::{OrderId, OrderLine, OrderLines, ProductId, Quantity, SagaId};

/// Who a reservation belongs to: the one flow whose release gives it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Made by `ORDER_CREATED`; released by `ORDER_CANCELLED` only.
    OrderCreated,
    /// Made for (or taken over by) a saga; released by that saga's
    /// `RELEASE_INVENTORY` only.
    Saga(SagaId),
}

impl Owner {
    /// Stored form of [`Owner::OrderCreated`].
    pub const ORDER_CREATED: &'static str = "ORDER_CREATED";
    /// Prefix of the stored form of [`Owner::Saga`]: `SAGA#<sagaId>`.
    pub const SAGA_PREFIX: &'static str = "SAGA#";

    /// The stored form: `ORDER_CREATED` or `SAGA#<sagaId>`.
    pub fn to_attribute(&self) -> String {
        match self {
            Owner::OrderCreated => Self::ORDER_CREATED.to_owned(),
            Owner::Saga(saga) => format!("{}{saga}", Self::SAGA_PREFIX),
        }
    }

    /// Whether this owner may release a reservation whose stored owner is
    /// `stored` (`None`: written before owners were recorded, released by
    /// either flow).
    pub fn may_release(&self, stored: Option<&str>) -> bool {
        stored.is_none_or(|stored| stored == self.to_attribute())
    }

    /// What a reserve by `self` does to an order that already holds a
    /// live (not released) reservation owned by `stored`.
    pub fn on_existing(&self, stored: Option<&str>) -> Existing {
        match self {
            // An event never takes a reservation from anyone: it already
            // holds the order's stock, whoever made it.
            Owner::OrderCreated => Existing::Held,
            Owner::Saga(_) if stored == Some(self.to_attribute().as_str()) => Existing::Held,
            Owner::Saga(_) if stored.is_none_or(|s| s == Self::ORDER_CREATED) => Existing::TakeOver,
            Owner::Saga(_) => Existing::HeldByOther,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_attribute())
    }
}

/// The rule for a reserve that meets a live reservation of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// The order's stock is held already for this requester: nothing changes.
    Held,
    /// The saga takes over a reservation made by `ORDER_CREATED` (or one
    /// with no recorded owner).
    TakeOver,
    /// Another saga holds it: nothing changes, and this saga is told no.
    HeldByOther,
}

/// What reserving an order's lines came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every line was taken from stock now, all in one atomic step.
    Reserved,
    /// The order holds a reservation already (a redelivery, or the other of
    /// `ORDER_CREATED` / `RESERVE_INVENTORY` came first): no stock moved.
    /// `lines` are the reservation's own lines.
    AlreadyReserved { lines: Vec<OrderLine> },
    /// The order held a reservation made by `ORDER_CREATED` (or with no
    /// recorded owner) and the requesting saga now owns it: no stock moved.
    TakenOver { lines: Vec<OrderLine> },
    /// The order's reservation belongs to another saga: nothing changed.
    /// `owner` is the stored owner.
    HeldByOther { owner: String },
    /// The order's reservation was released before: nothing changed. A
    /// released order is never reserved again.
    AlreadyReleased,
    /// A product has fewer units than the order asks for: nothing changed.
    InsufficientStock {
        product: ProductId,
        requested: Quantity,
        /// Units left when the store looked, when it could tell.
        available: Option<i64>,
    },
    /// A product is not in the stock table: nothing changed.
    UnknownProduct { product: ProductId },
}

/// What releasing an order's reservation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The reserved units were given back now.
    Released { lines: Vec<OrderLine> },
    /// Released before: nothing changed.
    AlreadyReleased,
    /// The order holds no reservation: nothing changed.
    NotReserved,
    /// The reservation belongs to another owner, whose release alone gives
    /// it back: nothing changed. `owner` is the stored owner.
    HeldByOther { owner: String },
}

/// A failure of the store itself (never a business outcome).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a conflicting concurrent transaction, a timeout, 5xx:
    /// the same call may succeed later.
    #[error("stock store unavailable: {0:#}")]
    Transient(anyhow::Error),
    /// The store refused the request itself (a validation error): retrying
    /// the same order cannot succeed.
    #[error("stock store rejected the request: {0}")]
    Rejected(String),
}

impl StoreError {
    pub fn transient(err: impl Into<anyhow::Error>) -> Self {
        StoreError::Transient(err.into())
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

/// Stock of products and the reservations of orders.
pub trait StockStore: Send + Sync {
    /// Takes every line of `order` from stock, or none of them, for
    /// `owner`. Reserving an order that holds a reservation (or held one)
    /// moves no stock; see [`Owner::on_existing`] for who then owns it.
    fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
    ) -> impl Future<Output = Result<ReserveOutcome, StoreError>> + Send;

    /// Gives back what `order` reserved, if `owner` owns the reservation
    /// ([`Owner::may_release`]), checked atomically with the release.
    /// Releasing twice gives back once; releasing an order with no
    /// reservation, or someone else's, changes nothing.
    fn release(
        &self,
        order: &OrderId,
        owner: &Owner,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;
}

impl<T: StockStore> StockStore for std::sync::Arc<T> {
    fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
    ) -> impl Future<Output = Result<ReserveOutcome, StoreError>> + Send {
        (**self).reserve(order, lines, owner)
    }

    fn release(
        &self,
        order: &OrderId,
        owner: &Owner,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send {
        (**self).release(order, owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saga(id: &str) -> Owner {
        Owner::Saga(SagaId::parse(id).unwrap())
    }

    #[test]
    fn only_the_owner_or_anyone_for_an_unowned_reservation_may_release() {
        assert_eq!(saga("s-1").to_attribute(), "SAGA#s-1");
        assert_eq!(Owner::OrderCreated.to_attribute(), "ORDER_CREATED");
        assert!(Owner::OrderCreated.may_release(Some("ORDER_CREATED")));
        assert!(!Owner::OrderCreated.may_release(Some("SAGA#s-1")));
        assert!(saga("s-1").may_release(Some("SAGA#s-1")));
        assert!(!saga("s-1").may_release(Some("SAGA#s-2")));
        assert!(!saga("s-1").may_release(Some("ORDER_CREATED")));
        // A saga id that merely starts like another's is another saga.
        assert!(!saga("s-1").may_release(Some("SAGA#s-10")));
        assert!(Owner::OrderCreated.may_release(None));
        assert!(saga("s-1").may_release(None));
    }

    #[test]
    fn a_saga_takes_over_order_created_and_unowned_reservations_only() {
        assert_eq!(
            Owner::OrderCreated.on_existing(Some("SAGA#s-1")),
            Existing::Held
        );
        assert_eq!(Owner::OrderCreated.on_existing(None), Existing::Held);
        assert_eq!(saga("s-1").on_existing(Some("SAGA#s-1")), Existing::Held);
        assert_eq!(
            saga("s-1").on_existing(Some("ORDER_CREATED")),
            Existing::TakeOver
        );
        assert_eq!(saga("s-1").on_existing(None), Existing::TakeOver);
        assert_eq!(
            saga("s-1").on_existing(Some("SAGA#s-2")),
            Existing::HeldByOther
        );
    }
}
