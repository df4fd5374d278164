//! The stock store on DynamoDB (`INVENTORY_TABLE`, partition key
//! `productId` (S)).
//!
//! Items of the table:
//! - a product: `productId` = the product id, `available` (N): units that
//!   can still be reserved. Written by whoever stocks the shop.
//! - an order's reservation: `productId` = `reservation#<orderId>`,
//!   `recordType` = `RESERVATION`, `orderId` (S), `state` (S: `RESERVED` or
//!   `RELEASED`), `lines` (L of M: `productId` S, `quantity` N, `price` N
//!   when the order gave one), `reservedAt` / `releasedAt` (S, RFC 3339).
//!   It lives in the stock table so that it can be created in the same
//!   transaction as the stock it accounts for. A product id starting with
//!   `reservation#` is therefore never a product.
//!
//! Reserve is one `TransactWriteItems`: a Put of the reservation with
//! `attribute_not_exists(productId)` (request position 0), then per line an
//! Update `available = available - :qty` with `attribute_exists(productId)
//! AND available >= :qty`. Every action asks for `ALL_OLD` on a failed
//! condition, so the cancellation reasons (in request order) tell a
//! duplicate (position 0) from a short or unknown product without another
//! read.
//!
//! Release is one `GetItem` (consistent) of the reservation, to learn its
//! lines, then one `TransactWriteItems`: the reservation `RESERVED ->
//! RELEASED` (condition on the state) and per line `ADD available :qty`.
//! Only the transaction that flips the state gives units back, so two
//! concurrent releases give back once.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use order_events::{Money, OrderId, OrderLine, OrderLines, ProductId, Quantity, Timestamp};

use crate::store::{ReleaseOutcome, ReserveOutcome, StockStore, StoreError};

/// Key prefix of reservation items.
pub const RESERVATION_PREFIX: &str = "reservation#";

const PK: &str = "productId";
const AVAILABLE: &str = "available";
const STATE: &str = "state";
const RESERVED: &str = "RESERVED";
const RELEASED: &str = "RELEASED";

type Item = HashMap<String, AttributeValue>;

/// The key of an order's reservation item.
pub fn reservation_key(order: &OrderId) -> String {
    format!("{RESERVATION_PREFIX}{order}")
}

/// DynamoDB calls made by the adapter, counted where they are sent (one
/// count per logical call; the SDK's own retries of a call are not counted).
#[derive(Debug, Default)]
pub struct CallCounts {
    transact_write_items: AtomicU64,
    get_item: AtomicU64,
}

impl CallCounts {
    pub fn transact_write_items(&self) -> u64 {
        self.transact_write_items.load(Ordering::SeqCst)
    }

    pub fn get_item(&self) -> u64 {
        self.get_item.load(Ordering::SeqCst)
    }

    pub fn total(&self) -> u64 {
        self.transact_write_items() + self.get_item()
    }
}

#[derive(Debug, Clone)]
pub struct DynamoDbStockStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    calls: Arc<CallCounts>,
}

impl DynamoDbStockStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            calls: Arc::default(),
        }
    }

    pub fn calls(&self) -> &CallCounts {
        &self.calls
    }

    async fn get_reservation(&self, order: &OrderId) -> Result<Option<Item>, StoreError> {
        self.calls.get_item.fetch_add(1, Ordering::SeqCst);
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
        self.calls
            .transact_write_items
            .fetch_add(1, Ordering::SeqCst);
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

    fn mark_released(&self, order: &OrderId) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(reservation_key(order)))
            .update_expression("SET #state = :released, #releasedAt = :now")
            .condition_expression("#state = :reserved")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#releasedAt", "releasedAt")
            .expression_attribute_values(":released", AttributeValue::S(RELEASED.into()))
            .expression_attribute_values(":reserved", AttributeValue::S(RESERVED.into()))
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
        Ok(if reservation.released {
            ReserveOutcome::AlreadyReleased
        } else {
            ReserveOutcome::AlreadyReserved {
                lines: reservation.lines,
            }
        })
    }
}

impl StockStore for DynamoDbStockStore {
    async fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
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
        items.push(self.reservation_put(order, lines)?);
        for line in lines {
            items.push(self.take_stock(line)?);
        }
        let err = match self.transact(items).await {
            Ok(()) => return Ok(ReserveOutcome::Reserved),
            Err(err) => err,
        };
        match classify_reserve_failure(&err, lines) {
            Verdict::Outcome(outcome) => Ok(outcome),
            Verdict::Duplicate(old) => self.existing_reservation(order, old).await,
            Verdict::Error(err) => Err(err),
        }
    }

    async fn release(&self, order: &OrderId) -> Result<ReleaseOutcome, StoreError> {
        let Some(item) = self.get_reservation(order).await? else {
            return Ok(ReleaseOutcome::NotReserved);
        };
        let reservation = Reservation::from_item(order, &item)?;
        if reservation.released {
            return Ok(ReleaseOutcome::AlreadyReleased);
        }
        let mut items = Vec::with_capacity(reservation.lines.len() + 1);
        items.push(self.mark_released(order)?);
        for line in &reservation.lines {
            items.push(self.give_back(line)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(ReleaseOutcome::Released {
                lines: reservation.lines,
            }),
            Err(err) => classify_release_failure(&err),
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

fn reason_text(reasons: &[CancellationReason]) -> String {
    reasons
        .iter()
        .map(|r| match r.message() {
            Some(message) => format!("{}: {message}", r.code().unwrap_or("None")),
            None => r.code().unwrap_or("None").to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
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
    let detail = format!("{doing}: {}", DisplayErrorContext(err));
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
    if reasons
        .first()
        .is_some_and(|r| code(r) == "ConditionalCheckFailed")
    {
        return Verdict::Duplicate(reasons[0].item().cloned());
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

/// A release transaction fails on its condition only when another release
/// flipped the state first: that one gave the units back.
pub(crate) fn classify_release_failure(
    err: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Result<ReleaseOutcome, StoreError> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return Err(classify_sdk_error(err, "releasing stock"));
    };
    let reasons = cancelled.cancellation_reasons();
    let first = reasons.first().and_then(|r| r.code()).unwrap_or("None");
    if first == "ConditionalCheckFailed" {
        return Ok(match reasons[0].item() {
            None => ReleaseOutcome::NotReserved,
            Some(_) => ReleaseOutcome::AlreadyReleased,
        });
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
}

impl Reservation {
    /// A reservation this code did not write in this shape is unreadable:
    /// rejected, since no retry makes it readable.
    fn from_item(order: &OrderId, item: &Item) -> Result<Self, StoreError> {
        let bad = |what: &str| {
            StoreError::Rejected(format!(
                "reservation of order {order} is unreadable: {what}"
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
        Ok(Self { lines, released })
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
        let err = cancelled(vec![failed(Some(reservation(RELEASED))), ok()]);
        assert_eq!(
            classify_release_failure(&err).unwrap(),
            ReleaseOutcome::AlreadyReleased
        );
        let err = cancelled(vec![ok(), code("TransactionConflict")]);
        assert!(classify_release_failure(&err).unwrap_err().is_transient());
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
    }
}
