//! The helpers against the running emulator. Run with `make test`.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

#[tokio::test]
async fn table_numbers_round_trip() {
    let cfg = testkit::aws_config().await;
    let table = testkit::unique_name("stock");
    testkit::create_table(&cfg, &table, "sku").await;

    assert_eq!(
        testkit::get_item_number(&cfg, &table, "sku", "SKU-1", "available").await,
        None,
        "missing item"
    );
    testkit::put_item_number(&cfg, &table, "sku", "SKU-1", "available", 7).await;
    testkit::put_item_number(&cfg, &table, "sku", "SKU-2", "available", -3).await;
    assert_eq!(
        testkit::get_item_number(&cfg, &table, "sku", "SKU-1", "available").await,
        Some(7)
    );
    assert_eq!(
        testkit::get_item_number(&cfg, &table, "sku", "SKU-2", "available").await,
        Some(-3)
    );
    assert_eq!(
        testkit::get_item_number(&cfg, &table, "sku", "SKU-1", "reserved").await,
        None,
        "missing attribute"
    );
}

#[tokio::test]
async fn conditional_writes_to_one_item_are_atomic() {
    // The emulator must serialise requests, or races in code under test
    // (an oversell) would be hidden by, or confused with, races in moto.
    // A race is probabilistic, hence several rounds.
    use aws_sdk_dynamodb::types::AttributeValue;

    let cfg = testkit::aws_config().await;
    let table = testkit::unique_name("race");
    testkit::create_table(&cfg, &table, "sku").await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);

    for round in 0..5 {
        let sku = format!("SKU-{round}");
        testkit::put_item_number(&cfg, &table, "sku", &sku, "available", 1).await;
        let attempts: Vec<_> = (0..24)
            .map(|_| {
                let request = client
                    .update_item()
                    .table_name(&table)
                    .key("sku", AttributeValue::S(sku.clone()))
                    .update_expression("SET available = available - :one")
                    .condition_expression("available >= :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()));
                tokio::spawn(async move {
                    match request.send().await {
                        Ok(_) => true,
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                        {
                            false
                        }
                        Err(e) => panic!(
                            "UpdateItem failed: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        ),
                    }
                })
            })
            .collect();
        let mut successes = 0;
        for attempt in attempts {
            successes += usize::from(attempt.await.expect("update task panicked"));
        }
        assert_eq!(successes, 1, "round {round}: reservations of the last unit");
        assert_eq!(
            testkit::get_item_number(&cfg, &table, "sku", &sku, "available").await,
            Some(0),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn stream_records_come_back_in_shard_then_sequence_order() {
    let cfg = testkit::aws_config().await;
    let stream = testkit::unique_name("orders");
    let arn = testkit::create_stream(&cfg, &stream, 2).await;
    assert!(
        arn.starts_with("arn:aws:kinesis:us-east-1:") && arn.ends_with(&format!("/{stream}")),
        "unexpected ARN {arn}"
    );
    assert!(testkit::read_stream(&cfg, &stream).await.is_empty());

    let client = aws_sdk_kinesis::Client::new(&cfg);
    for i in 0..20 {
        client
            .put_record()
            .stream_name(&stream)
            .partition_key(format!("key-{}", i % 5))
            .data(Blob::new(format!("record-{i}")))
            .send()
            .await
            .expect("PutRecord");
    }

    let records = testkit::read_stream(&cfg, &stream).await;
    assert_eq!(records.len(), 20);
    let mut payloads: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.data().as_ref().to_vec()).expect("utf-8 payload"))
        .collect();

    // Within one partition key (so one shard), records keep the put order.
    for key in 0..5 {
        let of_key: Vec<usize> = records
            .iter()
            .zip(&payloads)
            .filter(|(r, _)| r.partition_key() == Some(format!("key-{key}").as_str()))
            .map(|(_, p)| p["record-".len()..].parse().expect("index"))
            .collect();
        let expected: Vec<usize> = (key..20).step_by(5).collect();
        assert_eq!(of_key, expected, "order of key-{key}");
    }
    payloads.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("record-{i}")).collect();
    expected.sort();
    assert_eq!(payloads, expected);
}

#[tokio::test]
async fn receive_all_drains_the_queue() {
    let cfg = testkit::aws_config().await;
    let queue_url = testkit::create_queue(&cfg, &testkit::unique_name("dlq")).await;
    assert!(testkit::receive_all(&cfg, &queue_url).await.is_empty());

    let client = aws_sdk_sqs::Client::new(&cfg);
    // More than one receive page (10 messages).
    for i in 0..23 {
        client
            .send_message()
            .queue_url(&queue_url)
            .message_body(format!("message-{i}"))
            .send()
            .await
            .expect("SendMessage");
    }

    let mut bodies = testkit::receive_all(&cfg, &queue_url).await;
    bodies.sort();
    let mut expected: Vec<String> = (0..23).map(|i| format!("message-{i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert!(
        testkit::receive_all(&cfg, &queue_url).await.is_empty(),
        "received messages are deleted"
    );
}

#[tokio::test]
async fn sent_emails_shows_mail_sent_through_sesv2() {
    let cfg = testkit::aws_config().await;
    // A domain of our own: the sent-mail record is shared by parallel tests.
    let domain = format!("{}.test", testkit::unique_name("shop"));
    testkit::verify_email_domain(&cfg, &domain).await;
    testkit::verify_email_domain(&cfg, &domain).await; // idempotent

    let from = format!("orders@{domain}");
    let to = format!("alice@{domain}");
    let content = |text: &str| {
        Content::builder()
            .data(text)
            .build()
            .expect("content has data")
    };
    aws_sdk_sesv2::Client::new(&cfg)
        .send_email()
        .from_email_address(&from)
        .destination(Destination::builder().to_addresses(&to).build())
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(content("Your order shipped"))
                        .body(
                            Body::builder()
                                .text(content("plain text"))
                                .html(content("<p>Shipped</p>"))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("SendEmail");

    let ours: Vec<testkit::SentEmail> = testkit::sent_emails()
        .await
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.ends_with(&format!("@{domain}"))))
        .collect();
    assert_eq!(
        ours,
        vec![testkit::SentEmail {
            source: from,
            to: vec![to],
            subject: "Your order shipped".into(),
            body: "<p>Shipped</p>".into(),
        }]
    );
}
