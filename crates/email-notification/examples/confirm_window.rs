//! Measures the one window in which a crash could lead to a second email:
//! from SES accepting the message to the idempotency claim being confirmed,
//! which is one DynamoDB PutItem round trip. Also times the claim and the
//! SES call around it, for scale.
//!
//! Against the local emulator:
//!   scripts/local-aws.sh run -- cargo run -p email-notification --example confirm_window [ROUNDS]

use std::time::{Duration, Instant};

use email_notification::{Email, MailSender, SesMailSender};
use order_events::EmailAddress;
use stream_core::idempotency::IdempotencyStore;
use stream_core::DynamoDbIdempotencyStore;

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let Some(last) = samples.len().checked_sub(1) else {
        println!("{name:<28} n=0");
        return;
    };
    // Nearest rank: q in 0..=1 picks an index in 0..=last.
    let at = |q: f64| {
        let rank = (last as f64 * q).round() as usize;
        samples
            .get(rank.min(last))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{name:<28} n={:<5} min={:.2}ms p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        samples.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let sdk = testkit::aws_config().await;
    let table = testkit::unique_name("idempotency-window");
    testkit::create_table(&sdk, &table, "id").await;
    let domain = format!("{}.example.com", testkit::unique_name("window"));
    testkit::verify_email_domain(&sdk, &domain).await;

    let store = DynamoDbIdempotencyStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let ses = SesMailSender::new(SesMailSender::client_from(&sdk));
    let email = Email {
        from: EmailAddress::parse(format!("orders@{domain}")).unwrap(),
        to: EmailAddress::parse(format!("someone@{domain}")).unwrap(),
        subject: "Order confirmed".into(),
        html: "<p>hello</p>".into(),
        text: "hello".into(),
    };

    let (mut claims, mut sends, mut confirms) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.saturating_add(10) {
        let key = format!("email-notification#ORDER_PLACED#order-{round}");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let started = Instant::now();
        store
            .claim(
                &key,
                &format!("window-{round}"),
                now_ms.saturating_add(60_000),
                now_ms / 1000 + 3600,
            )
            .await
            .unwrap();
        let claimed = Instant::now();
        let message_id = ses.send(&email).await.unwrap();
        let accepted = Instant::now();
        // The window: SES has the message, the key is not yet confirmed.
        store
            .complete(
                &key,
                Some(format!("[\"{message_id}\",\"s***@x\"]")),
                now_ms / 1000 + 3600,
            )
            .await
            .unwrap();
        let confirmed = Instant::now();
        // The first rounds warm up connections.
        if round >= 10 {
            claims.push(claimed - started);
            sends.push(accepted - claimed);
            confirms.push(confirmed - accepted);
        }
    }
    percentiles("claim (conditional PutItem)", claims);
    percentiles("SES SendEmail", sends);
    percentiles("window: confirm (PutItem)", confirms);
}
