//! The invariants a run under faults must keep, computed from what it left
//! in the emulator (tables, queue, recorded mail, both streams read from
//! the start) and from the runner's counters.

use std::collections::{BTreeMap, BTreeSet};

use event_source_runner::{RunOutcome, RunReport};
use order_events::{EventKind, FailureReason, OrderId};

use crate::inspect::{DeadLetterRow, InventoryState, SagaRow, SentMail, StreamEvent};
use crate::report::{expected_emails, Check, EmailKind};
use crate::shop::Plan;

/// Longest list of examples one broken invariant shows.
const EXAMPLES: usize = 8;

/// Everything the checks read.
pub struct Observed<'a> {
    pub plan: &'a Plan,
    pub before: &'a InventoryState,
    pub after: &'a InventoryState,
    pub sagas: &'a [SagaRow],
    pub dead_letters: &'a [DeadLetterRow],
    pub mail: &'a [SentMail],
    pub events: &'a [StreamEvent],
    pub commands: &'a [StreamEvent],
    pub run: &'a RunReport,
    /// Functions expected to dead-letter the invalid order (those that
    /// handle `ORDER_PLACED`), and the record that is not JSON (every
    /// function reading the events stream, when no filter drops it first).
    pub invalid_order_readers: BTreeSet<String>,
    pub not_json_readers: BTreeSet<String>,
}

/// The verdicts, and what is worth knowing without being a violation.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

fn push_limited(check: &mut Check, hidden: &mut usize, text: String) {
    if check.broken.len() < EXAMPLES {
        check.broken.push(text);
    } else {
        *hidden += 1;
    }
}

fn close(mut check: Check, hidden: usize) -> Check {
    if hidden > 0 {
        check.broken.push(format!("... and {hidden} more"));
    }
    check
}

fn ended(status: &str) -> bool {
    status == "COMPLETED" || status == "FAILED"
}

pub fn evaluate(observed: &Observed<'_>) -> Verdict {
    let mut notes = Vec::new();
    let checks = vec![
        drained(observed),
        sagas_ended(observed),
        stock_conserved(observed),
        one_email_each(observed, &mut notes),
        no_command_twice(observed),
        dead_letters_only_invalid(observed, &mut notes),
    ];
    Verdict { checks, notes }
}

/// The runner went idle: every record of both streams was processed for
/// good within the time budget, none given up.
fn drained(observed: &Observed<'_>) -> Check {
    let mut check = Check::new("streams drained, no record given up");
    let run = observed.run;
    if run.outcome != RunOutcome::Idle {
        check.broken.push(format!(
            "the runner stopped {:?} after {:.0} s with records still failing",
            run.outcome,
            run.elapsed.as_secs_f64()
        ));
    }
    let t = &run.totals;
    let given_up = t.on_failure_records + t.discarded_records + t.expired_records;
    if given_up > 0 {
        check.broken.push(format!(
            "{given_up} records given up by the event source mappings ({} batches to the on-failure destination)",
            t.on_failure_batches
        ));
    }
    check
}

fn sagas_ended(observed: &Observed<'_>) -> Check {
    let mut check = Check::new("every saga ended (COMPLETED or FAILED)");
    let mut hidden = 0;
    let sagas: BTreeMap<&str, &SagaRow> = observed
        .sagas
        .iter()
        .map(|s| (s.order_id.as_str(), s))
        .collect();
    for order in &observed.plan.orders {
        match sagas.get(order.id().as_str()) {
            None => push_limited(
                &mut check,
                &mut hidden,
                format!("{} has no saga", order.id()),
            ),
            Some(saga) if !ended(&saga.status) => push_limited(
                &mut check,
                &mut hidden,
                format!("{} is {}", order.id(), saga.status),
            ),
            Some(_) => {}
        }
    }
    for saga in observed.sagas {
        if observed.plan.order(&saga.order_id).is_none() {
            push_limited(
                &mut check,
                &mut hidden,
                format!("a saga exists for {}, never validly placed", saga.order_id),
            );
        }
    }
    close(check, hidden)
}

/// Per product: stock at the start = available now + units of the orders
/// completed (shipped) + units still reserved by sagas that have not ended.
fn stock_conserved(observed: &Observed<'_>) -> Check {
    let mut check =
        Check::new("stock conserved (initial = available + shipped + held by running sagas)");
    let mut hidden = 0;
    let status: BTreeMap<&str, &str> = observed
        .sagas
        .iter()
        .map(|s| (s.order_id.as_str(), s.status.as_str()))
        .collect();
    let mut shipped: BTreeMap<&str, i64> = BTreeMap::new();
    let mut held: BTreeMap<&str, i64> = BTreeMap::new();
    for order in &observed.plan.orders {
        let id = order.id().as_str();
        let saga = status.get(id).copied();
        let reservation = observed.after.reservations.get(id).map(String::as_str);
        let target = match saga {
            Some("COMPLETED") => {
                if reservation != Some("RESERVED") {
                    push_limited(
                        &mut check,
                        &mut hidden,
                        format!(
                            "{id} completed but its reservation is {}",
                            reservation.unwrap_or("missing")
                        ),
                    );
                }
                &mut shipped
            }
            Some("FAILED") => {
                if reservation == Some("RESERVED") {
                    push_limited(
                        &mut check,
                        &mut hidden,
                        format!("{id} failed but its stock is still reserved"),
                    );
                }
                continue;
            }
            _ if reservation == Some("RESERVED") => &mut held,
            _ => continue,
        };
        for (product, units) in order.units() {
            *target.entry(product).or_insert(0) += units;
        }
    }
    let products: BTreeSet<&str> = observed
        .before
        .available
        .keys()
        .chain(observed.after.available.keys())
        .map(String::as_str)
        .collect();
    for product in products {
        let get = |m: &BTreeMap<String, i64>| m.get(product).copied().unwrap_or(0);
        let initial = get(&observed.before.available);
        let available = get(&observed.after.available);
        let out = shipped.get(product).copied().unwrap_or(0);
        let running = held.get(product).copied().unwrap_or(0);
        if available < 0 {
            push_limited(
                &mut check,
                &mut hidden,
                format!("{product}: {available} available, below zero"),
            );
        }
        if initial != available + out + running {
            push_limited(
                &mut check,
                &mut hidden,
                format!(
                    "{product}: {initial} initially, now {available} available + {out} shipped + {running} held = {}",
                    available + out + running
                ),
            );
        }
    }
    close(check, hidden)
}

fn one_email_each(observed: &Observed<'_>, notes: &mut Vec<String>) -> Check {
    let mut check = Check::new("at most one email per (kind, order or user)");
    let mut hidden = 0;
    let expected = expected_emails(observed.plan);
    let mut received: BTreeMap<(EmailKind, String), usize> = BTreeMap::new();
    for mail in observed.mail {
        match expected.get(&mail.subject) {
            Some(email) => *received.entry((email.kind, email.key.clone())).or_insert(0) += 1,
            None => push_limited(
                &mut check,
                &mut hidden,
                format!("unexpected email \"{}\"", mail.subject),
            ),
        }
    }
    for ((kind, key), count) in &received {
        if *count > 1 {
            push_limited(
                &mut check,
                &mut hidden,
                format!("{key}: {count} {kind:?} emails"),
            );
        }
    }
    // Missing mail is not this invariant, but worth seeing.
    let statuses: BTreeMap<&str, &str> = observed
        .sagas
        .iter()
        .map(|s| (s.order_id.as_str(), s.status.as_str()))
        .collect();
    let mut missing: BTreeMap<EmailKind, usize> = BTreeMap::new();
    let mut want = |kind: EmailKind, key: &str| {
        if !received.contains_key(&(kind, key.to_owned())) {
            *missing.entry(kind).or_insert(0) += 1;
        }
    };
    for customer in &observed.plan.customers {
        want(EmailKind::Welcome, customer.user_id);
    }
    for order in &observed.plan.orders {
        let id = order.id().as_str();
        want(EmailKind::Confirmation, id);
        match statuses.get(id).copied() {
            Some("COMPLETED") => want(EmailKind::Completed, id),
            Some("FAILED") => want(EmailKind::Failed, id),
            _ => {}
        }
    }
    if !missing.is_empty() {
        notes.push(format!("emails not sent: {missing:?}"));
    }
    close(check, hidden)
}

/// Commands, and the replies that say a command was applied, per order:
/// each at most once (one `eventId`), and never both outcomes of one step.
fn no_command_twice(observed: &Observed<'_>) -> Check {
    let mut check = Check::new("no command applied twice");
    let mut hidden = 0;
    let mut ids: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for record in observed.commands.iter().chain(observed.events) {
        let (Some(kind), Some(order)) = (record.kind.as_deref(), record.order_id.as_deref()) else {
            continue;
        };
        let counted = [
            EventKind::ReserveInventory,
            EventKind::ReleaseInventory,
            EventKind::ProcessPayment,
            EventKind::RefundPayment,
            EventKind::ShipOrder,
            EventKind::InventoryReserved,
            EventKind::InventoryReservationFailed,
            EventKind::InventoryReleased,
            EventKind::PaymentProcessed,
            EventKind::PaymentFailed,
            EventKind::PaymentRefunded,
            EventKind::OrderShipped,
            EventKind::ShippingFailed,
            EventKind::OrderCompleted,
            EventKind::OrderFailed,
        ];
        if !counted.iter().any(|k| k.as_str() == kind) {
            continue;
        }
        ids.entry((order, kind)).or_default().insert(
            record
                .event_id
                .as_deref()
                .unwrap_or(&record.sequence_number),
        );
    }
    for ((order, kind), distinct) in &ids {
        if distinct.len() > 1 {
            push_limited(
                &mut check,
                &mut hidden,
                format!(
                    "{order}: {kind} {} times, with different eventIds",
                    distinct.len()
                ),
            );
        }
    }
    let exclusive = [
        (
            EventKind::InventoryReserved,
            EventKind::InventoryReservationFailed,
        ),
        (EventKind::PaymentProcessed, EventKind::PaymentFailed),
        (EventKind::OrderShipped, EventKind::ShippingFailed),
        (EventKind::OrderCompleted, EventKind::OrderFailed),
    ];
    for order in &observed.plan.orders {
        let id = order.id().as_str();
        for (a, b) in exclusive {
            if ids.contains_key(&(id, a.as_str())) && ids.contains_key(&(id, b.as_str())) {
                push_limited(&mut check, &mut hidden, format!("{id}: both {a} and {b}"));
            }
        }
    }
    close(check, hidden)
}

/// Every dead letter is of a record that can never succeed (the invalid
/// order, the data that is not JSON), and each of those reached the queue
/// from every function that reads it.
fn dead_letters_only_invalid(observed: &Observed<'_>, notes: &mut Vec<String>) -> Check {
    let mut check = Check::new("dead letters only for invalid records, none lost");
    let mut hidden = 0;
    let invalid = observed.plan.invalid_order_data();
    let not_json = &observed.plan.not_json;
    let mut got: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for letter in observed.dead_letters {
        let which = match letter.data.as_deref() {
            Some(data) if data == invalid.as_slice() => "invalid order",
            Some(data) if data == not_json.as_slice() => "not JSON",
            other => {
                let about = other
                    .map(|d| crate::inspect::StreamEvent::read("", d))
                    .map(|e| {
                        format!(
                            "{} {}",
                            e.kind.unwrap_or_default(),
                            e.order_id.or(e.user_id).unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "a record".to_owned());
                push_limited(
                    &mut check,
                    &mut hidden,
                    format!(
                        "{} dead-lettered a valid record ({about}): {}",
                        letter.function, letter.reason
                    ),
                );
                continue;
            }
        };
        *got.entry((which, letter.function.as_str())).or_insert(0) += 1;
    }
    for (which, readers) in [
        ("invalid order", &observed.invalid_order_readers),
        ("not JSON", &observed.not_json_readers),
    ] {
        for reader in readers {
            if !got.contains_key(&(which, reader.as_str())) {
                push_limited(
                    &mut check,
                    &mut hidden,
                    format!("the {which} record never reached the queue from {reader}"),
                );
            }
        }
    }
    let duplicates: Vec<String> = got
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|((which, function), n)| format!("{function} sent the {which} record {n} times"))
        .collect();
    if !duplicates.is_empty() {
        notes.push(format!(
            "duplicate dead letters (harmless): {}",
            duplicates.join("; ")
        ));
    }
    close(check, hidden)
}

/// Orders whose outcome differs from the plan (not an invariant under
/// faults: a step deadline may fail an order a slow dependency delayed).
pub fn off_plan(plan: &Plan, sagas: &[SagaRow]) -> Vec<(OrderId, String)> {
    use crate::shop::Role;
    let by_order: BTreeMap<&str, &SagaRow> =
        sagas.iter().map(|s| (s.order_id.as_str(), s)).collect();
    plan.orders
        .iter()
        .filter_map(|order| {
            let saga = by_order.get(order.id().as_str())?;
            let reason = saga.reason.as_deref().unwrap_or_default();
            let failed_with =
                |code: FailureReason| saga.status == "FAILED" && reason == code.code();
            let as_planned = match order.role {
                Role::Normal => saga.status == "COMPLETED",
                Role::PaymentDeclined => failed_with(FailureReason::PaymentDeclined),
                Role::ShippingFails => failed_with(FailureReason::ShippingFailed),
                Role::Cancelled => failed_with(FailureReason::Cancelled),
                Role::Scarce => ended(&saga.status),
            };
            (!as_planned && ended(&saga.status)).then(|| {
                (
                    order.id().clone(),
                    format!("{:?} ended {} ({reason})", order.role, saga.status),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use email_notification::compose;

    use super::*;
    use std::time::Duration;

    /// What a run without faults leaves behind: every order completed.
    struct Fixture {
        plan: Plan,
        before: InventoryState,
        after: InventoryState,
        sagas: Vec<SagaRow>,
        dead_letters: Vec<DeadLetterRow>,
        mail: Vec<SentMail>,
        events: Vec<StreamEvent>,
        commands: Vec<StreamEvent>,
        run: RunReport,
    }

    fn event(kind: EventKind, order: &str, id: &str) -> StreamEvent {
        StreamEvent {
            sequence_number: id.to_owned(),
            kind: Some(kind.as_str().to_owned()),
            event_id: Some(id.to_owned()),
            order_id: Some(order.to_owned()),
            user_id: None,
        }
    }

    fn mail(subject: String) -> SentMail {
        SentMail {
            to: vec!["someone@example.com".to_owned()],
            subject,
        }
    }

    fn letter(function: &str, data: &[u8]) -> DeadLetterRow {
        DeadLetterRow {
            function: function.to_owned(),
            reason: "invalid".to_owned(),
            data: Some(data.to_vec()),
        }
    }

    fn readers() -> (BTreeSet<String>, BTreeSet<String>) {
        let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        (
            set(&["order-saga-step", "email-notification"]),
            set(&["order-saga-step", "email-notification", "inventory-update"]),
        )
    }

    fn clean() -> Fixture {
        let plan = Plan::large(10, 2).unwrap();
        let mut before = InventoryState::default();
        for product in plan.stock() {
            before
                .available
                .insert(product.id.to_owned(), product.stock);
        }
        let mut after = before.clone();
        let mut sagas = Vec::new();
        let mut mail_sent = Vec::new();
        let mut events = Vec::new();
        let mut commands = Vec::new();
        for order in &plan.orders {
            let id = order.id().as_str();
            // Of the two orders for the scarce product, the second loses.
            if id == "ord-1003" {
                sagas.push(SagaRow {
                    order_id: id.to_owned(),
                    status: "FAILED".to_owned(),
                    reason: Some(FailureReason::OutOfStock.code().to_owned()),
                });
                mail_sent.push(mail(compose::order_placed(&order.placed).unwrap().subject));
                mail_sent.push(mail(compose::order_failed(order.id(), "").unwrap().subject));
                commands.push(event(EventKind::ReserveInventory, id, "reserve-3"));
                events.push(event(EventKind::InventoryReservationFailed, id, "no-3"));
                events.push(event(EventKind::OrderFailed, id, "failed-3"));
                continue;
            }
            for (product, units) in order.units() {
                *after.available.entry(product.to_owned()).or_insert(0) -= units;
            }
            after
                .reservations
                .insert(id.to_owned(), "RESERVED".to_owned());
            sagas.push(SagaRow {
                order_id: id.to_owned(),
                status: "COMPLETED".to_owned(),
                reason: None,
            });
            mail_sent.push(mail(compose::order_placed(&order.placed).unwrap().subject));
            mail_sent.push(mail(compose::order_completed(order.id()).unwrap().subject));
            for kind in [
                EventKind::ReserveInventory,
                EventKind::ProcessPayment,
                EventKind::ShipOrder,
            ] {
                commands.push(event(kind, id, &format!("{kind}-{id}")));
            }
            for kind in [
                EventKind::InventoryReserved,
                EventKind::PaymentProcessed,
                EventKind::OrderShipped,
                EventKind::OrderCompleted,
            ] {
                events.push(event(kind, id, &format!("{kind}-{id}")));
            }
        }
        for customer in &plan.customers {
            let welcome = compose::welcome(&customer.registered().unwrap()).unwrap();
            mail_sent.push(mail(welcome.subject));
        }
        let (invalid_order_readers, not_json_readers) = readers();
        let mut dead_letters = Vec::new();
        for reader in &invalid_order_readers {
            dead_letters.push(letter(reader, &plan.invalid_order_data()));
        }
        for reader in &not_json_readers {
            dead_letters.push(letter(reader, &plan.not_json));
        }
        Fixture {
            plan,
            before,
            after,
            sagas,
            dead_letters,
            mail: mail_sent,
            events,
            commands,
            run: RunReport {
                outcome: RunOutcome::Idle,
                totals: Default::default(),
                mappings: Vec::new(),
                rounds: 10,
                elapsed: Duration::from_secs(20),
            },
        }
    }

    fn verdict(f: &Fixture) -> Verdict {
        let (invalid_order_readers, not_json_readers) = readers();
        evaluate(&Observed {
            plan: &f.plan,
            before: &f.before,
            after: &f.after,
            sagas: &f.sagas,
            dead_letters: &f.dead_letters,
            mail: &f.mail,
            events: &f.events,
            commands: &f.commands,
            run: &f.run,
            invalid_order_readers,
            not_json_readers,
        })
    }

    /// The names of the invariants that do not hold.
    fn broken(f: &Fixture) -> Vec<&'static str> {
        verdict(f)
            .checks
            .iter()
            .filter(|c| !c.holds())
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_clean_run_keeps_every_invariant() {
        let f = clean();
        let v = verdict(&f);
        assert_eq!(v.checks.len(), 6);
        assert!(broken(&f).is_empty(), "{:#?}", v.checks);
        assert!(v.notes.is_empty(), "{:?}", v.notes);
    }

    #[test]
    fn a_run_that_did_not_drain_or_gave_records_up_is_caught() {
        let mut f = clean();
        f.run.outcome = RunOutcome::TimedOut;
        assert_eq!(broken(&f), ["streams drained, no record given up"]);
        let mut f = clean();
        f.run.totals.on_failure_records = 3;
        assert_eq!(broken(&f), ["streams drained, no record given up"]);
    }

    #[test]
    fn an_unfinished_saga_is_caught_and_its_stock_counts_as_held() {
        let mut f = clean();
        f.sagas[3].status = "RUNNING".to_owned();
        // Its reservation is still RESERVED: held by a running saga, so the
        // stock adds up.
        assert_eq!(broken(&f), ["every saga ended (COMPLETED or FAILED)"]);
        let mut f = clean();
        f.sagas.remove(0);
        assert_eq!(broken(&f), ["every saga ended (COMPLETED or FAILED)"]);
    }

    #[test]
    fn stock_leaked_or_taken_twice_is_caught() {
        let stock = "stock conserved (initial = available + shipped + held by running sagas)";
        // A failed saga still holding its reservation.
        let mut f = clean();
        f.sagas[5].status = "FAILED".to_owned();
        assert_eq!(broken(&f), [stock]);
        let details = &verdict(&f).checks[2].broken;
        assert!(
            details.iter().any(|d| d.contains("still reserved")),
            "{details:?}"
        );
        // A reservation applied twice: one unit too few available.
        let mut f = clean();
        let product = f.plan.orders[0].units().next().unwrap().0.to_owned();
        *f.after.available.get_mut(&product).unwrap() -= 1;
        assert_eq!(broken(&f), [stock]);
        // Stock below zero.
        let mut f = clean();
        f.after.available.insert("SKU-X".to_owned(), -1);
        assert_eq!(broken(&f), [stock]);
    }

    #[test]
    fn a_second_email_of_a_kind_is_caught_and_a_missing_one_noted() {
        let mut f = clean();
        let again = f.mail[0].clone();
        f.mail.push(again);
        assert_eq!(broken(&f), ["at most one email per (kind, order or user)"]);
        let mut f = clean();
        f.mail.push(mail("Free money".to_owned()));
        assert_eq!(broken(&f), ["at most one email per (kind, order or user)"]);
        let mut f = clean();
        f.mail.remove(0);
        assert!(broken(&f).is_empty());
        assert!(verdict(&f).notes[0].contains("Confirmation: 1"));
    }

    #[test]
    fn a_command_or_reply_applied_twice_is_caught() {
        let twice = "no command applied twice";
        let mut f = clean();
        f.commands
            .push(event(EventKind::ProcessPayment, "ord-1004", "another-id"));
        assert_eq!(broken(&f), [twice]);
        let mut f = clean();
        f.events
            .push(event(EventKind::InventoryReserved, "ord-1004", "second"));
        assert_eq!(broken(&f), [twice]);
        // Both outcomes of one step.
        let mut f = clean();
        f.events
            .push(event(EventKind::OrderFailed, "ord-1005", "failed-too"));
        assert_eq!(broken(&f), [twice]);
        // A redelivered command (same eventId) is fine.
        let mut f = clean();
        let again = f.commands[0].clone();
        f.commands.push(again);
        assert!(broken(&f).is_empty());
    }

    #[test]
    fn a_valid_record_in_the_dead_letter_queue_or_a_lost_invalid_one_is_caught() {
        let dead = "dead letters only for invalid records, none lost";
        let mut f = clean();
        f.dead_letters.push(letter(
            "email-notification",
            br#"{"eventType":"ORDER_PLACED","payload":{"orderId":"ord-1002"}}"#,
        ));
        assert_eq!(broken(&f), [dead]);
        assert!(verdict(&f).checks[5].broken[0].contains("ORDER_PLACED ord-1002"));
        let mut f = clean();
        f.dead_letters.remove(0);
        assert_eq!(broken(&f), [dead]);
        // A duplicate of an invalid one is only noted.
        let mut f = clean();
        let again = f.dead_letters[0].clone();
        f.dead_letters.push(again);
        assert!(broken(&f).is_empty());
        assert!(verdict(&f).notes[0].contains("duplicate dead letters"));
    }

    #[test]
    fn off_plan_outcomes_are_listed_not_judged() {
        // The fixture completes the orders planned to fail: those are off
        // plan; the scarce ones may go either way.
        let f = clean();
        let base: Vec<String> = off_plan(&f.plan, &f.sagas)
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(base, ["ord-1005", "ord-1008", "ord-1010"]);
        let mut f = clean();
        f.sagas[0].status = "FAILED".to_owned();
        f.sagas[0].reason = Some("TIMED_OUT".to_owned());
        let off = off_plan(&f.plan, &f.sagas);
        assert_eq!(off.len(), base.len() + 1);
        assert!(
            off[0].1.contains("Normal ended FAILED (TIMED_OUT)"),
            "{off:?}"
        );
        // A running saga is not judged here.
        f.sagas[0].status = "RUNNING".to_owned();
        assert_eq!(off_plan(&f.plan, &f.sagas).len(), base.len());
    }
}
