//! Which messages a redrive acts on.

use crate::letter::{compare_sequence_numbers, Message};

/// Criteria that must all hold; with `all`, every message is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub all: bool,
    /// The letter's `functionName` is one of these (exactly).
    pub functions: Vec<String>,
    /// The letter's `reason` contains this text.
    pub reason_contains: Option<String>,
    /// The letter's `sequenceNumber` is one of these (an on-failure record:
    /// its batch's range holds one of them).
    pub sequence_numbers: Vec<String>,
}

impl Selection {
    /// True when the selection chooses nothing in particular, which a
    /// redrive refuses (`--all` has to be said).
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.functions.is_empty()
            && self.reason_contains.is_none()
            && self.sequence_numbers.is_empty()
    }

    pub fn matches(&self, message: &Message) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.all {
            return true;
        }
        let (function, reason) = match message {
            Message::Letter(letter) => (letter.function_name.as_deref(), letter.reason.as_deref()),
            Message::OnFailure(record) => (record.function_name(), record.condition.as_deref()),
            Message::Unreadable(_) => return false,
        };
        if !self.functions.is_empty()
            && !function.is_some_and(|f| self.functions.iter().any(|g| g == f))
        {
            return false;
        }
        if let Some(text) = &self.reason_contains {
            if !reason.is_some_and(|r| r.contains(text.as_str())) {
                return false;
            }
        }
        if !self.sequence_numbers.is_empty() {
            let found = match message {
                Message::Letter(letter) => letter
                    .sequence_number
                    .as_deref()
                    .is_some_and(|s| self.sequence_numbers.iter().any(|n| n == s)),
                Message::OnFailure(record) => {
                    match (
                        record.start_sequence_number.as_deref(),
                        record.end_sequence_number.as_deref(),
                    ) {
                        (Some(start), Some(end)) => self.sequence_numbers.iter().any(|n| {
                            compare_sequence_numbers(start, n).is_le()
                                && compare_sequence_numbers(n, end).is_le()
                        }),
                        _ => false,
                    }
                }
                Message::Unreadable(_) => false,
            };
            if !found {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letter::{DeadLetter, OnFailureRecord};

    fn letter(function: &str, reason: &str, seq: &str) -> Message {
        Message::Letter(DeadLetter {
            function_name: Some(function.to_owned()),
            reason: Some(reason.to_owned()),
            sequence_number: Some(seq.to_owned()),
            ..DeadLetter::default()
        })
    }

    #[test]
    fn criteria_must_all_hold() {
        let a = letter("inventory-update", "unknown product p-9", "10");
        let b = letter("email-notification", "undecodable record: not JSON", "11");
        let by_function = Selection {
            functions: vec!["inventory-update".into()],
            ..Selection::default()
        };
        assert!(by_function.matches(&a) && !by_function.matches(&b));

        let by_reason = Selection {
            reason_contains: Some("not JSON".into()),
            ..Selection::default()
        };
        assert!(!by_reason.matches(&a) && by_reason.matches(&b));

        let both = Selection {
            functions: vec!["inventory-update".into()],
            reason_contains: Some("not JSON".into()),
            ..Selection::default()
        };
        assert!(!both.matches(&a) && !both.matches(&b));

        let by_sequence = Selection {
            sequence_numbers: vec!["11".into(), "12".into()],
            ..Selection::default()
        };
        assert!(!by_sequence.matches(&a) && by_sequence.matches(&b));
    }

    #[test]
    fn nothing_is_chosen_unless_asked_and_all_chooses_every_readable_message() {
        let a = letter("inventory-update", "x", "1");
        assert!(Selection::default().is_empty());
        assert!(!Selection::default().matches(&a));
        let all = Selection {
            all: true,
            ..Selection::default()
        };
        assert!(all.matches(&a));
        assert!(all.matches(&Message::Letter(DeadLetter::default())));
        let by_function = Selection {
            functions: vec!["f".into()],
            ..Selection::default()
        };
        assert!(!by_function.matches(&Message::Unreadable("x".into())));
        assert!(!by_function.matches(&Message::Letter(DeadLetter::default())));
    }

    #[test]
    fn on_failure_records_match_by_function_condition_and_sequence_range() {
        let record = Message::OnFailure(OnFailureRecord {
            function_arn: Some("arn:aws:lambda:us-east-1:1:function:inv".into()),
            condition: Some("RetryAttemptsExhausted".into()),
            start_sequence_number: Some("100".into()),
            end_sequence_number: Some("200".into()),
            ..OnFailureRecord::default()
        });
        let select = |s: Selection| s.matches(&record);
        assert!(select(Selection {
            functions: vec!["inv".into()],
            reason_contains: Some("Exhausted".into()),
            ..Selection::default()
        }));
        assert!(select(Selection {
            sequence_numbers: vec!["150".into()],
            ..Selection::default()
        }));
        assert!(!select(Selection {
            sequence_numbers: vec!["99".into(), "201".into()],
            ..Selection::default()
        }));
    }
}
