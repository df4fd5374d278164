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

fn arrival_overflow(v: &Violation) -> bool {
    v.property == PANIC
        && v.detail.contains("aws_lambda_events")
        && v.detail.contains("encodings/time.rs")
}

pub static KNOWN: &[Known] = &[Known {
    id: "arrival-timestamp-overflow",
    targets: crate::targets::BATCH,
    matches: arrival_overflow,
    summary: "aws_lambda_events 1.2.1 (dependency): deserialising \
                  approximateArrivalTimestamp multiplies the fraction's digits by \
                  1e6, which overflows (a panic in debug builds) for a fraction of \
                  more than 13 digits, and misreads fractions of fewer than 3 digits \
                  (1761825600.5 is read as .005 s)",
}];

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
    fn a_finding_matches_only_its_own_violations() {
        let money = Violation::new(
            "writing an event is deterministic",
            r#"X: first {"a":{"price":8e-24},"b":"s"}, then {"a":{"price":8.000000000000001e-24},"b":"s"}"#,
        );
        // Amounts are now written from their digits: no entry excuses this.
        assert!(lookup("envelope", &money, b"").is_none());
        assert!(by_id("arrival-timestamp-overflow").is_some());
    }
}
