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

/// Shorthand for the events the saga reads, all about [`ORDER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
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
}
use E::*;

const ALL_E: [E; 10] = [
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
];

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
    (
        &[Placed],
        ReserveFailed,
        Applies(S::Failed, "FAILED", &[K::OrderFailed]),
    ),
    (
        &[Placed, Reserved],
        PayFailed,
        Applies(S::Compensating, "RELEASE_INVENTORY", &[K::ReleaseInventory]),
    ),
    (
        &[Placed, Reserved, PayFailed],
        Released,
        Applies(S::Failed, "FAILED", &[K::OrderFailed]),
    ),
    (
        &[Placed, Reserved, Paid],
        ShipFailed,
        Applies(S::Compensating, "REFUND_PAYMENT", &[K::RefundPayment]),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed],
        Refunded,
        Applies(S::Compensating, "RELEASE_INVENTORY", &[K::ReleaseInventory]),
    ),
    (
        &[Placed, Reserved, Paid, ShipFailed, Refunded],
        Released,
        Applies(S::Failed, "FAILED", &[K::OrderFailed]),
    ),
    // Cancellation at every step.
    (&[], Cancelled, Ignored(NO_SAGA)),
    // Awaiting the reservation: release it anyway (a no-op that replies if
    // it never happened).
    (
        &[Placed],
        Cancelled,
        Applies(S::Compensating, "RELEASE_INVENTORY", &[K::ReleaseInventory]),
    ),
    (&[Placed, Cancelled], Reserved, Ignored(OUT_OF_DATE)),
    (&[Placed, Cancelled], ReserveFailed, Ignored(OUT_OF_DATE)),
    (
        &[Placed, Cancelled],
        Released,
        Applies(S::Failed, "FAILED", &[K::OrderFailed]),
    ),
    // Awaiting the payment: refund it anyway, then release.
    (
        &[Placed, Reserved],
        Cancelled,
        Applies(S::Compensating, "REFUND_PAYMENT", &[K::RefundPayment]),
    ),
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
    (
        &[Placed, Reserved, Cancelled],
        Refunded,
        Applies(S::Compensating, "RELEASE_INVENTORY", &[K::ReleaseInventory]),
    ),
    (
        &[Placed, Reserved, Cancelled, Refunded],
        Released,
        Applies(S::Failed, "FAILED", &[K::OrderFailed]),
    ),
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
        for e in ALL_E {
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
    assert_eq!(
        failing.reason.as_deref(),
        Some("shipping failed: address unreachable")
    );

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
    assert_eq!(failed.reason, "payment failed: card declined");
    assert_eq!(
        failed.email.as_ref().map(|e| e.as_str()),
        Some("jane@example.com")
    );
    assert_eq!(failed.user_id.as_ref().map(|u| u.as_str()), Some("u-1"));

    let state = after(&[Placed, Reserved]);
    let (saga, _, _) = single(transition(state.as_ref(), &event(Cancelled), &key(2)));
    assert_eq!(
        saga.reason.as_deref(),
        Some("order cancelled: customer request")
    );

    let state = after(&[Placed]);
    let (_, failed, _) = single(transition(state.as_ref(), &event(ReserveFailed), &key(1)));
    let Event::OrderFailed(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(
        failed.reason,
        "inventory reservation failed: insufficient stock"
    );
}

#[test]
fn reasons_from_other_services_are_bounded() {
    let state = after(&[Placed, Reserved]);
    let long = "x".repeat(10_000);
    let failed = Event::parse(
        EventKind::PaymentFailed,
        &json!({"orderId": ORDER, "sagaId": ORDER, "reason": long}).to_string(),
    )
    .unwrap();
    let (saga, _, _) = single(transition(state.as_ref(), &failed, &key(2)));
    assert_eq!(saga.reason.unwrap().chars().count(), MAX_REASON_CHARS);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any sequence of events, fresh or redelivered, in any order.
    #[test]
    fn random_event_sequences_keep_the_saga_consistent(
        steps in prop::collection::vec((0..ALL_E.len(), any::<bool>(), any::<prop::sample::Index>()), 1..30)
    ) {
        let mut state: Option<Saga> = None;
        let mut delivered: Vec<(Event, DedupKey)> = Vec::new();
        let mut emitted: Vec<Emit> = Vec::new();
        for (n, (choice, redeliver, back)) in steps.into_iter().enumerate() {
            let (event, key) = if redeliver && !delivered.is_empty() {
                delivered[back.index(delivered.len())].clone()
            } else {
                (event(ALL_E[choice]), key(n))
            };
            let before = state.clone();
            match transition(state.as_ref(), &event, &key) {
                Decision::Apply { saga, emit } => {
                    prop_assert!(before.as_ref().is_none_or(|b| !b.status().is_final()), "a final saga moved");
                    prop_assert_eq!(saga.version, before.as_ref().map_or(0, |b| b.version) + 1);
                    let applied_key = key.to_string();
                    prop_assert_eq!(saga.last_applied(), Some(applied_key.as_str()));
                    prop_assert_eq!(emit.len(), 1, "each transition sends exactly one record");
                    if let Phase::Compensating { pending } = &saga.phase {
                        prop_assert!(!pending.is_empty());
                    }
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

        let sent = kinds(&emitted);
        let mut ids: Vec<_> = emitted.iter().map(|e| e.event_id.clone()).collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids.dedup();
        prop_assert_eq!(ids.len(), emitted.len(), "a record id was sent twice: {:?}", sent);
        let position = |kind: EventKind| sent.iter().position(|k| *k == kind);
        for kind in sent.iter() {
            prop_assert_eq!(sent.iter().filter(|k| *k == kind).count(), 1, "{} sent twice: {:?}", kind, sent);
        }
        prop_assert!(!(sent.contains(&K::OrderCompleted) && sent.contains(&K::OrderFailed)));
        if let (Some(refund), Some(release)) = (position(K::RefundPayment), position(K::ReleaseInventory)) {
            prop_assert!(refund < release, "refund must precede release: {:?}", sent);
        }
        // A compensation only undoes a step that was requested.
        if sent.contains(&K::RefundPayment) {
            prop_assert!(sent.contains(&K::ProcessPayment));
        }
        if sent.contains(&K::ReleaseInventory) {
            prop_assert!(sent.contains(&K::ReserveInventory));
        }
        if let Some(saga) = state {
            match saga.status() {
                SagaStatus::Completed => {
                    prop_assert_eq!(&sent, &[K::ReserveInventory, K::ProcessPayment, K::ShipOrder, K::OrderCompleted]);
                }
                SagaStatus::Failed => {
                    prop_assert_eq!(sent.last(), Some(&K::OrderFailed));
                    // Nothing that succeeded is left undone.
                    for step in &saga.completed {
                        if let Some(undo) = compensation_kind(*step) {
                            prop_assert!(sent.contains(&undo), "{:?} left undone: {:?}", step, sent);
                        }
                    }
                }
                SagaStatus::Running => {
                    let Phase::Running { awaiting } = saga.phase else { unreachable!() };
                    prop_assert_eq!(sent.last(), Some(&step_kind(awaiting)));
                    prop_assert!(!sent.iter().any(|k| matches!(k, K::RefundPayment | K::ReleaseInventory)));
                }
                SagaStatus::Compensating => {
                    prop_assert!(saga.reason.is_some());
                    prop_assert!(!sent.contains(&K::OrderFailed));
                }
            }
        }
    }
}
