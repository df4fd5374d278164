//! The binary without AWS: the dry run over standard input, and capacity.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn producer(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_producer"))
        .args(args)
        // A dry run must never reach for AWS: point it nowhere.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the producer binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin takes the input");
    child.wait_with_output().expect("the producer binary ends")
}

const LINES: &str = concat!(
    r#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o-1","userId":"u-1","items":[{"productId":"p","quantity":1}]}}"#,
    "\n",
    r#"{"eventType":"ORDER_PLACED","payload":{"orderId":"o-2","userId":"u-1","items":[]}}"#,
    "\n",
    r#"{"eventId":"e-3","eventType":"ORDER_CANCELLED","payload":{"orderId":"o-1"}}"#,
    "\n"
);

#[test]
fn an_invalid_line_on_stdin_is_named_and_stops_the_run() {
    let output = producer(&["publish", "--dry-run", "-"], LINES);
    assert_eq!(output.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("invalid: -:2: invalid ORDER_PLACED payload"),
        "{errors}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn the_dry_run_lists_each_record_in_sending_order() {
    let output = producer(&["publish", "--dry-run", "--skip-invalid", "-"], LINES);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(
        rows[0],
        [
            "call",
            "partitionKey",
            "bytes",
            "eventType",
            "eventId",
            "from"
        ]
    );
    assert_eq!(rows[1][..2], ["1", "o-1"]);
    assert_eq!(rows[1][3], "ORDER_PLACED");
    assert_eq!(rows[1][5], "-:1");
    assert_eq!(
        rows[2][..2],
        ["2", "o-1"],
        "the key's second record waits a call"
    );
    assert_eq!(rows[2][3..], ["ORDER_CANCELLED", "e-3", "-:3"]);
    assert_eq!(
        text.lines().last(),
        Some("dry run: 2 record(s) in 2 PutRecords call(s), nothing sent (1 invalid skipped)")
    );
}

#[test]
fn capacity_prints_a_table_and_refuses_negatives() {
    let output = producer(
        &[
            "capacity",
            "--records-per-second",
            "0",
            "--avg-record-kb",
            "0",
        ],
        "",
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let shards = text.lines().find(|l| l.starts_with("shards")).unwrap();
    assert_eq!(
        shards.split_whitespace().collect::<Vec<_>>(),
        ["shards", "1", "~4"]
    );
    let refused = producer(
        &[
            "capacity",
            "--records-per-second",
            "10",
            "--avg-record-kb=-1",
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn an_aggregated_dry_run_needs_the_stream_whose_shards_it_plans_for() {
    let output = producer(
        &["publish", "--dry-run", "--aggregate", "--skip-invalid", "-"],
        LINES,
    );
    assert_eq!(output.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("--aggregate --dry-run needs --stream"),
        "{errors}"
    );
    assert!(output.stdout.is_empty());
}
