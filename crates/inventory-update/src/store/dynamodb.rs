//! The stock store on DynamoDB (`INVENTORY_TABLE`, partition key
//! `productId` (S)).
//!
//! Items of the table:
//! - a product: `productId` = the product id, `available` (N): units that
//!   can still be reserved. Written by whoever stocks the shop.
//! - an order's reservation: `productId` = `reservation#<orderId>`,
//!   `recordType` = `RESERVATION`, `orderId` (S), `state` (S: `RESERVED` or
//!   `RELEASED`), `owner` (S: `ORDER_CREATED` or `SAGA#<sagaId>`, see
//!   [`Owner`]), `lines` (L of M: `productId` S, `quantity` N, `price` N
//!   when the order gave one), `reservedAt` / `releasedAt` / `takenOverAt`
//!   (S, RFC 3339). It lives in the stock table so that it can be created
//!   in the same transaction as the stock it accounts for. A product id
//!   starting with `reservation#` is therefore never a product.
//!   Reservations written before `owner` existed have none; either release
//!   frees them (the rule they were made under), see [`crate::store`].
//!
//! Reserve is one `TransactWriteItems`: a Put of the reservation, with its
//! owner, under `attribute_not_exists(productId)` (request position 0),
//! then per line an Update `available = available - :qty` with
//! `attribute_exists(productId) AND available >= :qty`. Every action asks
//! for `ALL_OLD` on a failed condition, so the cancellation reasons (in
//! request order) tell a duplicate (position 0) from a short or unknown
//! product without another read. A saga meeting a reservation made by
//! `ORDER_CREATED` takes it over with one conditional `UpdateItem` of the
//! owner (`state = RESERVED AND (owner = ORDER_CREATED OR no owner)`).
//!
//! Release is one `GetItem` (consistent) of the reservation, to learn its
//! lines, then one `TransactWriteItems`: the reservation `RESERVED ->
//! RELEASED` under the condition `state = RESERVED AND (owner = <the
//! releaser> OR no owner)`, and per line `ADD available :qty`. The owner is
//! checked by that condition, in the same transaction, never from the
//! read: a takeover between the read and the write cancels the release.
//! Only the transaction that flips the state gives units back, so two
//! concurrent releases give back once.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use order_events::{Money, OrderId, OrderLine, OrderLines, ProductId, Quantity, Timestamp};

use super::{Existing, Owner, ReleaseOutcome, ReserveOutcome, StockStore, StoreError};
use crate::text::echo;

/// Key prefix of reservation items.
pub const RESERVATION_PREFIX: &str = "reservation#";

const PK: &str = "productId";
const AVAILABLE: &str = "available";
const STATE: &str = "state";
const OWNER: &str = "owner";
const RESERVED: &str = "RESERVED";
const RELEASED: &str = "RELEASED";

type Item = HashMap<String, AttributeValue>;

/// The key of an order's reservation item.
pub fn reservation_key(order: &OrderId) -> String {
    format!("{RESERVATION_PREFIX}{order}")
}

#[derive(Debug, Clone)]
pub struct DynamoDbStockStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbStockStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_reservation(&self, order: &OrderId) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(reservation_key(order)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| classify_sdk_error(&err, "reading the reservation"))?;
        Ok(output.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    fn reservation_put(
        &self,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
    ) -> Result<TransactWriteItem, StoreError> {
        let lines_value = AttributeValue::L(
            lines
                .iter()
                .map(line_to_item)
                .map(AttributeValue::M)
                .collect(),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(reservation_key(order)))
            .item("recordType", AttributeValue::S("RESERVATION".into()))
            .item("orderId", AttributeValue::S(order.to_string()))
            .item(STATE, AttributeValue::S(RESERVED.into()))
            .item(OWNER, AttributeValue::S(owner.to_attribute()))
            .item("lines", lines_value)
            .item(
                "reservedAt",
                AttributeValue::S(Timestamp::now().to_rfc3339()),
            )
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Rejected(format!("building the reservation put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn take_stock(&self, line: &OrderLine) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(line.product_id.to_string()))
            .update_expression("SET #available = #available - :qty")
            .condition_expression("attribute_exists(#pk) AND #available >= :qty")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_values(":qty", AttributeValue::N(line.quantity.get().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Rejected(format!("building the stock update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn give_back(&self, line: &OrderLine) -> Result<TransactWriteItem, StoreError> {
        // No condition: units given back are real units, even if the product
        // item was removed meanwhile (ADD then recreates it with them).
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(line.product_id.to_string()))
            .update_expression("ADD #available :qty")
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_values(":qty", AttributeValue::N(line.quantity.get().to_string()))
            .build()
            .map_err(|e| StoreError::Rejected(format!("building the stock update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// `RESERVED -> RELEASED`, only for the reservation's owner (or a
    /// reservation with no recorded owner).
    fn mark_released(
        &self,
        order: &OrderId,
        owner: &Owner,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(reservation_key(order)))
            .update_expression("SET #state = :released, #releasedAt = :now")
            .condition_expression(
                "#state = :reserved AND (#owner = :owner OR attribute_not_exists(#owner))",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#releasedAt", "releasedAt")
            .expression_attribute_values(":released", AttributeValue::S(RELEASED.into()))
            .expression_attribute_values(":reserved", AttributeValue::S(RESERVED.into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_attribute()))
            .expression_attribute_values(":now", AttributeValue::S(Timestamp::now().to_rfc3339()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Rejected(format!("building the reservation update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A duplicate: the reservation exists. Its old image usually came back
    /// with the cancellation; read it when it did not.
    async fn existing_reservation(
        &self,
        order: &OrderId,
        old: Option<Item>,
        owner: &Owner,
    ) -> Result<ReserveOutcome, StoreError> {
        let item = match old {
            Some(item) => item,
            None => self.get_reservation(order).await?.ok_or_else(|| {
                StoreError::transient(anyhow::anyhow!(
                    "reservation of order {order} blocked the transaction but is gone now"
                ))
            })?,
        };
        let reservation = Reservation::from_item(order, &item)?;
        match existing_outcome(reservation, owner) {
            Ok(outcome) => Ok(outcome),
            Err(lines) => self.take_over(order, owner, lines).await,
        }
    }

    /// Makes `owner` (a saga) the owner of a live reservation made by
    /// `ORDER_CREATED` or with no recorded owner, in one conditional write.
    /// If the condition fails, the reservation changed since it was read
    /// (released, or taken over by a redelivery of this command or by
    /// another saga): its new image decides.
    async fn take_over(
        &self,
        order: &OrderId,
        owner: &Owner,
        lines: Vec<OrderLine>,
    ) -> Result<ReserveOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(reservation_key(order)))
            .update_expression("SET #owner = :owner, #takenOverAt = :now")
            .condition_expression(
                "#state = :reserved AND (#owner = :created OR attribute_not_exists(#owner))",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_names("#takenOverAt", "takenOverAt")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_attribute()))
            .expression_attribute_values(":reserved", AttributeValue::S(RESERVED.into()))
            .expression_attribute_values(":created", AttributeValue::S(Owner::ORDER_CREATED.into()))
            .expression_attribute_values(":now", AttributeValue::S(Timestamp::now().to_rfc3339()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(ReserveOutcome::TakenOver { lines }),
            Err(err) => err,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(classify_sdk_error(&err, "taking over the reservation"));
        };
        let item = match failed.item() {
            Some(item) => item.clone(),
            None => self.get_reservation(order).await?.ok_or_else(|| {
                StoreError::transient(anyhow::anyhow!(
                    "reservation of order {order} is gone while being taken over"
                ))
            })?,
        };
        let reservation = Reservation::from_item(order, &item)?;
        existing_outcome(reservation, owner).map_err(|_| {
            StoreError::transient(anyhow::anyhow!(
                "taking over the reservation of order {order} failed its condition, yet it may still be taken over"
            ))
        })
    }
}

/// What a reserve by `owner` comes to when the order's reservation exists,
/// or `Err(lines)` when the saga is to take it over.
fn existing_outcome(
    reservation: Reservation,
    owner: &Owner,
) -> Result<ReserveOutcome, Vec<OrderLine>> {
    if reservation.released {
        return Ok(ReserveOutcome::AlreadyReleased);
    }
    match owner.on_existing(reservation.owner.as_deref()) {
        Existing::Held => Ok(ReserveOutcome::AlreadyReserved {
            lines: reservation.lines,
        }),
        Existing::HeldByOther => Ok(ReserveOutcome::HeldByOther {
            owner: reservation.owner.unwrap_or_default(),
        }),
        Existing::TakeOver => Err(reservation.lines),
    }
}

impl StockStore for DynamoDbStockStore {
    async fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
    ) -> Result<ReserveOutcome, StoreError> {
        if let Some(line) = lines
            .iter()
            .find(|l| l.product_id.as_str().starts_with(RESERVATION_PREFIX))
        {
            return Ok(ReserveOutcome::UnknownProduct {
                product: line.product_id.clone(),
            });
        }
        let mut items = Vec::with_capacity(lines.len() + 1);
        items.push(self.reservation_put(order, lines, owner)?);
        for line in lines {
            items.push(self.take_stock(line)?);
        }
        let err = match self.transact(items).await {
            Ok(()) => return Ok(ReserveOutcome::Reserved),
            Err(err) => err,
        };
        match classify_reserve_failure(&err, lines) {
            Verdict::Outcome(outcome) => Ok(outcome),
            Verdict::Duplicate(old) => self.existing_reservation(order, old, owner).await,
            Verdict::Error(err) => Err(err),
        }
    }

    async fn release(&self, order: &OrderId, owner: &Owner) -> Result<ReleaseOutcome, StoreError> {
        let Some(item) = self.get_reservation(order).await? else {
            return Ok(ReleaseOutcome::NotReserved);
        };
        let reservation = Reservation::from_item(order, &item)?;
        // Released is final, so the read may settle that; who owns the
        // reservation is left to the transaction's condition.
        if reservation.released {
            return Ok(ReleaseOutcome::AlreadyReleased);
        }
        let mut items = Vec::with_capacity(reservation.lines.len() + 1);
        items.push(self.mark_released(order, owner)?);
        for line in &reservation.lines {
            items.push(self.give_back(line)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(ReleaseOutcome::Released {
                lines: reservation.lines,
            }),
            Err(err) => classify_release_failure(&err, order, owner),
        }
    }
}

/// What a failed reserve transaction means.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A business outcome, final.
    Outcome(ReserveOutcome),
    /// The reservation exists; its old image when DynamoDB returned it.
    Duplicate(Option<Item>),
    Error(StoreError),
}

/// Cancellation codes that clear up by themselves.
fn is_transient_reason(code: &str) -> bool {
    matches!(
        code,
        "TransactionConflict"
            | "ThrottlingError"
            | "ProvisionedThroughputExceeded"
            | "RequestLimitExceeded"
            | "InternalServerError"
    )
}

/// Codes that say the request itself is wrong.
fn is_rejection_reason(code: &str) -> bool {
    matches!(code, "ValidationError" | "ItemCollectionSizeLimitExceeded")
}

/// The cancellation reasons for logs: codes with their messages, bounded.
fn reason_text(reasons: &[CancellationReason]) -> String {
    let text = reasons
        .iter()
        .map(|r| match r.message() {
            Some(message) => format!("{}: {}", r.code().unwrap_or("None"), echo(message)),
            None => r.code().unwrap_or("None").to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    echo(&text).into_owned()
}

/// Errors other than a cancelled transaction. Throttling, timeouts and 5xx
/// are transient; so are a missing table or denied access, because they are
/// the deployment's fault, not the record's, and retrying keeps the record.
/// Only a validation error rejects the request for good.
pub(crate) fn classify_sdk_error<
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
>(
    err: &SdkError<E, HttpResponse>,
    doing: &str,
) -> StoreError {
    // SDK messages may quote what was sent: bounded.
    let detail = format!("{doing}: {}", echo(&DisplayErrorContext(err).to_string()));
    if !stream_core::aws::is_transient(err)
        && stream_core::aws::error_code(err) == Some("ValidationException")
    {
        StoreError::Rejected(detail)
    } else {
        StoreError::transient(anyhow::anyhow!(detail))
    }
}

/// Reads the cancellation reasons of a reserve transaction, in request
/// order: position 0 is the reservation put, position `i` the line `i - 1`.
///
/// A failed reservation condition settles it (a duplicate, whatever else
/// happened); otherwise a transient reason wins over a product's failed
/// condition, because stock read while another transaction was in flight
/// may be stale; otherwise the first product whose condition failed names
/// the outcome: absent (or without `available`) is unknown, else short.
pub(crate) fn classify_cancellation(reasons: &[CancellationReason], lines: &OrderLines) -> Verdict {
    let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
    if let Some(first) = reasons
        .first()
        .filter(|r| code(r) == "ConditionalCheckFailed")
    {
        return Verdict::Duplicate(first.item().cloned());
    }
    if reasons.iter().any(|r| is_transient_reason(&code(r))) {
        return Verdict::Error(StoreError::transient(anyhow::anyhow!(
            "reservation transaction cancelled: {}",
            reason_text(reasons)
        )));
    }
    for (line, reason) in lines.iter().zip(reasons.iter().skip(1)) {
        if code(reason) != "ConditionalCheckFailed" {
            continue;
        }
        let available = reason
            .item()
            .and_then(|item| item.get(AVAILABLE))
            .and_then(|v| v.as_n().ok());
        return Verdict::Outcome(match available {
            None => ReserveOutcome::UnknownProduct {
                product: line.product_id.clone(),
            },
            Some(units) => ReserveOutcome::InsufficientStock {
                product: line.product_id.clone(),
                requested: line.quantity,
                available: parse_units(units),
            },
        });
    }
    let text = reason_text(reasons);
    if reasons.iter().any(|r| is_rejection_reason(&code(r))) {
        return Verdict::Error(StoreError::Rejected(format!(
            "reservation transaction cancelled: {text}"
        )));
    }
    // Cancelled with no reason this code knows: retrying loses nothing.
    Verdict::Error(StoreError::transient(anyhow::anyhow!(
        "reservation transaction cancelled: {text}"
    )))
}

pub(crate) fn classify_reserve_failure(
    err: &SdkError<TransactWriteItemsError, HttpResponse>,
    lines: &OrderLines,
) -> Verdict {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            classify_cancellation(cancelled.cancellation_reasons(), lines)
        }
        _ => Verdict::Error(classify_sdk_error(err, "reserving stock")),
    }
}

/// A release transaction fails on its condition when another release
/// flipped the state first (that one gave the units back), or when the
/// reservation belongs to someone else (then nothing is given back): the
/// reservation's image, returned with the cancellation, tells which.
pub(crate) fn classify_release_failure(
    err: &SdkError<TransactWriteItemsError, HttpResponse>,
    order: &OrderId,
    owner: &Owner,
) -> Result<ReleaseOutcome, StoreError> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return Err(classify_sdk_error(err, "releasing stock"));
    };
    let reasons = cancelled.cancellation_reasons();
    if let Some(first) = reasons
        .first()
        .filter(|r| r.code() == Some("ConditionalCheckFailed"))
    {
        let Some(item) = first.item() else {
            return Ok(ReleaseOutcome::NotReserved);
        };
        let reservation = Reservation::from_item(order, item)?;
        if reservation.released {
            return Ok(ReleaseOutcome::AlreadyReleased);
        }
        if !owner.may_release(reservation.owner.as_deref()) {
            return Ok(ReleaseOutcome::HeldByOther {
                owner: reservation.owner.unwrap_or_default(),
            });
        }
        // The condition failed on an image that satisfies it: the item
        // changed in between; the next attempt reads it again.
        return Err(StoreError::transient(anyhow::anyhow!(
            "release of order {order} failed its condition on a reservation {owner} may release"
        )));
    }
    let text = reason_text(reasons);
    if reasons
        .iter()
        .any(|r| r.code().is_some_and(is_rejection_reason))
    {
        return Err(StoreError::Rejected(format!(
            "release transaction cancelled: {text}"
        )));
    }
    Err(StoreError::transient(anyhow::anyhow!(
        "release transaction cancelled: {text}"
    )))
}

fn parse_units(text: &str) -> Option<i64> {
    text.parse().ok()
}

fn line_to_item(line: &OrderLine) -> Item {
    let mut item = Item::with_capacity(3);
    item.insert(PK.into(), AttributeValue::S(line.product_id.to_string()));
    item.insert(
        "quantity".into(),
        AttributeValue::N(line.quantity.get().to_string()),
    );
    if let Some(price) = line.price {
        item.insert("price".into(), AttributeValue::N(price.to_string()));
    }
    item
}

/// A reservation item, read back.
#[derive(Debug)]
struct Reservation {
    lines: Vec<OrderLine>,
    released: bool,
    /// The stored owner; `None` for a reservation written before owners
    /// were recorded.
    owner: Option<String>,
}

impl Reservation {
    /// A reservation this code did not write in this shape is unreadable:
    /// rejected, since no retry makes it readable.
    fn from_item(order: &OrderId, item: &Item) -> Result<Self, StoreError> {
        let bad = |what: &str| {
            StoreError::Rejected(format!(
                "reservation of order {order} is unreadable: {}",
                echo(what)
            ))
        };
        let state = item
            .get(STATE)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| bad("no `state`"))?;
        let released = match state.as_str() {
            RESERVED => false,
            RELEASED => true,
            other => return Err(bad(&format!("unknown state `{other}`"))),
        };
        let owner = match item.get(OWNER) {
            None => None,
            Some(value) => Some(
                value
                    .as_s()
                    .map_err(|_| bad("`owner` is not a string"))?
                    .clone(),
            ),
        };
        let raw_lines = item
            .get("lines")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| bad("no `lines` list"))?;
        let mut lines = Vec::with_capacity(raw_lines.len());
        for raw in raw_lines {
            let map = raw.as_m().map_err(|_| bad("a line is not a map"))?;
            let product_id = map
                .get(PK)
                .and_then(|v| v.as_s().ok())
                .ok_or_else(|| bad("a line has no productId"))
                .and_then(|p| ProductId::parse(p.as_str()).map_err(|e| bad(&e)))?;
            let quantity = map
                .get("quantity")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad("a line has no integer quantity"))
                .and_then(|n| Quantity::new(n).map_err(|e| bad(&e)))?;
            let price = match map.get("price").and_then(|v| v.as_n().ok()) {
                Some(text) => Some(Money::from_str(text).map_err(|e| bad(&e))?),
                None => None,
            };
            lines.push(OrderLine {
                product_id,
                quantity,
                price,
            });
        }
        Ok(Self {
            lines,
            released,
            owner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn lines(spec: &[(&str, u64)]) -> OrderLines {
        OrderLines::new(
            spec.iter()
                .map(|(p, q)| OrderLine {
                    product_id: ProductId::parse(*p).unwrap(),
                    quantity: Quantity::new(*q).unwrap(),
                    price: None,
                })
                .collect(),
        )
        .unwrap()
    }

    fn ok() -> CancellationReason {
        CancellationReason::builder().code("None").build()
    }

    fn failed(old: Option<Item>) -> CancellationReason {
        CancellationReason::builder()
            .code("ConditionalCheckFailed")
            .message("The conditional request failed")
            .set_item(old)
            .build()
    }

    fn code(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    fn product(units: i64) -> Item {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S("p".into())),
            (AVAILABLE.to_owned(), AttributeValue::N(units.to_string())),
        ])
    }

    fn reservation(state: &str) -> Item {
        let line = line_to_item(&lines(&[("p-1", 2)]).as_slice()[0]);
        HashMap::from([
            (PK.to_owned(), AttributeValue::S("reservation#o-1".into())),
            (STATE.to_owned(), AttributeValue::S(state.into())),
            (
                "lines".to_owned(),
                AttributeValue::L(vec![AttributeValue::M(line)]),
            ),
        ])
    }

    fn owned(state: &str, owner: &str) -> Item {
        let mut item = reservation(state);
        item.insert(OWNER.to_owned(), AttributeValue::S(owner.into()));
        item
    }

    fn saga(id: &str) -> Owner {
        Owner::Saga(order_events::SagaId::parse(id).unwrap())
    }

    fn cancelled(
        reasons: Vec<CancellationReason>,
    ) -> SdkError<TransactWriteItemsError, HttpResponse> {
        let err = TransactionCanceledException::builder()
            .message("Transaction cancelled")
            .set_cancellation_reasons(Some(reasons))
            .build();
        SdkError::service_error(
            TransactWriteItemsError::TransactionCanceledException(err),
            HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn a_failed_reservation_condition_is_a_duplicate_whatever_else_failed() {
        let order = lines(&[("a", 1), ("b", 1)]);
        let old = reservation(RESERVED);
        let verdict = classify_cancellation(
            &[failed(Some(old.clone())), failed(Some(product(0))), ok()],
            &order,
        );
        assert!(
            matches!(&verdict, Verdict::Duplicate(Some(item)) if *item == old),
            "{verdict:?}"
        );
        let verdict =
            classify_cancellation(&[failed(None), code("TransactionConflict"), ok()], &order);
        assert!(matches!(verdict, Verdict::Duplicate(None)), "{verdict:?}");
    }

    #[test]
    fn a_failed_product_condition_names_the_product() {
        let order = lines(&[("a", 1), ("b", 5), ("c", 1)]);
        let verdict = classify_cancellation(&[ok(), ok(), failed(Some(product(3))), ok()], &order);
        let Verdict::Outcome(ReserveOutcome::InsufficientStock {
            product,
            requested,
            available,
        }) = verdict
        else {
            panic!("{verdict:?}");
        };
        assert_eq!(
            (product.as_str(), requested.get(), available),
            ("b", 5, Some(3))
        );

        let verdict = classify_cancellation(&[ok(), ok(), ok(), failed(None)], &order);
        assert!(
            matches!(&verdict, Verdict::Outcome(ReserveOutcome::UnknownProduct { product }) if product.as_str() == "c"),
            "{verdict:?}"
        );
        // An item without a number `available` is not a product.
        let not_a_product = HashMap::from([(PK.to_owned(), AttributeValue::S("a".into()))]);
        let verdict =
            classify_cancellation(&[ok(), failed(Some(not_a_product)), ok(), ok()], &order);
        assert!(
            matches!(&verdict, Verdict::Outcome(ReserveOutcome::UnknownProduct { product }) if product.as_str() == "a"),
            "{verdict:?}"
        );
    }

    #[test]
    fn conflicts_and_throttling_are_transient_even_next_to_a_short_product() {
        let order = lines(&[("a", 1), ("b", 1)]);
        for transient in [
            "TransactionConflict",
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
        ] {
            let verdict =
                classify_cancellation(&[ok(), failed(Some(product(0))), code(transient)], &order);
            let Verdict::Error(err) = verdict else {
                panic!("{verdict:?}")
            };
            assert!(err.is_transient(), "{transient}: {err}");
            assert!(err.to_string().contains(transient), "{err}");
        }
    }

    #[test]
    fn validation_errors_are_rejections_and_unknown_codes_are_retried() {
        let order = lines(&[("a", 1)]);
        let verdict = classify_cancellation(&[ok(), code("ValidationError")], &order);
        assert!(
            matches!(verdict, Verdict::Error(StoreError::Rejected(_))),
            "{verdict:?}"
        );
        let verdict = classify_cancellation(&[ok(), code("SomethingNew")], &order);
        assert!(
            matches!(verdict, Verdict::Error(StoreError::Transient(_))),
            "{verdict:?}"
        );
    }

    #[test]
    fn sdk_errors_are_classified_from_the_cancellation() {
        let order = lines(&[("a", 1)]);
        let verdict =
            classify_reserve_failure(&cancelled(vec![ok(), failed(Some(product(0)))]), &order);
        assert!(
            matches!(
                verdict,
                Verdict::Outcome(ReserveOutcome::InsufficientStock { .. })
            ),
            "{verdict:?}"
        );
        let timeout: SdkError<TransactWriteItemsError, HttpResponse> =
            SdkError::timeout_error(anyhow::anyhow!("read timed out"));
        assert!(matches!(
            classify_reserve_failure(&timeout, &order),
            Verdict::Error(StoreError::Transient(_))
        ));
    }

    #[test]
    fn a_lost_release_race_is_already_released() {
        let order = OrderId::parse("o-1").unwrap();
        let created = Owner::OrderCreated;
        let err = cancelled(vec![failed(Some(reservation(RELEASED))), ok()]);
        assert_eq!(
            classify_release_failure(&err, &order, &created).unwrap(),
            ReleaseOutcome::AlreadyReleased
        );
        let err = cancelled(vec![failed(Some(owned(RELEASED, "SAGA#s-1"))), ok()]);
        assert_eq!(
            classify_release_failure(&err, &order, &created).unwrap(),
            ReleaseOutcome::AlreadyReleased
        );
        let err = cancelled(vec![failed(None), ok()]);
        assert_eq!(
            classify_release_failure(&err, &order, &created).unwrap(),
            ReleaseOutcome::NotReserved
        );
        let err = cancelled(vec![ok(), code("TransactionConflict")]);
        assert!(classify_release_failure(&err, &order, &created)
            .unwrap_err()
            .is_transient());
    }

    #[test]
    fn a_release_refused_by_the_owner_condition_is_held_by_another() {
        let order = OrderId::parse("o-1").unwrap();
        let err = cancelled(vec![failed(Some(owned(RESERVED, "SAGA#s-1"))), ok()]);
        assert_eq!(
            classify_release_failure(&err, &order, &Owner::OrderCreated).unwrap(),
            ReleaseOutcome::HeldByOther {
                owner: "SAGA#s-1".into()
            }
        );
        assert_eq!(
            classify_release_failure(&err, &order, &saga("s-2")).unwrap(),
            ReleaseOutcome::HeldByOther {
                owner: "SAGA#s-1".into()
            }
        );
        let err = cancelled(vec![failed(Some(owned(RESERVED, "ORDER_CREATED"))), ok()]);
        assert_eq!(
            classify_release_failure(&err, &order, &saga("s-1")).unwrap(),
            ReleaseOutcome::HeldByOther {
                owner: "ORDER_CREATED".into()
            }
        );
        // An image the releaser may release: the item changed in between.
        let err = cancelled(vec![failed(Some(owned(RESERVED, "SAGA#s-1"))), ok()]);
        assert!(classify_release_failure(&err, &order, &saga("s-1"))
            .unwrap_err()
            .is_transient());
    }

    #[test]
    fn the_release_condition_names_the_releaser_and_the_put_records_the_owner() {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let store = DynamoDbStockStore::new(client, "t");
        let order = OrderId::parse("o-1").unwrap();
        let release = store.mark_released(&order, &saga("s-1")).unwrap();
        let update = release.update().unwrap();
        assert_eq!(
            update.condition_expression(),
            Some("#state = :reserved AND (#owner = :owner OR attribute_not_exists(#owner))")
        );
        assert_eq!(
            update.expression_attribute_values().unwrap()[":owner"],
            AttributeValue::S("SAGA#s-1".into())
        );
        let put = store
            .reservation_put(&order, &lines(&[("p-1", 1)]), &Owner::OrderCreated)
            .unwrap();
        assert_eq!(
            put.put().unwrap().item()[OWNER],
            AttributeValue::S("ORDER_CREATED".into())
        );
    }

    #[test]
    fn an_existing_reservation_is_held_taken_over_or_refused_by_owner() {
        let read =
            |item: Item| Reservation::from_item(&OrderId::parse("o-1").unwrap(), &item).unwrap();
        let lines_1 = lines(&[("p-1", 2)]).as_slice().to_vec();
        assert_eq!(
            existing_outcome(read(owned(RESERVED, "SAGA#s-1")), &saga("s-1")),
            Ok(ReserveOutcome::AlreadyReserved {
                lines: lines_1.clone()
            })
        );
        assert_eq!(
            existing_outcome(read(owned(RESERVED, "SAGA#s-1")), &Owner::OrderCreated),
            Ok(ReserveOutcome::AlreadyReserved {
                lines: lines_1.clone()
            })
        );
        assert_eq!(
            existing_outcome(read(owned(RESERVED, "SAGA#s-1")), &saga("s-2")),
            Ok(ReserveOutcome::HeldByOther {
                owner: "SAGA#s-1".into()
            })
        );
        assert_eq!(
            existing_outcome(read(owned(RESERVED, "ORDER_CREATED")), &saga("s-2")),
            Err(lines_1.clone())
        );
        assert_eq!(
            existing_outcome(read(reservation(RESERVED)), &saga("s-2")),
            Err(lines_1)
        );
        assert_eq!(
            existing_outcome(read(owned(RELEASED, "ORDER_CREATED")), &saga("s-2")),
            Ok(ReserveOutcome::AlreadyReleased)
        );
    }

    #[test]
    fn reservation_items_round_trip() {
        let order = OrderId::parse("o-1").unwrap();
        let read = Reservation::from_item(&order, &reservation(RESERVED)).unwrap();
        assert!(!read.released);
        assert_eq!(read.lines, lines(&[("p-1", 2)]).as_slice());
        assert!(
            Reservation::from_item(&order, &reservation(RELEASED))
                .unwrap()
                .released
        );
        let err = Reservation::from_item(&order, &reservation("LOST")).unwrap_err();
        assert!(err.to_string().contains("unknown state `LOST`"), "{err}");
        assert_eq!(read.owner, None, "written before owners were recorded");
        let read = Reservation::from_item(&order, &owned(RESERVED, "SAGA#s-1")).unwrap();
        assert_eq!(read.owner.as_deref(), Some("SAGA#s-1"));
        let mut odd = reservation(RESERVED);
        odd.insert(OWNER.to_owned(), AttributeValue::N("1".into()));
        assert!(matches!(
            Reservation::from_item(&order, &odd),
            Err(StoreError::Rejected(_))
        ));
        // A stored state of any size is echoed bounded.
        let err = Reservation::from_item(&order, &reservation(&"S".repeat(100_000))).unwrap_err();
        assert!(err.to_string().len() < 512, "{}", err.to_string().len());
    }
}
