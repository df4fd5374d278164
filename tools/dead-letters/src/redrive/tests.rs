//! The redrive logic against a fake queue and a fake stream.

use std::sync::Mutex;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::*;

const EVENTS_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/order-events";

/// A queue in memory: messages in order, each visible or held.
#[derive(Default)]
struct FakeQueue {
    messages: Mutex<Vec<(Received, bool)>>,
    fail_delete: Mutex<Vec<String>>,
}

impl FakeQueue {
    fn with(bodies: &[String]) -> Self {
        let queue = Self::default();
        for (i, body) in bodies.iter().enumerate() {
            queue.lock().push((
                Received {
                    message_id: format!("m{i}"),
                    receipt_handle: format!("h{i}"),
                    body: body.clone(),
                },
                true,
            ));
        }
        queue
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Received, bool)>> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bodies still in the queue, and whether each is visible.
    fn left(&self) -> Vec<(String, bool)> {
        self.lock()
            .iter()
            .map(|(r, v)| (r.message_id.clone(), *v))
            .collect()
    }
}

impl Queue for FakeQueue {
    async fn receive_all(&self) -> anyhow::Result<Vec<Received>> {
        let mut messages = self.lock();
        let mut out = Vec::new();
        for (message, visible) in messages.iter_mut() {
            if *visible {
                *visible = false;
                out.push(message.clone());
            }
        }
        Ok(out)
    }

    async fn delete(&self, messages: &[&Received]) -> Vec<Result<(), String>> {
        let failing = self
            .fail_delete
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        let mut queue = self.lock();
        messages
            .iter()
            .map(|m| {
                if failing.contains(&m.message_id) {
                    return Err("AccessDenied".to_owned());
                }
                let before = queue.len();
                queue.retain(|(r, _)| r.receipt_handle != m.receipt_handle);
                if queue.len() < before {
                    Ok(())
                } else {
                    Err("ReceiptHandleIsInvalid".to_owned())
                }
            })
            .collect()
    }

    async fn release(&self, messages: &[&Received]) -> Vec<Result<(), String>> {
        let mut queue = self.lock();
        messages
            .iter()
            .map(|m| {
                match queue
                    .iter_mut()
                    .find(|(r, _)| r.receipt_handle == m.receipt_handle)
                {
                    Some((_, visible)) => {
                        *visible = true;
                        Ok(())
                    }
                    None => Err("ReceiptHandleIsInvalid".to_owned()),
                }
            })
            .collect()
    }
}

type Landed = (String, Vec<u8>, String);
type Script = Box<dyn Fn(u32, &Entry<'_>) -> Option<EntryResult> + Send + Sync>;

/// A stream that records what landed; a script may fail entries or calls.
#[derive(Default)]
struct FakeStreams {
    landed: Mutex<Vec<Landed>>,
    calls: Mutex<Vec<Vec<String>>>,
    fail_entry: Option<Script>,
    fail_call: Option<CallError>,
}

impl FakeStreams {
    fn landed(&self) -> Vec<Landed> {
        self.landed.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Partition keys of each call.
    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Streams for FakeStreams {
    async fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[Entry<'_>],
    ) -> Result<Vec<EntryResult>, CallError> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            calls.push(entries.iter().map(|e| e.partition_key.to_owned()).collect());
            u32::try_from(calls.len()).unwrap_or(u32::MAX)
        };
        if let Some(err) = &self.fail_call {
            return Err(err.clone());
        }
        let mut landed = self.landed.lock().unwrap_or_else(|e| e.into_inner());
        Ok(entries
            .iter()
            .map(|entry| {
                if let Some(failure) = self.fail_entry.as_ref().and_then(|f| f(call, entry)) {
                    return failure;
                }
                landed.push((
                    stream_label(stream),
                    entry.data.to_vec(),
                    entry.partition_key.to_owned(),
                ));
                EntryResult::Ok {
                    shard_id: "shardId-000000000000".to_owned(),
                    sequence_number: format!("{}", 1000 + landed.len()),
                }
            })
            .collect())
    }
}

fn letter_json(
    id: Option<&str>,
    function: &str,
    seq: &str,
    key: &str,
    data: Option<&[u8]>,
) -> String {
    let mut letter = serde_json::json!({
        "reason": "unknown product p-9",
        "functionName": function,
        "eventSourceArn": EVENTS_ARN,
        "shardId": "shardId-000000000000",
        "eventID": format!("shardId-000000000000:{seq}"),
        "sequenceNumber": seq,
        "partitionKey": key,
        "dataSha256": hex::encode(Sha256::digest(data.unwrap_or(b"too large"))),
        "dataLength": data.map_or(2_000_000, <[u8]>::len),
        "deadLetteredAt": "2025-10-30T12:00:01.000Z",
    });
    if let Some(data) = data {
        letter["data"] = base64::engine::general_purpose::STANDARD
            .encode(data)
            .into();
    }
    if let Some(id) = id {
        letter["deadLetterId"] = id.into();
    }
    letter.to_string()
}

fn all() -> RedriveOptions {
    RedriveOptions {
        selection: Selection {
            all: true,
            ..Selection::default()
        },
        stream: None,
        dry_run: false,
        retry: Retry {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    }
}

const DATA: &[u8] = br#"{"eventId":"e-1","eventType":"ORDER_CREATED","payload":{"orderId":"o-1"}}"#;

#[tokio::test]
async fn publishes_the_bytes_unchanged_and_deletes_only_what_landed() {
    let queue = FakeQueue::with(&[
        letter_json(Some("dl-1"), "inventory-update", "10", "o-1", Some(DATA)),
        letter_json(Some("dl-2"), "inventory-update", "11", "o-2", None),
    ]);
    let streams = FakeStreams::default();
    let report = redrive(&queue, &streams, &all()).await.unwrap();

    assert_eq!(
        streams.landed(),
        vec![("order-events".to_owned(), DATA.to_vec(), "o-1".to_owned())]
    );
    assert!(
        matches!(&report.chosen[0].outcome, Outcome::Published { stream, deleted: Ok(()), .. } if stream == "order-events")
    );
    assert_eq!(report.chosen[1].outcome, Outcome::NeedsReread);
    assert!(!report.has_failures());
    // The data-less letter stays, visible again for the next reader.
    assert_eq!(queue.left(), vec![("m1".to_owned(), true)]);

    let again = redrive(&queue, &streams, &all()).await.unwrap();
    assert_eq!(again.published(), 0);
    assert_eq!(streams.landed().len(), 1);
    assert_eq!(queue.left(), vec![("m1".to_owned(), true)]);
}

#[tokio::test]
async fn a_letter_seen_twice_in_one_run_is_published_once() {
    let queue = FakeQueue::with(&[
        letter_json(Some("dl-1"), "inventory-update", "10", "o-1", Some(DATA)),
        letter_json(Some("dl-1"), "inventory-update", "10", "o-1", Some(DATA)),
        // The same record, dead-lettered by another function.
        letter_json(Some("dl-9"), "email-notification", "10", "o-1", Some(DATA)),
    ]);
    let streams = FakeStreams::default();
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    assert_eq!(streams.landed().len(), 1);
    assert_eq!(report.published(), 1);
    for duplicate in &report.chosen[1..] {
        assert_eq!(
            duplicate.outcome,
            Outcome::Duplicate {
                of: 0,
                deleted: Some(Ok(()))
            }
        );
    }
    assert!(queue.left().is_empty());
}

#[tokio::test]
async fn one_id_with_different_data_is_refused_not_published() {
    let queue = FakeQueue::with(&[
        letter_json(Some("dl-1"), "inventory-update", "10", "o-1", Some(DATA)),
        letter_json(Some("dl-1"), "inventory-update", "12", "o-1", Some(b"{}")),
    ]);
    let streams = FakeStreams::default();
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    assert_eq!(streams.landed().len(), 1);
    assert!(
        matches!(&report.chosen[1].outcome, Outcome::Refused(why) if why.contains("different data"))
    );
    assert_eq!(queue.left(), vec![("m1".to_owned(), true)]);
}

#[tokio::test]
async fn a_record_that_keeps_failing_stays_and_holds_back_its_key_only() {
    let queue = FakeQueue::with(&[
        letter_json(None, "inventory-update", "10", "o-1", Some(b"first o-1")),
        letter_json(None, "inventory-update", "11", "o-1", Some(b"second o-1")),
        letter_json(None, "inventory-update", "12", "o-2", Some(b"o-2")),
    ]);
    let streams = FakeStreams {
        fail_entry: Some(Box::new(|_, entry| {
            (entry.data == b"first o-1").then(|| EntryResult::Failed {
                code: "ProvisionedThroughputExceededException".into(),
                message: "Rate exceeded".into(),
            })
        })),
        ..FakeStreams::default()
    };
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    assert_eq!(
        streams.landed(),
        vec![("order-events".to_owned(), b"o-2".to_vec(), "o-2".to_owned())]
    );
    assert!(
        matches!(&report.chosen[0].outcome, Outcome::NotPublished(why) if why.contains("ProvisionedThroughput"))
    );
    assert!(matches!(
        &report.chosen[1].outcome,
        Outcome::NotPublished(_)
    ));
    assert!(report.has_failures());
    assert_eq!(report.calls, 3, "retried up to max_attempts");
    assert_eq!(
        queue.left(),
        vec![("m0".to_owned(), true), ("m1".to_owned(), true)]
    );
}

#[tokio::test]
async fn a_failed_entry_is_resent_before_the_next_record_of_its_key() {
    let queue = FakeQueue::with(&[
        // Received out of stream order.
        letter_json(
            None,
            "inventory-update",
            "20",
            "o-1",
            Some(b"ORDER_CANCELLED"),
        ),
        letter_json(None, "inventory-update", "10", "o-1", Some(b"ORDER_PLACED")),
    ]);
    let streams = FakeStreams {
        fail_entry: Some(Box::new(|call, _| {
            (call == 1).then(|| EntryResult::Failed {
                code: "InternalFailure".into(),
                message: "try again".into(),
            })
        })),
        ..FakeStreams::default()
    };
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    let landed: Vec<Vec<u8>> = streams
        .landed()
        .into_iter()
        .map(|(_, data, _)| data)
        .collect();
    assert_eq!(
        landed,
        vec![b"ORDER_PLACED".to_vec(), b"ORDER_CANCELLED".to_vec()]
    );
    // One record of a key per call.
    assert_eq!(streams.calls(), vec![vec!["o-1".to_owned()]; 3]);
    assert_eq!(report.published(), 2);
    assert!(queue.left().is_empty());
}

#[tokio::test]
async fn a_call_refused_for_good_is_not_retried_and_deletes_nothing() {
    let queue = FakeQueue::with(&[letter_json(
        None,
        "inventory-update",
        "10",
        "o-1",
        Some(DATA),
    )]);
    let streams = FakeStreams {
        fail_call: Some(CallError {
            message: "ResourceNotFoundException: stream order-events not found".into(),
            transient: false,
        }),
        ..FakeStreams::default()
    };
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    assert_eq!(report.calls, 1);
    assert!(
        matches!(&report.chosen[0].outcome, Outcome::NotPublished(why) if why.contains("ResourceNotFound"))
    );
    assert_eq!(queue.left(), vec![("m0".to_owned(), true)]);
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let queue = FakeQueue::with(&[letter_json(
        Some("dl-1"),
        "inventory-update",
        "10",
        "o-1",
        Some(DATA),
    )]);
    let streams = FakeStreams::default();
    let options = RedriveOptions {
        dry_run: true,
        ..all()
    };
    let report = redrive(&queue, &streams, &options).await.unwrap();
    assert_eq!(
        report.chosen[0].outcome,
        Outcome::WouldPublish {
            stream: "order-events".into(),
            bytes: DATA.len()
        }
    );
    assert!(streams.calls().is_empty());
    assert_eq!(queue.left(), vec![("m0".to_owned(), true)]);
}

#[tokio::test]
async fn only_chosen_letters_are_touched_and_stream_overrides_the_origin() {
    let queue = FakeQueue::with(&[
        letter_json(None, "inventory-update", "10", "o-1", Some(b"inventory")),
        letter_json(None, "email-notification", "11", "u-1", Some(b"email")),
    ]);
    let streams = FakeStreams::default();
    let options = RedriveOptions {
        selection: Selection {
            functions: vec!["email-notification".into()],
            ..Selection::default()
        },
        stream: Some(StreamRef::Name("replay".into())),
        ..all()
    };
    let report = redrive(&queue, &streams, &options).await.unwrap();
    assert_eq!(report.read, 2);
    assert_eq!(report.chosen.len(), 1);
    assert_eq!(
        streams.landed(),
        vec![("replay".to_owned(), b"email".to_vec(), "u-1".to_owned())]
    );
    assert_eq!(queue.left(), vec![("m0".to_owned(), true)]);
}

#[tokio::test]
async fn letters_that_cannot_be_redriven_say_why_and_stay() {
    let mut no_key: serde_json::Value =
        serde_json::from_str(&letter_json(None, "f", "1", "k", Some(DATA))).unwrap();
    no_key.as_object_mut().unwrap().remove("partitionKey");
    let mut bad_hash: serde_json::Value =
        serde_json::from_str(&letter_json(None, "f", "2", "k", Some(DATA))).unwrap();
    bad_hash["dataSha256"] = "00".into();
    let mut no_source: serde_json::Value =
        serde_json::from_str(&letter_json(None, "f", "3", "k", Some(DATA))).unwrap();
    no_source["eventSourceArn"] = "order-events".into();
    let on_failure = r#"{"requestContext":{"functionArn":"arn:aws:lambda:us-east-1:1:function:f","condition":"RecordAgeExceeded"},
        "KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"1","endSequenceNumber":"9","batchSize":9,"streamArn":"x"}}"#;
    let queue = FakeQueue::with(&[
        no_key.to_string(),
        bad_hash.to_string(),
        no_source.to_string(),
        on_failure.to_owned(),
        "garbage".to_owned(),
    ]);
    let streams = FakeStreams::default();
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    let outcomes: Vec<&Outcome> = report.chosen.iter().map(|c| &c.outcome).collect();
    assert!(matches!(outcomes[0], Outcome::Refused(why) if why.contains("partitionKey")));
    assert!(matches!(outcomes[1], Outcome::Refused(why) if why.contains("dataSha256")));
    assert!(matches!(outcomes[2], Outcome::Refused(why) if why.contains("--stream")));
    assert_eq!(outcomes[3], &Outcome::BatchNeedsReread);
    assert!(matches!(outcomes[4], Outcome::Refused(why) if why.starts_with("unreadable")));
    assert!(streams.calls().is_empty());
    assert_eq!(queue.left().len(), 5);
    assert!(queue.left().iter().all(|(_, visible)| *visible));
}

#[tokio::test]
async fn a_message_that_cannot_be_deleted_is_a_failure() {
    let queue = FakeQueue::with(&[letter_json(
        None,
        "inventory-update",
        "10",
        "o-1",
        Some(DATA),
    )]);
    queue.fail_delete.lock().unwrap().push("m0".into());
    let streams = FakeStreams::default();
    let report = redrive(&queue, &streams, &all()).await.unwrap();
    assert!(matches!(
        &report.chosen[0].outcome,
        Outcome::Published {
            deleted: Err(_),
            ..
        }
    ));
    assert!(report.has_failures());
}

#[tokio::test]
async fn nothing_chosen_is_refused() {
    let queue = FakeQueue::with(&[letter_json(None, "f", "1", "k", Some(DATA))]);
    let options = RedriveOptions {
        selection: Selection::default(),
        ..all()
    };
    assert!(redrive(&queue, &FakeStreams::default(), &options)
        .await
        .is_err());
    assert_eq!(queue.left(), vec![("m0".to_owned(), true)]);
}

#[tokio::test]
async fn listing_leaves_every_message_visible() {
    let queue = FakeQueue::with(&[
        letter_json(None, "f", "1", "k", Some(DATA)),
        "garbage".to_owned(),
    ]);
    let (messages, failures) = list(&queue).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert!(matches!(messages[1].1, Message::Unreadable(_)));
    assert!(failures.is_empty());
    assert_eq!(
        queue.left(),
        vec![("m0".to_owned(), true), ("m1".to_owned(), true)]
    );
}
