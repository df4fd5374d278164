//! An in-memory stock store with the same rules as the DynamoDB one, and
//! scripted faults, for unit tests and local runs without an emulator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use order_events::{OrderId, OrderLine, OrderLines, ProductId};

use crate::store::{ReleaseOutcome, ReserveOutcome, StockStore, StoreError};

/// A failure the fake answers with instead of doing the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// As DynamoDB throttling.
    Throttled,
    /// As a `TransactionConflict` cancellation: another transaction touched
    /// one of the items.
    Conflict,
    /// As a validation error.
    Rejected(String),
}

impl Fault {
    fn to_error(&self) -> StoreError {
        match self {
            Fault::Throttled => StoreError::transient(anyhow::anyhow!(
                "ThrottlingException: rate exceeded (injected)"
            )),
            Fault::Conflict => StoreError::transient(anyhow::anyhow!(
                "TransactionCanceledException: TransactionConflict (injected)"
            )),
            Fault::Rejected(reason) => StoreError::Rejected(reason.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reserved,
    Released,
}

#[derive(Debug, Default)]
struct Inner {
    stock: HashMap<ProductId, i64>,
    reservations: HashMap<OrderId, (Vec<OrderLine>, State)>,
    faults: VecDeque<Fault>,
    always: Option<Fault>,
}

/// Stock and reservations in memory.
#[derive(Debug, Default)]
pub struct InMemoryStockStore {
    inner: Mutex<Inner>,
    reserve_calls: AtomicU64,
    release_calls: AtomicU64,
}

impl InMemoryStockStore {
    /// A store holding `units` of each product.
    pub fn with_stock<'a>(products: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let store = Self::default();
        for (product, units) in products {
            store.set_available(product, units);
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock can only come from a test; the
        // data is still consistent because every change is one assignment.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the units of a product, creating it when absent. Panics on an
    /// invalid product id: test set-up only.
    pub fn set_available(&self, product: &str, units: i64) {
        let product = ProductId::parse(product)
            .unwrap_or_else(|e| panic!("bad product id in test set-up: {e}"));
        self.lock().stock.insert(product, units);
    }

    pub fn available(&self, product: &str) -> Option<i64> {
        let product = ProductId::parse(product).ok()?;
        self.lock().stock.get(&product).copied()
    }

    /// The lines reserved (not yet released) for an order.
    pub fn reserved_lines(&self, order: &str) -> Option<Vec<OrderLine>> {
        let order = OrderId::parse(order).ok()?;
        match self.lock().reservations.get(&order) {
            Some((lines, State::Reserved)) => Some(lines.clone()),
            _ => None,
        }
    }

    /// The next `times` calls fail with `fault`.
    pub fn fail_next(&self, times: usize, fault: Fault) {
        self.lock().faults.extend(std::iter::repeat_n(fault, times));
    }

    /// Every call fails with `fault` until cleared with `None`.
    pub fn fail_always(&self, fault: Option<Fault>) {
        self.lock().always = fault;
    }

    /// `reserve` calls made, failed ones included.
    pub fn reserve_calls(&self) -> u64 {
        self.reserve_calls.load(Ordering::SeqCst)
    }

    /// `release` calls made, failed ones included.
    pub fn release_calls(&self) -> u64 {
        self.release_calls.load(Ordering::SeqCst)
    }

    fn take_fault(inner: &mut Inner) -> Option<StoreError> {
        inner
            .always
            .as_ref()
            .map(Fault::to_error)
            .or_else(|| inner.faults.pop_front().map(|f| f.to_error()))
    }
}

impl StockStore for InMemoryStockStore {
    async fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
    ) -> Result<ReserveOutcome, StoreError> {
        self.reserve_calls.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        if let Some(err) = Self::take_fault(&mut inner) {
            return Err(err);
        }
        match inner.reservations.get(order) {
            Some((held, State::Reserved)) => {
                return Ok(ReserveOutcome::AlreadyReserved {
                    lines: held.clone(),
                })
            }
            Some((_, State::Released)) => return Ok(ReserveOutcome::AlreadyReleased),
            None => {}
        }
        // Check every line before changing any: all or none.
        for line in lines {
            match inner.stock.get(&line.product_id) {
                None => {
                    return Ok(ReserveOutcome::UnknownProduct {
                        product: line.product_id.clone(),
                    })
                }
                Some(&units) if units < i64::from(line.quantity.get()) => {
                    return Ok(ReserveOutcome::InsufficientStock {
                        product: line.product_id.clone(),
                        requested: line.quantity,
                        available: Some(units),
                    })
                }
                Some(_) => {}
            }
        }
        for line in lines {
            if let Some(units) = inner.stock.get_mut(&line.product_id) {
                *units -= i64::from(line.quantity.get());
            }
        }
        inner
            .reservations
            .insert(order.clone(), (lines.as_slice().to_vec(), State::Reserved));
        Ok(ReserveOutcome::Reserved)
    }

    async fn release(&self, order: &OrderId) -> Result<ReleaseOutcome, StoreError> {
        self.release_calls.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        if let Some(err) = Self::take_fault(&mut inner) {
            return Err(err);
        }
        let lines = match inner.reservations.get_mut(order) {
            None => return Ok(ReleaseOutcome::NotReserved),
            Some((_, State::Released)) => return Ok(ReleaseOutcome::AlreadyReleased),
            Some((lines, state)) => {
                *state = State::Released;
                lines.clone()
            }
        };
        for line in &lines {
            *inner.stock.entry(line.product_id.clone()).or_insert(0) +=
                i64::from(line.quantity.get());
        }
        Ok(ReleaseOutcome::Released { lines })
    }
}
