//! What the tool prints: one tab-separated line per message.

use crate::letter::{DeadLetter, Message, OnFailureRecord};
use crate::redrive::{Chosen, Outcome, RedriveReport};

/// Reasons longer than this are cut.
pub const REASON_CHARS: usize = 60;

pub const LIST_HEADER: &str =
    "FUNCTION\tREASON\tEVENT_SOURCE\tSHARD\tSEQUENCE\tDEAD_LETTER_ID\tDATA";

/// The summary line of one message.
pub fn summary_line(message_id: &str, message: &Message) -> String {
    let columns: [String; 7] = match message {
        Message::Letter(letter) => [
            field(letter.function_name.as_deref()),
            field(
                letter
                    .reason
                    .as_deref()
                    .map(|r| truncate(r, REASON_CHARS))
                    .as_deref(),
            ),
            field(letter.event_source_arn.as_deref()),
            field(letter.shard()),
            sequence(letter),
            field(letter.dead_letter_id.as_deref()),
            data_column(letter),
        ],
        Message::OnFailure(record) => [
            field(record.function_name()),
            truncate(
                &format!(
                    "on-failure record: {}",
                    record.condition.as_deref().unwrap_or("?")
                ),
                REASON_CHARS,
            ),
            field(record.stream_arn.as_deref()),
            field(record.shard_id.as_deref()),
            batch_range(record),
            "-".to_owned(),
            format!(
                "no: re-read the batch of {} from the stream",
                record.batch_size.map_or("?".to_owned(), |n| n.to_string())
            ),
        ],
        Message::Unreadable(why) => [
            "-".to_owned(),
            truncate(
                &format!("unreadable message {message_id}: {why}"),
                REASON_CHARS * 2,
            ),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ],
    };
    columns.join("\t")
}

fn data_column(letter: &DeadLetter) -> String {
    match (&letter.data, letter.data_length) {
        (Some(_), Some(n)) => format!("yes ({n} bytes)"),
        (Some(_), None) => "yes".to_owned(),
        (None, _) => "no: re-read it from the stream by shard and sequence".to_owned(),
    }
}

fn sequence(letter: &DeadLetter) -> String {
    match (
        letter.sequence_number.as_deref(),
        letter.sub_sequence_number,
    ) {
        (Some(seq), Some(sub)) => format!("{}/{sub}", clean(seq)),
        (Some(seq), None) => clean(seq),
        (None, _) => "-".to_owned(),
    }
}

fn batch_range(record: &OnFailureRecord) -> String {
    format!(
        "{}..{}",
        field(record.start_sequence_number.as_deref()),
        field(record.end_sequence_number.as_deref())
    )
}

/// One line per chosen message of a redrive, then the totals.
pub fn redrive_lines(report: &RedriveReport, dry_run: bool) -> Vec<String> {
    let mut lines: Vec<String> = report
        .chosen
        .iter()
        .map(|c| redrive_line(report, c))
        .collect();
    let count = |f: fn(&Outcome) -> bool| report.count(f);
    lines.push(format!(
        "{} read, {} chosen: {} {}, {} duplicates, {} need a re-read from the stream, {} refused, {} not published; {} PutRecords calls",
        report.read,
        report.chosen.len(),
        if dry_run { count(|o| matches!(o, Outcome::WouldPublish { .. })) } else { report.published() },
        if dry_run { "would be published" } else { "published" },
        count(|o| matches!(o, Outcome::Duplicate { .. })),
        count(|o| matches!(o, Outcome::NeedsReread | Outcome::BatchNeedsReread)),
        count(|o| matches!(o, Outcome::Refused(_))),
        count(|o| matches!(o, Outcome::NotPublished(_))),
        report.calls,
    ));
    for (id, why) in &report.release_failures {
        lines.push(format!(
            "warning: message {id} could not be made visible again ({}); it reappears when its visibility timeout ends",
            clean(why)
        ));
    }
    lines
}

fn redrive_line(report: &RedriveReport, chosen: &Chosen) -> String {
    let what = describe(&chosen.message);
    let id = &chosen.message_id;
    match &chosen.outcome {
        Outcome::Published {
            stream,
            shard_id,
            sequence_number,
            deleted,
        } => match deleted {
            Ok(()) => format!("published\t{what}\tto {stream} ({shard_id} {sequence_number}); message {id} deleted"),
            Err(why) => format!(
                "published\t{what}\tto {stream} ({shard_id} {sequence_number}); message {id} NOT deleted ({}): delete it, or a later redrive publishes it again (applied once all the same)",
                clean(why)
            ),
        },
        Outcome::WouldPublish { stream, bytes } => {
            format!("would publish\t{what}\t{bytes} bytes to {stream}; message {id}")
        }
        Outcome::Duplicate { of, deleted } => {
            let original = report.chosen.get(*of).map_or("?", |c| c.message_id.as_str());
            match deleted {
                Some(Ok(())) => format!("duplicate\t{what}\tsame record as message {original}, published once; message {id} deleted"),
                Some(Err(why)) => format!("duplicate\t{what}\tsame record as message {original}, published once; message {id} NOT deleted ({})", clean(why)),
                None => format!("duplicate\t{what}\tsame record as message {original}; message {id} left in the queue"),
            }
        }
        Outcome::NeedsReread => format!(
            "needs re-read\t{what}\tno data in the letter (too large): read it from the stream at this shard and sequence number, within its retention; message {id} left in the queue"
        ),
        Outcome::BatchNeedsReread => format!(
            "needs re-read\t{what}\tLambda gave up on this batch: read it from the stream at this shard and sequence range, within its retention; message {id} left in the queue"
        ),
        Outcome::Refused(why) => format!("refused\t{what}\t{}; message {id} left in the queue", clean(why)),
        Outcome::NotPublished(why) => format!("NOT published\t{what}\t{}; message {id} left in the queue", clean(why)),
    }
}

/// A short description of a message for the redrive lines.
fn describe(message: &Message) -> String {
    match message {
        Message::Letter(letter) => format!(
            "{} {} {} {}",
            field(letter.function_name.as_deref()),
            field(letter.shard()),
            sequence(letter),
            field(letter.dead_letter_id.as_deref()),
        ),
        Message::OnFailure(record) => format!(
            "{} {} {}",
            field(record.function_name()),
            field(record.shard_id.as_deref()),
            batch_range(record)
        ),
        Message::Unreadable(_) => "unreadable message".to_owned(),
    }
}

fn field(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => clean(v),
        _ => "-".to_owned(),
    }
}

/// Control characters (tabs and newlines included) would break the
/// columns: each becomes a space.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(text: &str, max_chars: usize) -> String {
    let text = clean(text);
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars.saturating_sub(3)).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_is_one_line_of_seven_columns() {
        let letter = Message::Letter(DeadLetter {
            function_name: Some("inventory-update".into()),
            reason: Some(format!("invalid record:\tline\nbreak {}", "x".repeat(100))),
            event_source_arn: Some("arn:aws:kinesis:us-east-1:1:stream/order-events".into()),
            event_id: Some("shardId-000000000002:77".into()),
            sequence_number: Some("77".into()),
            sub_sequence_number: Some(3),
            dead_letter_id: Some("dl-1".into()),
            data: Some("e30=".into()),
            data_length: Some(2),
            ..DeadLetter::default()
        });
        let line = summary_line("m-1", &letter);
        assert!(!line.contains('\n'));
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns.len(), 7, "{line}");
        assert_eq!(columns[0], "inventory-update");
        assert_eq!(columns[1].chars().count(), REASON_CHARS);
        assert!(
            columns[1].starts_with("invalid record: line break") && columns[1].ends_with("...")
        );
        assert_eq!(columns[3], "shardId-000000000002");
        assert_eq!(columns[4], "77/3");
        assert_eq!(columns[5], "dl-1");
        assert_eq!(columns[6], "yes (2 bytes)");
        assert_eq!(LIST_HEADER.split('\t').count(), 7);
    }

    #[test]
    fn a_letter_without_data_says_to_re_read_it() {
        let line = summary_line("m-1", &Message::Letter(DeadLetter::default()));
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns[..6], ["-"; 6]);
        assert!(columns[6].starts_with("no: re-read"));
    }

    #[test]
    fn on_failure_records_and_unreadable_messages_have_their_line_too() {
        let record = Message::OnFailure(OnFailureRecord {
            function_arn: Some("arn:aws:lambda:us-east-1:1:function:inv".into()),
            condition: Some("RecordAgeExceeded".into()),
            start_sequence_number: Some("1".into()),
            end_sequence_number: Some("9".into()),
            batch_size: Some(9),
            ..OnFailureRecord::default()
        });
        let columns: Vec<String> = summary_line("m", &record)
            .split('\t')
            .map(str::to_owned)
            .collect();
        assert_eq!(columns.len(), 7);
        assert_eq!(columns[0], "inv");
        assert_eq!(columns[1], "on-failure record: RecordAgeExceeded");
        assert_eq!(columns[4], "1..9");
        assert!(columns[6].contains("batch of 9"));

        let line = summary_line("m-7", &Message::Unreadable("not JSON".into()));
        assert_eq!(line.split('\t').count(), 7);
        assert!(line.contains("unreadable message m-7: not JSON"));
    }
}
