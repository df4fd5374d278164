//! The saga's state machine: pure functions from (state read, event, time)
//! to a decision ([`transition`]) and from (state read, time) to what a
//! passed step deadline does ([`on_deadline`]). No I/O and no clock: the
//! handler and the sweep read the state and the time, write the new state
//! conditionally and publish what the decision emits.
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
//!
//! # Reasons
//!
//! `ORDER_FAILED.reason` is always one of the codes of
//! [`order_events::FailureReason`], decided here from the cause, never
//! text from a reply, a cancellation or an error:
//!
//! | cause | code |
//! |---|---|
//! | `INVENTORY_RESERVATION_FAILED` | its `reason` when that is an inventory code (`OUT_OF_STOCK`, `UNKNOWN_PRODUCT`, `RESERVATION_RELEASED`), else `OUT_OF_STOCK` |
//! | `PAYMENT_FAILED` | `PAYMENT_DECLINED` |
//! | `SHIPPING_FAILED` | `SHIPPING_FAILED` |
//! | `ORDER_CANCELLED` | `ORDER_CANCELLED` |
//! | a step deadline passed (see below) | `TIMED_OUT` |
//!
//! What the participant or producer wrote is kept in the saga item only
//! ([`Saga::detail`]: control characters stripped, at most
//! [`crate::text::MAX_DETAIL_CHARS`] characters) and in the logs.
//!
//! # Step deadlines
//!
//! Every transition that sends a command sets [`Saga::step_deadline`] to
//! the time passed in plus the step timeout; a saga that ends has none. The
//! machine reads no clock: [`Timing`] carries "now". When the deadline has
//! passed without the awaited reply, [`on_deadline`] decides (the sweep
//! calls it, and writes with the same conditional write as the handler, so
//! a reply racing the sweep and the sweep never both apply):
//!
//! | phase | deadline passed | new phase | emits |
//! |---|---|---|---|
//! | RUNNING, awaiting step X | compensate the completed steps *and X*, as a cancellation does | COMPENSATING, or FAILED when nothing needs undoing | the first compensation, or `ORDER_FAILED` (`TIMED_OUT`) |
//! | COMPENSATING [c, ..], fewer than [`MAX_COMPENSATION_RESENDS`] re-sends | send `c` again, same `eventId`, new deadline | unchanged | `c` |
//! | COMPENSATING [c, rest], re-sends used up | give `c` up (recorded in [`Saga::unconfirmed`]), reason `TIMED_OUT` | COMPENSATING [rest], or FAILED | the next compensation, or `ORDER_FAILED` (`TIMED_OUT`) |
//! | RUNNING or COMPENSATING with no deadline stored (written before deadlines existed) | start its clock: deadline = now + timeout | unchanged | nothing |
//! | COMPLETED or FAILED | nothing: an ended saga waits for nothing | | |
//!
//! The awaited step is undone too because its command may have taken
//! effect with the reply lost; undoing a step that did not happen is a
//! no-op that still replies. Its late reply is then out of date.
//!
//! *Awaiting `SHIP_ORDER`.* A cancellation is refused there because a
//! shipment cannot be called back, but the contract asks that a saga whose
//! participant does not answer within its deadline is compensated and ends
//! `ORDER_FAILED`. The machine follows the contract: after the deadline the
//! payment is refunded and the stock released. If the shipping service
//! was only slow and ships after all, its late `ORDER_SHIPPED` is out of
//! date and changes nothing; the handler logs it as a warning ("shipped
//! after the saga timed out"), because goods then left for an order that
//! was refunded, and someone has to reconcile it. Waiting for ever instead
//! would hold the customer's money and the stock on a service that may
//! never answer; the step timeout (`SAGA_STEP_TIMEOUT_SECONDS`) should be
//! set well above the shipping service's normal answer time.
//!
//! *Giving a compensation up.* Participants are idempotent, so re-sending a
//! compensation with the same `eventId` is safe, and a lost command or
//! reply is recovered by it. A participant that never answers cannot hold
//! the saga for ever, though: after [`MAX_COMPENSATION_RESENDS`] re-sends
//! (about six step timeouts) the compensation is given up and the remaining
//! ones still run, so a dead payment service does not keep the stock
//! reserved. The price is that a given-up compensation may never have
//! taken effect (a refund not made, stock still held); the saga says which
//! in `unconfirmedCompensations`, and the sweep logs it as an error, for a
//! person to settle. The order ends `ORDER_FAILED` with `TIMED_OUT`.

use std::time::Duration;

use order_events::{
    DedupKey, Event, EventId, EventKind, FailureReason, OrderCompleted, OrderFailed, OrderPlaced,
    ProcessPayment, RefundPayment, ReleaseInventory, ReserveInventory, SagaId, ShipOrder,
};

use crate::saga::{Compensation, OrderInfo, Phase, Saga, Step};
use crate::text::{self, MAX_DETAIL_CHARS};

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

/// Times a compensation whose reply is overdue is sent again before it is
/// given up.
pub const MAX_COMPENSATION_RESENDS: u32 = 5;

/// Why a late `ORDER_SHIPPED` changes nothing; the handler logs it as a
/// warning.
pub const SHIPPED_AFTER_TIMEOUT: &str =
    "shipped after the saga timed out and was compensated: reconcile by hand";

/// The moment a transition is computed, and how long a participant has to
/// answer a command sent then. The machine reads no clock; the handler and
/// the sweep pass this in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// How long the reply to a command may take, in milliseconds.
    pub step_timeout_ms: u64,
}

impl Timing {
    pub fn new(now_ms: u64, step_timeout: Duration) -> Self {
        Self {
            now_ms,
            step_timeout_ms: u64::try_from(step_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The deadline of a command sent now.
    pub fn deadline(self) -> u64 {
        self.now_ms.saturating_add(self.step_timeout_ms)
    }

    /// True once `deadline` has come.
    pub fn has_passed(self, deadline: u64) -> bool {
        self.now_ms >= deadline
    }
}

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

/// Decides what `event` (deduplicated by `dedup_key`), handled at `timing`,
/// does to the saga `state` (`None`: no saga for the event's order yet).
pub fn transition(
    state: Option<&Saga>,
    event: &Event,
    dedup_key: &DedupKey,
    timing: Timing,
) -> Decision {
    if !HANDLED_KINDS.contains(&event.kind()) {
        return Decision::Ignore {
            reason: "not an event the saga acts on",
        };
    }
    let key = dedup_key.to_string();
    let Some(saga) = state else {
        return match event {
            Event::OrderPlaced(placed) => start(placed, key, timing),
            _ => Decision::Ignore {
                reason: "no saga for this order",
            },
        };
    };
    if let Some(decision) = screen(saga, event, &key) {
        return decision;
    }
    match advance(saga, event) {
        Ok((next, emit)) => applied(next, key, emit, timing),
        Err(reason) => Decision::Ignore { reason },
    }
}

/// What `event` comes to before the saga's phase is looked at: a
/// duplicate of an applied event, or an event the saga ignores whatever
/// it awaits. `None`: the phase decides.
fn screen(saga: &Saga, event: &Event, key: &str) -> Option<Decision> {
    if let Some(position) = saga.applied.iter().rposition(|applied| applied == key) {
        return Some(Decision::Duplicate {
            latest: position + 1 == saga.applied.len(),
        });
    }
    let reason = if matches!(event, Event::OrderPlaced(_)) {
        "a saga already exists for this order"
    } else if reply_saga_id(event).is_some_and(|id| *id != saga.saga_id) {
        "reply for another saga of this order"
    } else if matches!(event, Event::OrderShipped(_)) && shipment_timed_out(saga) {
        SHIPPED_AFTER_TIMEOUT
    } else if saga.status().is_final() {
        "the saga has already ended"
    } else {
        return None;
    };
    Some(Decision::Ignore { reason })
}

/// Why a reply changes nothing: it is not the one the saga awaits.
const OUT_OF_DATE: &str = "out-of-date reply: not the one the saga awaits";

/// The saga after `event` in its current phase and the records to send,
/// or why the event changes nothing.
fn advance(saga: &Saga, event: &Event) -> Result<(Saga, Vec<Emit>), &'static str> {
    match &saga.phase {
        Phase::Running { awaiting } => while_running(saga, *awaiting, event),
        Phase::Compensating { pending } => while_compensating(saga, pending, event),
        Phase::Completed | Phase::Failed => Err(OUT_OF_DATE),
    }
}

/// `event` while the saga awaits the reply to `awaiting`.
fn while_running(
    saga: &Saga,
    awaiting: Step,
    event: &Event,
) -> Result<(Saga, Vec<Emit>), &'static str> {
    let moved = match (awaiting, event) {
        (Step::ReserveInventory, Event::InventoryReserved(_))
        | (Step::ProcessPayment, Event::PaymentProcessed(_))
        | (Step::ShipOrder, Event::OrderShipped(_)) => succeeded(saga, awaiting),
        (Step::ReserveInventory, Event::InventoryReservationFailed(failed)) => fail(
            saga,
            reservation_failure(&failed.reason),
            detail(Some(&failed.reason)),
            &saga.completed,
        ),
        (Step::ProcessPayment, Event::PaymentFailed(reply)) => fail(
            saga,
            FailureReason::PaymentDeclined,
            detail(reply.reason.as_deref()),
            &saga.completed,
        ),
        (Step::ShipOrder, Event::ShippingFailed(reply)) => fail(
            saga,
            FailureReason::ShippingFailed,
            detail(reply.reason.as_deref()),
            &saga.completed,
        ),
        (Step::ShipOrder, Event::OrderCancelled(_)) => {
            return Err("too late to cancel: the shipment was requested")
        }
        (_, Event::OrderCancelled(cancelled)) => {
            // The awaited step may have taken effect: undo it too.
            let mut undo = saga.completed.clone();
            undo.push(awaiting);
            fail(
                saga,
                FailureReason::Cancelled,
                detail(cancelled.reason.as_deref()),
                &undo,
            )
        }
        _ => return Err(OUT_OF_DATE),
    };
    Ok(moved)
}

/// `event` while the saga awaits the reply to the first of `pending`.
fn while_compensating(
    saga: &Saga,
    pending: &[Compensation],
    event: &Event,
) -> Result<(Saga, Vec<Emit>), &'static str> {
    match (pending.first(), event) {
        (_, Event::OrderCancelled(_)) => Err("the saga is already compensating"),
        (Some(Compensation::RefundPayment), Event::PaymentRefunded(_))
        | (Some(Compensation::ReleaseInventory), Event::InventoryReleased(_)) => {
            Ok(compensated(saga, pending))
        }
        _ => Err(OUT_OF_DATE),
    }
}

fn start(placed: &OrderPlaced, key: String, timing: Timing) -> Decision {
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
        detail: None,
        step_deadline: None,
        resends: 0,
        unconfirmed: Vec::new(),
        applied: Vec::new(),
    };
    let emit = vec![step_command(&saga, Step::ReserveInventory)];
    applied(saga, key, emit, timing)
}

/// Bumps the version, remembers the event and sets the deadline of the
/// command sent (none once the saga has ended).
fn applied(saga: Saga, key: String, emit: Vec<Emit>, timing: Timing) -> Decision {
    match stamp(saga, key, timing) {
        Some(saga) => Decision::Apply { saga, emit },
        None => Decision::Reject {
            reason: "the saga's stored version cannot grow any further".to_owned(),
        },
    }
}

/// The new version of `saga`, remembering `key`, with its deadline; `None`
/// when the version read is already the largest there is (a corrupt item:
/// adding one must not wrap or panic).
fn stamp(mut saga: Saga, key: String, timing: Timing) -> Option<Saga> {
    saga.version = saga.version.checked_add(1)?;
    saga.applied.push(key);
    if saga.applied.len() > MAX_APPLIED_KEYS {
        let excess = saga.applied.len() - MAX_APPLIED_KEYS;
        saga.applied.drain(..excess);
    }
    saga.step_deadline = if saga.status().is_final() {
        None
    } else {
        Some(timing.deadline())
    };
    Some(saga)
}

/// The awaited step succeeded: on to the next, or done.
fn succeeded(saga: &Saga, step: Step) -> (Saga, Vec<Emit>) {
    let mut next = saga.clone();
    next.completed.push(step);
    next.resends = 0;
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
fn fail(
    saga: &Saga,
    reason: FailureReason,
    detail: Option<String>,
    undo: &[Step],
) -> (Saga, Vec<Emit>) {
    let mut next = saga.clone();
    next.reason = Some(reason);
    next.detail = detail;
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
    next.resends = 0;
    match pending.first() {
        Some(&first) => {
            next.phase = Phase::Compensating { pending };
            let emit = compensation_command(&next, first);
            (next, vec![emit])
        }
        None => {
            next.phase = Phase::Failed;
            let emit = failed_event(&next);
            (next, vec![emit])
        }
    }
}

/// ORDER_FAILED of a saga that has failed, with its reason code.
fn failed_event(saga: &Saga) -> Emit {
    outcome(
        saga,
        Event::OrderFailed(OrderFailed {
            order_id: saga.order_id.clone(),
            saga_id: saga.saga_id.clone(),
            reason: saga
                .reason
                .unwrap_or(FailureReason::Other)
                .code()
                .to_owned(),
            user_id: Some(saga.order.user_id.clone()),
            email: saga.order.email.clone(),
        }),
    )
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

/// The code of a failed reservation: inventory-update sends one of its
/// codes; anything else (free text from an older producer, or a code that
/// is not about stock) counts as out of stock, the one business reason a
/// reservation fails for.
fn reservation_failure(reason: &str) -> FailureReason {
    match FailureReason::from_wire(reason.trim()) {
        code @ (FailureReason::OutOfStock
        | FailureReason::UnknownProduct
        | FailureReason::AlreadyReleased) => code,
        _ => FailureReason::OutOfStock,
    }
}

/// What a participant or producer said, as the saga keeps it.
fn detail(text: Option<&str>) -> Option<String> {
    text.map(|t| text::clean(t, MAX_DETAIL_CHARS))
        .filter(|t| !t.is_empty())
}

/// True when the saga was compensated because the shipping reply was
/// overdue: `SHIP_ORDER` was sent (payment was the last step to succeed)
/// and the saga no longer runs.
fn shipment_timed_out(saga: &Saga) -> bool {
    saga.reason == Some(FailureReason::TimedOut)
        && saga.completed.last() == Some(&Step::ProcessPayment)
        && !matches!(saga.phase, Phase::Running { .. })
}

/// What a passed step deadline did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutAction {
    /// RUNNING: the awaited reply never came. Compensation started, or the
    /// saga failed at once when nothing needed undoing.
    TimedOut,
    /// COMPENSATING: the overdue compensation was sent again (same id).
    Resent,
    /// COMPENSATING: the compensation's re-sends were used up; it was given
    /// up and the next one sent, or the saga failed.
    GaveUp,
    /// The saga had no deadline (stored before deadlines existed): its
    /// clock starts now. Nothing is sent.
    ClockStarted,
}

/// What a saga's step deadline means at a given time.
// One short-lived decision per saga: boxing the saga would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineDecision {
    /// Write `saga` (version one above the state read, conditionally on
    /// it), then publish `emit`.
    Apply {
        saga: Saga,
        emit: Vec<Emit>,
        action: TimeoutAction,
    },
    /// Nothing to do: the deadline has not passed, or the saga has ended.
    NotDue { reason: &'static str },
}

/// Decides what the time in `timing` does to `saga`'s step deadline: the
/// table in the module documentation.
pub fn on_deadline(saga: &Saga, timing: Timing) -> DeadlineDecision {
    if saga.status().is_final() {
        return DeadlineDecision::NotDue {
            reason: "the saga has already ended",
        };
    }
    let Some(deadline) = saga.step_deadline else {
        return start_clock(saga, timing);
    };
    if !timing.has_passed(deadline) {
        return DeadlineDecision::NotDue {
            reason: "the step deadline has not passed",
        };
    }
    let (transition, action) = match &saga.phase {
        Phase::Running { awaiting } => {
            // The awaited step may have taken effect: undo it too.
            let mut undo = saga.completed.clone();
            undo.push(*awaiting);
            let detail = format!("no reply to {} by its deadline", awaiting.as_str());
            (
                fail(saga, FailureReason::TimedOut, Some(detail), &undo),
                TimeoutAction::TimedOut,
            )
        }
        Phase::Compensating { pending } => match pending.first() {
            Some(&first) if saga.resends < MAX_COMPENSATION_RESENDS => {
                let mut next = saga.clone();
                next.resends = saga.resends.saturating_add(1);
                let emit = compensation_command(&next, first);
                ((next, vec![emit]), TimeoutAction::Resent)
            }
            // Re-sent as often as it may be; or nothing left to undo (never
            // stored: an item without pending compensations does not load),
            // and the saga fails.
            _ => (give_up(saga, pending), TimeoutAction::GaveUp),
        },
        Phase::Completed | Phase::Failed => {
            return DeadlineDecision::NotDue {
                reason: "the saga has already ended",
            }
        }
    };
    finish(transition, action, timing)
}

/// A saga stored without a deadline: its clock starts at `timing`,
/// nothing is sent.
fn start_clock(saga: &Saga, timing: Timing) -> DeadlineDecision {
    let Some(version) = saga.version.checked_add(1) else {
        return DeadlineDecision::NotDue {
            reason: "the saga's stored version cannot grow any further",
        };
    };
    let mut next = saga.clone();
    next.version = version;
    next.step_deadline = Some(timing.deadline());
    DeadlineDecision::Apply {
        saga: next,
        emit: Vec::new(),
        action: TimeoutAction::ClockStarted,
    }
}

/// The first of `pending` was re-sent as often as it may be: it is given
/// up (kept as unconfirmed, the reason now TIMED_OUT with what the order
/// was failing with in the detail) and the rest goes on.
fn give_up(saga: &Saga, pending: &[Compensation]) -> (Saga, Vec<Emit>) {
    let mut next = saga.clone();
    let rest = match pending.split_first() {
        Some((&first, rest)) => {
            next.unconfirmed.push(first);
            let was = next.reason.unwrap_or(FailureReason::Other);
            let detail = format!(
                "no reply to {} after {} re-sends; the order was failing with {}{}",
                first.as_str(),
                MAX_COMPENSATION_RESENDS,
                was.code(),
                saga.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
            next.detail = Some(text::clean(&detail, MAX_DETAIL_CHARS));
            rest.to_vec()
        }
        None => Vec::new(),
    };
    next.reason = Some(FailureReason::TimedOut);
    continue_compensating(next, rest)
}

/// A deadline transition, stamped with its version and new deadline.
fn finish(
    (next, emit): (Saga, Vec<Emit>),
    action: TimeoutAction,
    timing: Timing,
) -> DeadlineDecision {
    match stamp(next, format!("deadline:{}", timing.now_ms), timing) {
        Some(saga) => DeadlineDecision::Apply { saga, emit, action },
        None => DeadlineDecision::NotDue {
            reason: "the saga's stored version cannot grow any further",
        },
    }
}

#[cfg(test)]
mod tests;
