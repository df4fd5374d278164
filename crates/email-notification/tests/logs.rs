//! Reads every log line a run writes and finds no recipient address in
//! clear text, only the masked form. One test in its own binary, so the
//! thread-local subscriber sees every event.

mod common;

use std::time::Duration;

use common::*;
use email_notification::SendError;
use serde_json::json;
use stream_core::logging::{json_subscriber, CapturedLogs};
use stream_core::Deadline;

#[test]
fn logs_never_show_a_recipient_address_in_clear() {
    let logs = CapturedLogs::default();
    let subscriber = json_subscriber(logs.clone(), stream_core::logging::level_filter("trace"));
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let f = fakes();
    // One throttle (logged while backing off), then a rejection whose SES
    // message quotes the address, as SES does.
    f.mail.fail_next([
        SendError::Throttled(
            "TooManyRequestsException: rate exceeded for ada.lovelace@example.com".into(),
        ),
        SendError::Throttled("TooManyRequestsException: slow down".into()),
    ]);
    let event = batch(
        1,
        &[
            user_registered("u-1", "ada.lovelace@example.com", Some("Ada")),
            order_placed("o-1", "u-1", None),
            order_placed("o-2", "u-2", Some("grace.hopper@example.org")),
            // Invalid: a second address smuggled into the field.
            order_placed("o-3", "u-3", Some("mallory@example.net, eve@evil.example")),
            order_placed("o-4", "u-unknown", None),
        ],
    );
    let outcome = runtime.block_on(
        f.pipeline
            .process(&event, Deadline::in_(Duration::from_secs(30))),
    );
    assert_acknowledged(&outcome);

    f.mail.fail_always(Some(SendError::Rejected(
        "MessageRejected: Email address is not verified: linus@example.io".into(),
    )));
    let rejected = batch(
        10,
        &[record(
            "o-5",
            "of-5",
            "ORDER_FAILED",
            json!({"orderId": "o-5", "sagaId": "o-5", "reason": "r", "email": "linus@example.io"}),
        )],
    );
    runtime.block_on(
        f.pipeline
            .process(&rejected, Deadline::in_(Duration::from_secs(30))),
    );
    // A second delivery of the first batch: duplicates are logged too.
    f.mail.fail_always(None);
    runtime.block_on(
        f.pipeline
            .process(&event, Deadline::in_(Duration::from_secs(30))),
    );

    // The run really happened: three emails to the two good addresses.
    let sent = f.recipients();
    assert_eq!(sent.len(), 3, "{sent:?}");

    let lines = logs.lines();
    assert!(
        lines.len() >= 10,
        "expected a log line per record at least, got {}",
        lines.len()
    );
    let text = logs.text();
    for clear in [
        "ada.lovelace@example.com",
        "grace.hopper@example.org",
        "mallory@example.net",
        "eve@evil.example",
        "linus@example.io",
    ] {
        assert!(
            !text.contains(clear),
            "{clear} appears in the logs:\n{text}"
        );
    }
    for masked in ["a***@example.com", "g***@example.org", "l***@example.io"] {
        assert!(
            text.contains(masked),
            "{masked} missing from the logs:\n{text}"
        );
    }
    // One line per record carries its `outcome` (11 records in the three
    // batches), so counting outcomes counts records.
    let outcome_lines = lines.iter().filter(|l| l.get("outcome").is_some()).count();
    assert_eq!(outcome_lines, 11, "{text}");
    let sent_lines = lines.iter().filter(|l| l["effect"] == "sent").count();
    assert_eq!(sent_lines, 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["effect"] == "already_sent" && l["recipient"] == "a***@example.com"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l["outcome"] == "dead_lettered"),
        "{text}"
    );
}
