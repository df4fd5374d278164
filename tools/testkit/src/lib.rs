//! Test support for integration tests that run against the local AWS emulator
//! (moto, started by `scripts/local-aws.sh`).
//!
//! Run the tests with `make test`: it starts a private emulator, exports
//! `AWS_ENDPOINT_URL` and static credentials, and stops the emulator afterwards.
//!
//! The emulator is shared by every test of a run, and tests run in parallel, so
//! each test creates its own resources under [`unique_name`] and never resets
//! the emulator. Helpers panic with a description of what failed: this crate is
//! a dev-dependency of the product crates. [`emulator_api`] (the emulator's
//! own HTTP API, over hyper) returns errors instead: the demo uses it too.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_kinesis::types::{Record, ShardIteratorType, StreamStatus};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

pub mod emulator_api;

/// Region every helper and test uses; the emulator keeps state per region.
pub const REGION: &str = "us-east-1";

/// How long to wait for a resource to become active. moto creates resources
/// active at once; the wait only guards against a slower emulator.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Base URL of the emulator, from `AWS_ENDPOINT_URL`, without a trailing slash.
///
/// Panics when it is unset, since nothing here can work without the emulator.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the local AWS emulator. \
             Run them with `make test` (or `scripts/local-aws.sh run -- cargo test ...`), \
             or start one with `make aws-up` and `eval \"$(scripts/local-aws.sh env)\"`."
        ),
    }
}

/// SdkConfig pointed at the emulator in `AWS_ENDPOINT_URL` (region us-east-1,
/// static test credentials).
///
/// Panics with a hint to run `make test` when `AWS_ENDPOINT_URL` is unset.
/// Credentials are fixed rather than read from the environment so that a
/// developer's real AWS profile can never be picked up by a test.
pub async fn aws_config() -> SdkConfig {
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "testkit-static");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

/// Fresh, unique resource name per call: `{prefix}-{12 hex digits}`.
///
/// Valid as a DynamoDB table, Kinesis stream and SQS queue name as long as the
/// prefix is; panics on a prefix that would make an invalid name.
pub fn unique_name(prefix: &str) -> String {
    assert!(
        !prefix.is_empty()
            && prefix.len() <= 60
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "unique_name prefix {prefix:?} must be 1-60 characters of [A-Za-z0-9_-] \
         (the characters tables, streams and queues all accept)"
    );
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

fn fail(what: &str, err: impl std::error::Error) -> ! {
    panic!("{what} failed: {}", DisplayErrorContext(err))
}

/// Polls `probe` until it returns `Some`, panicking with `what` after
/// [`ACTIVE_TIMEOUT`].
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {ACTIVE_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Creates an on-demand table keyed by a string partition key, and waits until
/// it is ACTIVE.
pub async fn create_table(cfg: &SdkConfig, name: &str, partition_key: &str) {
    let client = aws_sdk_dynamodb::Client::new(cfg);
    let attribute = AttributeDefinition::builder()
        .attribute_name(partition_key)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has all required fields");
    let key = KeySchemaElement::builder()
        .attribute_name(partition_key)
        .key_type(KeyType::Hash)
        .build()
        .expect("key schema has all required fields");
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateTable {name}"), e));
    wait_for(&format!("table {name} becoming ACTIVE"), || async {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("DescribeTable {name}"), e));
        (out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active)).then_some(())
    })
    .await;
}

/// Creates a provisioned stream with `shards` shards, waits until it is ACTIVE,
/// and returns its ARN.
pub async fn create_stream(cfg: &SdkConfig, name: &str, shards: i32) -> String {
    let client = aws_sdk_kinesis::Client::new(cfg);
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateStream {name}"), e));
    wait_for(&format!("stream {name} becoming ACTIVE"), || async {
        let out = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("DescribeStreamSummary {name}"), e));
        let summary = out
            .stream_description_summary()
            .expect("DescribeStreamSummary returns a summary");
        (summary.stream_status() == &StreamStatus::Active).then(|| summary.stream_arn().to_string())
    })
    .await
}

/// Creates a standard queue and returns its URL.
pub async fn create_queue(cfg: &SdkConfig, name: &str) -> String {
    let out = aws_sdk_sqs::Client::new(cfg)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateQueue {name}"), e));
    out.queue_url()
        .unwrap_or_else(|| panic!("CreateQueue {name} returned no queue URL"))
        .to_string()
}

/// Receives every message currently in the queue and deletes it, returning the
/// bodies in the order received. A second call sees only messages sent since.
///
/// Polls without waiting, so it returns as soon as the queue is empty: call it
/// after the code under test has finished sending.
pub async fn receive_all(cfg: &SdkConfig, queue_url: &str) -> Vec<String> {
    let client = aws_sdk_sqs::Client::new(cfg);
    let mut bodies = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("ReceiveMessage {queue_url}"), e));
        let messages = out.messages();
        if messages.is_empty() {
            return bodies;
        }
        let mut entries = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            bodies.push(message.body().unwrap_or_default().to_string());
            let handle = message
                .receipt_handle()
                .expect("received messages carry a receipt handle");
            entries.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .expect("delete entry has all required fields"),
            );
        }
        let deleted = client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("DeleteMessageBatch {queue_url}"), e));
        assert!(
            deleted.failed().is_empty(),
            "DeleteMessageBatch {queue_url} failed for {:?}",
            deleted.failed()
        );
    }
}

/// Makes every address in `domain` a valid SES sender (SES v2
/// CreateEmailIdentity; the emulator treats it as verified at once).
/// Calling it again for the same domain is fine.
pub async fn verify_email_domain(cfg: &SdkConfig, domain: &str) {
    let result = aws_sdk_sesv2::Client::new(cfg)
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await;
    if let Err(err) = result {
        if err.code() != Some("AlreadyExistsException") {
            fail(&format!("CreateEmailIdentity {domain}"), err);
        }
    }
}

/// An email the emulator accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    /// For simple content, the HTML part when there is one, else the text part
    /// (moto keeps only one). For raw content, everything after the headers,
    /// still MIME-encoded.
    pub body: String,
}

/// Every email sent through the emulator since it started, oldest first
/// (simple-content messages, then raw ones).
///
/// The emulator keeps one global record of sent mail and tests run in
/// parallel against the same emulator, so this includes other tests' emails:
/// filter by a recipient or sender domain unique to the test, for example one
/// made with [`unique_name`].
pub async fn sent_emails() -> Vec<SentEmail> {
    let data = emulator_api::data(&endpoint())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    parse_sent_emails(&data)
}

fn parse_sent_emails(data: &serde_json::Value) -> Vec<SentEmail> {
    let str_of = |v: &serde_json::Value, key: &str| -> String {
        v.get(key)
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in v
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str())
        {
            // moto lists raw recipients once per header and once per
            // Destination entry.
            if !out.iter().any(|seen| seen == s) {
                out.push(s.to_string());
            }
        }
        out
    };
    let ses = &data["ses"];
    let simple = ses["Message"].as_array().into_iter().flatten().map(|m| {
        let destinations = &m["destinations"];
        let mut to = strings(destinations.get("ToAddresses"));
        to.extend(strings(destinations.get("CcAddresses")));
        to.extend(strings(destinations.get("BccAddresses")));
        SentEmail {
            source: str_of(m, "source"),
            to,
            subject: str_of(m, "subject"),
            body: str_of(m, "body"),
        }
    });
    let raw = ses["RawMessage"].as_array().into_iter().flatten().map(|m| {
        let raw = str_of(m, "raw_data");
        let (headers, body) = raw
            .split_once("\r\n\r\n")
            .or_else(|| raw.split_once("\n\n"))
            .unwrap_or((raw.as_str(), ""));
        let subject = headers
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("subject")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        SentEmail {
            source: str_of(m, "source"),
            to: strings(m.get("destinations")),
            subject,
            body: body.to_string(),
        }
    });
    simple.chain(raw).collect()
}

/// Every record in the stream, read from TRIM_HORIZON: shards in shard-id
/// order, and within a shard in sequence-number order.
pub async fn read_stream(cfg: &SdkConfig, stream: &str) -> Vec<Record> {
    let client = aws_sdk_kinesis::Client::new(cfg);
    let mut shard_ids = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = match &next_token {
            // ListShards rejects a stream name together with a token.
            Some(token) => client.list_shards().next_token(token),
            None => client.list_shards().stream_name(stream),
        };
        let out = request
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("ListShards {stream}"), e));
        shard_ids.extend(out.shards().iter().map(|s| s.shard_id().to_string()));
        next_token = out.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    shard_ids.sort();

    let mut records = Vec::new();
    for shard_id in shard_ids {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("GetShardIterator {stream}/{shard_id}"), e))
            .shard_iterator
            .unwrap_or_else(|| panic!("GetShardIterator {stream}/{shard_id} returned none"));
        loop {
            let out = client
                .get_records()
                .shard_iterator(&iterator)
                .limit(10_000)
                .send()
                .await
                .unwrap_or_else(|e| fail(&format!("GetRecords {stream}/{shard_id}"), e));
            // An open shard always hands out a next iterator, so an empty page
            // is what marks the end of what has been written so far.
            let page = out.records;
            if page.is_empty() {
                break;
            }
            records.extend(page);
            match out.next_shard_iterator {
                Some(next) => iterator = next,
                None => break, // closed shard, fully read
            }
        }
    }
    records
}

/// Writes `{pk_name: pk_value (S), attr: n (N)}` as a whole item, replacing
/// any existing one.
pub async fn put_item_number(
    cfg: &SdkConfig,
    table: &str,
    pk_name: &str,
    pk_value: &str,
    attr: &str,
    n: i64,
) {
    aws_sdk_dynamodb::Client::new(cfg)
        .put_item()
        .table_name(table)
        .item(pk_name, AttributeValue::S(pk_value.to_string()))
        .item(attr, AttributeValue::N(n.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutItem {table}/{pk_value}"), e));
}

/// Reads the number attribute `attr` of the item whose string key is
/// `pk_value` (strongly consistent). `None` when the item or the attribute is
/// missing; panics when the attribute is not an integer.
pub async fn get_item_number(
    cfg: &SdkConfig,
    table: &str,
    pk_name: &str,
    pk_value: &str,
    attr: &str,
) -> Option<i64> {
    let out = aws_sdk_dynamodb::Client::new(cfg)
        .get_item()
        .table_name(table)
        .key(pk_name, AttributeValue::S(pk_value.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("GetItem {table}/{pk_value}"), e));
    let value = out.item()?.get(attr)?;
    let number = value.as_n().unwrap_or_else(|_| {
        panic!("{table}/{pk_value}: attribute {attr} is {value:?}, not a number")
    });
    Some(number.parse().unwrap_or_else(|_| {
        panic!("{table}/{pk_value}: attribute {attr} = {number} is not an i64")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_keep_the_prefix() {
        let a = unique_name("orders");
        let b = unique_name("orders");
        assert_ne!(a, b);
        assert!(a.starts_with("orders-"));
        assert_eq!(a.len(), "orders-".len() + 12);
    }

    #[test]
    #[should_panic(expected = "must be 1-60 characters")]
    fn unique_name_rejects_invalid_prefix() {
        unique_name("bad name");
    }

    #[test]
    fn parses_simple_and_raw_sent_emails() {
        let data = serde_json::json!({
            "ses": {
                "Message": [{
                    "source": "shop@a.test",
                    "destinations": {"ToAddresses": ["x@b.test"], "CcAddresses": ["y@b.test"]},
                    "subject": "Order shipped",
                    "body": "<p>hi</p>"
                }],
                "RawMessage": [{
                    "source": "shop@a.test",
                    "destinations": ["x@b.test", "x@b.test"],
                    "raw_data": "From: shop@a.test\r\nSubject: Raw one\r\n\r\nraw body"
                }]
            }
        });
        let emails = parse_sent_emails(&data);
        assert_eq!(
            emails,
            vec![
                SentEmail {
                    source: "shop@a.test".into(),
                    to: vec!["x@b.test".into(), "y@b.test".into()],
                    subject: "Order shipped".into(),
                    body: "<p>hi</p>".into(),
                },
                SentEmail {
                    source: "shop@a.test".into(),
                    to: vec!["x@b.test".into()],
                    subject: "Raw one".into(),
                    body: "raw body".into(),
                },
            ]
        );
        assert!(parse_sent_emails(&serde_json::json!({})).is_empty());
    }
}
