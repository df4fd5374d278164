//! The stock store port: the one side effect of this function that holds
//! state. A reservation belongs to an order, so both operations are keyed by
//! the order and are idempotent by construction: the store, not the caller,
//! decides whether an order was already reserved or released.

use std::future::Future;

use order_events::{OrderId, OrderLine, OrderLines, ProductId, Quantity};

/// What reserving an order's lines came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Every line was taken from stock now, all in one atomic step.
    Reserved,
    /// The order holds a reservation already (a redelivery, or the other of
    /// `ORDER_CREATED` / `RESERVE_INVENTORY` came first): nothing changed.
    /// `lines` are the reservation's own lines.
    AlreadyReserved { lines: Vec<OrderLine> },
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
    /// Takes every line of `order` from stock, or none of them. Reserving an
    /// order that holds a reservation (or held one) changes nothing.
    fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
    ) -> impl Future<Output = Result<ReserveOutcome, StoreError>> + Send;

    /// Gives back what `order` reserved. Releasing twice gives back once;
    /// releasing an order with no reservation changes nothing.
    fn release(
        &self,
        order: &OrderId,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;
}

impl<T: StockStore> StockStore for std::sync::Arc<T> {
    fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
    ) -> impl Future<Output = Result<ReserveOutcome, StoreError>> + Send {
        (**self).reserve(order, lines)
    }

    fn release(
        &self,
        order: &OrderId,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send {
        (**self).release(order)
    }
}
