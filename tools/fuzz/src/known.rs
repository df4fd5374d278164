//! Findings in code outside this crate that are known and not fixed yet.
//!
//! A finding listed here is still reported on every run (with its id), but
//! does not fail `make fuzz-ci`, `make fuzz` or `cargo test` unless
//! `--strict` is given, so CI stays green while the owning crate is being
//! fixed. Each entry keeps its reproducing input under
//! `corpus/<target>/known-<id>*`; the corpus test checks that such an input
//! either passes (the bug was fixed: delete the entry) or fails exactly as
//! described here.

use crate::engine::{Violation, PANIC};

#[derive(Debug)]
pub struct Known {
    /// Short, stable id; also the prefix of its corpus files.
    pub id: &'static str,
    /// Targets it shows in.
    pub targets: &'static [&'static str],
    /// Whether a violation is this finding (narrow: property and detail).
    pub matches: fn(&Violation) -> bool,
    /// Where the bug is and what it does.
    pub summary: &'static str,
}

fn money_through_f64(v: &Violation) -> bool {
    match v.property {
        // Read back as another amount, or as no amount at all.
        "a written event parses back"
        | "a written event parses back to the same event"
        | "written records are valid events" => {
            v.detail.contains("Money(") || v.detail.contains("is not a decimal amount")
        }
        // Written twice, the two texts differ in their numbers only.
        "writing an event is deterministic" => differ_in_numbers_only(&v.detail),
        _ => false,
    }
}

/// For a detail `...first <json>, then <json>`: the two documents differ,
/// but not once their numbers are set aside.
fn differ_in_numbers_only(detail: &str) -> bool {
    fn first_document(text: &str) -> Option<serde_json::Value> {
        serde_json::Deserializer::from_str(text)
            .into_iter::<serde_json::Value>()
            .next()?
            .ok()
    }
    fn without_numbers(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Number(_) => *value = serde_json::Value::Null,
            serde_json::Value::Array(items) => items.iter_mut().for_each(without_numbers),
            serde_json::Value::Object(map) => map.values_mut().for_each(without_numbers),
            _ => {}
        }
    }
    let Some((_, rest)) = detail.split_once("first ") else {
        return false;
    };
    let Some(mut first) = first_document(rest) else {
        return false;
    };
    let Some((first_text, second_text)) = rest.split_once("}, then ") else {
        return false;
    };
    let Some(mut second) = first_document(second_text) else {
        return false;
    };
    // Compared as text: two number literals may parse to one f64.
    if format!("{first_text}}}") == second_text {
        return false;
    }
    without_numbers(&mut first);
    without_numbers(&mut second);
    first == second
}

fn negative_year(v: &Violation) -> bool {
    v.property
        .starts_with("an accepted timestamp, written, parses back")
        && v.detail.contains("written as \"-")
}

fn arrival_overflow(v: &Violation) -> bool {
    v.property == PANIC
        && v.detail.contains("aws_lambda_events")
        && v.detail.contains("encodings/time.rs")
}

pub static KNOWN: &[Known] = &[
    Known {
        id: "money-written-as-float",
        targets: &[
            "envelope",
            "kinesis-event",
            "inventory-update",
            "order-saga-step",
        ],
        matches: money_through_f64,
        summary: "order-events: OutgoingRecord::new writes the payload through \
                  serde_json::Value (Event::payload_json), which turns every Money \
                  into an f64: amounts beyond ~15 significant digits are altered \
                  (18446744073709551616 is written as 1.8446744073709552e19) and \
                  extremes are written unreadable (1e-28 as 1.0000000000000001e-28, \
                  79228162514264337593543950335 as 7.922816251426434e28)",
    },
    Known {
        id: "timestamp-negative-year",
        targets: &["envelope", "timestamp"],
        matches: negative_year,
        summary: "order-events: Timestamp::parse accepts times whose UTC form falls \
                  before year 0 (0000-01-01T00:00:00+00:01, -000001-01-01T00:00:00), \
                  and Timestamp::to_rfc3339 writes them as -001-..., which no reader \
                  accepts",
    },
    Known {
        id: "arrival-timestamp-overflow",
        targets: crate::targets::BATCH,
        matches: arrival_overflow,
        summary: "aws_lambda_events 1.2.1 (dependency): deserialising \
                  approximateArrivalTimestamp multiplies the fraction's digits by \
                  1e6, which overflows (a panic in debug builds) for a fraction of \
                  more than 13 digits, and misreads fractions of fewer than 3 digits \
                  (1761825600.5 is read as .005 s)",
    },
];

/// The known entry `violation` matches, if any.
pub fn lookup(target: &str, violation: &Violation, _input: &[u8]) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.targets.contains(&target) && (k.matches)(violation))
}

/// The known entry with this id.
pub fn by_id(id: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_that_differ_in_amounts_only_are_the_money_finding() {
        let money = Violation::new(
            "writing an event is deterministic",
            r#"X: first {"a":{"price":8e-24},"b":"s"}, then {"a":{"price":8.000000000000001e-24},"b":"s"}"#,
        );
        assert_eq!(
            lookup("envelope", &money, b"").map(|k| k.id),
            Some("money-written-as-float")
        );
        let other = Violation::new(
            "writing an event is deterministic",
            r#"X: first {"a":{"price":8e-24},"b":"s"}, then {"a":{"price":8e-24},"b":"t"}"#,
        );
        assert!(lookup("envelope", &other, b"").is_none());
        let elsewhere = Violation::new("a written event parses back", "Money(1) vs Money(2)");
        assert!(lookup("kpl", &elsewhere, b"").is_none());
    }
}
