//! The whole pipeline (core + handler) against the in-memory fakes: no
//! emulator needed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use email_notification::{
    idempotency_key, Email, EmailHandler, MailSender, SendError, IDEMPOTENCY_SCOPE,
};
use order_events::{EventKind, UserId};
use serde_json::json;
use stream_core::{
    CoreConfig, Deadline, InMemoryDeadLetters, InMemoryIdempotencyStore, Pipeline, RetryPolicy,
};

fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(30))
}

fn full_key(kind: EventKind, about: &str) -> String {
    format!("{IDEMPOTENCY_SCOPE}#{}", idempotency_key(kind, about))
}

#[tokio::test]
async fn throttling_then_success_sends_once() {
    let f = fakes();
    f.mail.fail_next([
        SendError::Throttled("TooManyRequestsException: Maximum sending rate exceeded.".into()),
        SendError::Unavailable("InternalFailure: 500".into()),
    ]);
    let event = batch(1, &[order_placed("o-1", "u-1", Some("ada@example.com"))]);
    let outcome = f.pipeline.process(&event, deadline()).await;

    assert_acknowledged(&outcome);
    assert_eq!(f.mail.attempts(), 3);
    let sent = f.mail.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_str(), "ada@example.com");
    assert_eq!(sent[0].subject, "Order o-1 confirmed");
    assert!(f
        .store
        .is_completed(&full_key(EventKind::OrderPlaced, "o-1")));
    assert!(f.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn throttled_until_the_deadline_is_reported_and_the_retry_sends() {
    let mut function = quick_config();
    // Only the deadline stops the retries.
    function.send_retry = RetryPolicy {
        max_attempts: u32::MAX,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        deadline_margin: Duration::from_millis(200),
    };
    let mut config = CoreConfig::new("email-notification-test");
    config.deadline_margin = Duration::from_millis(50);
    let f = fakes_with(function, config);
    f.mail.fail_always(Some(SendError::Throttled(
        "TooManyRequestsException: slow down".into(),
    )));
    let event = batch(
        100,
        &[
            order_placed("o-2", "u-1", Some("ada@example.com")),
            // Same key, after the throttled one: must wait its turn.
            record(
                "o-2",
                "oc-o-2",
                "ORDER_COMPLETED",
                json!({"orderId": "o-2", "sagaId": "o-2", "email": "ada@example.com"}),
            ),
        ],
    );

    let outcome = f
        .pipeline
        .process(&event, Deadline::in_(Duration::from_millis(700)))
        .await;
    assert_eq!(failures(&outcome), vec![sequence(100), sequence(101)]);
    assert!(f.mail.attempts() > 1, "retried within the invocation");
    assert!(f.mail.sent().is_empty());
    assert!(
        f.dead_letters.letters().is_empty(),
        "not lost to the dead-letter queue either"
    );
    assert!(f.store.is_empty(), "the claim was released");

    // Lambda redelivers from the reported record; SES has recovered.
    f.mail.fail_always(None);
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    let subjects: Vec<String> = f.mail.sent().into_iter().map(|e| e.subject).collect();
    assert_eq!(
        subjects,
        vec!["Order o-2 confirmed", "Your order o-2 is complete"]
    );
}

#[tokio::test]
async fn permanent_rejection_is_dead_lettered_once_without_the_address() {
    let f = fakes();
    f.mail.fail_always(Some(SendError::Rejected(
        "MessageRejected: Email address is not verified. The following identities failed the check: ada@example.com"
            .into(),
    )));
    let event = batch(
        7,
        &[record(
            "o-3",
            "of-o-3",
            "ORDER_FAILED",
            json!({"orderId": "o-3", "sagaId": "o-3", "reason": "out of stock", "email": "ada@example.com"}),
        )],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;

    assert!(
        failures(&outcome).is_empty(),
        "acknowledged after dead-lettering"
    );
    assert_eq!(f.mail.attempts(), 1, "a rejection is not retried");
    let letters = f.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    let reason = &letters[0].reason;
    assert!(reason.contains("MessageRejected"), "{reason}");
    assert!(reason.contains("a***@example.com"), "{reason}");
    assert!(!reason.contains("ada@example.com"), "{reason}");
    assert_eq!(letters[0].sequence_number, sequence(7));
    assert!(f.store.is_empty(), "no claim left behind");
}

#[tokio::test]
async fn a_batch_delivered_twice_sends_each_email_once() {
    let f = fakes();
    let (user_key, user) = user_registered("u-4", "grace@example.com", Some("Grace"));
    let records = vec![
        (user_key.clone(), user.clone()),
        order_placed("o-4", "u-4", None),
        order_placed("o-4", "u-4", None),
        (user_key, user),
    ];
    let event = batch(1, &records);
    for _ in 0..2 {
        let outcome = f.pipeline.process(&event, deadline()).await;
        assert_acknowledged(&outcome);
    }
    let sent = f.mail.sent();
    let subjects: Vec<&str> = sent.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&"Welcome, Grace!"));
    assert!(subjects.contains(&"Order o-4 confirmed"));
    assert!(sent.iter().all(|e| e.to.as_str() == "grace@example.com"));
}

#[tokio::test]
async fn order_without_email_goes_to_the_registered_address() {
    let f = fakes();
    let event = batch(
        1,
        &[
            user_registered("u-5", "grace@example.com", None),
            order_placed("o-5", "u-5", None),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    assert_eq!(
        f.addresses
            .get(&UserId::parse("u-5").unwrap())
            .map(|e| e.as_str().to_owned()),
        Some("grace@example.com".to_owned())
    );
    let confirmation = f
        .mail
        .sent()
        .into_iter()
        .find(|e| e.subject == "Order o-5 confirmed")
        .expect("confirmation sent");
    assert_eq!(confirmation.to.as_str(), "grace@example.com");
    assert_eq!(confirmation.from.as_str(), SENDER);
    assert!(
        confirmation.text.contains("Total: 39.97"),
        "{}",
        confirmation.text
    );
}

#[tokio::test]
async fn no_known_address_is_dead_lettered_with_a_clear_reason() {
    let f = fakes();
    let event = batch(
        1,
        &[
            order_placed("o-6", "u-nobody", None),
            record(
                "o-7",
                "oc-o-7",
                "ORDER_COMPLETED",
                json!({"orderId": "o-7", "sagaId": "o-7"}),
            ),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    assert!(f.mail.sent().is_empty());
    let mut reasons: Vec<String> = f
        .dead_letters
        .letters()
        .into_iter()
        .map(|l| l.reason)
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("no known address: ORDER_PLACED for order o-6"),
        "{reasons:?}"
    );
    assert!(reasons[0].contains("u-nobody"), "{reasons:?}");
    assert!(
        reasons[1].starts_with("no recipient: ORDER_COMPLETED for order o-7"),
        "{reasons:?}"
    );
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn address_book_outage_is_retried_not_dead_lettered() {
    let f = fakes();
    f.addresses.fail(true);
    let event = batch(
        1,
        &[
            order_placed("o-8", "u-8", None),
            user_registered("u-9", "x@example.com", None),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_eq!(failures(&outcome), vec![sequence(1), sequence(2)]);
    assert!(f.dead_letters.letters().is_empty());
    assert!(f.mail.sent().is_empty());
}

#[tokio::test]
async fn injected_fields_never_add_recipients_or_headers() {
    let f = fakes();
    let event = batch(
        1,
        &[
            user_registered(
                "u-10",
                "jane@example.com",
                Some("Jane\r\nBcc: evil@evil.example"),
            ),
            order_placed("o-10", "u-10", Some("jane@example.com, evil@evil.example")),
            order_placed(
                "o-11",
                "u-10",
                Some("jane@example.com\r\nBcc: evil@evil.example"),
            ),
            record(
                "o-12",
                "op-o-12",
                "ORDER_PLACED",
                json!({"orderId": "o-12", "userId": "u-10",
                           "items": [{"productId": "<img src=x onerror=alert(1)>", "quantity": 1, "price": 1}]}),
            ),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);

    let sent = f.mail.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|e| e.to.as_str() == "jane@example.com"));
    assert_eq!(sent[0].subject, "Welcome, Jane Bcc: evil@evil.example!");
    assert!(sent.iter().all(|e| !e.subject.contains(['\r', '\n'])));
    let order = sent
        .iter()
        .find(|e| e.subject == "Order o-12 confirmed")
        .unwrap();
    assert!(!order.html.contains("<img"), "{}", order.html);

    let letters = f.dead_letters.letters();
    assert_eq!(letters.len(), 2, "both bad addresses dead-lettered");
    assert!(
        letters.iter().all(|l| l.reason.contains("email address")),
        "{letters:?}"
    );
}

/// Counts SES calls in flight.
#[derive(Default)]
struct SlowSender {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    sent: AtomicUsize,
}

impl MailSender for SlowSender {
    async fn send(&self, _email: &Email) -> Result<String, SendError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(format!("m-{}", self.sent.fetch_add(1, Ordering::SeqCst)))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn sends_in_flight_never_exceed_email_max_concurrency() {
    let mut function = quick_config();
    function.email_max_concurrency = 3;
    let sender = Arc::new(SlowSender::default());
    let handler = EmailHandler::new(
        sender.clone(),
        Arc::new(email_notification::InMemoryAddressBook::default()),
        Arc::new(InMemoryIdempotencyStore::default()),
        function,
    );
    let mut config = CoreConfig::new("email-notification-test");
    config.max_concurrency = 16;
    let pipeline = Pipeline::new(handler, Arc::new(InMemoryDeadLetters::default()), config);
    let records: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| order_placed(&format!("o-{i}"), "u", Some("ada@example.com")))
        .collect();
    let outcome = pipeline.process(&batch(1, &records), deadline()).await;
    assert_acknowledged(&outcome);
    assert_eq!(sender.sent.load(Ordering::SeqCst), 20);
    assert_eq!(
        sender.peak.load(Ordering::SeqCst),
        3,
        "16 keys at once, 3 sends at once"
    );
}

#[tokio::test]
async fn other_event_types_are_skipped() {
    let f = fakes();
    let event = batch(
        1,
        &[record(
            "o-20",
            "oc-20",
            "ORDER_CANCELLED",
            json!({"orderId": "o-20", "email": "a@example.com"}),
        )],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert!(failures(&outcome).is_empty());
    assert_eq!(outcome.report.skipped, 1);
    assert!(f.mail.sent().is_empty());
}

#[tokio::test]
async fn the_failure_email_shows_the_wording_of_the_code_never_the_reason_text() {
    let f = fakes();
    let failed = |order: &str, reason: &str| {
        record(
            order,
            &format!("of-{order}"),
            "ORDER_FAILED",
            json!({"orderId": order, "sagaId": order, "reason": reason, "email": "ada@example.com"}),
        )
    };
    let event = batch(
        1,
        &[
            failed("o-20", "OUT_OF_STOCK"),
            failed("o-21", "SdkError: DispatchFailure at 10.0.0.7 <script>"),
            failed("o-22", "out_of_stock"),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    let sent = f.mail.sent();
    assert_eq!(sent.len(), 3);
    let wording = |order: &str| {
        let email = sent
            .iter()
            .find(|e| e.subject.ends_with(order))
            .unwrap_or_else(|| panic!("no email for {order}"));
        (email.text.clone(), email.html.clone())
    };
    use order_events::FailureReason;
    let (text, html) = wording("o-20");
    assert!(text.contains(FailureReason::OutOfStock.wording()), "{text}");
    assert!(html.contains(FailureReason::OutOfStock.wording()), "{html}");
    for order in ["o-21", "o-22"] {
        let (text, html) = wording(order);
        assert!(text.contains(FailureReason::Other.wording()), "{text}");
        for part in [&text, &html] {
            for leaked in ["DispatchFailure", "10.0.0.7", "script", "out_of_stock"] {
                assert!(!part.contains(leaked), "{leaked} in {part}");
            }
        }
    }
}

#[tokio::test]
async fn hostile_names_give_a_clean_bounded_welcome_or_an_invalid_record() {
    let f = fakes();
    let hostile = format!(
        "\u{202E}Mallory\r\nBcc: x@evil.example\u{0}\u{FFFE}\u{FFFF}\u{2028}\u{200B}{}",
        "\u{1F600}".repeat(200)
    );
    let event = batch(
        1,
        &[
            user_registered("u-30", "m@example.com", Some(&hostile)),
            // Beyond the contract's limit for a name: invalid, never sent.
            user_registered("u-31", "n@example.com", Some(&"N".repeat(100_000))),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    let sent = f.mail.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let email = &sent[0];
    assert!(
        email
            .subject
            .starts_with("Welcome, Mallory Bcc: x@evil.example "),
        "{}",
        email.subject
    );
    for part in [&email.subject, &email.text, &email.html] {
        assert!(
            !part.chars().any(email_notification::text::is_invisible),
            "{part}"
        );
        assert!(!part.contains('\0'), "{part}");
    }
    assert!(!email.subject.contains(['\r', '\n']));
    assert!(email.subject.chars().count() <= email_notification::text::MAX_SUBJECT_CHARS);
    let smileys = email.text.chars().filter(|c| *c == '\u{1F600}').count();
    assert!(
        smileys < 128,
        "the name is cut to 128 characters: {smileys}"
    );
    assert!(email.text.len() + email.html.len() < 8 * 1024);

    let letters = f.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("name"), "{}", letters[0].reason);
    assert!(
        letters[0].reason.len() < 1024,
        "{}",
        letters[0].reason.len()
    );
}

#[tokio::test]
async fn an_address_book_refusal_caused_by_the_record_is_dead_lettered_not_retried() {
    let f = fakes();
    f.addresses.refuse(Some(format!(
        "remembering: ValidationException: Item size has exceeded the maximum allowed size {}",
        "z".repeat(50_000)
    )));
    let event = batch(
        1,
        &[
            user_registered("u-40", "r@example.com", None),
            order_placed("o-41", "u-41", None),
        ],
    );
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    assert!(f.mail.sent().is_empty());
    let letters = f.dead_letters.letters();
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        assert!(letter.reason.contains("refused"), "{}", letter.reason);
        assert!(letter.reason.len() < 1024, "{}", letter.reason.len());
        assert!(
            !letter.reason.contains("r@example.com"),
            "{}",
            letter.reason
        );
    }
    assert!(f.store.is_empty(), "no claim left behind");
}

#[tokio::test]
async fn a_huge_ses_error_is_bounded_in_the_dead_letter() {
    let f = fakes();
    f.mail.fail_always(Some(SendError::Rejected(format!(
        "MessageRejected: {} ada@example.com",
        "q".repeat(100_000)
    ))));
    let outcome = f
        .pipeline
        .process(
            &batch(1, &[order_placed("o-50", "u-50", Some("ada@example.com"))]),
            deadline(),
        )
        .await;
    assert!(failures(&outcome).is_empty());
    let letters = f.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.len() < 1024,
        "{}",
        letters[0].reason.len()
    );
    assert!(
        letters[0].reason.contains("bytes in all]"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_counts_as_sent_and_is_never_repeated() {
    let f = fakes();
    f.mail.fail_next([SendError::OutcomeUnknown(
        "connection closed before message completed".into(),
    )]);
    let event = batch(1, &[order_placed("o-lost", "u-1", Some("ada@example.com"))]);
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    assert_eq!(outcome.report.processed, 1);
    // One attempt, no retry: SES may already have sent it.
    assert_eq!(f.mail.attempts(), 1);
    assert!(f
        .store
        .is_completed(&full_key(EventKind::OrderPlaced, "o-lost")));
    let again = f.pipeline.process(&event, deadline()).await;
    assert_eq!(again.report.duplicates, 1);
    assert_eq!(f.mail.attempts(), 1);
    assert!(f.dead_letters.letters().is_empty());
}

/// `event` with every record's arrival time set to now.
fn arrived_now(event: stream_core::KinesisEvent) -> stream_core::KinesisEvent {
    let mut json = serde_json::to_value(&event).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for record in json["Records"].as_array_mut().unwrap() {
        record["kinesis"]["approximateArrivalTimestamp"] = json!(now.floor());
    }
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn a_young_order_without_a_known_address_waits_for_its_registration() {
    let f = fakes();
    let event = arrived_now(batch(1, &[order_placed("o-early", "u-later", None)]));
    // The registration is still on its way (another shard): reported, not
    // dead-lettered.
    let outcome = f.pipeline.process(&event, deadline()).await;
    assert_eq!(failures(&outcome).len(), 1, "{:?}", outcome.response);
    assert!(f.dead_letters.letters().is_empty());
    assert!(f.mail.sent().is_empty());
    // It arrives; the redelivery sends to the registered address.
    let registration = batch(10, &[user_registered("u-later", "late@example.com", None)]);
    f.pipeline.process(&registration, deadline()).await;
    let redelivery = f.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&redelivery);
    assert_eq!(f.recipients(), vec!["late@example.com", "late@example.com"]);
}
