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
//! | `reason` | S? | why the saga is compensating or failed: a code of `order_events::FailureReason` |
//! | `reasonDetail` | S? | what the participant or producer said, or what timed out; bounded, no control characters |
//! | `stepDeadline` | N? | epoch ms by which the awaited reply is due; absent once the saga has ended |
//! | `compensationResends` | N? | re-sends of the first pending compensation (absent: none) |
//! | `unconfirmedCompensations` | L of S? | compensations given up on, unanswered after every re-send |
//! | `appliedEvents` | L of S | deduplication keys of the applied events, oldest first |
//! | `lastEventKey` | S | the last of them |
//! | `outbox` | L of M | the last transition's records: `eventId`, `eventType`, `partitionKey` (S), `data` (B) |
//! | `outboxSource` | S? | the stream position of the record that made the last transition |
//! | `outboxPending` | BOOL? | true while a sweep-written outbox is not known to be published |
//! | `updatedAt` | S | RFC 3339, for people reading the table |
//!
//! # Finding overdue sagas
//!
//! The sweep reads the table with a paginated `Scan` and a filter
//! expression ([`DynamoDbSagaStore::scan_due`]). A scan reads (and bills)
//! every item, ended sagas included, so its cost grows with the table; the
//! sweep bounds the work per run and resumes where it stopped. For a large
//! table, a sparse global secondary index replaces the scan: project
//! `stepDeadline` into an index whose partition key is a small fixed set of
//! shard values (say `sweepShard`, 0-9, written with the deadline and
//! removed with it) and whose sort key is `stepDeadline`, then `Query` each
//! shard for `stepDeadline <= :now`. Only waiting sagas are in the index,
//! and each query returns only the overdue ones.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use order_events::{
    EmailAddress, EventId, EventKind, FailureReason, Money, OrderId, OrderLines, OutgoingRecord,
    SagaId, Timestamp, UserId,
};

use crate::saga::{Compensation, OrderInfo, Phase, Saga, SagaStatus, Step};
use crate::store::{
    DuePage, SagaRecord, SagaStore, ScanCursor, StoreError, SweepStore, Unreadable,
};
use crate::text::{self, MAX_DETAIL_CHARS};

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
            .map(|item| {
                from_item(item).map_err(|e| StoreError::Corrupt(text::echo(&e).into_owned()))
            })
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

/// The scan's filter: [`SagaRecord::is_due`] as a DynamoDB expression.
pub const DUE_FILTER: &str = "(#status IN (:running, :compensating) \
     AND (attribute_not_exists(#deadline) OR #deadline <= :now)) \
     OR #pending = :pending";

impl SweepStore for DynamoDbSagaStore {
    async fn scan_due(
        &self,
        now_ms: u64,
        start: Option<&ScanCursor>,
        limit: u32,
    ) -> Result<DuePage, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(DUE_FILTER)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#deadline", "stepDeadline")
            .expression_attribute_names("#pending", "outboxPending")
            .expression_attribute_values(":running", s(SagaStatus::Running.as_str()))
            .expression_attribute_values(":compensating", s(SagaStatus::Compensating.as_str()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":pending", AttributeValue::Bool(true))
            .limit(limit);
        if let Some(ScanCursor(order_id)) = start {
            request = request.exclusive_start_key(KEY, s(order_id));
        }
        let output = request.send().await.map_err(|e| {
            StoreError::Unavailable(anyhow::anyhow!(
                "Scan {}: {}",
                self.table,
                DisplayErrorContext(e)
            ))
        })?;
        let sagas = output
            .items()
            .iter()
            .map(|item| {
                from_item(item).map_err(|error| Unreadable {
                    key: item.get(KEY).and_then(|k| k.as_s().ok()).cloned(),
                    error: text::echo(&error).into_owned(),
                })
            })
            .collect();
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get(KEY))
            .and_then(|k| k.as_s().ok())
            .map(|k| ScanCursor(k.clone()));
        Ok(DuePage {
            sagas,
            scanned: usize::try_from(output.scanned_count()).unwrap_or(0),
            next,
        })
    }

    async fn confirm_published(
        &self,
        order_id: &OrderId,
        version: u64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(order_id.as_str()))
            .update_expression("REMOVE #pending")
            .condition_expression("#version = :read")
            .expression_attribute_names("#pending", "outboxPending")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":read", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(StoreError::Unavailable(anyhow::anyhow!(
                    "UpdateItem {}: {}",
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
    insert_optional(&mut item, record);
    Ok(item)
}

/// The attributes written only when they have a value (absent otherwise,
/// so a scan's filter can test for them).
fn insert_optional(item: &mut Item, record: &SagaRecord) {
    let saga = &record.saga;
    if let Some(email) = &saga.order.email {
        item.insert("email".to_owned(), s(email.as_str()));
    }
    if let Some(reason) = saga.reason {
        item.insert("reason".to_owned(), s(reason.code()));
    }
    if let Some(detail) = &saga.detail {
        item.insert("reasonDetail".to_owned(), s(detail));
    }
    if let Some(deadline) = saga.step_deadline {
        item.insert(
            "stepDeadline".to_owned(),
            AttributeValue::N(deadline.to_string()),
        );
    }
    if saga.resends > 0 {
        item.insert(
            "compensationResends".to_owned(),
            AttributeValue::N(saga.resends.to_string()),
        );
    }
    if !saga.unconfirmed.is_empty() {
        item.insert(
            "unconfirmedCompensations".to_owned(),
            list(saga.unconfirmed.iter().map(|c| c.as_str())),
        );
    }
    if record.outbox_pending {
        item.insert("outboxPending".to_owned(), AttributeValue::Bool(true));
    }
    if let Some(last) = saga.last_applied() {
        item.insert("lastEventKey".to_owned(), s(last));
    }
    if let Some(source) = &record.source {
        item.insert("outboxSource".to_owned(), s(source));
    }
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

/// An optional number attribute, parsed without wrapping: a value out of
/// range is an unreadable item, not a wrapped number.
fn opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(value) => value
            .as_n()
            .map_err(|_| format!("attribute {name} is not a number"))?
            .parse()
            .map(Some)
            .map_err(|e| format!("attribute {name}: {e}")),
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
    let phase = phase_of(item, status)?;
    let completed = get_list(item, "completedSteps")?
        .into_iter()
        .map(|st| Step::parse(st).ok_or_else(|| format!("`{st}` is not a step")))
        .collect::<Result<Vec<_>, _>>()?;
    let order = order_of(item)?;
    let (reason, detail) = reason_of(item)?;
    let unconfirmed = compensations(item, "unconfirmedCompensations")?;
    let outbox_pending = match item.get("outboxPending") {
        None | Some(AttributeValue::Null(_)) => false,
        Some(AttributeValue::Bool(pending)) => *pending,
        Some(_) => return Err("attribute outboxPending is not a boolean".to_owned()),
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
            reason,
            detail,
            step_deadline: opt_n(item, "stepDeadline")?,
            resends: opt_n(item, "compensationResends")?.unwrap_or(0),
            unconfirmed,
            applied: get_list(item, "appliedEvents")?
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
        outbox,
        source: opt_s(item, "outboxSource")?.map(str::to_owned),
        outbox_pending,
    })
}

/// The phase of a saga stored with `status`: the awaited step, or the
/// compensations still owed (at least one).
fn phase_of(item: &Item, status: SagaStatus) -> Result<Phase, String> {
    let step = get_s(item, "step")?;
    Ok(match status {
        SagaStatus::Running => Phase::Running {
            awaiting: Step::parse(step)
                .ok_or_else(|| format!("attribute step: `{step}` is not a step"))?,
        },
        SagaStatus::Compensating => {
            let pending = compensations(item, "pendingCompensations")?;
            if pending.is_empty() {
                return Err("a compensating saga has no pending compensation".to_owned());
            }
            Phase::Compensating { pending }
        }
        SagaStatus::Completed => Phase::Completed,
        SagaStatus::Failed => Phase::Failed,
    })
}

/// The list attribute `name` of compensations (absent: none).
fn compensations(item: &Item, name: &str) -> Result<Vec<Compensation>, String> {
    get_list(item, name)?
        .into_iter()
        .map(|c| Compensation::parse(c).ok_or_else(|| format!("`{c}` is not a compensation")))
        .collect()
}

/// What later commands and the outcome event need of the order.
fn order_of(item: &Item) -> Result<OrderInfo, String> {
    let items: OrderLines =
        serde_json::from_str(get_s(item, "items")?).map_err(|e| format!("attribute items: {e}"))?;
    Ok(OrderInfo {
        user_id: parse("userId", get_s(item, "userId")?, |v| UserId::parse(v))?,
        email: opt_s(item, "email")?
            .map(|v| parse("email", v, |v| EmailAddress::parse(v)))
            .transpose()?,
        items,
        total: parse("total", get_s(item, "total")?, Money::from_str)?,
    })
}

/// The failure reason and its detail. A reason stored as free text
/// (before reasons were codes) reads as OTHER, its text kept as the
/// detail.
fn reason_of(item: &Item) -> Result<(Option<FailureReason>, Option<String>), String> {
    let (reason, legacy_detail) = match opt_s(item, "reason")? {
        None => (None, None),
        Some(text) => match FailureReason::from_str(text) {
            Ok(code) => (Some(code), None),
            Err(()) => (
                Some(FailureReason::Other),
                Some(text::clean(text, MAX_DETAIL_CHARS)).filter(|d| !d.is_empty()),
            ),
        },
    };
    let detail = match opt_s(item, "reasonDetail")? {
        Some(detail) => Some(text::clean(detail, MAX_DETAIL_CHARS)),
        None => legacy_detail,
    };
    Ok((reason, detail))
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
    use crate::machine::{on_deadline, transition, DeadlineDecision, Decision, Timing};
    use order_events::{DedupKey, Event};

    const AT: Timing = Timing {
        now_ms: 1_761_825_600_000,
        step_timeout_ms: 300_000,
    };

    fn record_after(events: &[(EventKind, &str)]) -> SagaRecord {
        let mut state: Option<SagaRecord> = None;
        for (n, (kind, payload)) in events.iter().enumerate() {
            let event = Event::parse(*kind, payload).unwrap();
            let key = DedupKey::EventId(format!("e-{n}"));
            let Decision::Apply { saga, emit } =
                transition(state.as_ref().map(|r| &r.saga), &event, &key, AT)
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
                outbox_pending: false,
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

    /// The saga after `record`'s deadline passed `times` times.
    fn overdue(mut record: SagaRecord, times: usize) -> SagaRecord {
        for _ in 0..times {
            let at = Timing {
                now_ms: record.saga.step_deadline.unwrap(),
                ..AT
            };
            let DeadlineDecision::Apply { saga, .. } = on_deadline(&record.saga, at) else {
                panic!("not due")
            };
            record.saga = saga;
        }
        record
    }

    #[test]
    fn reasons_deadlines_and_resends_round_trip_as_their_attributes() {
        let placed = record_after(&[(EventKind::OrderPlaced, PLACED)]);
        let item = to_item(&placed, Timestamp::now()).unwrap();
        assert_eq!(item["stepDeadline"].as_n().unwrap(), "1761825900000");
        assert!(!item.contains_key("reason"));
        assert!(!item.contains_key("outboxPending"));

        let failing = record_after(&[
            (EventKind::OrderPlaced, PLACED),
            (
                EventKind::InventoryReserved,
                r#"{"orderId":"o-1","sagaId":"o-1","items":[{"productId":"p","quantity":3}]}"#,
            ),
            (
                EventKind::PaymentFailed,
                r#"{"orderId":"o-1","sagaId":"o-1","reason":"card\ndeclined"}"#,
            ),
        ]);
        // Two re-sends, then the release is given up: every new attribute.
        let mut record = overdue(failing, 2);
        record.outbox_pending = true;
        let item = to_item(&record, Timestamp::now()).unwrap();
        assert_eq!(item["reason"].as_s().unwrap(), "PAYMENT_DECLINED");
        assert_eq!(item["reasonDetail"].as_s().unwrap(), "carddeclined");
        assert_eq!(item["compensationResends"].as_n().unwrap(), "2");
        assert_eq!(item["outboxPending"], AttributeValue::Bool(true));
        assert_eq!(from_item(&item).unwrap(), record);

        let record = overdue(record, 4);
        assert_eq!(record.saga.status(), SagaStatus::Failed);
        let item = to_item(&record, Timestamp::now()).unwrap();
        assert_eq!(item["reason"].as_s().unwrap(), "TIMED_OUT");
        assert_eq!(
            item["unconfirmedCompensations"],
            list(["RELEASE_INVENTORY"])
        );
        assert!(
            !item.contains_key("stepDeadline"),
            "an ended saga waits for nothing"
        );
        assert!(!item.contains_key("compensationResends"));
        assert_eq!(from_item(&item).unwrap(), record);
    }

    #[test]
    fn a_free_text_reason_stored_earlier_reads_as_other_with_its_text_kept() {
        let record = record_after(&[
            (EventKind::OrderPlaced, PLACED),
            (EventKind::InventoryReservationFailed, REPLY),
        ]);
        let mut item = to_item(&record, Timestamp::now()).unwrap();
        item.remove("reasonDetail");
        item.insert(
            "reason".into(),
            s(&format!(
                "inventory reservation failed:\n{}",
                "x".repeat(2_000)
            )),
        );
        let read = from_item(&item).unwrap().saga;
        assert_eq!(read.reason, Some(FailureReason::Other));
        let detail = read.detail.unwrap();
        assert!(
            detail.starts_with("inventory reservation failed:x"),
            "{detail}"
        );
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
    }

    #[test]
    fn numbers_out_of_range_make_an_item_unreadable_never_wrapped() {
        let good = to_item(
            &record_after(&[(EventKind::OrderPlaced, PLACED)]),
            Timestamp::now(),
        )
        .unwrap();
        for (name, value) in [
            ("version", "18446744073709551616"),
            ("version", "-1"),
            ("stepDeadline", "18446744073709551616"),
            ("stepDeadline", "1.5"),
            ("compensationResends", "4294967296"),
        ] {
            let mut bad = good.clone();
            bad.insert(name.into(), AttributeValue::N(value.into()));
            let err = from_item(&bad).unwrap_err();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
        let mut bad = good;
        bad.insert("outboxPending".into(), s("yes"));
        assert!(from_item(&bad).unwrap_err().contains("outboxPending"));
    }
}
