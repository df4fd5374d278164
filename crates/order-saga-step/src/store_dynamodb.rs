//! The saga store on DynamoDB (`SAGA_TABLE`, partition key `orderId`).
//!
//! One item per order:
//!
//! | attribute | type | content |
//! |---|---|---|
//! | `orderId` | S | the key |
//! | `status` | S | `RUNNING`, `COMPENSATING`, `COMPLETED` or `FAILED` (the contract) |
//! | `version` | N | 1 on creation, +1 per applied event; every write is conditional on it |
//! | `sagaId` | S | the saga's id (the order id) |
//! | `step` | S | the command whose reply is awaited, or the final status |
//! | `completedSteps` | L of S | forward steps that succeeded, oldest first |
//! | `pendingCompensations` | L of S | compensations still owed, the first one sent |
//! | `userId`, `email`?, `total` | S | what later commands and the outcome event need |
//! | `items` | S | the order lines, JSON |
//! | `reason` | S? | why the saga is compensating or failed |
//! | `appliedEvents` | L of S | deduplication keys of the applied events, oldest first |
//! | `lastEventKey` | S | the last of them |
//! | `outbox` | L of M | the last transition's records: `eventId`, `eventType`, `partitionKey` (S), `data` (B) |
//! | `outboxSource` | S? | the stream position of the record that made the last transition |
//! | `updatedAt` | S | RFC 3339, for people reading the table |

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use order_events::{
    EmailAddress, EventId, EventKind, Money, OrderId, OrderLines, OutgoingRecord, SagaId,
    Timestamp, UserId,
};

use crate::saga::{Compensation, OrderInfo, Phase, Saga, SagaStatus, Step};
use crate::store::{SagaRecord, SagaStore, StoreError};

/// The table's partition key.
pub const KEY: &str = "orderId";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoDbSagaStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbSagaStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl SagaStore for DynamoDbSagaStore {
    async fn load(&self, order_id: &OrderId) -> Result<Option<SagaRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(order_id.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(anyhow::anyhow!(
                    "GetItem {}: {}",
                    self.table,
                    DisplayErrorContext(e)
                ))
            })?;
        output
            .item()
            .map(|item| from_item(item).map_err(StoreError::Corrupt))
            .transpose()
    }

    async fn save(&self, record: &SagaRecord, read_version: Option<u64>) -> Result<(), StoreError> {
        let item = to_item(record, Timestamp::now()).map_err(StoreError::Corrupt)?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match read_version {
            None => request
                .condition_expression("attribute_not_exists(#key)")
                .expression_attribute_names("#key", KEY),
            Some(version) => request
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", AttributeValue::N(version.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Err(StoreError::Conflict),
                _ => Err(StoreError::Unavailable(anyhow::anyhow!(
                    "PutItem {}: {}",
                    self.table,
                    DisplayErrorContext(err)
                ))),
            },
        }
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn list(values: impl IntoIterator<Item = &'static str>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(s).collect())
}

/// The item of `record`, written at `now`.
pub fn to_item(record: &SagaRecord, now: Timestamp) -> Result<Item, String> {
    let saga = &record.saga;
    let items = serde_json::to_string(&saga.order.items)
        .map_err(|e| format!("cannot encode items: {e}"))?;
    let pending: Vec<Compensation> = match &saga.phase {
        Phase::Compensating { pending } => pending.clone(),
        _ => Vec::new(),
    };
    let mut item: Item = HashMap::from([
        (KEY.to_owned(), s(saga.order_id.as_str())),
        ("sagaId".to_owned(), s(saga.saga_id.as_str())),
        ("status".to_owned(), s(saga.status().as_str())),
        (
            "version".to_owned(),
            AttributeValue::N(saga.version.to_string()),
        ),
        ("step".to_owned(), s(saga.phase.step_name())),
        (
            "completedSteps".to_owned(),
            list(saga.completed.iter().map(|st| st.as_str())),
        ),
        (
            "pendingCompensations".to_owned(),
            list(pending.iter().map(|c| c.as_str())),
        ),
        ("userId".to_owned(), s(saga.order.user_id.as_str())),
        ("items".to_owned(), s(&items)),
        ("total".to_owned(), s(&saga.order.total.to_string())),
        (
            "appliedEvents".to_owned(),
            AttributeValue::L(saga.applied.iter().map(|k| s(k)).collect()),
        ),
        (
            "outbox".to_owned(),
            AttributeValue::L(record.outbox.iter().map(outbox_entry).collect()),
        ),
        ("updatedAt".to_owned(), s(&now.to_rfc3339())),
    ]);
    if let Some(email) = &saga.order.email {
        item.insert("email".to_owned(), s(email.as_str()));
    }
    if let Some(reason) = &saga.reason {
        item.insert("reason".to_owned(), s(reason));
    }
    if let Some(last) = saga.last_applied() {
        item.insert("lastEventKey".to_owned(), s(last));
    }
    if let Some(source) = &record.source {
        item.insert("outboxSource".to_owned(), s(source));
    }
    Ok(item)
}

fn outbox_entry(record: &OutgoingRecord) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("eventId".to_owned(), s(record.event_id.as_str())),
        ("eventType".to_owned(), s(record.kind.as_str())),
        ("partitionKey".to_owned(), s(&record.partition_key)),
        (
            "data".to_owned(),
            AttributeValue::B(Blob::new(record.data.clone())),
        ),
    ]))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    item.get(name)
        .ok_or_else(|| format!("attribute {name} is missing"))?
        .as_s()
        .map(String::as_str)
        .map_err(|_| format!("attribute {name} is not a string"))
}

fn opt_s<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, String> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_s(item, name).map(Some),
    }
}

fn get_list<'a>(item: &'a Item, name: &str) -> Result<Vec<&'a str>, String> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(value) => value
            .as_l()
            .map_err(|_| format!("attribute {name} is not a list"))?
            .iter()
            .map(|v| {
                v.as_s()
                    .map(String::as_str)
                    .map_err(|_| format!("attribute {name} holds a non-string"))
            })
            .collect(),
    }
}

fn parse<T>(
    name: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    parse(value).map_err(|e| format!("attribute {name}: {e}"))
}

/// The saga in `item`, or why it is not one.
pub fn from_item(item: &Item) -> Result<SagaRecord, String> {
    let order_id = parse(KEY, get_s(item, KEY)?, |v| OrderId::parse(v))?;
    let saga_id = parse("sagaId", get_s(item, "sagaId")?, |v| SagaId::parse(v))?;
    let status = get_s(item, "status")?;
    let status = SagaStatus::parse(status)
        .ok_or_else(|| format!("attribute status: unknown status `{status}`"))?;
    let version: u64 = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .ok_or("attribute version is missing or not a number")?
        .parse()
        .map_err(|e| format!("attribute version: {e}"))?;
    let step = get_s(item, "step")?;
    let phase = match status {
        SagaStatus::Running => Phase::Running {
            awaiting: Step::parse(step)
                .ok_or_else(|| format!("attribute step: `{step}` is not a step"))?,
        },
        SagaStatus::Compensating => {
            let pending = get_list(item, "pendingCompensations")?
                .into_iter()
                .map(|c| {
                    Compensation::parse(c).ok_or_else(|| format!("`{c}` is not a compensation"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if pending.is_empty() {
                return Err("a compensating saga has no pending compensation".to_owned());
            }
            Phase::Compensating { pending }
        }
        SagaStatus::Completed => Phase::Completed,
        SagaStatus::Failed => Phase::Failed,
    };
    let completed = get_list(item, "completedSteps")?
        .into_iter()
        .map(|st| Step::parse(st).ok_or_else(|| format!("`{st}` is not a step")))
        .collect::<Result<Vec<_>, _>>()?;
    let items: OrderLines =
        serde_json::from_str(get_s(item, "items")?).map_err(|e| format!("attribute items: {e}"))?;
    let order = OrderInfo {
        user_id: parse("userId", get_s(item, "userId")?, |v| UserId::parse(v))?,
        email: opt_s(item, "email")?
            .map(|v| parse("email", v, |v| EmailAddress::parse(v)))
            .transpose()?,
        items,
        total: parse("total", get_s(item, "total")?, Money::from_str)?,
    };
    let outbox = match item.get("outbox") {
        None => Vec::new(),
        Some(value) => value
            .as_l()
            .map_err(|_| "attribute outbox is not a list".to_owned())?
            .iter()
            .map(outbox_record)
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(SagaRecord {
        saga: Saga {
            order_id,
            saga_id,
            version,
            phase,
            completed,
            order,
            reason: opt_s(item, "reason")?.map(str::to_owned),
            applied: get_list(item, "appliedEvents")?
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
        outbox,
        source: opt_s(item, "outboxSource")?.map(str::to_owned),
    })
}

fn outbox_record(value: &AttributeValue) -> Result<OutgoingRecord, String> {
    let entry = value
        .as_m()
        .map_err(|_| "an outbox entry is not a map".to_owned())?;
    let kind = get_s(entry, "eventType")?;
    Ok(OutgoingRecord {
        event_id: parse("outbox.eventId", get_s(entry, "eventId")?, |v| {
            EventId::parse(v)
        })?,
        kind: EventKind::from_str(kind)
            .map_err(|_| format!("outbox.eventType: unknown type `{kind}`"))?,
        partition_key: get_s(entry, "partitionKey")?.to_owned(),
        data: entry
            .get("data")
            .and_then(|d| d.as_b().ok())
            .ok_or("outbox.data is missing or not binary")?
            .as_ref()
            .to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{transition, Decision};
    use order_events::{DedupKey, Event};

    fn record_after(events: &[(EventKind, &str)]) -> SagaRecord {
        let mut state: Option<SagaRecord> = None;
        for (n, (kind, payload)) in events.iter().enumerate() {
            let event = Event::parse(*kind, payload).unwrap();
            let key = DedupKey::EventId(format!("e-{n}"));
            let Decision::Apply { saga, emit } =
                transition(state.as_ref().map(|r| &r.saga), &event, &key)
            else {
                panic!("{kind} did not apply");
            };
            let outbox = emit
                .iter()
                .map(|e| {
                    OutgoingRecord::new(e.event_id.clone(), Timestamp::now(), &e.event).unwrap()
                })
                .collect();
            state = Some(SagaRecord {
                saga,
                outbox,
                source: Some(format!("shardId-000000000000:{n}")),
            });
        }
        state.unwrap()
    }

    const PLACED: &str = r#"{"orderId":"o-1","userId":"u-1","email":"jane@example.com","total":"12.30","items":[{"productId":"p","quantity":3,"price":4.1}]}"#;
    const REPLY: &str = r#"{"orderId":"o-1","sagaId":"o-1","reason":"no stock"}"#;

    #[test]
    fn every_phase_round_trips_through_an_item() {
        let paths: &[&[(EventKind, &str)]] = &[
            &[(EventKind::OrderPlaced, PLACED)],
            &[
                (EventKind::OrderPlaced, PLACED),
                (
                    EventKind::InventoryReserved,
                    r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p","quantity":3}]}"#,
                ),
            ],
            &[
                (EventKind::OrderPlaced, PLACED),
                (
                    EventKind::InventoryReserved,
                    r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p","quantity":3}]}"#,
                ),
                (EventKind::PaymentProcessed, REPLY),
                (EventKind::ShippingFailed, REPLY),
            ],
            &[
                (EventKind::OrderPlaced, PLACED),
                (EventKind::InventoryReservationFailed, REPLY),
            ],
        ];
        for path in paths {
            let record = record_after(path);
            let item = to_item(&record, Timestamp::now()).unwrap();
            assert_eq!(from_item(&item).unwrap(), record, "after {path:?}");
        }
        let compensating = to_item(&record_after(paths[2]), Timestamp::now()).unwrap();
        assert_eq!(compensating["status"].as_s().unwrap(), "COMPENSATING");
        assert_eq!(compensating["step"].as_s().unwrap(), "REFUND_PAYMENT");
        assert_eq!(compensating["lastEventKey"].as_s().unwrap(), "event:e-3");
    }

    #[test]
    fn unreadable_items_say_what_is_wrong() {
        let record = record_after(&[(EventKind::OrderPlaced, PLACED)]);
        let good = to_item(&record, Timestamp::now()).unwrap();

        let mut bad = good.clone();
        bad.insert("status".into(), s("PAUSED"));
        assert!(from_item(&bad)
            .unwrap_err()
            .contains("unknown status `PAUSED`"));

        let mut bad = good.clone();
        bad.remove("version");
        assert!(from_item(&bad).unwrap_err().contains("version"));

        let mut bad = good;
        bad.insert("step".into(), s("DANCE"));
        assert!(from_item(&bad)
            .unwrap_err()
            .contains("`DANCE` is not a step"));
    }
}
