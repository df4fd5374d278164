//! Reading what the run left behind: the sagas, the stock and the
//! reservations, the dead letters, and the mail SES accepted (which the
//! emulator records at `GET /moto-api/data.json`).

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;

type Item = HashMap<String, AttributeValue>;

/// One saga as `SAGA_TABLE` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaRow {
    pub order_id: String,
    pub status: String,
    pub reason: Option<String>,
}

/// `INVENTORY_TABLE`: products and reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryState {
    /// `available` per product.
    pub available: BTreeMap<String, i64>,
    /// Units per product held by reservations still `RESERVED`.
    pub reserved: BTreeMap<String, i64>,
    /// Per order, the state of its reservation (`RESERVED`/`RELEASED`).
    pub reservations: BTreeMap<String, String>,
}

/// One message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    pub function: String,
    pub reason: String,
    /// The record's data, when the message carries it.
    pub data: Option<Vec<u8>>,
}

/// One email SES accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub to: Vec<String>,
    pub subject: String,
}

async fn scan(sdk: &SdkConfig, table: &str) -> anyhow::Result<Vec<Item>> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(crate::sdk_error)
            .with_context(|| format!("scanning {table}"))?;
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(items),
        }
    }
}

fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub async fn sagas(sdk: &SdkConfig, table: &str) -> anyhow::Result<Vec<SagaRow>> {
    let mut rows: Vec<SagaRow> = scan(sdk, table)
        .await?
        .iter()
        .filter_map(|item| {
            Some(SagaRow {
                order_id: s(item, "orderId")?.to_owned(),
                status: s(item, "status").unwrap_or_default().to_owned(),
                reason: s(item, "reason").map(str::to_owned),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    Ok(rows)
}

pub async fn inventory(sdk: &SdkConfig, table: &str) -> anyhow::Result<InventoryState> {
    Ok(read_inventory(&scan(sdk, table).await?))
}

/// Items of the layout documented in `inventory_update::dynamodb`.
fn read_inventory(items: &[Item]) -> InventoryState {
    let mut state = InventoryState::default();
    for item in items {
        let Some(key) = s(item, "productId") else {
            continue;
        };
        match key.strip_prefix(inventory_update::store::dynamodb::RESERVATION_PREFIX) {
            None => {
                if let Some(available) = n(item, "available") {
                    state.available.insert(key.to_owned(), available);
                }
            }
            Some(order) => {
                let reservation_state = s(item, "state").unwrap_or_default();
                state
                    .reservations
                    .insert(order.to_owned(), reservation_state.to_owned());
                if reservation_state != "RESERVED" {
                    continue;
                }
                let lines = item
                    .get("lines")
                    .and_then(|l| l.as_l().ok())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for line in lines {
                    let Ok(line) = line.as_m() else { continue };
                    if let (Some(product), Some(quantity)) =
                        (s(line, "productId"), n(line, "quantity"))
                    {
                        *state.reserved.entry(product.to_owned()).or_insert(0) += quantity;
                    }
                }
            }
        }
    }
    state
}

/// Every message in the queue (left there; they become visible again
/// after the visibility timeout).
pub async fn dead_letters(sdk: &SdkConfig, queue_url: &str) -> anyhow::Result<Vec<DeadLetterRow>> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut rows = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(crate::sdk_error)
            .context("reading the dead-letter queue")?;
        if out.messages().is_empty() {
            return Ok(rows);
        }
        rows.extend(
            out.messages()
                .iter()
                .map(|m| read_dead_letter(m.body().unwrap_or_default())),
        );
    }
}

fn read_dead_letter(body: &str) -> DeadLetterRow {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    DeadLetterRow {
        function: text("functionName").unwrap_or_else(|| "?".to_owned()),
        reason: text("reason").unwrap_or_else(|| body.chars().take(200).collect()),
        data: text("data").and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok()),
    }
}

/// One record of a stream, as far as the checks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub sequence_number: String,
    /// `eventType`, or `commandType` for the command shape.
    pub kind: Option<String>,
    pub event_id: Option<String>,
    pub order_id: Option<String>,
    pub user_id: Option<String>,
}

impl StreamEvent {
    /// Reads what it can of `data`; anything unreadable stays `None`.
    pub fn read(sequence_number: &str, data: &[u8]) -> Self {
        let value = serde_json::from_slice::<serde_json::Value>(data).unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let payload = value.get("payload").unwrap_or(&value);
        Self {
            sequence_number: sequence_number.to_owned(),
            kind: value
                .get("eventType")
                .or_else(|| value.get("commandType"))
                .and_then(text),
            event_id: value.get("eventId").and_then(text),
            order_id: payload.get("orderId").and_then(text),
            user_id: payload.get("userId").and_then(text),
        }
    }
}

/// Every record of every shard of `stream`, from the oldest; shards one
/// after the other, each in order.
pub async fn stream_events(sdk: &SdkConfig, stream: &str) -> anyhow::Result<Vec<StreamEvent>> {
    let client = aws_sdk_kinesis::Client::new(sdk);
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(crate::sdk_error)
        .with_context(|| format!("listing the shards of {stream}"))?;
    let mut events = Vec::new();
    for shard in shards.shards() {
        let iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(crate::sdk_error)
            .with_context(|| format!("reading {stream}/{}", shard.shard_id()))?;
        let mut next = iterator.shard_iterator().map(str::to_owned);
        while let Some(iterator) = next.take() {
            let page = client
                .get_records()
                .shard_iterator(iterator)
                .limit(10_000)
                .send()
                .await
                .map_err(crate::sdk_error)
                .with_context(|| format!("reading {stream}/{}", shard.shard_id()))?;
            events.extend(
                page.records()
                    .iter()
                    .map(|r| StreamEvent::read(r.sequence_number(), r.data().as_ref())),
            );
            // After the run nothing is written any more: an empty page is
            // the end of the shard.
            if !page.records().is_empty() {
                next = page.next_shard_iterator().map(str::to_owned);
            }
        }
    }
    Ok(events)
}

/// Mail sent from `sender` through the emulator at `endpoint`.
pub async fn sent_mail(endpoint: &str, sender: &str) -> anyhow::Result<Vec<SentMail>> {
    let data = testkit::emulator_api::data(endpoint).await?;
    Ok(read_sent_mail(&data, sender))
}

/// The emulator keeps SES v2 mail under `ses.Message`.
fn read_sent_mail(data: &serde_json::Value, sender: &str) -> Vec<SentMail> {
    let sender = sender.to_ascii_lowercase();
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["source"]
                .as_str()
                .is_some_and(|s| s.to_ascii_lowercase().contains(&sender))
        })
        .map(|m| SentMail {
            to: m["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn line(product: &str, quantity: i64) -> AttributeValue {
        AttributeValue::M(item(&[
            ("productId", AttributeValue::S(product.into())),
            ("quantity", AttributeValue::N(quantity.to_string())),
        ]))
    }

    #[test]
    fn reads_stock_and_the_units_held_by_live_reservations() {
        let items = vec![
            item(&[
                ("productId", AttributeValue::S("SKU-1".into())),
                ("available", AttributeValue::N("7".into())),
            ]),
            item(&[
                ("productId", AttributeValue::S("reservation#ord-1".into())),
                ("state", AttributeValue::S("RESERVED".into())),
                (
                    "lines",
                    AttributeValue::L(vec![line("SKU-1", 2), line("SKU-2", 1)]),
                ),
            ]),
            item(&[
                ("productId", AttributeValue::S("reservation#ord-2".into())),
                ("state", AttributeValue::S("RELEASED".into())),
                ("lines", AttributeValue::L(vec![line("SKU-1", 5)])),
            ]),
        ];
        let state = read_inventory(&items);
        assert_eq!(state.available, BTreeMap::from([("SKU-1".to_owned(), 7)]));
        assert_eq!(
            state.reserved,
            BTreeMap::from([("SKU-1".to_owned(), 2), ("SKU-2".to_owned(), 1)])
        );
        assert_eq!(state.reservations["ord-2"], "RELEASED");
    }

    #[test]
    fn reads_events_and_commands_of_either_shape() {
        let event = StreamEvent::read(
            "1",
            br#"{"eventId":"e-1","eventType":"PAYMENT_PROCESSED","payload":{"orderId":"ord-1","sagaId":"ord-1"}}"#,
        );
        assert_eq!(event.kind.as_deref(), Some("PAYMENT_PROCESSED"));
        assert_eq!(event.event_id.as_deref(), Some("e-1"));
        assert_eq!(event.order_id.as_deref(), Some("ord-1"));
        let command = StreamEvent::read(
            "2",
            br#"{"commandType":"SHIP_ORDER","orderId":"ord-2","userId":"u-1"}"#,
        );
        assert_eq!(command.kind.as_deref(), Some("SHIP_ORDER"));
        assert_eq!(command.order_id.as_deref(), Some("ord-2"));
        assert_eq!(command.user_id.as_deref(), Some("u-1"));
        assert_eq!(command.event_id, None);
        let junk = StreamEvent::read("3", b"\xff not json");
        assert_eq!((junk.kind, junk.order_id), (None, None));
    }

    #[test]
    fn reads_dead_letters_and_keeps_only_this_senders_mail() {
        let letter = read_dead_letter(
            r#"{"reason":"invalid ORDER_PLACED","functionName":"order-saga-step","data":"eyJ9"}"#,
        );
        assert_eq!(letter.function, "order-saga-step");
        assert_eq!(letter.reason, "invalid ORDER_PLACED");
        assert_eq!(letter.data.as_deref(), Some(&b"{\"}"[..]));
        assert_eq!(read_dead_letter("garbage").reason, "garbage");

        let data = serde_json::json!({"ses": {"Message": [
            {"source": "orders@shop.example.com", "destinations": {"ToAddresses": ["a@x.test"]}, "subject": "Hi"},
            {"source": "other@elsewhere.test", "destinations": {"ToAddresses": ["b@x.test"]}, "subject": "No"},
        ]}});
        assert_eq!(
            read_sent_mail(&data, "orders@shop.example.com"),
            vec![SentMail {
                to: vec!["a@x.test".into()],
                subject: "Hi".into()
            }]
        );
        assert!(read_sent_mail(&serde_json::json!({}), "x@y.z").is_empty());
    }
}
