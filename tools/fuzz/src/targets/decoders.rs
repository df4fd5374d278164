//! The decoders on their own: envelopes and events (every kind), timestamps,
//! KPL deaggregation, and email composition.

use email_notification::compose::{self, Message};
use email_notification::text::MAX_SUBJECT_CHARS;
use kinesis_deagg::{deaggregate, Deaggregated, MAGIC};
use md5::{Digest, Md5};
use order_events::{DedupKey, Envelope, Event, EventId, EventKind, OutgoingRecord, Timestamp};

use crate::engine::{check, Outcome, Target, Violation};
use crate::gen;
use crate::mutate;
use crate::rng::{fnv1a, Rng};

// ------------------------------------------------------------------ envelope

/// `Envelope::parse`, `Envelope::event(kind)` for every kind, the
/// timestamp and the deduplication key; whatever parses is written back
/// with `OutgoingRecord::new` and must parse to the same event.
pub struct EnvelopeTarget;

/// The fixed time outgoing records are written with.
fn written_at() -> Timestamp {
    Timestamp::from_unix_millis(1_761_825_600_000).expect("a valid time")
}

/// An accepted event, written as this project writes events, must parse
/// back to itself, and writing it again must give the same bytes.
pub fn round_trip(event: &Event) -> Result<(), Violation> {
    let kind = event.kind();
    let id = EventId::derived(&["fuzz", kind.as_str()]);
    let out = OutgoingRecord::new(id.clone(), written_at(), event).map_err(|e| {
        Violation::new(
            "an accepted event can be written",
            format!("{kind}: {e}; event {event:?}"),
        )
    })?;
    check(out.kind == kind, "a written record keeps its kind", || {
        format!("{kind} written as {}", out.kind)
    })?;
    check(
        out.partition_key == event.partition_key(),
        "a written record is keyed by its order (or user)",
        || format!("{kind}: key {:?}", out.partition_key),
    )?;
    let text = String::from_utf8_lossy(&out.data).into_owned();
    let env = Envelope::parse(&out.data).map_err(|e| {
        Violation::new(
            "a written record parses back",
            format!("{kind}: {e}; written {text}"),
        )
    })?;
    check(
        env.kind() == Some(kind),
        "a written record parses back",
        || format!("{kind} read back as {:?}; written {text}", env.event_type()),
    )?;
    check(
        env.event_id() == Some(id.as_str()),
        "a written record keeps its eventId",
        || format!("{kind}: read back {:?}", env.event_id()),
    )?;
    match env.timestamp() {
        Ok(Some(at)) if at == written_at() => {}
        other => {
            return Err(Violation::new(
                "a written record keeps its timestamp",
                format!("{kind}: read back {other:?}; written {text}"),
            ))
        }
    }
    let again = env.event(kind).map_err(|e| {
        Violation::new(
            "a written event parses back",
            format!("{kind}: {e}; written {text}"),
        )
    })?;
    check(
        &again == event,
        "a written event parses back to the same event",
        || format!("{kind}: wrote {event:?}, read {again:?}; written {text}"),
    )?;
    let rewritten = OutgoingRecord::new(id, written_at(), &again)
        .map(|r| r.data)
        .unwrap_or_default();
    check(
        rewritten == out.data,
        "writing an event is deterministic",
        || {
            format!(
                "{kind}: first {text}, then {}",
                String::from_utf8_lossy(&rewritten)
            )
        },
    )
}

/// A timestamp that was accepted, written in this project's form, must be
/// read back to the same written form, never later than the original.
pub fn timestamp_round_trip(original: &str, at: Timestamp) -> Result<(), Violation> {
    let written = at.to_rfc3339();
    let again = Timestamp::parse(&written).map_err(|e| {
        Violation::new(
            "an accepted timestamp, written, parses back",
            format!("{original:?} written as {written:?}: {e}"),
        )
    })?;
    check(
        again.to_rfc3339() == written,
        "an accepted timestamp, written, parses back to itself",
        || {
            format!(
                "{original:?} written as {written:?}, read back as {:?}",
                again.to_rfc3339()
            )
        },
    )?;
    check(
        again <= at,
        "writing a timestamp never moves it later",
        || format!("{original:?} written as {written:?}"),
    )?;
    let json = serde_json::to_string(&at).unwrap_or_default();
    let from_json: Result<Timestamp, _> = serde_json::from_str(&json);
    check(
        from_json.as_ref().ok() == Some(&again),
        "a timestamp survives JSON",
        || format!("{original:?} as JSON {json}: {from_json:?}"),
    )
}

impl Target for EnvelopeTarget {
    fn name(&self) -> &'static str {
        "envelope"
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(1, 10) {
            gen::junk(rng)
        } else {
            gen::envelope(rng)
        }
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let env = match Envelope::parse(input) {
            Ok(env) => env,
            Err(err) => {
                let text = err.to_string();
                return Ok(fnv1a(text.split(':').next().unwrap_or_default().as_bytes()));
            }
        };
        let mut signature = 1u64;
        // Deterministic, and the deduplication key follows the rule.
        let again = Envelope::parse(input).map_err(|e| {
            Violation::new(
                "parsing is deterministic",
                format!("second parse failed: {e}"),
            )
        })?;
        check(
            again.dedup_key() == env.dedup_key() && again.event_type() == env.event_type(),
            "parsing is deterministic",
            || "two parses of the same bytes differ".into(),
        )?;
        let expected_key = match env.event_id() {
            Some(id) => DedupKey::EventId(id.to_owned()),
            None => DedupKey::of_data(input),
        };
        check(
            env.dedup_key() == expected_key,
            "the dedup key is the eventId, else the hash of the data",
            || format!("{:?} for eventId {:?}", env.dedup_key(), env.event_id()),
        )?;
        check(
            env.event_id() != Some(""),
            "an empty eventId is no eventId",
            || "empty eventId kept".into(),
        )?;
        check(
            env.kind()
                .map(EventKind::as_str)
                .is_none_or(|k| k == env.event_type()),
            "the kind is the type as written",
            || format!("{:?} read as {:?}", env.event_type(), env.kind()),
        )?;
        match env.timestamp() {
            Ok(Some(at)) => {
                signature |= 2;
                let text = timestamp_text(input).unwrap_or_default();
                timestamp_round_trip(&text, at)?;
            }
            Ok(None) => {}
            Err(_) => signature |= 4,
        }
        for (i, &kind) in EventKind::ALL.iter().enumerate() {
            if let Ok(event) = env.event(kind) {
                signature |= 1 << (8 + i);
                check(
                    event.kind() == kind,
                    "a parsed event has the kind asked for",
                    || format!("asked {kind}, got {}", event.kind()),
                )?;
                round_trip(&event)?;
            }
        }
        Ok(signature ^ u64::from(env.is_command_shape()) << 40)
    }
}

/// The envelope's `timestamp` as written, for messages.
fn timestamp_text(input: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(input).ok()?;
    value.get("timestamp")?.as_str().map(str::to_owned)
}

// ------------------------------------------------------------------ timestamp

/// `Timestamp::parse` on any text.
pub struct TimestampTarget;

impl Target for TimestampTarget {
    fn name(&self) -> &'static str {
        "timestamp"
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        mutate::timestamp(rng).into_bytes()
    }

    fn mutate(&mut self, input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
        if rng.chance(1, 3) {
            // Replace one digit run by another number: the calendar's edges.
            let text = String::from_utf8_lossy(input).into_owned();
            let runs: Vec<(usize, usize)> = digit_runs(&text);
            if !runs.is_empty() {
                let (start, end) = runs[rng.below(runs.len())];
                let width = end - start;
                let value = match rng.below(4) {
                    0 => 0,
                    1 => 10usize.pow(width.min(9) as u32) - 1,
                    2 => rng.below(100),
                    _ => rng.below(10usize.pow(width.min(9) as u32)),
                };
                let digits = format!("{value:0width$}");
                let mut out = text[..start].to_owned();
                out.push_str(&digits);
                out.push_str(&text[end..]);
                *input = out.into_bytes();
                return;
            }
        }
        mutate::mutate_bytes(input, rng, other);
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Ok(text) = std::str::from_utf8(input) else {
            return Ok(0);
        };
        match Timestamp::parse(text) {
            Ok(at) => {
                timestamp_round_trip(text, at)?;
                let year: String = at.to_rfc3339().chars().take(2).collect();
                Ok(1 ^ fnv1a(year.as_bytes()) << 1)
            }
            Err(reason) => {
                Ok(2 ^ fnv1a(reason.split('`').next().unwrap_or_default().as_bytes()) << 2)
            }
        }
    }

    fn max_len(&self) -> usize {
        4096
    }
}

fn digit_runs(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

// ------------------------------------------------------------------ KPL

/// `kinesis_deagg::deaggregate` on any bytes.
pub struct KplTarget;

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() && i >= o && i <= o + outer.len()
        || i >= o && i + inner.len() <= o + outer.len()
}

/// The user records of a valid aggregate, owned.
pub fn user_records_of(data: &[u8]) -> Option<Vec<gen::UserRecord>> {
    match deaggregate(data) {
        Deaggregated::Aggregated(users) => Some(
            users
                .iter()
                .map(|u| gen::UserRecord {
                    partition_key: u.partition_key.unwrap_or_default().to_owned(),
                    explicit_hash_key: u.explicit_hash_key.map(str::to_owned),
                    data: u.data.to_vec(),
                })
                .collect(),
        ),
        Deaggregated::Single { .. } => None,
    }
}

/// Mutates an aggregate so that mutations get past the digest: a user
/// record's data, or the protobuf body (then sealed with a fresh digest).
pub fn mutate_kpl(input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
    let body_ok = input.len() > MAGIC.len() + 16 && input.starts_with(&MAGIC);
    match rng.below(6) {
        0 | 1 => {
            if let Some(mut records) = user_records_of(input) {
                match rng.below(4) {
                    0 if !records.is_empty() => {
                        records.remove(rng.below(records.len()));
                    }
                    1 => {
                        let count = rng.range(1, 3);
                        records.extend(gen::user_records(rng, count));
                    }
                    _ if !records.is_empty() => {
                        let i = rng.below(records.len());
                        mutate::mutate_document(&mut records[i].data, rng, other);
                    }
                    _ => {}
                }
                *input = gen::aggregate(&records, rng);
                return;
            }
            mutate::mutate_bytes(input, rng, other);
        }
        2 | 3 if body_ok => {
            let mut body = input[MAGIC.len()..input.len() - 16].to_vec();
            for _ in 0..rng.range(1, 3) {
                mutate::mutate_bytes(&mut body, rng, None);
            }
            *input = gen::seal(&body);
        }
        4 => {
            // Aggregates inside aggregates, and magic in the data.
            let records = vec![gen::UserRecord {
                partition_key: "o-1".into(),
                explicit_hash_key: None,
                data: input.clone(),
            }];
            *input = gen::aggregate(&records, rng);
        }
        _ => mutate::mutate_bytes(input, rng, other),
    }
}

impl Target for KplTarget {
    fn name(&self) -> &'static str {
        "kpl"
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        match rng.below(10) {
            0 => gen::junk(rng),
            1 => gen::envelope(rng),
            2 => {
                let count = rng.range(1, 4);
                let records = gen::user_records(rng, count);
                let mut data = gen::aggregate(&records, rng);
                let cut = rng.below(data.len());
                data.truncate(cut);
                data
            }
            _ => {
                let count = rng.range(0, 6);
                let records = gen::user_records(rng, count);
                gen::aggregate(&records, rng)
            }
        }
    }

    fn mutate(&mut self, input: &mut Vec<u8>, rng: &mut Rng, other: Option<&[u8]>) {
        mutate_kpl(input, rng, other);
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        match deaggregate(input) {
            Deaggregated::Single { data, reason } => {
                check(
                    data.as_ptr() == input.as_ptr() && data.len() == input.len(),
                    "a record passed through is the whole input",
                    || format!("{} of {} bytes passed through", data.len(), input.len()),
                )?;
                check(
                    reason.is_some() == input.starts_with(&MAGIC),
                    "a pass-through names its reason exactly when the magic is there",
                    || format!("reason {reason:?}"),
                )?;
                Ok(match reason {
                    None => 1,
                    Some(reason) => 2 ^ fnv1a(format!("{reason:?}").as_bytes()) << 2,
                })
            }
            Deaggregated::Aggregated(users) => {
                check(
                    input.starts_with(&MAGIC),
                    "only magic data is deaggregated",
                    || "aggregate without the magic".into(),
                )?;
                let body = &input[MAGIC.len()..input.len().saturating_sub(16).max(MAGIC.len())];
                check(
                    input.len() > MAGIC.len() + 16
                        && Md5::digest(body).as_slice() == &input[input.len() - 16..],
                    "only aggregates with a matching digest are deaggregated",
                    || "digest mismatch accepted".into(),
                )?;
                for (i, user) in users.iter().enumerate() {
                    check(
                        within(body, user.data),
                        "user record data lies within the input",
                        || format!("record {i}: {} bytes outside the input", user.data.len()),
                    )?;
                    check(
                        user.partition_key
                            .is_some_and(|k| within(body, k.as_bytes())),
                        "user record partition keys lie within the input",
                        || format!("record {i}: key {:?}", user.partition_key),
                    )?;
                    check(
                        user.explicit_hash_key
                            .is_none_or(|k| within(body, k.as_bytes())),
                        "user record hash keys lie within the input",
                        || format!("record {i}: hash key {:?}", user.explicit_hash_key),
                    )?;
                    check(
                        user.sub_sequence_number == i as u64,
                        "sub-sequence numbers count from 0",
                        || format!("record {i} numbered {}", user.sub_sequence_number),
                    )?;
                }
                // What was read, written again, reads the same.
                let owned = user_records_of(input).unwrap_or_default();
                let mut rng = Rng::new(fnv1a(input));
                let again = gen::aggregate(&owned, &mut rng);
                check(
                    user_records_of(&again).as_ref() == Some(&owned),
                    "re-aggregated user records deaggregate to themselves",
                    || format!("{} records", owned.len()),
                )?;
                Ok(3 ^ (users.len().min(8) as u64) << 2)
            }
        }
    }
}

// ------------------------------------------------------------------ compose

/// The emails composed from any event that parses as one of the four
/// email-worthy kinds.
pub struct ComposeTarget;

/// Largest HTML part: 50 lines of 128-character product ids, every
/// character escaped, with 29-digit amounts, fit well inside.
pub const MAX_HTML_BYTES: usize = 96 * 1024;
/// Largest plain-text part.
pub const MAX_TEXT_BYTES: usize = 48 * 1024;

/// The properties of one composed email.
pub fn check_message(what: &str, message: &Message) -> Result<(), Violation> {
    let subject = &message.subject;
    check(
        !subject.contains(['\r', '\n']),
        "subjects never contain CR or LF",
        || format!("{what}: subject {subject:?}"),
    )?;
    check(
        !subject
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')),
        "subjects are one line",
        || format!("{what}: subject {subject:?}"),
    )?;
    check(
        !subject.is_empty() && subject.chars().count() <= MAX_SUBJECT_CHARS,
        "subjects are non-empty and bounded",
        || format!("{what}: subject of {} chars", subject.chars().count()),
    )?;
    check(
        message.html.len() <= MAX_HTML_BYTES,
        "bodies are bounded",
        || format!("{what}: HTML part of {} bytes", message.html.len()),
    )?;
    check(
        message.text.len() <= MAX_TEXT_BYTES,
        "bodies are bounded",
        || format!("{what}: text part of {} bytes", message.text.len()),
    )?;
    check(
        !message.html.contains("<fz>") && !message.html.contains("<script"),
        "event text is escaped in HTML",
        || format!("{what}: raw tag in the HTML part"),
    )
}

impl Target for ComposeTarget {
    fn name(&self) -> &'static str {
        "compose"
    }

    fn generate(&mut self, rng: &mut Rng) -> Vec<u8> {
        let kind = *rng.pick(&[
            "USER_REGISTERED",
            "ORDER_PLACED",
            "ORDER_COMPLETED",
            "ORDER_FAILED",
        ]);
        gen::envelope_of(kind, "o-1", rng)
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Ok(env) = Envelope::parse(input) else {
            return Ok(0);
        };
        let mut signature = 1u64;
        let render =
            |e: compose::RenderError| Violation::new("templates always render", e.to_string());
        for (i, kind) in [
            EventKind::UserRegistered,
            EventKind::OrderPlaced,
            EventKind::OrderCompleted,
            EventKind::OrderFailed,
        ]
        .into_iter()
        .enumerate()
        {
            let Ok(event) = env.event(kind) else {
                continue;
            };
            signature |= 2 << i;
            let (what, message) = match &event {
                Event::UserRegistered(user) => {
                    let message = compose::welcome(user).map_err(render)?;
                    check(
                        message.subject == "Welcome!" || message.subject.starts_with("Welcome, "),
                        "the welcome subject greets",
                        || format!("subject {:?}", message.subject),
                    )?;
                    ("welcome", message)
                }
                Event::OrderPlaced(order) => (
                    "order confirmation",
                    compose::order_placed(order).map_err(render)?,
                ),
                Event::OrderCompleted(order) => (
                    "order completed",
                    compose::order_completed(&order.order_id).map_err(render)?,
                ),
                Event::OrderFailed(order) => (
                    "order failed",
                    compose::order_failed(&order.order_id, &order.reason).map_err(render)?,
                ),
                _ => continue,
            };
            check_message(what, &message)?;
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_checks_catch_unsafe_subjects_and_raw_tags() {
        let ok = Message {
            subject: "Order o-1 confirmed".into(),
            html: "<p>o-1</p>".into(),
            text: "o-1".into(),
        };
        assert!(check_message("t", &ok).is_ok());
        let property = |m: Message| check_message("t", &m).unwrap_err().property;
        let crlf = Message {
            subject: "Hi\r\nBcc: x@evil.com".into(),
            ..ok.clone()
        };
        assert_eq!(property(crlf), "subjects never contain CR or LF");
        let separator = Message {
            subject: "Hi\u{2028}there".into(),
            ..ok.clone()
        };
        assert_eq!(property(separator), "subjects are one line");
        let long = Message {
            subject: "x".repeat(MAX_SUBJECT_CHARS + 1),
            ..ok.clone()
        };
        assert_eq!(property(long), "subjects are non-empty and bounded");
        let huge = Message {
            text: "x".repeat(MAX_TEXT_BYTES + 1),
            ..ok.clone()
        };
        assert_eq!(property(huge), "bodies are bounded");
        let raw = Message {
            html: "<p><fz></p>".into(),
            ..ok
        };
        assert_eq!(property(raw), "event text is escaped in HTML");
    }

    #[test]
    fn slices_are_within_their_buffer_only_when_they_are() {
        let buffer = b"hello world".to_vec();
        assert!(within(&buffer, &buffer[2..5]));
        assert!(within(&buffer, &buffer[11..]));
        let other = b"hello".to_vec();
        assert!(!within(&buffer, &other));
    }

    #[test]
    fn round_trip_accepts_what_is_written_exactly() {
        let event = Event::parse(
            EventKind::OrderPlaced,
            r#"{"orderId":"o-1","userId":"u-1","items":[{"productId":"p-1","quantity":2,"price":"19.99"}],"total":39.98}"#,
        )
        .unwrap();
        assert!(round_trip(&event).is_ok());
        let at = Timestamp::parse("2025-10-30T14:00:00.123456+02:00").unwrap();
        assert!(timestamp_round_trip("2025-10-30T14:00:00.123456+02:00", at).is_ok());
    }
}
