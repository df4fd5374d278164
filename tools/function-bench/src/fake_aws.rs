//! A fast, stateless stand-in for the AWS endpoints the functions call,
//! answering every call with success after a fixed latency.
//!
//! Why it exists: the function's CPU time must not depend on how slow the
//! endpoint is, but with the SDK it does. Stalled-stream protection wakes
//! every in-flight request about every 100 ms to check its throughput; the
//! emulator serialises requests and slows down as tables grow (moto
//! deep-copies every table a `TransactWriteItems` touches), so requests wait
//! for seconds and those wake-ups come to dominate the CPU measured. On AWS
//! a call takes milliseconds and they hardly fire. Here the latency is what
//! you set (a few milliseconds, as in-region), the CPU figure is the
//! function's own work, and moto stays the check of behaviour.
//!
//! Answers (what the benchmark workloads need on their success path):
//! DynamoDB `GetItem` finds nothing and every write succeeds; Kinesis
//! `PutRecords` accepts every entry; SES v2 `SendEmail` and SQS
//! `SendMessage` return a message id. Each call is counted by operation, so
//! a batch's effect can still be checked: one reservation transaction, one
//! email or one command per record, and no dead letter.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use crate::server::{self, Request, Response, Server};

/// What the functions asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounts {
    /// Calls per `Service.Operation`.
    pub operations: BTreeMap<String, u64>,
    /// Kinesis entries written, and of those, which `eventType`s.
    pub kinesis_records: u64,
    pub kinesis_types: BTreeMap<String, u64>,
    /// Requests the fake does not know (answered 400).
    pub unknown: u64,
}

impl CallCounts {
    pub fn calls(&self, operation: &str) -> u64 {
        self.operations.get(operation).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.operations.values().sum::<u64>() + self.unknown
    }
}

struct State {
    latency: Duration,
    counts: Mutex<CallCounts>,
    ids: AtomicU64,
}

/// A running fake; stops when dropped.
pub struct FakeAws {
    server: Server,
    state: Arc<State>,
}

impl FakeAws {
    pub async fn start(latency: Duration) -> std::io::Result<Self> {
        let state = Arc::new(State {
            latency,
            counts: Mutex::new(CallCounts::default()),
            ids: AtomicU64::new(1),
        });
        let shared = Arc::clone(&state);
        let server = Server::start(move |request| {
            let state = Arc::clone(&shared);
            async move {
                let response = answer(&request, &state);
                tokio::time::sleep(state.latency).await;
                response
            }
        })
        .await?;
        Ok(Self { server, state })
    }

    /// The value for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn latency(&self) -> Duration {
        self.state.latency
    }

    pub fn counts(&self) -> CallCounts {
        self.state
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    server::header(server::json(status, body), "x-amzn-ErrorType", kind)
}

/// The service and operation a request calls, when the fake knows it.
fn operation(request: &Request) -> Option<(&'static str, &str)> {
    let target = request.header("x-amz-target").unwrap_or_default();
    match target.split_once('.') {
        Some((prefix, op)) if prefix.starts_with("DynamoDB_") => Some(("DynamoDB", op)),
        Some((prefix, op)) if prefix.starts_with("Kinesis_") => Some(("Kinesis", op)),
        Some(("AmazonSQS", op)) => Some(("SQS", op)),
        _ if request.method == hyper::Method::POST
            && request.path == "/v2/email/outbound-emails" =>
        {
            Some(("SESv2", "SendEmail"))
        }
        _ => None,
    }
}

fn answer(request: &Request, state: &State) -> Response {
    let id = state.ids.fetch_add(1, Ordering::Relaxed);
    let mut counts = state.counts.lock().unwrap_or_else(|p| p.into_inner());
    let Some((service, operation)) = operation(request) else {
        counts.unknown += 1;
        let target = request.header("x-amz-target").unwrap_or_default();
        let message = format!(
            "the fake endpoint does not serve {} {} {target}",
            request.method, request.path
        );
        return error(400, "UnknownOperationException", &message);
    };
    *counts
        .operations
        .entry(format!("{service}.{operation}"))
        .or_default() += 1;

    let request_id = format!("fake-{id:016x}");
    let body = match (service, operation) {
        (
            "DynamoDB",
            "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems",
        ) => "{}".to_owned(),
        ("Kinesis", "PutRecords") => put_records(&request.body, id, &mut counts),
        ("SESv2", "SendEmail") => {
            let body = serde_json::json!({ "MessageId": request_id }).to_string();
            return server::header(server::json(200, body), "x-amzn-RequestId", &request_id);
        }
        ("SQS", "SendMessage") => serde_json::json!({
            "MessageId": request_id,
            "MD5OfMessageBody": "00000000000000000000000000000000",
        })
        .to_string(),
        _ => {
            counts.unknown += 1;
            let message = format!("the fake endpoint does not serve {service}.{operation}");
            return error(400, "UnknownOperationException", &message);
        }
    };
    // The JSON protocol versions: Kinesis speaks 1.1, DynamoDB and SQS 1.0.
    let version = if service == "Kinesis" { "1.1" } else { "1.0" };
    let response = server::with_type(200, body, &format!("application/x-amz-json-{version}"));
    server::header(response, "x-amzn-RequestId", &request_id)
}

/// Accepts every entry, counting each by its `eventType` (or
/// `commandType`).
fn put_records(body: &[u8], id: u64, counts: &mut CallCounts) -> String {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let entries = parsed["Records"].as_array().cloned().unwrap_or_default();
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        counts.kinesis_records += 1;
        let kind = entry["Data"]
            .as_str()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .and_then(|d: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&d).ok())
            .and_then(|v| {
                v.get("eventType")
                    .or_else(|| v.get("commandType"))
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "<unreadable>".to_owned());
        *counts.kinesis_types.entry(kind).or_default() += 1;
        records.push(serde_json::json!({
            "SequenceNumber": format!("{id:030}{i:026}"),
            "ShardId": "shardId-000000000000",
        }));
    }
    serde_json::json!({ "FailedRecordCount": 0, "Records": records }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};

    async fn sdk(fake: &FakeAws) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(fake.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .load()
            .await
    }

    #[tokio::test]
    async fn the_sdk_clients_accept_its_answers() {
        use aws_sdk_dynamodb::types::AttributeValue;

        let fake = FakeAws::start(Duration::from_millis(1)).await.unwrap();
        let cfg = sdk(&fake).await;

        let dynamodb = aws_sdk_dynamodb::Client::new(&cfg);
        let got = dynamodb
            .get_item()
            .table_name("t")
            .key("id", AttributeValue::S("k".into()))
            .send()
            .await
            .unwrap();
        assert!(got.item().is_none());
        dynamodb
            .put_item()
            .table_name("t")
            .item("id", AttributeValue::S("k".into()))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .unwrap();

        let kinesis = aws_sdk_kinesis::Client::new(&cfg);
        let entry = |data: &str| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("o-1")
                .data(aws_sdk_kinesis::primitives::Blob::new(data.as_bytes()))
                .build()
                .unwrap()
        };
        let put = kinesis
            .put_records()
            .stream_name("s")
            .records(entry(r#"{"eventType":"RESERVE_INVENTORY"}"#))
            .records(entry("not json"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_record_count(), Some(0));
        assert_eq!(put.records().len(), 2);

        let ses = aws_sdk_sesv2::Client::new(&cfg);
        let sent = ses
            .send_email()
            .from_email_address("shop@a.example")
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses("c@b.example")
                    .build(),
            )
            .content(
                aws_sdk_sesv2::types::EmailContent::builder()
                    .simple(
                        aws_sdk_sesv2::types::Message::builder()
                            .subject(
                                aws_sdk_sesv2::types::Content::builder()
                                    .data("s")
                                    .build()
                                    .unwrap(),
                            )
                            .body(aws_sdk_sesv2::types::Body::builder().build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(sent.message_id().is_some());

        let sqs = aws_sdk_sqs::Client::new(&cfg);
        sqs.send_message()
            .queue_url(format!("{}/123456789012/dlq", fake.endpoint()))
            .message_body("{}")
            .send()
            .await
            .unwrap();

        let counts = fake.counts();
        assert_eq!(counts.calls("DynamoDB.GetItem"), 1);
        assert_eq!(counts.calls("DynamoDB.PutItem"), 1);
        assert_eq!(counts.calls("Kinesis.PutRecords"), 1);
        assert_eq!(counts.calls("SESv2.SendEmail"), 1);
        assert_eq!(counts.calls("SQS.SendMessage"), 1);
        assert_eq!(counts.kinesis_records, 2);
        assert_eq!(counts.kinesis_types.get("RESERVE_INVENTORY"), Some(&1));
        assert_eq!(counts.kinesis_types.get("<unreadable>"), Some(&1));
        assert_eq!(counts.unknown, 0);

        // An operation it does not serve is an error the SDK reports.
        assert!(dynamodb.scan().table_name("t").send().await.is_err());
        assert_eq!(fake.counts().unknown, 1);
    }
}
