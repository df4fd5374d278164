//! Reading what the run left behind: the sagas, the stock and the
//! reservations, the dead letters, and the mail SES accepted (which the
//! emulator records at `GET /moto-api/data.json`).

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

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
        match key.strip_prefix(inventory_update::dynamodb::RESERVATION_PREFIX) {
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

/// Mail sent from `sender` through the emulator at `endpoint`.
pub async fn sent_mail(endpoint: &str, sender: &str) -> anyhow::Result<Vec<SentMail>> {
    let url = format!("{}/moto-api/data.json", endpoint.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let response = client
        .get(uri)
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url} answered {}", response.status());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading {url}"))?
        .to_bytes();
    let data: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{url} is not JSON"))?;
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
