//! The SDK retry settings every client shares, proven against a local HTTP
//! endpoint that answers every request the same way and counts them: how
//! many attempts one call makes, and which answers are retried at all.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use stream_core::idempotency::{IdempotencyStore, StoreError};
use stream_core::DynamoDbIdempotencyStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `status` with a DynamoDB error of type `error_type` to every
/// request on 127.0.0.1, counting requests.
async fn answering(status: u16, error_type: &'static str) -> (String, Arc<AtomicU32>) {
    answering_with(status, error_type, "injected").await
}

async fn answering_with(
    status: u16,
    error_type: &'static str,
    message: &'static str,
) -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU32::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    // One request: headers, then Content-Length bytes of body.
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    buffer.drain(..end + 4 + length);
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = format!(
                        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error_type}","message":"{message}"}}"#
                    );
                    let response = format!(
                        "HTTP/1.1 {status} Injected\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

async fn client(url: &str) -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(stream_core::aws::retry_config())
        .timeout_config(stream_core::aws::timeout_config())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    stream_core::aws::dynamodb_client(&sdk)
}

/// One read of the table through `client`, which the endpoint fails.
async fn failing_get(client: &aws_sdk_dynamodb::Client) {
    let result = client
        .get_item()
        .table_name("t")
        .key("id", AttributeValue::S("k".into()))
        .send()
        .await;
    assert!(result.is_err());
}

async fn one_get(url: &str) {
    failing_get(&client(url).await).await;
}

#[tokio::test]
async fn a_server_error_is_tried_exactly_the_configured_number_of_times() {
    let (url, count) = answering(500, "InternalServerError").await;
    one_get(&url).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        stream_core::aws::SDK_MAX_ATTEMPTS
    );
}

#[tokio::test]
async fn throttling_is_retried_without_a_quota_cutting_retries_short() {
    let (url, count) = answering(400, "ThrottlingException").await;
    // Far more failing calls than the SDK's default retry quota allows
    // retries for (500 tokens, 5 per retry): every call keeps its attempts.
    let calls = 40;
    let c = client(&url).await;
    for _ in 0..calls {
        failing_get(&c).await;
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        calls * stream_core::aws::SDK_MAX_ATTEMPTS
    );
}

/// A claim's error when the store answers every request with a
/// `ValidationException` saying `message`, and how many requests one read
/// of the table made.
async fn validation_error(message: &'static str) -> (StoreError, u32) {
    let (url, count) = answering_with(400, "ValidationException", message).await;
    one_get(&url).await;
    let attempts = count.load(Ordering::SeqCst);
    let store = DynamoDbIdempotencyStore::new(client(&url).await, "t");
    let err = store
        .claim("k", "token", u64::MAX, u64::MAX)
        .await
        .unwrap_err();
    (err, attempts)
}

#[tokio::test]
async fn a_validation_error_about_the_data_is_tried_once_and_marked_rejected() {
    let (err, attempts) = validation_error(
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
    )
    .await;
    assert_eq!(attempts, 1);
    assert!(matches!(err, StoreError::Rejected(_)), "{err:#}");
}

#[tokio::test]
async fn a_validation_error_about_the_table_is_not_blamed_on_the_record() {
    // A deployment fault (a table with another key schema) must not
    // dead-letter every record: it stays retryable until a deploy fixes it.
    let (err, _) = validation_error("One of the required keys was not given a value").await;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:#}");
}
