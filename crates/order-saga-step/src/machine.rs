//! The saga's state machine: one pure function from (state read, event) to
//! a decision. No I/O and no clock: the handler reads the state, writes the
//! new one conditionally and publishes what the decision emits.
//!
//! Flow (the contract, section 2):
//!
//! | phase | event | new phase | emits |
//! |---|---|---|---|
//! | none | `ORDER_PLACED` | RUNNING, awaiting reservation | `RESERVE_INVENTORY` |
//! | awaiting reservation | `INVENTORY_RESERVED` | RUNNING, awaiting payment | `PROCESS_PAYMENT` |
//! | awaiting reservation | `INVENTORY_RESERVATION_FAILED` | FAILED | `ORDER_FAILED` |
//! | awaiting payment | `PAYMENT_PROCESSED` | RUNNING, awaiting shipping | `SHIP_ORDER` |
//! | awaiting payment | `PAYMENT_FAILED` | COMPENSATING [release] | `RELEASE_INVENTORY` |
//! | awaiting shipping | `ORDER_SHIPPED` | COMPLETED | `ORDER_COMPLETED` |
//! | awaiting shipping | `SHIPPING_FAILED` | COMPENSATING [refund, release] | `REFUND_PAYMENT` |
//! | COMPENSATING [refund, ..] | `PAYMENT_REFUNDED` | next compensation, or FAILED | its command, or `ORDER_FAILED` |
//! | COMPENSATING [release, ..] | `INVENTORY_RELEASED` | next compensation, or FAILED | its command, or `ORDER_FAILED` |
//!
//! Compensations run one at a time, newest step first, each after the
//! reply of the one before.
//!
//! Cancellation (`ORDER_CANCELLED` while RUNNING) compensates the steps that
//! succeeded *and the step whose command was sent but whose reply has not
//! arrived*: that step may have taken effect, and undoing a step that did
//! not is a no-op that still replies (releasing an order with no
//! reservation, refunding a payment never taken). Commands of one order
//! share a partition key, so the participant sees the compensation after
//! the command it undoes. The late reply of that step is then out of date
//! and ignored. Once `SHIP_ORDER` was sent the cancellation is refused: a
//! shipment cannot be called back, so the saga finishes as the shipping
//! reply says (COMPLETED, or compensated after `SHIPPING_FAILED`).
//!
//! Everything else changes nothing: an event applied before (a duplicate),
//! a reply for a saga that does not exist or has ended, a reply that is not
//! the one the saga waits for (out of date or out of order), a second
//! `ORDER_PLACED` for the order, a reply carrying another saga's id.

use order_events::{
    DedupKey, Event, EventId, EventKind, OrderCompleted, OrderFailed, OrderPlaced, ProcessPayment,
    RefundPayment, ReleaseInventory, ReserveInventory, SagaId, ShipOrder,
};

use crate::saga::{Compensation, OrderInfo, Phase, Saga, Step};

/// The event types the saga acts on (the events stream only).
pub const HANDLED_KINDS: &[EventKind] = &[
    EventKind::OrderPlaced,
    EventKind::OrderCancelled,
    EventKind::InventoryReserved,
    EventKind::InventoryReservationFailed,
    EventKind::InventoryReleased,
    EventKind::PaymentProcessed,
    EventKind::PaymentFailed,
    EventKind::PaymentRefunded,
    EventKind::OrderShipped,
    EventKind::ShippingFailed,
];

/// Most deduplication keys a saga remembers. A saga applies at most seven
/// events, so this only bounds the item against a misbehaving producer.
pub const MAX_APPLIED_KEYS: usize = 64;

/// Longest failure reason kept; reasons come from other services.
pub const MAX_REASON_CHARS: usize = 256;

/// A record a transition sends: a command to a participant or the saga's
/// outcome event. Its id is derived from the saga and the step, so it is
/// the same however often the transition is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    pub event_id: EventId,
    pub event: Event,
}

/// What an event does to a saga.
// One short-lived decision per event: boxing the saga would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write `saga` (its version is one above the state read; a new saga
    /// has version 1), then publish `emit`.
    Apply { saga: Saga, emit: Vec<Emit> },
    /// The event was applied before. `latest`: it was the last event
    /// applied, whose stored records are to be sent again (its first
    /// delivery may have failed to publish them).
    Duplicate { latest: bool },
    /// Nothing to do; the reason is logged.
    Ignore { reason: &'static str },
    /// The event can never start a saga; it is dead-lettered.
    Reject { reason: String },
}

/// Decides what `event` (deduplicated by `dedup_key`) does to the saga
/// `state` (`None`: no saga for the event's order yet).
pub fn transition(state: Option<&Saga>, event: &Event, dedup_key: &DedupKey) -> Decision {
    if !HANDLED_KINDS.contains(&event.kind()) {
        return Decision::Ignore {
            reason: "not an event the saga acts on",
        };
    }
    let key = dedup_key.to_string();
    let Some(saga) = state else {
        return match event {
            Event::OrderPlaced(placed) => start(placed, key),
            _ => Decision::Ignore {
                reason: "no saga for this order",
            },
        };
    };
    if let Some(position) = saga.applied.iter().rposition(|applied| *applied == key) {
        return Decision::Duplicate {
            latest: position + 1 == saga.applied.len(),
        };
    }
    if matches!(event, Event::OrderPlaced(_)) {
        return Decision::Ignore {
            reason: "a saga already exists for this order",
        };
    }
    if saga.status().is_final() {
        return Decision::Ignore {
            reason: "the saga has already ended",
        };
    }
    if reply_saga_id(event).is_some_and(|id| *id != saga.saga_id) {
        return Decision::Ignore {
            reason: "reply for another saga of this order",
        };
    }

    let (next, emit) = match (&saga.phase, event) {
        (
            Phase::Running {
                awaiting: step @ Step::ReserveInventory,
            },
            Event::InventoryReserved(_),
        )
        | (
            Phase::Running {
                awaiting: step @ Step::ProcessPayment,
            },
            Event::PaymentProcessed(_),
        )
        | (
            Phase::Running {
                awaiting: step @ Step::ShipOrder,
            },
            Event::OrderShipped(_),
        ) => succeeded(saga, *step),
        (
            Phase::Running {
                awaiting: Step::ReserveInventory,
            },
            Event::InventoryReservationFailed(failed),
        ) => fail(
            saga,
            failure("inventory reservation failed", Some(&failed.reason)),
            &saga.completed,
        ),
        (
            Phase::Running {
                awaiting: Step::ProcessPayment,
            },
            Event::PaymentFailed(reply),
        ) => fail(
            saga,
            failure("payment failed", reply.reason.as_deref()),
            &saga.completed,
        ),
        (
            Phase::Running {
                awaiting: Step::ShipOrder,
            },
            Event::ShippingFailed(reply),
        ) => fail(
            saga,
            failure("shipping failed", reply.reason.as_deref()),
            &saga.completed,
        ),
        (
            Phase::Running {
                awaiting: Step::ShipOrder,
            },
            Event::OrderCancelled(_),
        ) => {
            return Decision::Ignore {
                reason: "too late to cancel: the shipment was requested",
            };
        }
        (Phase::Running { awaiting }, Event::OrderCancelled(cancelled)) => {
            // The awaited step may have taken effect: undo it too.
            let mut undo = saga.completed.clone();
            undo.push(*awaiting);
            fail(
                saga,
                failure("order cancelled", cancelled.reason.as_deref()),
                &undo,
            )
        }
        (Phase::Compensating { .. }, Event::OrderCancelled(_)) => {
            return Decision::Ignore {
                reason: "the saga is already compensating",
            };
        }
        (Phase::Compensating { pending }, Event::PaymentRefunded(_))
            if pending.first() == Some(&Compensation::RefundPayment) =>
        {
            compensated(saga, pending)
        }
        (Phase::Compensating { pending }, Event::InventoryReleased(_))
            if pending.first() == Some(&Compensation::ReleaseInventory) =>
        {
            compensated(saga, pending)
        }
        _ => {
            return Decision::Ignore {
                reason: "out-of-date reply: not the one the saga awaits",
            };
        }
    };
    applied(next, key, emit)
}

fn start(placed: &OrderPlaced, key: String) -> Decision {
    let Some(total) = placed.total_or_priced() else {
        return Decision::Reject {
            reason: "ORDER_PLACED has no total and not every line has a price, so payment cannot be requested"
                .to_owned(),
        };
    };
    let saga = Saga {
        order_id: placed.order_id.clone(),
        saga_id: SagaId::for_order(&placed.order_id),
        version: 0,
        phase: Phase::Running {
            awaiting: Step::ReserveInventory,
        },
        completed: Vec::new(),
        order: OrderInfo {
            user_id: placed.user_id.clone(),
            email: placed.email.clone(),
            items: placed.items.clone(),
            total,
        },
        reason: None,
        applied: Vec::new(),
    };
    let emit = vec![step_command(&saga, Step::ReserveInventory)];
    applied(saga, key, emit)
}

/// Bumps the version and remembers the event.
fn applied(mut saga: Saga, key: String, emit: Vec<Emit>) -> Decision {
    saga.version += 1;
    saga.applied.push(key);
    if saga.applied.len() > MAX_APPLIED_KEYS {
        let excess = saga.applied.len() - MAX_APPLIED_KEYS;
        saga.applied.drain(..excess);
    }
    Decision::Apply { saga, emit }
}

/// The awaited step succeeded: on to the next, or done.
fn succeeded(saga: &Saga, step: Step) -> (Saga, Vec<Emit>) {
    let mut next = saga.clone();
    next.completed.push(step);
    let emit = match step.next() {
        Some(step) => {
            next.phase = Phase::Running { awaiting: step };
            step_command(&next, step)
        }
        None => {
            next.phase = Phase::Completed;
            outcome(
                &next,
                Event::OrderCompleted(OrderCompleted {
                    order_id: next.order_id.clone(),
                    saga_id: next.saga_id.clone(),
                    user_id: Some(next.order.user_id.clone()),
                    email: next.order.email.clone(),
                }),
            )
        }
    };
    (next, vec![emit])
}

/// Starts undoing `undo` (oldest first), newest first; with nothing to
/// undo the saga fails at once.
fn fail(saga: &Saga, reason: String, undo: &[Step]) -> (Saga, Vec<Emit>) {
    let mut next = saga.clone();
    next.reason = Some(reason);
    let pending: Vec<Compensation> = undo
        .iter()
        .rev()
        .filter_map(|step| step.compensation())
        .collect();
    continue_compensating(next, pending)
}

/// The first pending compensation replied.
fn compensated(saga: &Saga, pending: &[Compensation]) -> (Saga, Vec<Emit>) {
    continue_compensating(
        saga.clone(),
        pending.get(1..).map(<[_]>::to_vec).unwrap_or_default(),
    )
}

fn continue_compensating(mut next: Saga, pending: Vec<Compensation>) -> (Saga, Vec<Emit>) {
    match pending.first() {
        Some(&first) => {
            next.phase = Phase::Compensating { pending };
            let emit = compensation_command(&next, first);
            (next, vec![emit])
        }
        None => {
            next.phase = Phase::Failed;
            let emit = outcome(
                &next,
                Event::OrderFailed(OrderFailed {
                    order_id: next.order_id.clone(),
                    saga_id: next.saga_id.clone(),
                    reason: next
                        .reason
                        .clone()
                        .unwrap_or_else(|| "saga failed".to_owned()),
                    user_id: Some(next.order.user_id.clone()),
                    email: next.order.email.clone(),
                }),
            );
            (next, vec![emit])
        }
    }
}

fn step_command(saga: &Saga, step: Step) -> Emit {
    let order_id = saga.order_id.clone();
    let saga_id = saga.saga_id.clone();
    let info = &saga.order;
    let event = match step {
        Step::ReserveInventory => Event::ReserveInventory(ReserveInventory {
            order_id,
            saga_id: Some(saga_id),
            items: info.items.clone(),
            user_id: Some(info.user_id.clone()),
        }),
        Step::ProcessPayment => Event::ProcessPayment(ProcessPayment {
            order_id,
            saga_id,
            user_id: info.user_id.clone(),
            total: info.total,
        }),
        Step::ShipOrder => Event::ShipOrder(ShipOrder {
            order_id,
            saga_id,
            user_id: info.user_id.clone(),
            items: info.items.clone(),
        }),
    };
    outcome(saga, event)
}

fn compensation_command(saga: &Saga, compensation: Compensation) -> Emit {
    let order_id = saga.order_id.clone();
    let saga_id = saga.saga_id.clone();
    let event = match compensation {
        Compensation::RefundPayment => Event::RefundPayment(RefundPayment {
            order_id,
            saga_id,
            total: Some(saga.order.total),
        }),
        Compensation::ReleaseInventory => Event::ReleaseInventory(ReleaseInventory {
            order_id,
            saga_id: Some(saga_id),
        }),
    };
    outcome(saga, event)
}

/// Every record type is sent at most once per saga, so the saga and the
/// type name the step.
fn outcome(saga: &Saga, event: Event) -> Emit {
    Emit {
        event_id: EventId::derived(&["saga", saga.order_id.as_str(), event.kind().as_str()]),
        event,
    }
}

/// The saga id a reply names, when it names one.
fn reply_saga_id(event: &Event) -> Option<&SagaId> {
    match event {
        Event::InventoryReserved(reply) => Some(&reply.saga_id),
        Event::InventoryReservationFailed(reply) => Some(&reply.saga_id),
        // Optional in the contract: a release that names no saga is still
        // the release of this order's reservation.
        Event::InventoryReleased(reply) => reply.saga_id.as_ref(),
        Event::PaymentProcessed(reply)
        | Event::PaymentFailed(reply)
        | Event::PaymentRefunded(reply)
        | Event::OrderShipped(reply)
        | Event::ShippingFailed(reply) => Some(&reply.saga_id),
        _ => None,
    }
}

fn failure(what: &str, detail: Option<&str>) -> String {
    let text = match detail.map(str::trim).filter(|d| !d.is_empty()) {
        Some(detail) => format!("{what}: {detail}"),
        None => what.to_owned(),
    };
    text.chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests;
