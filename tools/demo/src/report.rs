//! What the run did, checked against the plan and against the invariants
//! the functions promise, and written as a short report.
//!
//! Everything here is computed from what the run left in the emulator
//! (tables, queue, recorded mail), not from what the functions said they
//! did.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::time::Duration;

use email_notification::compose;
use event_source_runner::{catalog, linked, RunOutcome, RunReport};
use order_events::{EmailAddress, EventKind, FailureReason};

use crate::inspect::{DeadLetterRow, InventoryState, SagaRow, SentMail};
use crate::shop::{self, Plan, Role};

/// How an order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Completed,
    Failed,
    Cancelled,
    /// No saga, or a saga still `RUNNING`/`COMPENSATING`.
    Unfinished,
}

/// One order at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    pub order_id: String,
    pub role: Role,
    pub outcome: Outcome,
    /// The saga's status (`none` without a saga).
    pub status: String,
    pub reason: Option<String>,
}

/// One product's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    pub product_id: String,
    pub name: String,
    pub before: i64,
    pub after: i64,
    /// Units of the completed orders.
    pub sold: i64,
    /// Units held by reservations still `RESERVED`.
    pub reserved: i64,
}

/// Which email a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EmailKind {
    Welcome,
    Confirmation,
    Completed,
    Failed,
    /// A subject the demo did not expect.
    Unexpected,
}

impl EmailKind {
    fn label(self) -> &'static str {
        match self {
            EmailKind::Welcome => "welcome",
            EmailKind::Confirmation => "order confirmation",
            EmailKind::Completed => "order complete",
            EmailKind::Failed => "could not complete",
            EmailKind::Unexpected => "unexpected",
        }
    }
}

/// A sent email, recipient masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSample {
    pub kind: EmailKind,
    pub subject: String,
    pub to_masked: String,
}

/// One invariant and the ways it was broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub broken: Vec<String>,
}

impl Check {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            broken: Vec::new(),
        }
    }

    pub fn holds(&self) -> bool {
        self.broken.is_empty()
    }
}

/// What was written to the events stream before the functions ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedSummary {
    pub users: usize,
    pub orders: usize,
    /// The order whose record was put a second time.
    pub duplicated: String,
    pub invalid: usize,
    pub not_json: usize,
    pub put_records_calls: u32,
    /// Confirmation emails the duplicated order got.
    pub duplicate_confirmations: usize,
}

/// Wall-clock time of each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub setup: Duration,
    pub publish: Duration,
    pub run: Duration,
    pub inspect: Duration,
    pub total: Duration,
}

/// The run's counters from the event source runner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerTotals {
    pub idle: bool,
    pub invocations: u64,
    pub records_delivered: u64,
    pub redelivered: u64,
    pub filtered_out: u64,
    pub filtered_not_json: u64,
    /// Mappings that read the events stream (each drops the non-JSON record).
    pub event_stream_mappings: usize,
}

/// The demo's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    pub customers: usize,
    pub published: PublishedSummary,
    /// The order cancelled mid-saga, and whether the cancellation was
    /// published.
    pub cancelled_order: Option<(String, bool)>,
    pub orders: Vec<OrderOutcome>,
    pub stock: Vec<StockLine>,
    pub sender: String,
    pub emails: BTreeMap<EmailKind, usize>,
    pub email_samples: Vec<EmailSample>,
    /// (function, reason) -> messages.
    pub dead_letters: BTreeMap<(String, String), usize>,
    pub runner: RunnerTotals,
    pub timings: Timings,
    pub checks: Vec<Check>,
    /// Where the functions' logs went, and how many lines they wrote.
    pub log: Option<(String, usize)>,
    /// Where the dashboard page was written.
    pub dashboard: Option<String>,
}

impl DemoReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.orders.iter().filter(|o| o.outcome == outcome).count()
    }

    pub fn outcome_of(&self, order_id: &str) -> Option<Outcome> {
        self.orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| o.outcome)
    }

    /// Every way an invariant was broken; empty when all hold.
    pub fn violations(&self) -> Vec<String> {
        self.checks
            .iter()
            .flat_map(|c| c.broken.iter().map(move |b| format!("{}: {b}", c.name)))
            .collect()
    }

    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(Check::holds)
    }

    /// Failed orders (cancellations apart) grouped by the kind of failure
    /// (the reason code, or free text up to its first colon), with one
    /// full reason each.
    pub fn failure_reasons(&self) -> BTreeMap<String, (Vec<String>, String)> {
        let mut groups: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
        for order in self.orders.iter().filter(|o| o.outcome == Outcome::Failed) {
            let reason = order.reason.clone().unwrap_or_else(|| "no reason".into());
            let kind = reason
                .split_once(':')
                .map_or(reason.as_str(), |(k, _)| k)
                .trim()
                .to_owned();
            let entry = groups.entry(kind).or_insert_with(|| (Vec::new(), reason));
            entry.0.push(order.order_id.clone());
        }
        groups
    }
}

/// Everything the evaluation reads.
pub struct Observed<'a> {
    pub plan: &'a Plan,
    pub sender: &'a str,
    pub events_stream: &'a str,
    pub before: &'a InventoryState,
    pub after: &'a InventoryState,
    pub sagas: &'a [SagaRow],
    pub dead_letters: &'a [DeadLetterRow],
    pub mail: &'a [SentMail],
    pub run: &'a RunReport,
    pub published: PublishedSummary,
    pub cancel: Option<(String, bool)>,
    pub timings: Timings,
}

fn outcome_of(saga: Option<&SagaRow>) -> Outcome {
    match saga {
        Some(s) if s.status == "COMPLETED" => Outcome::Completed,
        Some(s) if s.status == "FAILED" => {
            if s.reason
                .as_deref()
                .is_some_and(|r| reason_is(r, FailureReason::Cancelled))
            {
                Outcome::Cancelled
            } else {
                Outcome::Failed
            }
        }
        _ => Outcome::Unfinished,
    }
}

/// Whether a saga's reason is `code` (the code on the wire, or the
/// wording older sagas stored).
fn reason_is(reason: &str, code: FailureReason) -> bool {
    reason == code.code() || reason.starts_with(code.wording())
}

fn mask(address: &str) -> String {
    EmailAddress::parse(address)
        .map(|a| a.masked())
        .unwrap_or_else(|_| "***".to_owned())
}

/// The linked functions whose filter lets `ORDER_PLACED` through: they all
/// read the invalid order and each dead-letters it.
pub fn order_placed_readers() -> BTreeSet<&'static str> {
    catalog::event_readers(linked::LINKED, EventKind::OrderPlaced)
        .map(|f| f.name)
        .collect()
}

/// Checks the run against the plan and the invariants.
pub fn evaluate(observed: Observed<'_>) -> DemoReport {
    let orders = order_outcomes(&observed);
    let (stock, [stock_check, no_negative, held]) = stock_checks(&observed, &orders);
    let mail = check_mail(&observed, &orders);
    let (dead_letters, dead_check) = dead_letters_only_invalid(&observed);
    let mut published = observed.published.clone();
    published.duplicate_confirmations = mail
        .received
        .get(&(EmailKind::Confirmation, published.duplicated.clone()))
        .copied()
        .unwrap_or(0);
    DemoReport {
        customers: observed.plan.customers.len(),
        published,
        cancelled_order: observed.cancel.clone(),
        checks: vec![
            sagas_ended(&observed, &orders),
            as_planned(&observed, &orders),
            stock_check,
            no_negative,
            held,
            mail.check,
            dead_check,
        ],
        orders,
        stock,
        sender: observed.sender.to_owned(),
        emails: mail.by_kind,
        email_samples: mail.samples,
        dead_letters,
        runner: runner_totals(&observed),
        timings: observed.timings,
        log: None,
        dashboard: None,
    }
}

/// How each planned order ended, by its saga.
fn order_outcomes(observed: &Observed<'_>) -> Vec<OrderOutcome> {
    let sagas: BTreeMap<&str, &SagaRow> = observed
        .sagas
        .iter()
        .map(|s| (s.order_id.as_str(), s))
        .collect();
    observed
        .plan
        .orders
        .iter()
        .map(|order| {
            let saga = sagas.get(order.id().as_str()).copied();
            OrderOutcome {
                order_id: order.id().to_string(),
                role: order.role,
                outcome: outcome_of(saga),
                status: saga.map_or("none".to_owned(), |s| s.status.clone()),
                reason: saga.and_then(|s| s.reason.clone()),
            }
        })
        .collect()
}

/// Every saga ended, only planned orders have one, and the runner drained.
fn sagas_ended(observed: &Observed<'_>, orders: &[OrderOutcome]) -> Check {
    let mut ended = Check::new("every saga ended (COMPLETED or FAILED)");
    for order in orders.iter().filter(|o| o.outcome == Outcome::Unfinished) {
        ended
            .broken
            .push(format!("{} is {}", order.order_id, order.status));
    }
    if let Some(extra) = observed
        .sagas
        .iter()
        .find(|s| observed.plan.order(&s.order_id).is_none())
    {
        ended.broken.push(format!(
            "a saga exists for {}, which was never placed validly",
            extra.order_id
        ));
    }
    if !observed.run.outcome.eq(&RunOutcome::Idle) {
        ended.broken.push(format!(
            "the runner stopped {:?} instead of going idle",
            observed.run.outcome
        ));
    }
    ended
}

/// Whether an order's end is the one its role plans.
fn ended_as_planned(order: &OrderOutcome) -> bool {
    let reason = order.reason.as_deref().unwrap_or_default();
    match order.role {
        Role::Normal => order.outcome == Outcome::Completed,
        Role::PaymentDeclined => {
            order.outcome == Outcome::Failed && reason_is(reason, FailureReason::PaymentDeclined)
        }
        Role::ShippingFails => {
            order.outcome == Outcome::Failed && reason_is(reason, FailureReason::ShippingFailed)
        }
        Role::Cancelled => order.outcome == Outcome::Cancelled,
        Role::Scarce => true,
    }
}

/// Each order ended as its role plans; exactly one order for the scarce
/// product won it; the cancellation was published.
fn as_planned(observed: &Observed<'_>, orders: &[OrderOutcome]) -> Check {
    let mut as_planned = Check::new("each order ended as planned");
    for order in orders.iter().filter(|o| !ended_as_planned(o)) {
        as_planned.broken.push(format!(
            "{} ({:?}) ended {} ({})",
            order.order_id,
            order.role,
            order.status,
            order.reason.as_deref().unwrap_or_default()
        ));
    }
    let scarce: Vec<&OrderOutcome> = orders.iter().filter(|o| o.role == Role::Scarce).collect();
    let won = scarce
        .iter()
        .filter(|o| o.outcome == Outcome::Completed)
        .count();
    let lost = scarce
        .iter()
        .filter(|o| {
            o.outcome == Outcome::Failed
                && o.reason
                    .as_deref()
                    .is_some_and(|r| reason_is(r, FailureReason::OutOfStock))
        })
        .count();
    if !scarce.is_empty() && (won != 1 || lost != scarce.len() - 1) {
        as_planned.broken.push(format!(
            "of the {} orders for the scarce product, {won} completed and {lost} failed their reservation",
            scarce.len()
        ));
    }
    if let Some((order, false)) = &observed.cancel {
        as_planned
            .broken
            .push(format!("the cancellation of {order} was not published"));
    }
    as_planned
}

/// Units of each product in the completed orders.
fn units_sold<'p>(plan: &'p Plan, orders: &[OrderOutcome]) -> BTreeMap<&'p str, i64> {
    let mut sold: BTreeMap<&str, i64> = BTreeMap::new();
    for order in &plan.orders {
        if orders
            .iter()
            .any(|o| o.order_id == order.id().as_str() && o.outcome == Outcome::Completed)
        {
            for (product, units) in order.units() {
                *sold.entry(product).or_insert(0) += units;
            }
        }
    }
    sold
}

/// The stock lines, and the stock invariants: conserved, never negative,
/// reservations holding exactly what was sold.
fn stock_checks(observed: &Observed<'_>, orders: &[OrderOutcome]) -> (Vec<StockLine>, [Check; 3]) {
    let mut stock_check = Check::new("stock after = stock before - units of completed orders");
    let mut no_negative = Check::new("no negative stock");
    let mut held = Check::new("reservations hold exactly the units of completed orders");
    let sold = units_sold(observed.plan, orders);
    let get = |m: &BTreeMap<String, i64>, product: &str| m.get(product).copied().unwrap_or(0);
    let mut stock = Vec::new();
    for product in shop::all_products() {
        let line = StockLine {
            product_id: product.id.to_owned(),
            name: product.name.to_owned(),
            before: get(&observed.before.available, product.id),
            after: get(&observed.after.available, product.id),
            sold: sold.get(product.id).copied().unwrap_or(0),
            reserved: get(&observed.after.reserved, product.id),
        };
        if line.after != line.before - line.sold {
            stock_check.broken.push(format!(
                "{}: {} before, {} sold, {} after",
                line.product_id, line.before, line.sold, line.after
            ));
        }
        if line.after < 0 {
            no_negative
                .broken
                .push(format!("{}: {}", line.product_id, line.after));
        }
        if line.reserved != line.sold {
            held.broken.push(format!(
                "{}: {} units reserved, {} sold",
                line.product_id, line.reserved, line.sold
            ));
        }
        stock.push(line);
    }
    for (product, available) in &observed.after.available {
        if *available < 0 && !stock.iter().any(|l| &l.product_id == product) {
            no_negative.broken.push(format!("{product}: {available}"));
        }
    }
    (stock, [stock_check, no_negative, held])
}

/// An email the plan can cause: its kind, the order or user it is about,
/// and whom it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedEmail {
    pub kind: EmailKind,
    pub key: String,
    pub to: String,
}

/// Every email the plan can cause, by subject (a subject names its order
/// or user, and does not depend on a failure's reason).
pub fn expected_emails(plan: &Plan) -> BTreeMap<String, ExpectedEmail> {
    let mut expected = BTreeMap::new();
    let mut expect = |subject, kind, key: &str, to: &str| {
        let email = ExpectedEmail {
            kind,
            key: key.to_owned(),
            to: to.to_owned(),
        };
        expected.insert(subject, email);
    };
    for customer in &plan.customers {
        if let Ok(message) = customer
            .registered()
            .map_err(|e| e.to_string())
            .and_then(|u| compose::welcome(&u).map_err(|e| e.to_string()))
        {
            expect(
                message.subject,
                EmailKind::Welcome,
                customer.user_id,
                customer.email,
            );
        }
    }
    for order in &plan.orders {
        let to = plan.customer_of(order).email;
        let id = order.id().as_str();
        if let Ok(message) = compose::order_placed(&order.placed) {
            expect(message.subject, EmailKind::Confirmation, id, to);
        }
        if let Ok(message) = compose::order_completed(order.id()) {
            expect(message.subject, EmailKind::Completed, id, to);
        }
        if let Ok(message) = compose::order_failed(order.id(), "") {
            expect(message.subject, EmailKind::Failed, id, to);
        }
    }
    expected
}

/// The mail as received, and its invariant.
struct MailSeen {
    by_kind: BTreeMap<EmailKind, usize>,
    received: BTreeMap<(EmailKind, String), usize>,
    samples: Vec<EmailSample>,
    check: Check,
}

/// Emails: every expected one exactly once, to the customer, and no other.
fn check_mail(observed: &Observed<'_>, orders: &[OrderOutcome]) -> MailSeen {
    let expected = expected_emails(observed.plan);
    let mut seen = MailSeen {
        by_kind: BTreeMap::new(),
        received: BTreeMap::new(),
        samples: Vec::new(),
        check: Check::new("exactly one confirmation per ORDER_PLACED, one welcome per user, one outcome email per ended saga"),
    };
    for mail in observed.mail {
        seen.receive(mail, expected.get(&mail.subject));
    }
    seen.samples.sort_by_key(|s| s.kind);
    for customer in &observed.plan.customers {
        seen.want(EmailKind::Welcome, customer.user_id, 1);
    }
    for order in orders {
        seen.want(EmailKind::Confirmation, &order.order_id, 1);
        let (completed, failed) = match order.outcome {
            Outcome::Completed => (1, 0),
            Outcome::Failed | Outcome::Cancelled => (0, 1),
            Outcome::Unfinished => (0, 0),
        };
        seen.want(EmailKind::Completed, &order.order_id, completed);
        seen.want(EmailKind::Failed, &order.order_id, failed);
    }
    seen
}

impl MailSeen {
    fn receive(&mut self, mail: &SentMail, expected: Option<&ExpectedEmail>) {
        let masked = || mail.to.iter().map(|a| mask(a)).collect::<Vec<_>>();
        let kind = expected.map_or(EmailKind::Unexpected, |e| e.kind);
        let key = expected.map_or(&mail.subject, |e| &e.key);
        *self.by_kind.entry(kind).or_insert(0) += 1;
        *self.received.entry((kind, key.clone())).or_insert(0) += 1;
        match expected {
            None => self
                .check
                .broken
                .push(format!("unexpected email \"{}\"", mail.subject)),
            Some(e) if mail.to != [e.to.clone()] => self.check.broken.push(format!(
                "{} for {key} went to {:?}, not {}",
                kind.label(),
                masked(),
                mask(&e.to)
            )),
            Some(_) => {}
        }
        if !self.samples.iter().any(|s| s.kind == kind) {
            self.samples.push(EmailSample {
                kind,
                subject: mail.subject.clone(),
                to_masked: masked().join(", "),
            });
        }
    }

    fn want(&mut self, kind: EmailKind, key: &str, copies: usize) {
        let got = self
            .received
            .get(&(kind, key.to_owned()))
            .copied()
            .unwrap_or(0);
        if got != copies {
            self.check.broken.push(format!(
                "{key}: {got} {} emails, expected {copies}",
                kind.label()
            ));
        }
    }
}

/// Dead letters by function and reason, and their invariant: the invalid
/// order, once per function that reads it, and nothing else.
fn dead_letters_only_invalid(
    observed: &Observed<'_>,
) -> (BTreeMap<(String, String), usize>, Check) {
    let mut dead_check =
        Check::new("only the invalid order is dead-lettered, once by each function reading it");
    let invalid = observed.plan.invalid_order_data();
    let mut dead_letters: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut by_function: BTreeMap<&str, usize> = BTreeMap::new();
    for letter in observed.dead_letters {
        *dead_letters
            .entry((letter.function.clone(), letter.reason.clone()))
            .or_insert(0) += 1;
        if letter.data.as_deref() == Some(invalid.as_slice()) {
            *by_function.entry(letter.function.as_str()).or_insert(0) += 1;
        } else {
            dead_check.broken.push(format!(
                "{} dead-lettered another record: {}",
                letter.function, letter.reason
            ));
        }
    }
    let readers = order_placed_readers();
    if by_function.keys().copied().collect::<BTreeSet<_>>() != readers
        || by_function.values().any(|n| *n != 1)
    {
        dead_check.broken.push(format!(
            "the invalid order was dead-lettered {by_function:?}; expected once by each of {readers:?}"
        ));
    }
    (dead_letters, dead_check)
}

fn runner_totals(observed: &Observed<'_>) -> RunnerTotals {
    let event_stream_mappings = observed
        .run
        .mappings
        .iter()
        .filter(|m| {
            m.stream_arn
                .ends_with(&format!("/{}", observed.events_stream))
        })
        .count();
    let totals = &observed.run.totals;
    RunnerTotals {
        idle: observed.run.outcome == RunOutcome::Idle,
        invocations: totals.invocations,
        records_delivered: totals.records_delivered,
        redelivered: totals.redelivered,
        filtered_out: totals.filtered_out,
        filtered_not_json: totals.filtered_non_json,
        event_stream_mappings,
    }
}

/// The invariants as the reports print them: a line each, and its breaks
/// under it.
pub fn write_checks(text: &mut String, checks: &[Check]) {
    for check in checks {
        let _ = writeln!(
            text,
            "  [{}] {}",
            if check.holds() { " ok " } else { "FAIL" },
            check.name
        );
        for broken in &check.broken {
            let _ = writeln!(text, "         - {broken}");
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_published(f)?;
        self.fmt_orders(f)?;
        self.fmt_stock(f)?;
        self.fmt_emails(f)?;
        self.fmt_dead_letters(f)?;
        self.fmt_runner(f)?;
        self.fmt_checks(f)?;
        if let Some(path) = &self.dashboard {
            writeln!(f, "\ndashboard: {path}")?;
        }
        Ok(())
    }
}

/// The report's sections, in order.
impl DemoReport {
    /// What was published.
    fn fmt_published(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.published;
        writeln!(f)?;
        writeln!(
            f,
            "Published to the events stream: {} USER_REGISTERED, {} ORDER_PLACED, in {} PutRecords calls",
            p.users, p.orders, p.put_records_calls
        )?;
        writeln!(
            f,
            "  plus: {} put again (a producer retry), {} invalid order, {} record that is not JSON",
            p.duplicated, p.invalid, p.not_json
        )?;
        if let Some((order, _)) = &self.cancelled_order {
            writeln!(
                f,
                "  then: ORDER_CANCELLED for {order}, right after its stock was reserved"
            )?;
        }
        Ok(())
    }

    /// How the orders ended.
    fn fmt_orders(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nOrders ({})", self.orders.len())?;
        writeln!(f, "  completed   {:>3}", self.count(Outcome::Completed))?;
        writeln!(f, "  failed      {:>3}", self.count(Outcome::Failed))?;
        for (kind, (ids, example)) in self.failure_reasons() {
            writeln!(f, "    {kind} ({}): {}", ids.len(), ids.join(", "))?;
            match example.parse::<FailureReason>() {
                Ok(code) => writeln!(f, "      the customer reads \"{}\"", code.wording())?,
                Err(()) => {
                    if let Some((_, detail)) = example.split_once(':') {
                        writeln!(f, "      e.g. \"{}\"", detail.trim())?;
                    }
                }
            }
        }
        writeln!(f, "  cancelled   {:>3}", self.count(Outcome::Cancelled))?;
        for order in self
            .orders
            .iter()
            .filter(|o| o.outcome == Outcome::Cancelled)
        {
            writeln!(
                f,
                "    {}: {}",
                order.order_id,
                order.reason.as_deref().unwrap_or_default()
            )?;
        }
        let unfinished = self.count(Outcome::Unfinished);
        if unfinished > 0 {
            writeln!(f, "  UNFINISHED  {unfinished:>3}")?;
        }
        Ok(())
    }

    /// Stock before and after.
    fn fmt_stock(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nStock")?;
        writeln!(
            f,
            "  {:<9} {:<28} {:>6} {:>6} {:>5} {:>9}",
            "product", "", "before", "after", "sold", "reserved"
        )?;
        for line in &self.stock {
            writeln!(
                f,
                "  {:<9} {:<28} {:>6} {:>6} {:>5} {:>9}",
                line.product_id, line.name, line.before, line.after, line.sold, line.reserved
            )?;
        }
        Ok(())
    }

    /// The mail, and the duplicated order's.
    fn fmt_emails(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.emails.values().sum();
        writeln!(f, "\nEmails sent from {}: {total}", self.sender)?;
        for (kind, count) in &self.emails {
            writeln!(f, "  {:<20} {count:>3}", kind.label())?;
        }
        for sample in &self.email_samples {
            writeln!(f, "    \"{}\" -> {}", sample.subject, sample.to_masked)?;
        }

        let duplicated = self
            .orders
            .iter()
            .find(|o| o.order_id == self.published.duplicated)
            .map_or("no saga".to_owned(), |o| o.status.clone());
        writeln!(
            f,
            "Idempotency: {} was on the stream twice; one saga ({duplicated}), {} confirmation email(s)",
            self.published.duplicated, self.published.duplicate_confirmations
        )?;
        Ok(())
    }

    /// The dead letters, and the record that is not JSON.
    fn fmt_dead_letters(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters: usize = self.dead_letters.values().sum();
        writeln!(f, "\nDead letters: {letters}")?;
        for ((function, reason), count) in &self.dead_letters {
            let mut reason = reason.clone();
            if reason.chars().count() > 110 {
                reason = reason.chars().take(110).collect::<String>() + "...";
            }
            writeln!(f, "  {count} x {function}: {reason}")?;
        }
        writeln!(
            f,
            "  not JSON: dropped by the filters before any function, as Lambda does ({} drops over {} mappings)",
            self.runner.filtered_not_json, self.runner.event_stream_mappings
        )?;
        Ok(())
    }

    /// The runner's totals, the time taken and the log.
    fn fmt_runner(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.runner;
        writeln!(
            f,
            "\nRunner: {} invocations, {} records delivered ({} redelivered), {} filtered out; {}",
            r.invocations,
            r.records_delivered,
            r.redelivered,
            r.filtered_out,
            if r.idle {
                "idle at the end"
            } else {
                "did NOT go idle"
            }
        )?;
        let t = &self.timings;
        writeln!(
            f,
            "Time: {} in all (set-up {}, publishing {}, functions {}, report {})",
            secs(t.total),
            secs(t.setup),
            secs(t.publish),
            secs(t.run),
            secs(t.inspect)
        )?;
        if let Some((path, lines)) = &self.log {
            writeln!(
                f,
                "Function logs (warnings and errors): {lines} lines in {path}"
            )?;
        }
        Ok(())
    }

    /// The invariants.
    fn fmt_checks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holding = self.checks.iter().filter(|c| c.holds()).count();
        writeln!(f, "\nInvariants: {holding} of {} hold", self.checks.len())?;
        let mut text = String::new();
        write_checks(&mut text, &self.checks);
        f.write_str(&text)
    }
}
