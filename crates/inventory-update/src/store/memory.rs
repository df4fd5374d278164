//! An in-memory stock store with the same rules as the DynamoDB one, and
//! scripted faults, for unit tests and local runs without an emulator.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use order_events::{OrderId, OrderLine, OrderLines, ProductId};

use super::{Existing, Owner, ReleaseOutcome, ReserveOutcome, StockStore, StoreError};

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

/// An order's reservation: its lines, its state and its stored owner
/// (`None` for one written before owners were recorded).
#[derive(Debug, Clone)]
struct Reservation {
    lines: Vec<OrderLine>,
    state: State,
    owner: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    stock: HashMap<ProductId, i64>,
    reservations: HashMap<OrderId, Reservation>,
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
            Some(r) if r.state == State::Reserved => Some(r.lines.clone()),
            _ => None,
        }
    }

    /// The stored owner of an order's reservation: `None` when the order has
    /// no reservation, `Some(None)` when it has one without an owner.
    pub fn owner(&self, order: &str) -> Option<Option<String>> {
        let order = OrderId::parse(order).ok()?;
        self.lock()
            .reservations
            .get(&order)
            .map(|r| r.owner.clone())
    }

    /// Takes `lines` from stock for `order` as a reservation written before
    /// owners were recorded (no owner). Panics on invalid ids or short
    /// stock: test set-up only.
    pub fn reserve_without_owner(&self, order: &str, lines: &[(&str, u32)]) {
        let order =
            OrderId::parse(order).unwrap_or_else(|e| panic!("bad order id in test set-up: {e}"));
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|(product, quantity)| OrderLine {
                product_id: ProductId::parse(*product)
                    .unwrap_or_else(|e| panic!("bad product id in test set-up: {e}")),
                quantity: order_events::Quantity::new(u64::from(*quantity))
                    .unwrap_or_else(|e| panic!("bad quantity in test set-up: {e}")),
                price: None,
            })
            .collect();
        let mut inner = self.lock();
        for line in &lines {
            let units = inner
                .stock
                .get_mut(&line.product_id)
                .filter(|units| **units >= i64::from(line.quantity.get()))
                .unwrap_or_else(|| panic!("not enough stock in test set-up"));
            *units -= i64::from(line.quantity.get());
        }
        inner.reservations.insert(
            order,
            Reservation {
                lines,
                state: State::Reserved,
                owner: None,
            },
        );
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

    /// Takes every line from stock for an order with no reservation yet,
    /// or none of them.
    fn reserve_new(
        inner: &mut Inner,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
    ) -> ReserveOutcome {
        // Check every line before changing any: all or none.
        for line in lines {
            match inner.stock.get(&line.product_id) {
                None => {
                    return ReserveOutcome::UnknownProduct {
                        product: line.product_id.clone(),
                    }
                }
                Some(&units) if units < i64::from(line.quantity.get()) => {
                    return ReserveOutcome::InsufficientStock {
                        product: line.product_id.clone(),
                        requested: line.quantity,
                        available: Some(units),
                    }
                }
                Some(_) => {}
            }
        }
        for line in lines {
            if let Some(units) = inner.stock.get_mut(&line.product_id) {
                // Checked above: at least the quantity is there.
                *units -= i64::from(line.quantity.get());
            }
        }
        inner.reservations.insert(
            order.clone(),
            Reservation {
                lines: lines.as_slice().to_vec(),
                state: State::Reserved,
                owner: Some(owner.to_attribute()),
            },
        );
        ReserveOutcome::Reserved
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
        owner: &Owner,
    ) -> Result<ReserveOutcome, StoreError> {
        self.reserve_calls.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        if let Some(err) = Self::take_fault(&mut inner) {
            return Err(err);
        }
        if let Some(held) = inner.reservations.get_mut(order) {
            if held.state == State::Released {
                return Ok(ReserveOutcome::AlreadyReleased);
            }
            let lines = held.lines.clone();
            return Ok(match owner.on_existing(held.owner.as_deref()) {
                Existing::Held => ReserveOutcome::AlreadyReserved { lines },
                Existing::TakeOver => {
                    held.owner = Some(owner.to_attribute());
                    ReserveOutcome::TakenOver { lines }
                }
                Existing::HeldByOther => ReserveOutcome::HeldByOther {
                    owner: held.owner.clone().unwrap_or_default(),
                },
            });
        }
        Ok(Self::reserve_new(&mut inner, order, lines, owner))
    }

    async fn release(&self, order: &OrderId, owner: &Owner) -> Result<ReleaseOutcome, StoreError> {
        self.release_calls.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.lock();
        if let Some(err) = Self::take_fault(&mut inner) {
            return Err(err);
        }
        let lines = match inner.reservations.get_mut(order) {
            None => return Ok(ReleaseOutcome::NotReserved),
            Some(r) if r.state == State::Released => return Ok(ReleaseOutcome::AlreadyReleased),
            Some(r) if !owner.may_release(r.owner.as_deref()) => {
                return Ok(ReleaseOutcome::HeldByOther {
                    owner: r.owner.clone().unwrap_or_default(),
                })
            }
            Some(r) => {
                r.state = State::Released;
                r.lines.clone()
            }
        };
        for line in &lines {
            let units = inner.stock.entry(line.product_id.clone()).or_insert(0);
            *units = units.saturating_add(i64::from(line.quantity.get()));
        }
        Ok(ReleaseOutcome::Released { lines })
    }
}
