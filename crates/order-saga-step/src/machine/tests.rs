//! The state machine, transition by transition: a table of every move of
//! the flow and of cancellation at every step, an exhaustive sweep showing
//! that every other event in every reachable state changes nothing, every
//! duplicate, and random event sequences checked against the saga's
//! invariants.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::saga::SagaStatus;

const ORDER: &str = "o-1";

/// When the events of these tests are handled, and the step timeout.
const NOW: u64 = 1_761_825_600_000;
const TIMEOUT_MS: u64 = 300_000;
const AT: Timing = Timing {
    now_ms: NOW,
    step_timeout_ms: TIMEOUT_MS,
};

/// Every event of these tests is handled at [`AT`] unless a test says
/// otherwise.
fn transition(state: Option<&Saga>, event: &Event, dedup_key: &DedupKey) -> Decision {
    super::transition(state, event, dedup_key, AT)
}

/// Declares the shorthand [`E`] and [`ALL_E`], every variant once.
macro_rules! shorthand_events {
    ($($name:ident),+ $(,)?) => {
        /// Shorthand for the events the saga reads, all about [`ORDER`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum E {
            $($name),+
        }

        const ALL_E: &[E] = &[$(E::$name),+];
    };
}

shorthand_events!(
    Placed,
    Reserved,
    ReserveFailed,
    Released,
    Paid,
    PayFailed,
    Refunded,
    Shipped,
    ShipFailed,
    Cancelled,
);
use E::*;

fn event(e: E) -> Event {
    event_for(e, ORDER, ORDER)
}

fn event_for(e: E, order: &str, saga: &str) -> Event {
    let reply = |reason: Option<&str>| match reason {
        Some(reason) => json!({"orderId": order, "sagaId": saga, "reason": reason}),
        None => json!({"orderId": order, "sagaId": saga}),
    };
    let (kind, payload) = match e {
        Placed => (
            EventKind::OrderPlaced,
            json!({"orderId": order, "userId": "u-1", "email": "jane@example.com", "items": [
                {"productId": "p-1", "quantity": 2, "price": "19.99"},
                {"productId": "p-2", "quantity": 1, "price": 5}
            ]}),
        ),
        Reserved => (
            EventKind::InventoryReserved,
            json!({"orderId": order, "sagaId": saga, "items": [{"productId": "p-1", "quantity": 2}]}),
        ),
        ReserveFailed => (
            EventKind::InventoryReservationFailed,
            json!({"orderId": order, "sagaId": saga, "reason": "insufficient stock", "productId": "p-1"}),
        ),
        Released => (
            EventKind::InventoryReleased,
            json!({"orderId": order, "sagaId": saga, "items": [{"productId": "p-1", "quantity": 2}]}),
        ),
        Paid => (EventKind::PaymentProcessed, reply(None)),
        PayFailed => (EventKind::PaymentFailed, reply(Some("card declined"))),
        Refunded => (EventKind::PaymentRefunded, reply(None)),
        Shipped => (EventKind::OrderShipped, reply(None)),
        ShipFailed => (
            EventKind::ShippingFailed,
            reply(Some("address unreachable")),
        ),
        Cancelled => (
            EventKind::OrderCancelled,
            json!({"orderId": order, "reason": "customer request"}),
        ),
    };
    Event::parse(kind, &payload.to_string()).unwrap()
}

fn key(n: usize) -> DedupKey {
    DedupKey::EventId(format!("evt-{n}"))
}

/// The saga after `path`, each event delivered once with its own key.
/// Panics unless every event applies.
fn after(path: &[E]) -> Option<Saga> {
    let mut state = None;
    for (n, e) in path.iter().enumerate() {
        match transition(state.as_ref(), &event(*e), &key(n)) {
            Decision::Apply { saga, .. } => state = Some(saga),
            other => panic!("{e:?} after {:?} did not apply: {other:?}", &path[..n]),
        }
    }
    state
}

fn kinds(emit: &[Emit]) -> Vec<EventKind> {
    emit.iter().map(|e| e.event.kind()).collect()
}

const NO_SAGA: &str = "no saga for this order";
const OUT_OF_DATE: &str = "out-of-date reply: not the one the saga awaits";
const TOO_LATE: &str = "too late to cancel: the shipment was requested";
const COMPENSATING: &str = "the saga is already compensating";
const ENDED: &str = "the saga has already ended";

#[derive(Debug)]
enum Expect {
    Applies(SagaStatus, &'static str, &'static [EventKind]),
    Ignored(&'static str),
}
use Expect::*;

use EventKind as K;
use SagaStatus as S;

/// The moves that recur in the table.
const RELEASES: Expect = Applies(S::Compensating, "RELEASE_INVENTORY", &[K::ReleaseInventory]);
const REFUNDS: Expect = Applies(S::Compensating, "REFUND_PAYMENT", &[K::RefundPayment]);
const FAILS: Expect = Applies(S::Failed, "FAILED", &[K::OrderFailed]);

/// (events applied before, event, what it does).
const TABLE: &[(&[E], E, Expect)] = &[
    // The forward path.
    (
        &[],
        Placed,
        Applies(S::Running, "RESERVE_INVENTORY", &[K::ReserveInventory]),
    ),
    (
        &[Placed],
        Reserved,
        Applies(S::Running, "PROCESS_PAYMENT", &[K::ProcessPayment]),
    ),
    (
        &[Placed, Reserved],
        Paid,
        Applies(S::Running, "SHIP_ORDER", &[K::ShipOrder]),
    ),
    (
        &[Placed, Reserved, Paid],
        Shipped,
        Applies(S::Completed, "COMPLETED", &[K::OrderCompleted]),
    ),
    // Failures and their compensations, newest step first.
    (&[Placed], ReserveFailed, FAILS),
    (&[Placed, Reserved], PayFailed, RELEASES),
    (&[Placed, Reserved, PayFailed], Released, FAILS),
    (&[Placed, Reserved, Paid], ShipFailed, REFUNDS),
    (&[Placed, Reserved, Paid, ShipFailed], Refunded, RELEASES),
    (
        &[Placed, Reserved, Paid, ShipFailed, Refunded],
        Released,
        FAILS,
    ),
    // Cancellation at every step.
    (&[], Cancelled, Ignored(NO_SAGA)),
    // Awaiting the reservation: release it anyway (a no-op that replies if
    // it never happened).
    (&[Placed], Cancelled, RELEASES),
    (&[Placed, Cancelled], Reserved, Ignored(OUT_OF_DATE)),
    (&[Placed, Cancelled], ReserveFailed, Ignored(OUT_OF_DATE)),
    (&[Placed, Cancelled], Released, FAILS),
    // Awaiting the payment: refund it anyway, then release.
    (&[Placed, Reserved], Cancelled, REFUNDS),
    (&[Placed, Reserved, Cancelled], Paid, Ignored(OUT_OF_DATE)),
    (
        &[Placed, Reserved, Cancelled],
        PayFailed,
        Ignored(OUT_OF_DATE),
    ),
    (
        &[Placed, Reserved, Cancelled],
        Released,
        Ignored(OUT_OF_DATE),
    ),
    (&[Placed, Reserved, Cancelled], Refunded, RELEASES),
    (&[Placed, Reserved, Cancelled, Refunded], Released, FAILS),
    // Awaiting the shipment: a shipment cannot be called back.
    (&[Placed, Reserved, Paid], Cancelled, Ignored(TOO_LATE)),
    // Already compensating or ended.
    (&[Placed, Cancelled], Cancelled, Ignored(COMPENSATING)),
    (
        &[Placed, Reserved, PayFailed],
        Cancelled,
        Ignored(COMPENSATING),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed],
        Cancelled,
        Ignored(COMPENSATING),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed, Refunded],
        Cancelled,
        Ignored(COMPENSATING),
    ),
    (&[Placed, ReserveFailed], Cancelled, Ignored(ENDED)),
    (
        &[Placed, Reserved, PayFailed, Released],
        Cancelled,
        Ignored(ENDED),
    ),
    (
        &[Placed, Reserved, Paid, Shipped],
        Cancelled,
        Ignored(ENDED),
    ),
    // Replies before their command, or after the step passed.
    (&[], Reserved, Ignored(NO_SAGA)),
    (&[Placed], Paid, Ignored(OUT_OF_DATE)),
    (&[Placed], Released, Ignored(OUT_OF_DATE)),
    (&[Placed, Reserved], Reserved, Ignored(OUT_OF_DATE)),
    (&[Placed, Reserved], Shipped, Ignored(OUT_OF_DATE)),
    (
        &[Placed, Reserved, PayFailed],
        Refunded,
        Ignored(OUT_OF_DATE),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed],
        Released,
        Ignored(OUT_OF_DATE),
    ),
    (&[Placed, Reserved, Paid, Shipped], Shipped, Ignored(ENDED)),
    (
        &[Placed],
        Placed,
        Ignored("a saga already exists for this order"),
    ),
];

/// Every state the flow can reach.
const REACHABLE: &[&[E]] = &[
    &[],
    &[Placed],
    &[Placed, Reserved],
    &[Placed, Reserved, Paid],
    &[Placed, Reserved, Paid, Shipped],
    &[Placed, ReserveFailed],
    &[Placed, Reserved, PayFailed],
    &[Placed, Reserved, PayFailed, Released],
    &[Placed, Reserved, Paid, ShipFailed],
    &[Placed, Reserved, Paid, ShipFailed, Refunded],
    &[Placed, Reserved, Paid, ShipFailed, Refunded, Released],
    &[Placed, Cancelled],
    &[Placed, Cancelled, Released],
    &[Placed, Reserved, Cancelled],
    &[Placed, Reserved, Cancelled, Refunded],
    &[Placed, Reserved, Cancelled, Refunded, Released],
];

#[test]
fn every_transition_of_the_table() {
    for (path, e, expect) in TABLE {
        let state = after(path);
        let decision = transition(state.as_ref(), &event(*e), &key(path.len()));
        let case = format!("{e:?} after {path:?}");
        match (expect, decision) {
            (Applies(status, step, emitted), Decision::Apply { saga, emit }) => {
                assert_eq!(saga.status(), *status, "{case}");
                assert_eq!(saga.phase.step_name(), *step, "{case}");
                assert_eq!(kinds(&emit), *emitted, "{case}");
                assert_eq!(
                    saga.version,
                    path.len() as u64 + 1,
                    "{case}: one version per applied event"
                );
                assert_eq!(
                    saga.last_applied(),
                    Some(key(path.len()).to_string().as_str()),
                    "{case}"
                );
                for record in &emit {
                    assert_eq!(record.event.partition_key(), ORDER, "{case}");
                }
                // A command sent has a deadline; a saga that ended has none.
                let deadline = (!status.is_final()).then_some(NOW + TIMEOUT_MS);
                assert_eq!(saga.step_deadline, deadline, "{case}");
                assert_eq!(saga.resends, 0, "{case}");
            }
            (Ignored(reason), Decision::Ignore { reason: got }) => {
                assert_eq!(got, *reason, "{case}")
            }
            (expect, got) => panic!("{case}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn every_event_not_in_the_flow_changes_nothing_in_every_state() {
    let mut swept = 0;
    for path in REACHABLE {
        let state = after(path);
        for &e in ALL_E {
            let applies = TABLE
                .iter()
                .any(|(p, te, expect)| p == path && *te == e && matches!(expect, Applies(..)));
            if applies {
                continue;
            }
            let decision = transition(state.as_ref(), &event(e), &key(100));
            assert!(
                matches!(decision, Decision::Ignore { .. }),
                "{e:?} after {path:?} must change nothing, got {decision:?}"
            );
            swept += 1;
        }
    }
    // Every move of the table starts from a reachable state, so the sweep
    // covers every other (state, event) pair.
    let moves = TABLE
        .iter()
        .filter(|(_, _, expect)| matches!(expect, Applies(..)))
        .count();
    assert_eq!(moves, 15);
    assert_eq!(swept + moves, REACHABLE.len() * ALL_E.len());
}

#[test]
fn every_redelivered_event_is_a_duplicate_and_only_the_latest_resends() {
    for path in REACHABLE.iter().filter(|p| !p.is_empty()) {
        let state = after(path);
        for (n, e) in path.iter().enumerate() {
            let decision = transition(state.as_ref(), &event(*e), &key(n));
            assert_eq!(
                decision,
                Decision::Duplicate {
                    latest: n + 1 == path.len()
                },
                "{e:?} #{n} redelivered after {path:?}"
            );
        }
    }
}

#[test]
fn producers_without_event_ids_are_deduplicated_by_data_hash() {
    let placed = event(Placed);
    let hashed = DedupKey::of_data(b"{\"eventType\":\"ORDER_PLACED\"}");
    let Decision::Apply { saga, .. } = transition(None, &placed, &hashed) else {
        panic!("ORDER_PLACED must start the saga");
    };
    assert_eq!(
        transition(Some(&saga), &placed, &hashed),
        Decision::Duplicate { latest: true }
    );
}

fn single(decision: Decision) -> (Saga, Event, EventId) {
    let Decision::Apply { saga, mut emit } = decision else {
        panic!("expected a transition, got {decision:?}");
    };
    assert_eq!(emit.len(), 1);
    let Emit { event_id, event } = emit.remove(0);
    (saga, event, event_id)
}

#[test]
fn commands_carry_what_the_participants_need() {
    let (saga, reserve, _) = single(transition(None, &event(Placed), &key(0)));
    let Event::ReserveInventory(reserve) = reserve else {
        panic!("{reserve:?}")
    };
    assert_eq!(reserve.saga_id.as_ref().map(SagaId::as_str), Some(ORDER));
    assert_eq!(reserve.items, saga.order.items);
    assert_eq!(reserve.user_id.as_ref().map(|u| u.as_str()), Some("u-1"));

    let (saga, pay, _) = single(transition(Some(&saga), &event(Reserved), &key(1)));
    let Event::ProcessPayment(pay) = pay else {
        panic!("{pay:?}")
    };
    // No total was sent: 2 x 19.99 + 1 x 5, exactly.
    assert_eq!(pay.total.to_string(), "44.98");
    assert_eq!(pay.user_id.as_str(), "u-1");
    assert_eq!(pay.saga_id.as_str(), ORDER);

    let (saga, ship, _) = single(transition(Some(&saga), &event(Paid), &key(2)));
    let Event::ShipOrder(ship) = ship else {
        panic!("{ship:?}")
    };
    assert_eq!(ship.items.len(), 2);

    let (failing, refund, _) = single(transition(Some(&saga), &event(ShipFailed), &key(3)));
    let Event::RefundPayment(refund) = refund else {
        panic!("{refund:?}")
    };
    assert_eq!(
        refund.total.map(|t| t.to_string()),
        Some("44.98".to_owned())
    );
    assert_eq!(failing.reason, Some(FailureReason::ShippingFailed));
    assert_eq!(failing.detail.as_deref(), Some("address unreachable"));

    let (_, done, _) = single(transition(Some(&saga), &event(Shipped), &key(3)));
    let Event::OrderCompleted(done) = done else {
        panic!("{done:?}")
    };
    assert_eq!(done.user_id.as_ref().map(|u| u.as_str()), Some("u-1"));
    assert_eq!(
        done.email.as_ref().map(|e| e.as_str()),
        Some("jane@example.com")
    );
}

#[test]
fn an_order_total_is_taken_as_sent() {
    let placed = Event::parse(
        EventKind::OrderPlaced,
        r#"{"orderId":"o-1","userId":"u-1","total":"12.50","items":[{"productId":"p","quantity":1}]}"#,
    )
    .unwrap();
    let (saga, _, _) = single(transition(None, &placed, &key(0)));
    assert_eq!(saga.order.total.to_string(), "12.50");
    assert_eq!(saga.order.email, None);
}

#[test]
fn order_failed_says_why_and_whom_to_tell() {
    let state = after(&[Placed, Reserved, PayFailed]);
    let (saga, failed, _) = single(transition(state.as_ref(), &event(Released), &key(3)));
    assert_eq!(saga.status(), SagaStatus::Failed);
    let Event::OrderFailed(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.reason, "PAYMENT_DECLINED");
    assert_eq!(
        failed.email.as_ref().map(|e| e.as_str()),
        Some("jane@example.com")
    );
    assert_eq!(failed.user_id.as_ref().map(|u| u.as_str()), Some("u-1"));
    // The participant's words stay in the saga.
    assert_eq!(saga.detail.as_deref(), Some("card declined"));
}

/// The ORDER_FAILED reason `last` after `path` ends with (every
/// compensation answered), and the detail the saga keeps.
fn failed_with(path: &[E], last: Event) -> (String, Option<String>) {
    let mut saga = after(path);
    let mut decision = transition(saga.as_ref(), &last, &key(path.len()));
    for n in 0..4 {
        let Decision::Apply { saga: next, emit } = decision else {
            panic!("{last:?} after {path:?}: {decision:?}");
        };
        if let Some(Emit {
            event: Event::OrderFailed(failed),
            ..
        }) = emit.first()
        {
            return (failed.reason.clone(), next.detail.clone());
        }
        let reply = match emit.first().map(|e| e.event.kind()) {
            Some(EventKind::RefundPayment) => event(Refunded),
            Some(EventKind::ReleaseInventory) => event(Released),
            other => panic!("unexpected {other:?}"),
        };
        saga = Some(next);
        decision = transition(saga.as_ref(), &reply, &key(100 + n));
    }
    panic!("{last:?} after {path:?} never failed")
}

fn with_reason(kind: EventKind, reason: &str) -> Event {
    let payload = match kind {
        EventKind::OrderCancelled => json!({"orderId": ORDER, "reason": reason}),
        _ => json!({"orderId": ORDER, "sagaId": ORDER, "reason": reason}),
    };
    Event::parse(kind, &payload.to_string()).unwrap()
}

/// (path, failing event, its reason text, ORDER_FAILED.reason, detail kept)
type ReasonCase = (
    &'static [E],
    EventKind,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const REASON_CASES: &[ReasonCase] = &[
    (
        &[Placed],
        K::InventoryReservationFailed,
        "OUT_OF_STOCK",
        "OUT_OF_STOCK",
        Some("OUT_OF_STOCK"),
    ),
    (
        &[Placed],
        K::InventoryReservationFailed,
        "UNKNOWN_PRODUCT",
        "UNKNOWN_PRODUCT",
        Some("UNKNOWN_PRODUCT"),
    ),
    (
        &[Placed],
        K::InventoryReservationFailed,
        " RESERVATION_RELEASED ",
        "RESERVATION_RELEASED",
        Some("RESERVATION_RELEASED"),
    ),
    // Free text, or a code that is not about stock: out of stock.
    (
        &[Placed],
        K::InventoryReservationFailed,
        "insufficient stock",
        "OUT_OF_STOCK",
        Some("insufficient stock"),
    ),
    (
        &[Placed],
        K::InventoryReservationFailed,
        "PAYMENT_DECLINED",
        "OUT_OF_STOCK",
        Some("PAYMENT_DECLINED"),
    ),
    (
        &[Placed],
        K::InventoryReservationFailed,
        "",
        "OUT_OF_STOCK",
        None,
    ),
    (
        &[Placed, Reserved],
        K::PaymentFailed,
        "card declined",
        "PAYMENT_DECLINED",
        Some("card declined"),
    ),
    (
        &[Placed, Reserved],
        K::PaymentFailed,
        "SHIPPING_FAILED",
        "PAYMENT_DECLINED",
        Some("SHIPPING_FAILED"),
    ),
    (
        &[Placed, Reserved, Paid],
        K::ShippingFailed,
        "address unreachable",
        "SHIPPING_FAILED",
        Some("address unreachable"),
    ),
    (
        &[Placed],
        K::OrderCancelled,
        "customer request",
        "ORDER_CANCELLED",
        Some("customer request"),
    ),
    (
        &[Placed, Reserved],
        K::OrderCancelled,
        "TIMED_OUT",
        "ORDER_CANCELLED",
        Some("TIMED_OUT"),
    ),
    (
        &[Placed, Reserved],
        K::OrderCancelled,
        "  \n\t ",
        "ORDER_CANCELLED",
        None,
    ),
];

#[test]
fn every_failure_cause_maps_to_its_code_and_never_to_the_text() {
    for (path, kind, text, code, detail) in REASON_CASES {
        let (reason, kept) = failed_with(path, with_reason(*kind, text));
        assert_eq!(reason, *code, "{kind} {text:?} after {path:?}");
        assert_eq!(kept.as_deref(), *detail, "{kind} {text:?} after {path:?}");
    }
    // No reason given at all.
    let bare = Event::parse(
        EventKind::PaymentFailed,
        r#"{"orderId":"o-1","sagaId":"o-1"}"#,
    )
    .unwrap();
    assert_eq!(
        failed_with(&[Placed, Reserved], bare),
        ("PAYMENT_DECLINED".to_owned(), None)
    );
    let bare = Event::parse(EventKind::OrderCancelled, r#"{"orderId":"o-1"}"#).unwrap();
    assert_eq!(
        failed_with(&[Placed], bare),
        ("ORDER_CANCELLED".to_owned(), None)
    );
}

#[test]
fn details_from_other_services_are_bounded_and_lose_control_characters() {
    let state = after(&[Placed, Reserved]);
    let long = format!("line one\nline two\r\t\u{7}{}", "x".repeat(1_000));
    let (saga, _, _) = single(transition(
        state.as_ref(),
        &with_reason(EventKind::PaymentFailed, &long),
        &key(2),
    ));
    let detail = saga.detail.unwrap();
    assert_eq!(detail.chars().count(), crate::text::MAX_DETAIL_CHARS);
    assert!(detail.starts_with("line oneline two"), "{detail}");
    assert!(!detail.chars().any(char::is_control), "{detail:?}");
    assert_eq!(saga.reason, Some(FailureReason::PaymentDeclined));
}

#[test]
fn emitted_ids_are_derived_from_saga_and_step() {
    let (_, _, first) = single(transition(None, &event(Placed), &key(0)));
    let (_, _, again) = single(transition(None, &event(Placed), &key(99)));
    assert_eq!(first, again, "the same step of the same saga has one id");
    assert_eq!(
        first,
        EventId::derived(&["saga", ORDER, "RESERVE_INVENTORY"])
    );
    let (_, _, other) = single(transition(None, &event_for(Placed, "o-2", "o-2"), &key(0)));
    assert_ne!(first, other);

    let state = after(&[Placed, Reserved, Paid, ShipFailed]);
    let (_, _, refund) = single(transition(state.as_ref(), &event(Refunded), &key(4)));
    assert_eq!(
        refund,
        EventId::derived(&["saga", ORDER, "RELEASE_INVENTORY"])
    );
}

#[test]
fn an_order_without_a_price_cannot_start_a_saga() {
    let placed = Event::parse(
        EventKind::OrderPlaced,
        r#"{"orderId":"o-1","userId":"u-1","items":[{"productId":"p","quantity":1,"price":2},{"productId":"q","quantity":1}]}"#,
    )
    .unwrap();
    let decision = transition(None, &placed, &key(0));
    let Decision::Reject { reason } = decision else {
        panic!("{decision:?}")
    };
    assert!(reason.contains("no total"), "{reason}");
}

#[test]
fn replies_for_another_saga_are_ignored_but_a_release_may_name_none() {
    let state = after(&[Placed]);
    let stranger = event_for(Reserved, ORDER, "another-saga");
    assert_eq!(
        transition(state.as_ref(), &stranger, &key(1)),
        Decision::Ignore {
            reason: "reply for another saga of this order"
        }
    );

    let state = after(&[Placed, Cancelled]);
    let anonymous = Event::parse(
        EventKind::InventoryReleased,
        r#"{"orderId":"o-1","items":[]}"#,
    )
    .unwrap();
    let (saga, _, _) = single(transition(state.as_ref(), &anonymous, &key(2)));
    assert_eq!(saga.status(), SagaStatus::Failed);
}

#[test]
fn events_the_saga_does_not_act_on_are_ignored() {
    let state = after(&[Placed]);
    for (kind, payload) in [
        (
            EventKind::UserRegistered,
            r#"{"userId":"u-1","email":"a@example.com"}"#,
        ),
        (
            EventKind::OrderCompleted,
            r#"{"orderId":"o-1","sagaId":"o-1"}"#,
        ),
        (
            EventKind::ReleaseInventory,
            r#"{"orderId":"o-1","sagaId":"o-1"}"#,
        ),
    ] {
        let event = Event::parse(kind, payload).unwrap();
        assert!(
            matches!(
                transition(state.as_ref(), &event, &key(5)),
                Decision::Ignore { .. }
            ),
            "{kind}"
        );
    }
}

#[test]
fn remembered_keys_are_bounded() {
    let mut saga = after(&[Placed]).unwrap();
    saga.applied = (0..MAX_APPLIED_KEYS).map(|n| format!("old-{n}")).collect();
    let (saga, _, _) = single(transition(Some(&saga), &event(Reserved), &key(1)));
    assert_eq!(saga.applied.len(), MAX_APPLIED_KEYS);
    assert_eq!(saga.applied.first().map(String::as_str), Some("old-1"));
    assert_eq!(saga.last_applied(), Some(key(1).to_string().as_str()));
}

// ---------------------------------------------------------------------
// Step deadlines.

/// A moment `after_ms` past the deadline of `saga`.
fn past_deadline(saga: &Saga, after_ms: u64) -> Timing {
    Timing {
        now_ms: saga.step_deadline.expect("a waiting saga has a deadline") + after_ms,
        step_timeout_ms: TIMEOUT_MS,
    }
}

fn overdue(saga: &Saga) -> (Saga, Vec<Emit>, TimeoutAction) {
    match on_deadline(saga, past_deadline(saga, 0)) {
        DeadlineDecision::Apply { saga, emit, action } => (saga, emit, action),
        other => panic!("expected a deadline transition, got {other:?}"),
    }
}

#[derive(Debug)]
enum Due {
    /// (action, new status, awaited command, emitted, reason)
    Acts(
        TimeoutAction,
        SagaStatus,
        &'static str,
        &'static [EventKind],
        FailureReason,
    ),
    NotDue(&'static str),
}

/// A compensation command: its step name and what it emits.
type Command = (&'static str, &'static [EventKind]);
const RELEASE: Command = ("RELEASE_INVENTORY", &[K::ReleaseInventory]);
const REFUND: Command = ("REFUND_PAYMENT", &[K::RefundPayment]);

/// The awaited reply is overdue: `(step, emitted)` starts compensating,
/// TIMED_OUT.
const fn times_out((step, emitted): Command) -> Due {
    Due::Acts(
        TimeoutAction::TimedOut,
        S::Compensating,
        step,
        emitted,
        FailureReason::TimedOut,
    )
}

/// A compensation is overdue: `(step, emitted)` is sent again, the reason
/// kept.
const fn resends((step, emitted): Command, reason: FailureReason) -> Due {
    Due::Acts(
        TimeoutAction::Resent,
        S::Compensating,
        step,
        emitted,
        reason,
    )
}

/// (events applied before, what the passed deadline does).
const DEADLINE_TABLE: &[(&[E], Due)] = &[
    // RUNNING: compensate the completed steps and the awaited one.
    (&[Placed], times_out(RELEASE)),
    (&[Placed, Reserved], times_out(REFUND)),
    // Awaiting the shipment: the contract's rule, refund then release.
    (&[Placed, Reserved, Paid], times_out(REFUND)),
    // COMPENSATING: the same compensation again, the reason kept.
    (
        &[Placed, Reserved, PayFailed],
        resends(RELEASE, FailureReason::PaymentDeclined),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed],
        resends(REFUND, FailureReason::ShippingFailed),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed, Refunded],
        resends(RELEASE, FailureReason::ShippingFailed),
    ),
    (
        &[Placed, Cancelled],
        resends(RELEASE, FailureReason::Cancelled),
    ),
    (
        &[Placed, Reserved, Cancelled],
        resends(REFUND, FailureReason::Cancelled),
    ),
    (
        &[Placed, Reserved, Cancelled, Refunded],
        resends(RELEASE, FailureReason::Cancelled),
    ),
    // Ended sagas have no deadline.
    (&[Placed, Reserved, Paid, Shipped], Due::NotDue(ENDED)),
    (&[Placed, ReserveFailed], Due::NotDue(ENDED)),
    (&[Placed, Reserved, PayFailed, Released], Due::NotDue(ENDED)),
    (&[Placed, Cancelled, Released], Due::NotDue(ENDED)),
];

#[test]
fn every_waiting_saga_is_in_the_deadline_table() {
    for path in REACHABLE.iter().filter(|p| !p.is_empty()) {
        let waiting = !after(path).unwrap().status().is_final();
        let listed = DEADLINE_TABLE.iter().any(|(p, _)| p == path);
        assert!(listed || !waiting, "{path:?} is missing from the table");
    }
}

#[test]
fn every_deadline_transition_of_the_table() {
    let later = Timing {
        now_ms: NOW + 10 * TIMEOUT_MS,
        step_timeout_ms: TIMEOUT_MS,
    };
    for (path, due) in DEADLINE_TABLE {
        let saga = after(path).unwrap();
        let case = format!("deadline after {path:?}");
        match (due, on_deadline(&saga, later)) {
            (
                Due::Acts(action, status, step, emitted, reason),
                DeadlineDecision::Apply {
                    saga: next,
                    emit,
                    action: got,
                },
            ) => {
                assert_eq!(got, *action, "{case}");
                assert_eq!(next.status(), *status, "{case}");
                assert_eq!(next.phase.step_name(), *step, "{case}");
                assert_eq!(kinds(&emit), *emitted, "{case}");
                assert_eq!(next.reason, Some(*reason), "{case}");
                assert_eq!(next.version, saga.version + 1, "{case}");
                assert_eq!(
                    next.step_deadline,
                    Some(later.now_ms + TIMEOUT_MS),
                    "{case}: a new deadline for the command sent"
                );
                assert_eq!(
                    next.last_applied(),
                    Some(format!("deadline:{}", later.now_ms).as_str()),
                    "{case}"
                );
                // The compensation carries the id it was first sent with.
                let first = emit[0].event.kind();
                assert_eq!(
                    emit[0].event_id,
                    EventId::derived(&["saga", ORDER, first.as_str()]),
                    "{case}"
                );
                if *action == TimeoutAction::Resent {
                    assert_eq!(next.resends, 1, "{case}");
                    assert_eq!(next.phase, saga.phase, "{case}");
                    assert_eq!(next.detail, saga.detail, "{case}");
                } else {
                    assert_eq!(next.resends, 0, "{case}");
                    let awaited = saga.phase.step_name();
                    assert_eq!(
                        next.detail.as_deref(),
                        Some(format!("no reply to {awaited} by its deadline").as_str()),
                        "{case}"
                    );
                }
            }
            (Due::NotDue(reason), DeadlineDecision::NotDue { reason: got }) => {
                assert_eq!(got, *reason, "{case}")
            }
            (due, got) => panic!("{case}: expected {due:?}, got {got:?}"),
        }
    }
}

#[test]
fn nothing_happens_before_the_deadline() {
    for path in REACHABLE.iter().filter(|p| !p.is_empty()) {
        let saga = after(path).unwrap();
        let Some(deadline) = saga.step_deadline else {
            assert!(saga.status().is_final(), "{path:?}");
            continue;
        };
        assert_eq!(deadline, NOW + TIMEOUT_MS, "{path:?}");
        let early = Timing {
            now_ms: deadline - 1,
            step_timeout_ms: TIMEOUT_MS,
        };
        assert_eq!(
            on_deadline(&saga, early),
            DeadlineDecision::NotDue {
                reason: "the step deadline has not passed"
            },
            "{path:?}"
        );
        let on_time = Timing {
            now_ms: deadline,
            step_timeout_ms: TIMEOUT_MS,
        };
        assert!(
            matches!(on_deadline(&saga, on_time), DeadlineDecision::Apply { .. }),
            "{path:?}: due at the deadline itself"
        );
    }
}

#[test]
fn an_unanswered_compensation_is_resent_then_given_up_and_the_rest_still_run() {
    let mut saga = after(&[Placed, Reserved, Paid, ShipFailed]).unwrap();
    let refund_id = EventId::derived(&["saga", ORDER, "REFUND_PAYMENT"]);
    let release_id = EventId::derived(&["saga", ORDER, "RELEASE_INVENTORY"]);
    for (compensation, id) in [
        (Compensation::RefundPayment, &refund_id),
        (Compensation::ReleaseInventory, &release_id),
    ] {
        for resend in 1..=MAX_COMPENSATION_RESENDS {
            let (next, emit, action) = overdue(&saga);
            assert_eq!(action, TimeoutAction::Resent, "{compensation:?} #{resend}");
            assert_eq!(next.resends, resend);
            assert_eq!(emit.len(), 1);
            assert_eq!(&emit[0].event_id, id, "the same command, the same id");
            assert_eq!(
                next.phase.step_name(),
                compensation.as_str(),
                "{compensation:?} #{resend}"
            );
            assert!(next.step_deadline > saga.step_deadline);
            saga = next;
        }
        let (next, emit, action) = overdue(&saga);
        assert_eq!(action, TimeoutAction::GaveUp, "{compensation:?}");
        assert_eq!(next.reason, Some(FailureReason::TimedOut));
        assert_eq!(next.resends, 0);
        assert_eq!(next.unconfirmed.last(), Some(&compensation));
        let detail = next.detail.clone().unwrap();
        assert!(
            detail.starts_with(&format!(
                "no reply to {} after 5 re-sends",
                compensation.as_str()
            )),
            "{detail}"
        );
        assert!(detail.chars().count() <= crate::text::MAX_DETAIL_CHARS);
        if compensation == Compensation::RefundPayment {
            // The stock is still released.
            assert_eq!(next.phase.step_name(), "RELEASE_INVENTORY");
            assert_eq!(kinds(&emit), [K::ReleaseInventory]);
            assert_eq!(emit[0].event_id, release_id);
            assert!(
                detail.contains("SHIPPING_FAILED (address unreachable)"),
                "{detail}"
            );
        } else {
            assert_failed_with_nothing_confirmed(&saga, &next, &emit);
        }
        saga = next;
    }
}

/// `next`, after the last compensation of `saga` was given up, has failed
/// TIMED_OUT with neither compensation confirmed, and has no deadline.
fn assert_failed_with_nothing_confirmed(saga: &Saga, next: &Saga, emit: &[Emit]) {
    assert_eq!(next.status(), SagaStatus::Failed);
    assert_eq!(next.step_deadline, None);
    assert_eq!(
        next.unconfirmed,
        [Compensation::RefundPayment, Compensation::ReleaseInventory]
    );
    let Event::OrderFailed(failed) = &emit[0].event else {
        panic!("{emit:?}")
    };
    assert_eq!(failed.reason, "TIMED_OUT");
    assert_eq!(
        on_deadline(next, past_deadline(saga, 10 * TIMEOUT_MS)),
        DeadlineDecision::NotDue { reason: ENDED }
    );
}

#[test]
fn a_timed_out_saga_with_nothing_to_undo_fails_at_once() {
    // Not reachable through the flow today (every awaited step but the
    // shipment can be undone, and shipping comes after payment), but the
    // rule holds for any saga: nothing to compensate, FAILED at once.
    let mut saga = after(&[Placed]).unwrap();
    saga.phase = Phase::Running {
        awaiting: Step::ShipOrder,
    };
    let (next, emit, action) = overdue(&saga);
    assert_eq!(action, TimeoutAction::TimedOut);
    assert_eq!(next.status(), SagaStatus::Failed);
    assert_eq!(next.step_deadline, None);
    let [Emit {
        event: Event::OrderFailed(failed),
        ..
    }] = emit.as_slice()
    else {
        panic!("{emit:?}")
    };
    assert_eq!(failed.reason, "TIMED_OUT");

    let mut saga = after(&[Placed, Cancelled]).unwrap();
    saga.phase = Phase::Compensating {
        pending: Vec::new(),
    };
    let (next, emit, action) = overdue(&saga);
    assert_eq!(
        (action, next.status(), kinds(&emit)),
        (
            TimeoutAction::GaveUp,
            SagaStatus::Failed,
            vec![K::OrderFailed]
        )
    );
}

#[test]
fn late_replies_after_a_deadline_change_nothing() {
    // Awaiting payment: the late PAYMENT_PROCESSED is out of date; the
    // refund reply moves the saga on.
    let (saga, _, _) = overdue(&after(&[Placed, Reserved]).unwrap());
    for late in [Paid, PayFailed] {
        assert_eq!(
            transition(Some(&saga), &event(late), &key(50)),
            Decision::Ignore {
                reason: OUT_OF_DATE
            },
            "{late:?}"
        );
    }
    let (saga, _, _) = single(transition(Some(&saga), &event(Refunded), &key(51)));
    let (saga, failed, _) = single(transition(Some(&saga), &event(Released), &key(52)));
    let Event::OrderFailed(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.reason, "TIMED_OUT");

    // Awaiting the shipment: a late ORDER_SHIPPED is refused loudly, while
    // compensating and once failed.
    let (compensating, _, _) = overdue(&after(&[Placed, Reserved, Paid]).unwrap());
    let shipped_late = Decision::Ignore {
        reason: SHIPPED_AFTER_TIMEOUT,
    };
    assert_eq!(
        transition(Some(&compensating), &event(Shipped), &key(60)),
        shipped_late
    );
    let (refunded, _, _) = single(transition(Some(&compensating), &event(Refunded), &key(61)));
    let (ended, _, _) = single(transition(Some(&refunded), &event(Released), &key(62)));
    assert_eq!(ended.status(), SagaStatus::Failed);
    assert_eq!(
        transition(Some(&ended), &event(Shipped), &key(63)),
        shipped_late
    );
    // A saga that timed out awaiting payment never asked for a shipment:
    // a shipping reply there is just a reply to an ended saga.
    assert_eq!(
        transition(Some(&saga), &event(Shipped), &key(64)),
        Decision::Ignore { reason: ENDED }
    );
}

#[test]
fn a_reply_and_a_deadline_decided_from_the_same_read_exclude_each_other() {
    let read = after(&[Placed, Reserved]).unwrap();
    let later = past_deadline(&read, 1);
    // The reply wins: the new step's deadline lies ahead.
    let reply_at = Timing {
        now_ms: later.now_ms,
        step_timeout_ms: TIMEOUT_MS,
    };
    let Decision::Apply { saga: paid, .. } =
        super::transition(Some(&read), &event(Paid), &key(2), reply_at)
    else {
        panic!("the reply applies")
    };
    assert_eq!(
        on_deadline(&paid, later),
        DeadlineDecision::NotDue {
            reason: "the step deadline has not passed"
        }
    );
    // The deadline wins: the reply is then out of date.
    let (timed_out, _, _) = overdue(&read);
    assert_eq!(
        transition(Some(&timed_out), &event(Paid), &key(2)),
        Decision::Ignore {
            reason: OUT_OF_DATE
        }
    );
    // Both decided from the same read write the same version: the store's
    // conditional write lets exactly one of them through.
    assert_eq!(paid.version, timed_out.version);
}

#[test]
fn a_saga_stored_without_a_deadline_gets_one_and_sends_nothing() {
    let mut saga = after(&[Placed, Reserved]).unwrap();
    saga.step_deadline = None;
    let DeadlineDecision::Apply {
        saga: next,
        emit,
        action,
    } = on_deadline(&saga, AT)
    else {
        panic!("the clock starts")
    };
    assert_eq!(action, TimeoutAction::ClockStarted);
    assert!(emit.is_empty());
    assert_eq!(next.step_deadline, Some(NOW + TIMEOUT_MS));
    assert_eq!(next.version, saga.version + 1);
    assert_eq!(next.applied, saga.applied, "no event was applied");
    assert_eq!(next.phase, saga.phase);
}

#[test]
fn a_version_at_its_limit_never_wraps() {
    let mut saga = after(&[Placed]).unwrap();
    saga.version = u64::MAX;
    assert!(matches!(
        transition(Some(&saga), &event(Reserved), &key(1)),
        Decision::Reject { .. }
    ));
    assert!(matches!(
        on_deadline(&saga, past_deadline(&saga, 0)),
        DeadlineDecision::NotDue { .. }
    ));
    saga.step_deadline = None;
    assert!(matches!(
        on_deadline(&saga, AT),
        DeadlineDecision::NotDue { .. }
    ));
    // Deadlines saturate rather than wrap.
    let end_of_time = Timing {
        now_ms: u64::MAX - 1,
        step_timeout_ms: TIMEOUT_MS,
    };
    assert_eq!(end_of_time.deadline(), u64::MAX);
}

fn compensation_kind(step: Step) -> Option<EventKind> {
    step.compensation().map(|c| match c {
        Compensation::RefundPayment => EventKind::RefundPayment,
        Compensation::ReleaseInventory => EventKind::ReleaseInventory,
    })
}

fn step_kind(step: Step) -> EventKind {
    match step {
        Step::ReserveInventory => EventKind::ReserveInventory,
        Step::ProcessPayment => EventKind::ProcessPayment,
        Step::ShipOrder => EventKind::ShipOrder,
    }
}

/// Sweeps after which a saga whose participants never answer has ended:
/// one for the awaited step, then for each of at most two compensations
/// its re-sends and the give-up.
const SWEEPS_TO_END: usize = 1 + 2 * (MAX_COMPENSATION_RESENDS as usize + 1);

/// One move of the random sequences: an event (fresh or redelivered), or
/// a sweep at some time.
#[derive(Debug, Clone)]
enum Move {
    Deliver {
        choice: usize,
        redeliver: bool,
        back: prop::sample::Index,
    },
    /// The sweep runs `advance_ms` later than the previous move.
    Sweep { advance_ms: u64 },
}

fn a_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        4 => (0..ALL_E.len(), any::<bool>(), any::<prop::sample::Index>())
            .prop_map(|(choice, redeliver, back)| Move::Deliver { choice, redeliver, back }),
        1 => prop_oneof![Just(0u64), Just(TIMEOUT_MS - 1), Just(TIMEOUT_MS), 0..3 * TIMEOUT_MS]
            .prop_map(|advance_ms| Move::Sweep { advance_ms }),
    ]
}

/// What a random sequence sent, checked against the saga it left: every
/// record id once, compensations in order and only for requested steps,
/// failure codes only, and (see [`check_sent_matches`]) what was sent
/// matching where the saga stands.
fn check_records(
    state: Option<&Saga>,
    emitted: &[Emit],
    resent: &[Emit],
) -> Result<(), TestCaseError> {
    let sent = kinds(emitted);
    let mut ids: Vec<_> = emitted.iter().map(|e| e.event_id.clone()).collect();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    prop_assert_eq!(
        ids.len(),
        emitted.len(),
        "a record id was sent twice (other than a re-send): {:?}",
        sent
    );
    for record in resent {
        prop_assert!(
            matches!(record.event.kind(), K::RefundPayment | K::ReleaseInventory),
            "only compensations are re-sent"
        );
    }
    let position = |kind: EventKind| sent.iter().position(|k| *k == kind);
    for kind in sent.iter() {
        prop_assert_eq!(
            sent.iter().filter(|k| *k == kind).count(),
            1,
            "{} sent twice: {:?}",
            kind,
            sent
        );
    }
    prop_assert!(!(sent.contains(&K::OrderCompleted) && sent.contains(&K::OrderFailed)));
    if let (Some(refund), Some(release)) =
        (position(K::RefundPayment), position(K::ReleaseInventory))
    {
        prop_assert!(refund < release, "refund must precede release: {:?}", sent);
    }
    // A compensation only undoes a step that was requested.
    if sent.contains(&K::RefundPayment) {
        prop_assert!(sent.contains(&K::ProcessPayment));
    }
    if sent.contains(&K::ReleaseInventory) {
        prop_assert!(sent.contains(&K::ReserveInventory));
    }
    // ORDER_FAILED only ever carries a code.
    for record in emitted {
        if let Event::OrderFailed(failed) = &record.event {
            prop_assert!(
                FailureReason::ALL.iter().any(|r| r.code() == failed.reason),
                "{}",
                failed.reason
            );
        }
    }
    match state {
        Some(saga) => check_sent_matches(saga, &sent),
        None => Ok(()),
    }
}

/// What was sent matches where `saga` stands.
fn check_sent_matches(saga: &Saga, sent: &[EventKind]) -> Result<(), TestCaseError> {
    match saga.status() {
        SagaStatus::Completed => {
            prop_assert_eq!(
                sent,
                [
                    K::ReserveInventory,
                    K::ProcessPayment,
                    K::ShipOrder,
                    K::OrderCompleted
                ]
            );
        }
        SagaStatus::Failed => {
            prop_assert_eq!(sent.last(), Some(&K::OrderFailed));
            // Nothing that succeeded is left without its
            // compensation being sent.
            for step in &saga.completed {
                if let Some(undo) = compensation_kind(*step) {
                    prop_assert!(sent.contains(&undo), "{:?} left undone: {:?}", step, sent);
                }
            }
        }
        SagaStatus::Running => {
            let Phase::Running { awaiting } = saga.phase else {
                unreachable!()
            };
            prop_assert_eq!(sent.last(), Some(&step_kind(awaiting)));
            prop_assert!(!sent
                .iter()
                .any(|k| matches!(k, K::RefundPayment | K::ReleaseInventory)));
        }
        SagaStatus::Compensating => {
            prop_assert!(saga.reason.is_some());
            prop_assert!(!sent.contains(&K::OrderFailed));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any sequence of events, fresh or redelivered, in any order, with
    /// sweeps at any time in between.
    #[test]
    fn random_event_sequences_keep_the_saga_consistent(
        moves in prop::collection::vec(a_move(), 1..40)
    ) {
        let mut state: Option<Saga> = None;
        let mut now = NOW;
        let mut delivered: Vec<(Event, DedupKey)> = Vec::new();
        let mut emitted: Vec<Emit> = Vec::new();
        let mut resent: Vec<Emit> = Vec::new();
        for (n, step) in moves.into_iter().enumerate() {
            let at = |now| Timing { now_ms: now, step_timeout_ms: TIMEOUT_MS };
            let before = state.clone();
            match step {
                Move::Sweep { advance_ms } => {
                    now += advance_ms;
                    let Some(saga) = &before else { continue };
                    match on_deadline(saga, at(now)) {
                        DeadlineDecision::Apply { saga: next, emit, action } => {
                            prop_assert!(!saga.status().is_final(), "a final saga moved");
                            prop_assert!(saga.step_deadline.is_some_and(|d| d <= now), "moved before its deadline");
                            prop_assert_eq!(next.version, saga.version + 1);
                            prop_assert_eq!(emit.len(), 1, "each deadline sends exactly one record");
                            prop_assert_eq!(next.step_deadline, (!next.status().is_final()).then_some(now + TIMEOUT_MS));
                            if action == TimeoutAction::Resent {
                                // The very record sent before, again.
                                prop_assert!(emitted.contains(&emit[0]), "re-sent {:?} was never sent", emit[0].event.kind());
                                resent.extend(emit);
                            } else {
                                emitted.extend(emit);
                            }
                            state = Some(next);
                        }
                        DeadlineDecision::NotDue { .. } => {
                            prop_assert!(saga.status().is_final() || saga.step_deadline.is_some_and(|d| d > now));
                        }
                    }
                }
                Move::Deliver { choice, redeliver, back } => {
                    let (event, key) = if redeliver && !delivered.is_empty() {
                        delivered[back.index(delivered.len())].clone()
                    } else {
                        (event(ALL_E[choice]), key(n))
                    };
                    match super::transition(state.as_ref(), &event, &key, at(now)) {
                        Decision::Apply { saga, emit } => {
                            prop_assert!(before.as_ref().is_none_or(|b| !b.status().is_final()), "a final saga moved");
                            prop_assert_eq!(saga.version, before.as_ref().map_or(0, |b| b.version) + 1);
                            let applied_key = key.to_string();
                            prop_assert_eq!(saga.last_applied(), Some(applied_key.as_str()));
                            prop_assert_eq!(emit.len(), 1, "each transition sends exactly one record");
                            prop_assert_eq!(saga.step_deadline, (!saga.status().is_final()).then_some(now + TIMEOUT_MS));
                            emitted.extend(emit);
                            state = Some(saga);
                        }
                        Decision::Duplicate { .. } => {
                            let key = key.to_string();
                            prop_assert!(before.as_ref().is_some_and(|b| b.applied.contains(&key)));
                        }
                        Decision::Ignore { .. } => {}
                        Decision::Reject { reason } => prop_assert!(false, "unexpected reject: {}", reason),
                    }
                    delivered.push((event, key));
                }
            }
            if let Some(saga) = &state {
                if let Phase::Compensating { pending } = &saga.phase {
                    prop_assert!(!pending.is_empty());
                }
                prop_assert!(saga.resends <= MAX_COMPENSATION_RESENDS);
            }
        }

        check_records(state.as_ref(), &emitted, &resent)?;
    }

    /// Whatever happened before, a saga whose participants stop answering
    /// ends FAILED after enough sweeps, with TIMED_OUT unless it had already
    /// ended, and every compensation owed was sent.
    #[test]
    fn a_saga_whose_participants_never_answer_always_ends(
        prefix in prop::collection::vec(0..ALL_E.len(), 0..8),
        lateness in prop::collection::vec(0..TIMEOUT_MS, SWEEPS_TO_END),
    ) {
        let mut state = after(&[Placed]);
        for (n, choice) in prefix.into_iter().enumerate() {
            if let Decision::Apply { saga, .. } = transition(state.as_ref(), &event(ALL_E[choice]), &key(n + 1)) {
                state = Some(saga);
            }
        }
        let mut saga = state.unwrap();
        let was_final = saga.status().is_final();
        let mut sent: Vec<Emit> = Vec::new();
        let mut sweeps = 0;
        for late in lateness {
            if saga.status().is_final() {
                break;
            }
            let (next, emit, _) = match on_deadline(&saga, past_deadline(&saga, late)) {
                DeadlineDecision::Apply { saga, emit, action } => (saga, emit, action),
                other => return Err(TestCaseError::fail(format!("a waiting saga did not move: {other:?}"))),
            };
            sweeps += 1;
            sent.extend(emit);
            saga = next;
        }
        prop_assert!(saga.status().is_final(), "still {:?} after {} sweeps", saga.phase, sweeps);
        prop_assert!(sweeps <= SWEEPS_TO_END);
        if !was_final {
            let Some(Emit { event: Event::OrderFailed(failed), .. }) = sent.last() else {
                return Err(TestCaseError::fail(format!("no ORDER_FAILED: {sent:?}")));
            };
            prop_assert_eq!(failed.reason.as_str(), "TIMED_OUT");
            prop_assert_eq!(saga.step_deadline, None);
            // Nobody answered: what was still owed was given up, after
            // being sent.
            let owed = saga.completed.iter().filter_map(|s| s.compensation()).count();
            prop_assert!(!saga.unconfirmed.is_empty() || owed == 0);
            // At most the completed steps and the awaited one.
            prop_assert!(saga.unconfirmed.len() <= owed + 1);
            for compensation in &saga.unconfirmed {
                prop_assert!(sent.iter().any(|e| e.event.kind().as_str() == compensation.as_str()));
            }
        }
    }
}
