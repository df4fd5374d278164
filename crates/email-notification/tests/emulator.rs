//! Against the local AWS emulator (moto): SES v2, DynamoDB and SQS for real.
//! Run with `scripts/local-aws.sh run -- cargo test -p email-notification`.
//! Each test uses its own tables, queue, sender domain and recipients; sent
//! mail is read back from the emulator and filtered by those.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{assert_acknowledged, batch, order_placed, record, user_registered};
use email_notification::{build_pipeline, Config, EmailPipeline};
use serde_json::json;
use stream_core::Deadline;
use testkit::{unique_name, SentEmail};

struct Env {
    sdk: aws_config::SdkConfig,
    pipeline: EmailPipeline,
    queue_url: String,
    customers_table: String,
    sender: String,
    /// A domain no other test writes to; recipients are `<name>@{domain}`.
    domain: String,
}

impl Env {
    async fn new(verify_sender: bool) -> Self {
        let sdk = testkit::aws_config().await;
        let customers_table = unique_name("customers");
        let idempotency_table = unique_name("idempotency");
        testkit::create_table(&sdk, &customers_table, "userId").await;
        testkit::create_table(&sdk, &idempotency_table, "id").await;
        let queue_url = testkit::create_queue(&sdk, &unique_name("email-dlq")).await;
        let sender_domain = format!("{}.example.com", unique_name("shop"));
        if verify_sender {
            testkit::verify_email_domain(&sdk, &sender_domain).await;
        }
        let sender = format!("orders@{sender_domain}");
        let vars: HashMap<String, String> = [
            ("SENDER_EMAIL", sender.as_str()),
            ("CUSTOMERS_TABLE", customers_table.as_str()),
            ("IDEMPOTENCY_TABLE", idempotency_table.as_str()),
            ("DEAD_LETTER_QUEUE_URL", queue_url.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "email-notification"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Config::from_vars(&vars).unwrap();
        let pipeline = build_pipeline(&sdk, &config);
        Self {
            sdk,
            pipeline,
            queue_url,
            customers_table,
            sender,
            domain: format!("{}.example.org", unique_name("customers")),
        }
    }

    fn address(&self, name: &str) -> String {
        format!("{name}@{}", self.domain)
    }

    /// Mail sent to this test's recipient domain.
    async fn mail(&self) -> Vec<SentEmail> {
        testkit::sent_emails()
            .await
            .into_iter()
            .filter(|m| {
                m.to.iter()
                    .any(|to| to.ends_with(&format!("@{}", self.domain)))
            })
            .collect()
    }

    async fn dead_letters(&self) -> Vec<serde_json::Value> {
        testkit::receive_all(&self.sdk, &self.queue_url)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect()
    }
}

fn deadline() -> Deadline {
    Deadline::in_(Duration::from_secs(60))
}

#[tokio::test]
async fn one_email_per_order_placed_even_when_the_batch_is_delivered_twice() {
    let env = Env::new(true).await;
    let to = env.address("ada");
    let order = unique_name("order");
    let event = batch(
        1,
        &[
            order_placed(&order, "user-ada", Some(&to)),
            // A producer retry inside the batch.
            order_placed(&order, "user-ada", Some(&to)),
        ],
    );
    for delivery in 0..2 {
        let outcome = env.pipeline.process(&event, deadline()).await;
        assert!(
            outcome.failed_sequence_numbers().is_empty(),
            "delivery {delivery}: {:?}",
            outcome.response
        );
    }

    let mail = env.mail().await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].to, vec![to]);
    assert_eq!(mail[0].source, env.sender);
    assert_eq!(mail[0].subject, format!("Order {order} confirmed"));
    // moto keeps the HTML part: lines, prices and the total in cents.
    assert!(
        mail[0].body.contains("<td>sku-tea</td>"),
        "{}",
        mail[0].body
    );
    assert!(mail[0].body.contains("14.97"), "{}", mail[0].body);
    assert!(
        mail[0].body.contains("<strong>39.97</strong>"),
        "{}",
        mail[0].body
    );
    assert!(env.dead_letters().await.is_empty());
}

#[tokio::test]
async fn order_without_email_reaches_the_address_registered_earlier() {
    let env = Env::new(true).await;
    let to = env.address("grace");
    let user = unique_name("user");
    let order = unique_name("order");
    let event = batch(
        1,
        &[
            user_registered(&user, &to, Some("Grace")),
            order_placed(&order, &user, None),
        ],
    );
    let outcome = env.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);

    let mut subjects: Vec<String> = env
        .mail()
        .await
        .into_iter()
        .map(|m| {
            assert_eq!(m.to, vec![to.clone()]);
            m.subject
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            format!("Order {order} confirmed"),
            "Welcome, Grace!".to_owned()
        ]
    );

    let item = aws_sdk_dynamodb::Client::new(&env.sdk)
        .get_item()
        .table_name(&env.customers_table)
        .key("userId", AttributeValue::S(user.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        item.item()
            .and_then(|i| i.get("email"))
            .and_then(|e| e.as_s().ok()),
        Some(&to)
    );

    // Completion later, again without an address: same recipient.
    let done = batch(
        10,
        &[record(
            &order,
            "done-1",
            "ORDER_COMPLETED",
            json!({"orderId": order, "sagaId": order, "userId": user}),
        )],
    );
    let outcome = env.pipeline.process(&done, deadline()).await;
    assert_acknowledged(&outcome);
    let mail = env.mail().await;
    assert_eq!(mail.len(), 3);
    assert!(mail
        .iter()
        .any(|m| m.subject == format!("Your order {order} is complete")));
}

#[tokio::test]
async fn injection_attempts_yield_one_recipient_and_the_expected_subject() {
    let env = Env::new(true).await;
    let to = env.address("jane");
    let evil_domain = format!("{}.example.net", unique_name("evil"));
    let evil = format!("evil@{evil_domain}");
    let user = unique_name("user");
    let records = vec![
        user_registered(
            &user,
            &to,
            Some(&format!("Jane\r\nBcc: {evil}\r\nSubject: owned")),
        ),
        order_placed("inj-comma", &user, Some(&format!("{to},{evil}"))),
        order_placed("inj-crlf", &user, Some(&format!("{to}\r\nBcc: {evil}"))),
        record(
            "inj-html",
            "inj-html",
            "ORDER_PLACED",
            json!({"orderId": "inj-html", "userId": user,
                       "items": [{"productId": "<img src=x onerror=alert(1)>", "quantity": 1, "price": "2.5"}]}),
        ),
    ];
    let outcome = env.pipeline.process(&batch(1, &records), deadline()).await;
    assert_acknowledged(&outcome);

    let all = testkit::sent_emails().await;
    assert!(
        all.iter()
            .all(|m| m.to.iter().all(|r| !r.contains(&evil_domain))),
        "something was sent to the injected address"
    );
    let mail = env.mail().await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    for m in &mail {
        assert_eq!(m.to, vec![to.clone()], "exactly one recipient");
    }
    let welcome = mail
        .iter()
        .find(|m| m.subject.starts_with("Welcome"))
        .unwrap();
    assert_eq!(
        welcome.subject,
        format!("Welcome, Jane Bcc: {evil} Subject: owned!")
    );
    let order = mail
        .iter()
        .find(|m| m.subject == "Order inj-html confirmed")
        .unwrap();
    assert!(!order.body.contains("<img"), "{}", order.body);
    assert!(
        order.body.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{}",
        order.body
    );

    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        assert!(
            letter["reason"].as_str().unwrap().contains("email address"),
            "{letter}"
        );
        assert_eq!(letter["functionName"], "email-notification");
    }
}

#[tokio::test]
async fn unverified_sender_is_dead_lettered_without_the_address_in_clear() {
    let env = Env::new(false).await;
    let to = env.address("linus");
    let event = batch(
        1,
        &[order_placed(&unique_name("order"), "user-linus", Some(&to))],
    );
    let outcome = env.pipeline.process(&event, deadline()).await;
    assert_acknowledged(&outcome);
    assert!(env.mail().await.is_empty());

    let letters = env.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(reason.contains("MessageRejected"), "{reason}");
    assert!(!reason.contains(&env.sender), "sender in clear: {reason}");
    assert!(!reason.contains(&to), "recipient in clear: {reason}");
    assert!(reason.contains(&format!("l***@{}", env.domain)), "{reason}");
}

#[tokio::test]
async fn hostile_names_and_reasons_reach_ses_as_clean_bounded_messages() {
    let env = Env::new(true).await;
    let to = env.address("zoe");
    let user = unique_name("user");
    let order = unique_name("order");
    let name = format!(
        "\u{202E}Zo\u{eb}\r\n\u{FFFE}\u{FFFF}\u{2066}\u{200B}{}",
        "\u{5D0}".repeat(240)
    );
    let records = vec![
        user_registered(&user, &to, Some(&name)),
        record(
            &order,
            &format!("of-{order}"),
            "ORDER_FAILED",
            json!({"orderId": order, "sagaId": order, "email": to,
                       "reason": format!("DispatchFailure 10.1.2.3 {}", "\u{202E}r".repeat(400))}),
        ),
    ];
    let outcome = env.pipeline.process(&batch(1, &records), deadline()).await;
    assert_acknowledged(&outcome);
    assert!(env.dead_letters().await.is_empty());
    let mail = env.mail().await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    for m in &mail {
        assert!(!m.subject.contains(['\r', '\n']), "{:?}", m.subject);
        for part in [&m.subject, &m.body] {
            assert!(
                !part.chars().any(email_notification::text::is_invisible),
                "{part:?}"
            );
            assert!(!part.contains("10.1.2.3"), "{part}");
        }
        assert!(m.body.len() < 8 * 1024, "{} bytes", m.body.len());
    }
    let welcome = mail
        .iter()
        .find(|m| m.subject.starts_with("Welcome"))
        .unwrap();
    assert!(
        welcome.subject.starts_with("Welcome, Zo\u{eb} \u{5D0}"),
        "{}",
        welcome.subject
    );
    let failed = mail
        .iter()
        .find(|m| m.subject.starts_with("We could not complete"))
        .unwrap();
    assert!(
        failed
            .body
            .contains(order_events::FailureReason::Other.wording()),
        "{}",
        failed.body
    );
}
