//! Targets over the whole path: a scripted handler (every fate the core
//! knows, observed record by record), and the three functions' real
//! handlers wired to their in-memory fakes, so their domain code is fuzzed
//! too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use email_notification::{Config, EmailHandler, FakeMailSender, InMemoryAddressBook, SendError};
use inventory_update::{InMemoryStockStore, InventoryHandler};
use order_events::{EmailAddress, EventId, EventKind, OrderId, OutgoingRecord, Timestamp, UserId};
use order_saga_step::{InMemorySagaStore, SagaHandler};
use stream_core::{
    BatchOutcome, DeadLetter, DeadLetterSink, FakePutRecords, Handled, Handler, HandlerError,
    InMemoryDeadLetters, InMemoryIdempotencyStore, IncomingEvent, KinesisEvent, OrderedPublisher,
    Pipeline, RecordPublisher, SplitPublisher,
};

use crate::engine::{check, Outcome, Target, Violation};
use crate::gen::PRODUCTS;
use crate::rng::{fnv1a, Rng};
use crate::targets::batch::{self, Case, Read, Unit};
use crate::targets::decoders::check_message;

/// A target over a whole batch: generated, mutated and reduced as Lambda
/// `KinesisEvent`s and run on a runtime made anew after a reset; its own
/// `check_batch` checks the properties.
macro_rules! batch_target {
    ($(#[$doc:meta])* $target:ident, $name:literal) => {
        $(#[$doc])*
        pub struct $target {
            runtime: tokio::runtime::Runtime,
        }

        impl $target {
            pub fn new() -> Self {
                Self {
                    runtime: batch::runtime(),
                }
            }
        }

        impl Default for $target {
            fn default() -> Self {
                Self::new()
            }
        }

        impl Target for $target {
            fn name(&self) -> &'static str {
                $name
            }

            fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
                batch::generate(rng)
            }

            fn mutate(&mut self, input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
                batch::mutate(input, rng, other);
            }

            fn reset(&mut self) {
                self.runtime = batch::runtime();
            }

            fn reductions(&self, input: &[u8]) -> Vec<Vec<u8>> {
                batch::reductions(input)
            }

            fn max_len(&self) -> usize {
                4 << 20
            }

            fn run(&mut self, input: &[u8]) -> Outcome {
                let Some(event) = batch::deserialise(input) else {
                    return Ok(0);
                };
                let case = Case::of(input);
                let units = batch::units_of(&event);
                self.check_batch(Batch {
                    event: &event,
                    case: &case,
                    units: &units,
                })
            }
        }
    };
}

fn dead_letters(case: &Case) -> Arc<InMemoryDeadLetters> {
    let sink = Arc::new(InMemoryDeadLetters::default());
    sink.fail_sends(case.dead_letters_down);
    sink
}

fn put_records(case: &Case) -> Arc<FakePutRecords> {
    let fails = case.publish_fails;
    Arc::new(FakePutRecords::failing(move |_, record| {
        Case::fails_entry(fails, record)
    }))
}

/// One input as every batch target reads it.
#[derive(Clone, Copy)]
struct Batch<'a> {
    event: &'a KinesisEvent,
    case: &'a Case,
    /// The batch's user records, aggregates unpacked.
    units: &'a [Unit],
}

/// Delivers the batch once, or twice when the case redelivers it, and
/// checks each delivery's outcome with the dead letters it added; `each`
/// checks the rest (given the delivery, its outcome and every dead letter
/// so far) and returns what it adds to the outcome signature.
fn deliver<H: Handler, D: DeadLetterSink, P: RecordPublisher>(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Pipeline<H, D, P>,
    sink: &InMemoryDeadLetters,
    batch: Batch<'_>,
    mut each: impl FnMut(usize, &BatchOutcome, &[DeadLetter]) -> Result<u64, Violation>,
) -> Result<u64, Violation> {
    let Batch { event, case, units } = batch;
    let deliveries = if case.redeliver { 2 } else { 1 };
    let mut signature = 0;
    for delivery in 0..deliveries {
        let before = sink.letters().len();
        let outcome = batch::process(runtime, pipeline, event, case);
        let letters = sink.letters();
        batch::check_outcome(event, units, &outcome, &letters[before..], case)?;
        let extra = each(delivery, &outcome, &letters)?;
        signature = batch::outcome_signature(&outcome, signature ^ extra);
    }
    Ok(signature)
}

// ------------------------------------------------------------------ scripted

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Done,
    Duplicate,
    Skipped,
    Transient,
    Permanent,
}

#[derive(Debug, Clone)]
struct Call {
    seq: String,
    sub: Option<u64>,
    kind: EventKind,
    act: Act,
    emitted: Vec<EventId>,
}

/// A handler whose answer to each event is drawn from the event and the
/// case: done, done with records to publish, duplicate, skipped, transient
/// or permanent failure. It logs every call.
struct Scripted {
    salt: u64,
    unhandled: u32,
    calls: Mutex<Vec<Call>>,
    emitted: AtomicU64,
}

fn kind_bit(kind: EventKind) -> u32 {
    let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    1 << index
}

impl Handler for Scripted {
    fn handles(&self, kind: EventKind) -> bool {
        self.unhandled & kind_bit(kind) == 0
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        let origin = &incoming.origin;
        let h = fnv1a(
            format!(
                "{}|{:?}|{}",
                origin.sequence_number, origin.sub_sequence_number, incoming.dedup_key
            )
            .as_bytes(),
        ) ^ self.salt;
        if h & 0x30 == 0 {
            tokio::task::yield_now().await;
        }
        let (act, emits) = match (h >> 8) % 20 {
            0..=9 => (Act::Done, 0),
            10 | 11 => (Act::Done, 1 + (h >> 16) % 2),
            12 => (Act::Duplicate, (h >> 16) % 2),
            13 => (Act::Skipped, 0),
            14 | 15 => (Act::Transient, 0),
            16 | 17 => (Act::Permanent, 0),
            _ => (Act::Done, 0),
        };
        let mut records = Vec::new();
        for _ in 0..emits {
            let n = self.emitted.fetch_add(1, Ordering::Relaxed);
            let id = EventId::derived(&["fuzz-emit", &n.to_string(), &self.salt.to_string()]);
            let at = Timestamp::from_unix_millis(1_761_825_600_000).unwrap_or_else(Timestamp::now);
            let record = OutgoingRecord::new(id, at, &incoming.event)
                .map_err(|e| HandlerError::transient(anyhow::anyhow!("{e}")))?;
            records.push(record);
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                seq: origin.sequence_number.clone(),
                sub: origin.sub_sequence_number,
                kind: incoming.event.kind(),
                act,
                emitted: records.iter().map(|r| r.event_id.clone()).collect(),
            });
        }
        match act {
            Act::Done => Ok(Handled::Done { emit: records }),
            Act::Duplicate => Ok(Handled::Duplicate { emit: records }),
            Act::Skipped => Ok(Handled::Skipped { reason: "scripted" }),
            Act::Transient => Err(HandlerError::transient(anyhow::anyhow!("scripted"))),
            Act::Permanent => Err(HandlerError::permanent("scripted")),
        }
    }
}

batch_target!(
    /// The pipeline with a scripted handler: checks, record by record, that
    /// nothing is lost (every record not reported was settled: handled,
    /// skipped or dead-lettered), nothing runs twice, per-key order holds and
    /// nothing runs after its key failed.
    PipelineTarget,
    "kinesis-event"
);

impl PipelineTarget {
    // Long: the record-by-record settlement account, which reads as one.
    fn check_batch(&mut self, batch: Batch<'_>) -> Outcome {
        let Batch { event, case, units } = batch;
        let handler = Scripted {
            salt: case.salt,
            // Mostly everything; sometimes a few kinds are not this
            // function's.
            unhandled: if (case.salt >> 40) % 3 == 0 {
                (case.salt >> 44) as u32 & 0x7_ffff
            } else {
                0
            },
            calls: Mutex::new(Vec::new()),
            emitted: AtomicU64::new(0),
        };
        let sink = dead_letters(case);
        let put = put_records(case);
        let pipeline = Pipeline::new(handler, sink.clone(), case.pipeline_config())
            .with_dead_letter_retry(batch::no_wait(2))
            .with_publisher(OrderedPublisher::new(put.clone(), batch::no_wait(2)));
        let outcome = batch::process(&self.runtime, &pipeline, event, case);
        let letters = sink.letters();
        batch::check_outcome(event, units, &outcome, &letters, case)?;
        batch::check_written(&put.landed())?;

        let handler = pipeline.handler();
        let calls = handler.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let landed: Vec<EventId> = put.landed().into_iter().map(|r| r.event_id).collect();
        let reads: Vec<Read> = units.iter().map(|u| batch::read(&u.data)).collect();
        let reported: Vec<&str> = outcome.failed_sequence_numbers();
        check_calls(units, &reads, &calls, case, |kind| handler.handles(kind))?;

        // Settled user records, per (sequence number, sub-sequence number).
        let mut settled: HashMap<(&str, Option<u64>), usize> = HashMap::new();
        for call in &calls {
            let ok = match call.act {
                Act::Done | Act::Duplicate => call.emitted.iter().all(|id| landed.contains(id)),
                Act::Skipped => true,
                Act::Transient | Act::Permanent => false,
            };
            if ok {
                *settled.entry((call.seq.as_str(), call.sub)).or_default() += 1;
            }
            let must_retry = match call.act {
                Act::Transient => true,
                Act::Permanent => case.dead_letters_down,
                Act::Done | Act::Duplicate | Act::Skipped => !ok,
            };
            if must_retry {
                check(
                    reported.contains(&call.seq.as_str()),
                    "a failed record is reported",
                    || {
                        format!(
                            "{:?} failed ({:?}) but was not reported",
                            call.seq, call.act
                        )
                    },
                )?;
            }
        }
        for letter in &letters {
            *settled
                .entry((letter.sequence_number.as_str(), letter.sub_sequence_number))
                .or_default() += 1;
        }
        for (unit, read) in units.iter().zip(&reads) {
            let skipped = match read {
                Read::Unknown => true,
                Read::Kind { kind, .. } => !handler.handles(*kind),
                Read::Undecodable => false,
            };
            if skipped && !case.deadline_passed {
                *settled.entry((unit.seq.as_str(), unit.sub)).or_default() += 1;
            }
        }
        let mut needed: HashMap<(&str, Option<u64>), usize> = HashMap::new();
        for unit in units {
            *needed.entry((unit.seq.as_str(), unit.sub)).or_default() += 1;
        }
        for ((seq, sub), count) in &needed {
            if reported.contains(seq) {
                continue;
            }
            let got = settled.get(&(*seq, *sub)).copied().unwrap_or(0);
            check(
                got >= *count,
                "a record is settled or reported, never lost",
                || {
                    format!(
                        "{seq:?}/{sub:?}: {count} user record(s), {got} settled, not reported ({:?})",
                        outcome.report
                    )
                },
            )?;
        }
        let acts = calls
            .iter()
            .fold(0u64, |s, c| s.wrapping_mul(7).wrapping_add(c.act as u64));
        Ok(batch::outcome_signature(&outcome, acts % 97))
    }
}

/// The handler saw only what it should, each record once, in key order,
/// and nothing after its key failed.
fn check_calls(
    units: &[Unit],
    reads: &[Read],
    calls: &[Call],
    case: &Case,
    handles: impl Fn(EventKind) -> bool,
) -> Result<(), Violation> {
    check(
        !case.deadline_passed || calls.is_empty(),
        "no record starts past the deadline",
        || format!("{} calls", calls.len()),
    )?;
    let mut index: HashMap<(&str, Option<u64>), Vec<usize>> = HashMap::new();
    for (i, unit) in units.iter().enumerate() {
        index
            .entry((unit.seq.as_str(), unit.sub))
            .or_default()
            .push(i);
    }
    let mut seen: HashMap<(&str, Option<u64>), usize> = HashMap::new();
    for call in calls {
        check(
            handles(call.kind),
            "the handler sees only kinds it handles",
            || format!("{} for {:?}", call.kind, call.seq),
        )?;
        let key = (call.seq.as_str(), call.sub);
        let n = seen.entry(key).or_default();
        *n += 1;
        let available = index.get(&key).map_or(0, Vec::len);
        check(
            *n <= available,
            "each record is handled at most once",
            || format!("{key:?} handled {n} times for {available} record(s)"),
        )?;
    }
    // Order and stops, where records are told apart by position alone.
    if index.values().any(|v| v.len() > 1) {
        return Ok(());
    }
    let position = |call: &Call| {
        index
            .get(&(call.seq.as_str(), call.sub))
            .and_then(|v| v.first().copied())
    };
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut stopped: HashMap<&str, usize> = HashMap::new();
    // Records that fail before reaching the handler when the dead-letter
    // queue is down stop their key too.
    if case.dead_letters_down {
        for (i, (unit, read)) in units.iter().zip(reads).enumerate() {
            let dead = match read {
                Read::Undecodable => true,
                Read::Kind { kind, valid } => handles(*kind) && !valid,
                Read::Unknown => false,
            };
            if dead {
                stopped.entry(unit.key.as_str()).or_insert(i);
            }
        }
    }
    for call in calls {
        let Some(i) = position(call) else { continue };
        let key = units[i].key.as_str();
        if let Some(&before) = last.get(key) {
            check(i > before, "records of one key run in stream order", || {
                format!("key {key:?}: record {i} ran after record {before}")
            })?;
        }
        if let Some(&stop) = stopped.get(key) {
            check(
                i < stop,
                "after a failure no later record of its key runs",
                || format!("key {key:?}: record {i} ran after record {stop} failed"),
            )?;
        }
        last.insert(key, i);
        let fails =
            call.act == Act::Transient || call.act == Act::Permanent && case.dead_letters_down;
        if fails {
            let entry = stopped.entry(key).or_insert(i);
            *entry = (*entry).min(i);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ inventory-update

batch_target!(
    /// inventory-update's handler over its in-memory stock store: stock is
    /// conserved and never negative, whatever the batch.
    InventoryTarget,
    "inventory-update"
);

impl InventoryTarget {
    fn check_batch(&mut self, batch: Batch<'_>) -> Outcome {
        let Batch { case, units, .. } = batch;
        let initial: Vec<(&str, i64)> = PRODUCTS
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, ((case.salt >> (8 * i)) % 12) as i64))
            .collect();
        let stock = Arc::new(InMemoryStockStore::with_stock(initial.iter().copied()));
        let replies = Arc::new(InMemoryIdempotencyStore::default());
        let sink = dead_letters(case);
        let put = put_records(case);
        let handler =
            InventoryHandler::new(stock.clone(), replies).with_retry_policy(batch::no_wait(2));
        let pipeline = inventory_update::assemble(
            handler,
            sink.clone(),
            OrderedPublisher::new(put.clone(), batch::no_wait(2)),
            case.pipeline_config(),
        )
        .with_dead_letter_retry(batch::no_wait(2));
        let orders = batch::order_ids(units);
        let signature = deliver(
            &self.runtime,
            &pipeline,
            &sink,
            batch,
            |delivery, outcome, letters| {
                let in_delivery = |v: Violation| {
                    Violation::new(
                        v.property,
                        format!("delivery {}: {}", delivery + 1, v.detail),
                    )
                };
                check_stock(&stock, &initial, &orders).map_err(in_delivery)?;
                check_replies(
                    units,
                    &outcome.failed_sequence_numbers(),
                    letters,
                    &put.landed(),
                )
                .map_err(in_delivery)?;
                Ok(0)
            },
        )?;
        let landed = put.landed();
        batch::check_written(&landed)?;
        for record in &landed {
            check(
                matches!(
                    record.kind,
                    EventKind::InventoryReserved
                        | EventKind::InventoryReservationFailed
                        | EventKind::InventoryReleased
                ),
                "inventory-update writes only inventory replies",
                || format!("wrote {}", record.kind),
            )?;
        }
        Ok(signature)
    }
}

/// Every command that was acknowledged (neither reported for retry nor
/// dead-lettered) was answered, and a reply id always carries the same reply.
fn check_replies(
    units: &[Unit],
    reported: &[&str],
    letters: &[stream_core::DeadLetter],
    landed: &[OutgoingRecord],
) -> Result<(), Violation> {
    let mut replies: HashMap<&str, &OutgoingRecord> = HashMap::new();
    for record in landed {
        if let Some(first) = replies.insert(record.event_id.as_str(), record) {
            check(
                first.data == record.data,
                "a redelivered command gets the very same reply",
                || {
                    format!(
                        "{}: {} then {}",
                        record.event_id,
                        String::from_utf8_lossy(&first.data),
                        String::from_utf8_lossy(&record.data)
                    )
                },
            )?;
        }
    }
    for unit in units {
        let is_command = matches!(
            batch::read(&unit.data),
            Read::Kind {
                kind: EventKind::ReserveInventory | EventKind::ReleaseInventory,
                valid: true,
            }
        );
        if !is_command || reported.contains(&unit.seq.as_str()) {
            continue;
        }
        let dead = letters
            .iter()
            .any(|l| l.sequence_number == unit.seq && l.sub_sequence_number == unit.sub);
        if dead {
            continue;
        }
        let Ok(env) = order_events::Envelope::parse(&unit.data) else {
            continue;
        };
        let id = inventory_update::reply::StoredReply::event_id(&env.dedup_key());
        check(
            replies.contains_key(id.as_str()),
            "every acknowledged command is answered",
            || {
                format!(
                    "{:?}/{:?} ({}) acknowledged without reply {id}",
                    unit.seq,
                    unit.sub,
                    env.event_type()
                )
            },
        )?;
    }
    Ok(())
}

fn check_stock(
    stock: &InMemoryStockStore,
    initial: &[(&str, i64)],
    orders: &[String],
) -> Result<(), Violation> {
    let mut held: HashMap<String, i64> = HashMap::new();
    for order in orders {
        for line in stock.reserved_lines(order).unwrap_or_default() {
            *held.entry(line.product_id.as_str().to_owned()).or_default() +=
                i64::from(line.quantity.get());
        }
    }
    for &(product, units) in initial {
        let available = stock.available(product).unwrap_or(i64::MIN);
        check(available >= 0, "stock never goes below zero", || {
            format!("{product}: {available} available")
        })?;
        let reserved = held.get(product).copied().unwrap_or(0);
        check(
            available + reserved == units,
            "stock is conserved: available + reserved = initial",
            || format!("{product}: {available} available + {reserved} reserved != {units}"),
        )?;
    }
    Ok(())
}

// ------------------------------------------------------------------ email-notification

type EmailPipeline = Pipeline<
    EmailHandler<Arc<FakeMailSender>, Arc<InMemoryAddressBook>, Arc<InMemoryIdempotencyStore>>,
    Arc<InMemoryDeadLetters>,
>;

batch_target!(
    /// email-notification's handler over its fakes: every email sent is safe
    /// to send, and no (kind, order or user) gets two, even when the batch is
    /// delivered twice.
    EmailTarget,
    "email-notification"
);

const SENDER: &str = "orders@shop.example.com";

impl EmailTarget {
    fn check_batch(&mut self, batch: Batch<'_>) -> Outcome {
        let case = batch.case;
        let mail = Arc::new(FakeMailSender::default());
        match (case.salt >> 40) % 8 {
            0 => mail.fail_next([
                SendError::Throttled("TooManyRequestsException".into()),
                SendError::Unavailable("InternalFailure".into()),
            ]),
            1 => mail.fail_next([SendError::Rejected("MessageRejected".into())]),
            _ => {}
        }
        let addresses = Arc::new(InMemoryAddressBook::default());
        if (case.salt >> 44) % 2 == 0 {
            let user = UserId::parse("u-1").map_err(|e| Violation::new("set-up", e))?;
            let email =
                EmailAddress::parse("ada@example.com").map_err(|e| Violation::new("set-up", e))?;
            self.runtime
                .block_on(email_notification::AddressBook::remember(
                    &*addresses,
                    &user,
                    &email,
                ))
                .map_err(|e| Violation::new("set-up", e.to_string()))?;
        }
        let store = Arc::new(InMemoryIdempotencyStore::default());
        let from = EmailAddress::parse(SENDER).map_err(|e| Violation::new("set-up", e))?;
        let mut settings = Config::new(from);
        settings.send_retry = batch::no_wait(3);
        settings.lookup_retry = batch::no_wait(2);
        let sink = dead_letters(case);
        let handler = EmailHandler::new(mail.clone(), addresses, store.clone(), settings);
        let pipeline: EmailPipeline = Pipeline::new(handler, sink.clone(), case.pipeline_config())
            .with_dead_letter_retry(batch::no_wait(2));
        let signature = deliver(
            &self.runtime,
            &pipeline,
            &sink,
            batch,
            |delivery, outcome, _| {
                check(
                    outcome.report.unpublished == 0,
                    "email-notification emits no records",
                    || format!("{:?}", outcome.report),
                )?;
                let sent = mail.sent();
                check(
                    sent.len() == store.len(),
                    "at most one email per (kind, order or user), each one remembered",
                    || {
                        format!(
                            "delivery {}: {} emails sent, {} idempotency records",
                            delivery + 1,
                            sent.len(),
                            store.len()
                        )
                    },
                )?;
                Ok(sent.len().min(4) as u64)
            },
        )?;
        for email in mail.sent() {
            check(
                email.from.as_str() == SENDER,
                "emails come from the sender",
                || format!("from {:?}", email.from),
            )?;
            check(
                EmailAddress::parse(email.to.as_str()).is_ok(),
                "emails go to one valid address",
                || format!("to {:?}", email.to),
            )?;
            check_message(
                "email",
                &email_notification::compose::Message {
                    subject: email.subject.clone(),
                    html: email.html.clone(),
                    text: email.text.clone(),
                },
            )?;
        }
        Ok(signature)
    }
}

// ------------------------------------------------------------------ order-saga-step

/// Records are derived with the same eventId every time they are sent, so
/// one eventId must always carry the same type and payload (consumers drop
/// the second as a duplicate).
fn check_same_id_same_record(records: &[OutgoingRecord]) -> Result<(), Violation> {
    let mut seen: HashMap<&str, (EventKind, String)> = HashMap::new();
    for record in records {
        let payload = order_events::Envelope::parse(&record.data)
            .map(|env| env.payload_text().to_owned())
            .unwrap_or_default();
        if let Some((kind, first)) = seen.get(record.event_id.as_str()) {
            check(
                *kind == record.kind && *first == payload,
                "one eventId always carries the same record",
                || {
                    format!(
                        "{}: {kind} {first} then {} {payload}",
                        record.event_id, record.kind
                    )
                },
            )?;
        } else {
            seen.insert(record.event_id.as_str(), (record.kind, payload));
        }
    }
    Ok(())
}

type Publisher =
    SplitPublisher<OrderedPublisher<Arc<FakePutRecords>>, OrderedPublisher<Arc<FakePutRecords>>>;

batch_target!(
    /// order-saga-step's handler over its in-memory saga store: commands go to
    /// the commands stream, outcomes to the events stream, all valid.
    SagaTarget,
    "order-saga-step"
);

impl SagaTarget {
    fn check_batch(&mut self, batch: Batch<'_>) -> Outcome {
        let case = batch.case;
        let store = Arc::new(InMemorySagaStore::new());
        let sink = dead_letters(case);
        let (commands, events) = (put_records(case), put_records(case));
        let publisher: Publisher = SplitPublisher {
            commands: OrderedPublisher::new(commands.clone(), batch::no_wait(2)),
            events: OrderedPublisher::new(events.clone(), batch::no_wait(2)),
        };
        let pipeline = Pipeline::new(
            SagaHandler::new(store.clone()).with_race_policy(batch::no_wait(3)),
            sink.clone(),
            case.pipeline_config(),
        )
        .with_dead_letter_retry(batch::no_wait(2))
        .with_publisher(publisher);
        let signature = deliver(&self.runtime, &pipeline, &sink, batch, |_, _, _| Ok(0))?;
        let (commands, events) = (commands.landed(), events.landed());
        batch::check_written(&commands)?;
        batch::check_written(&events)?;
        check_same_id_same_record(&commands)?;
        check_same_id_same_record(&events)?;
        check(
            commands.iter().all(|r| r.kind.is_command())
                && events.iter().all(|r| !r.kind.is_command()),
            "commands go to the commands stream, events to the events stream",
            || "a record on the wrong stream".into(),
        )?;
        for record in store.all() {
            check(
                OrderId::parse(record.saga.order_id.as_str()).is_ok(),
                "stored sagas are keyed by a valid order id",
                || format!("{:?}", record.saga.order_id),
            )?;
            batch::check_written(&record.outbox)?;
        }
        Ok(signature ^ (commands.len().min(8) as u64) << 48)
    }
}
