//! The domain logic: what each event and command does to stock, and what
//! each command answers.
//!
//! | input | effect | reply (commands only) |
//! |---|---|---|
//! | `ORDER_CREATED` | reserve the order's lines, owned by `ORDER_CREATED` | none; an unknown product is dead-lettered, short stock is logged and acknowledged |
//! | `RESERVE_INVENTORY` | reserve the command's lines for its saga (or take over the order's `ORDER_CREATED` reservation) | `INVENTORY_RESERVED` or `INVENTORY_RESERVATION_FAILED` (reason code, productId) |
//! | `ORDER_CANCELLED` | release the order's reservation if `ORDER_CREATED` owns it | none; a saga's reservation is left alone (skipped, logged) |
//! | `RELEASE_INVENTORY` | release the order's reservation if this saga owns it | `INVENTORY_RELEASED` (items given back; empty when nothing was) |
//!
//! Who owns a reservation, and why, is described in [`crate::store`].
//!
//! `INVENTORY_RESERVATION_FAILED.reason` is always a
//! [`FailureReason`] code (`OUT_OF_STOCK`, `UNKNOWN_PRODUCT`,
//! `RESERVATION_RELEASED`, `OTHER`), never an error's text: the product
//! goes in `productId`, the details (which error, how many units) go to
//! the log, bounded.
//!
//! Events from outside producers have no one to answer, so "not enough
//! stock" on `ORDER_CREATED` is a business outcome: logged with
//! `outcome=insufficient_stock` and acknowledged, not an error. An unknown
//! product there means the order references something that does not exist:
//! a permanent failure, dead-lettered with the reason.
//!
//! A command's reply is decided once and stored under the command's
//! deduplication key (the core's idempotency layer); a redelivered command
//! replays the stored reply as a duplicate, so the same record is re-sent.

use std::time::Duration;

use order_events::{
    DedupKey, Event, EventKind, FailureReason, InventoryReleased, InventoryReservationFailed,
    InventoryReserved, OrderCancelled, OrderCreated, OrderId, OrderLine, OrderLines, ProductId,
    ReleaseInventory, ReserveInventory, SagaId,
};
use stream_core::{
    retry, Deadline, Handled, Handler, HandlerError, Idempotency, IdempotencyStore,
    IdempotentOutcome, IncomingEvent, RetryError, RetryPolicy,
};

use crate::reply::{Reply, StoredReply};
use crate::store::{Owner, ReleaseOutcome, ReserveOutcome, StockStore, StoreError};
use crate::text::echo;

/// Scope of this function's idempotency records. A constant rather than
/// the Lambda function's name, so renaming the function keeps them.
pub const IDEMPOTENCY_SCOPE: &str = "inventory-update";

/// How long a command's stored reply is kept: well beyond the stream's
/// default retention of 24 hours, within which redeliveries happen.
pub const REPLY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct InventoryHandler<S, I> {
    store: S,
    replies: Idempotency<I>,
    retry: RetryPolicy,
}

impl<S: StockStore, I: IdempotencyStore> InventoryHandler<S, I> {
    pub fn new(store: S, reply_store: I) -> Self {
        Self {
            store,
            replies: Idempotency::new(reply_store, IDEMPOTENCY_SCOPE, REPLY_TTL),
            retry: RetryPolicy::default(),
        }
    }

    /// Retries of transient store failures within one delivery.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn reply_store(&self) -> &I {
        self.replies.store()
    }

    async fn reserve(
        &self,
        order: &OrderId,
        lines: &OrderLines,
        owner: &Owner,
        deadline: Deadline,
    ) -> Result<Result<ReserveOutcome, String>, HandlerError> {
        let result = retry(&self.retry, deadline, StoreError::is_transient, |_| {
            self.store.reserve(order, lines, owner)
        })
        .await;
        settle(result, order, "reserve")
    }

    async fn release(
        &self,
        order: &OrderId,
        owner: &Owner,
        deadline: Deadline,
    ) -> Result<Result<ReleaseOutcome, String>, HandlerError> {
        let result = retry(&self.retry, deadline, StoreError::is_transient, |_| {
            self.store.release(order, owner)
        })
        .await;
        settle(result, order, "release")
    }

    async fn on_order_created(
        &self,
        order: &OrderCreated,
        deadline: Deadline,
    ) -> Result<Handled, HandlerError> {
        let outcome = self
            .reserve(
                &order.order_id,
                &order.items,
                &Owner::OrderCreated,
                deadline,
            )
            .await?
            .map_err(HandlerError::Permanent)?;
        match outcome {
            ReserveOutcome::Reserved => {
                tracing::info!(orderId = %order.order_id, lines = order.items.len(), effect = "reserved", "stock reserved");
                Ok(Handled::done())
            }
            // The order's stock is held already (by this event before, or
            // by its saga): nothing to do. An event never takes over.
            ReserveOutcome::AlreadyReserved { .. }
            | ReserveOutcome::AlreadyReleased
            | ReserveOutcome::TakenOver { .. }
            | ReserveOutcome::HeldByOther { .. } => Ok(Handled::duplicate()),
            ReserveOutcome::InsufficientStock {
                product,
                requested,
                available,
            } => {
                tracing::warn!(
                    orderId = %order.order_id,
                    productId = %product,
                    requested = requested.get(),
                    available,
                    effect = "insufficient_stock",
                    "not enough stock of product {product} for order {}; nothing reserved (ORDER_CREATED has no reply, so the record is acknowledged)",
                    order.order_id
                );
                Ok(Handled::done())
            }
            ReserveOutcome::UnknownProduct { product } => Err(HandlerError::permanent(format!(
                "unknown product {product} in order {}; nothing reserved",
                order.order_id
            ))),
        }
    }

    async fn on_order_cancelled(
        &self,
        cancelled: &OrderCancelled,
        deadline: Deadline,
    ) -> Result<Handled, HandlerError> {
        let outcome = self
            .release(&cancelled.order_id, &Owner::OrderCreated, deadline)
            .await?
            .map_err(HandlerError::Permanent)?;
        Ok(match outcome {
            ReleaseOutcome::Released { lines } => {
                tracing::info!(orderId = %cancelled.order_id, lines = lines.len(), effect = "released", "stock released");
                Handled::done()
            }
            ReleaseOutcome::AlreadyReleased => Handled::duplicate(),
            ReleaseOutcome::NotReserved => Handled::Skipped {
                reason: "the order holds no reservation; nothing to release",
            },
            ReleaseOutcome::HeldByOther { owner } => {
                // The saga decides: it compensates (and releases) while it
                // can, and refuses the cancellation once it has shipped.
                tracing::info!(
                    orderId = %cancelled.order_id,
                    owner = %echo(&owner),
                    "ORDER_CANCELLED leaves the saga's reservation to the saga; nothing released"
                );
                Handled::Skipped {
                    reason:
                        "the reservation belongs to a saga; only its RELEASE_INVENTORY releases it",
                }
            }
        })
    }

    async fn reserve_reply(
        &self,
        cmd: &ReserveInventory,
        deadline: Deadline,
    ) -> Result<Reply, HandlerError> {
        let answer = ReserveAnswer {
            cmd,
            saga_id: cmd.saga(),
        };
        let owner = Owner::Saga(answer.saga_id.clone());
        match self
            .reserve(&cmd.order_id, &cmd.items, &owner, deadline)
            .await?
        {
            Ok(outcome) => Ok(answer.to(outcome)),
            Err(detail) => {
                tracing::warn!(
                    orderId = %cmd.order_id,
                    sagaId = %answer.saga_id,
                    reason = FailureReason::Other.code(),
                    error = %detail,
                    "the stock store rejected the reservation; answering that it failed"
                );
                Ok(answer.failed(FailureReason::Other, None))
            }
        }
    }

    async fn release_reply(
        &self,
        cmd: &ReleaseInventory,
        deadline: Deadline,
    ) -> Result<Reply, HandlerError> {
        // A release that the store rejects has no failure reply in the
        // contract: dead-letter it for an operator rather than claim a
        // release that did not happen.
        let saga_id = cmd.saga();
        let outcome = self
            .release(&cmd.order_id, &Owner::Saga(saga_id.clone()), deadline)
            .await?
            .map_err(HandlerError::Permanent)?;
        let items = match outcome {
            ReleaseOutcome::Released { lines } => lines,
            ReleaseOutcome::AlreadyReleased | ReleaseOutcome::NotReserved => Vec::new(),
            ReleaseOutcome::HeldByOther { owner } => {
                tracing::info!(
                    orderId = %cmd.order_id,
                    sagaId = %saga_id,
                    owner = %echo(&owner),
                    "the order's reservation is not this saga's; nothing released"
                );
                Vec::new()
            }
        };
        Ok(Reply::Released(InventoryReleased {
            order_id: cmd.order_id.clone(),
            saga_id: Some(saga_id),
            items,
        }))
    }

    /// Runs a command once per deduplication key and answers with its reply;
    /// a redelivery answers with the stored reply.
    async fn on_command(&self, event: &IncomingEvent) -> Result<Handled, HandlerError> {
        let key: &DedupKey = &event.dedup_key;
        let outcome = self
            .replies
            .run(&key.to_string(), event.deadline, || async {
                let reply = match &event.event {
                    Event::ReserveInventory(cmd) => self.reserve_reply(cmd, event.deadline).await?,
                    Event::ReleaseInventory(cmd) => self.release_reply(cmd, event.deadline).await?,
                    other => {
                        return Err(HandlerError::permanent(format!(
                            "{} is not an inventory command",
                            other.kind()
                        )))
                    }
                };
                Ok(StoredReply::now(reply))
            })
            .await?;
        let (stored, replayed) = match outcome {
            IdempotentOutcome::Executed(stored) => (stored, false),
            IdempotentOutcome::Replayed(stored) => (stored, true),
        };
        let record = stored.to_record(key).map_err(|e| {
            HandlerError::transient(anyhow::anyhow!("reply cannot be written: {e}"))
        })?;
        tracing::info!(
            orderId = %event.event.order_id().map(OrderId::as_str).unwrap_or_default(),
            reply = record.kind.as_str(),
            replyEventId = %record.event_id,
            replayed,
            "command answered"
        );
        Ok(if replayed {
            Handled::Duplicate { emit: vec![record] }
        } else {
            Handled::Done { emit: vec![record] }
        })
    }
}

/// A store result after retries: the outcome, or the reason the store
/// rejected the request for good (`Ok(Err(reason))`), or a transient error
/// for the core to report.
fn settle<T>(
    result: Result<T, RetryError<StoreError>>,
    order: &OrderId,
    doing: &str,
) -> Result<Result<T, String>, HandlerError> {
    match result {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(RetryError::Exhausted { last, attempts }) => {
            Err(HandlerError::Transient(anyhow::Error::new(last).context(
                format!("{doing} for order {order} still failing after {attempts} attempts"),
            )))
        }
        Err(RetryError::Permanent(err)) => Ok(Err(format!(
            "{doing} for order {order}: {}",
            echo(&err.to_string())
        ))),
    }
}

/// The reply to one reserve command, for its saga.
struct ReserveAnswer<'a> {
    cmd: &'a ReserveInventory,
    saga_id: SagaId,
}

impl ReserveAnswer<'_> {
    fn failed(&self, reason: FailureReason, product_id: Option<ProductId>) -> Reply {
        Reply::ReservationFailed(InventoryReservationFailed {
            order_id: self.cmd.order_id.clone(),
            saga_id: self.saga_id.clone(),
            reason: reason.code().to_owned(),
            product_id,
        })
    }

    /// Reserved, with the reservation's own lines when the store had them:
    /// they are the truth; the command's would do only if they were the
    /// same.
    fn reserved(&self, lines: Option<Vec<OrderLine>>) -> Reply {
        let items = lines
            .and_then(|lines| OrderLines::new(lines).ok())
            .unwrap_or_else(|| self.cmd.items.clone());
        Reply::Reserved(InventoryReserved {
            order_id: self.cmd.order_id.clone(),
            saga_id: self.saga_id.clone(),
            items,
        })
    }

    /// The reply for what the store did; why nothing was reserved is logged.
    fn to(&self, outcome: ReserveOutcome) -> Reply {
        let (order, saga_id) = (&self.cmd.order_id, &self.saga_id);
        match outcome {
            ReserveOutcome::Reserved => self.reserved(None),
            ReserveOutcome::AlreadyReserved { lines } => self.reserved(Some(lines)),
            ReserveOutcome::TakenOver { lines } => {
                tracing::info!(
                    orderId = %order,
                    sagaId = %saga_id,
                    "the saga took over the order's reservation made by ORDER_CREATED; only the saga releases it now"
                );
                self.reserved(Some(lines))
            }
            ReserveOutcome::AlreadyReleased => self.failed(FailureReason::AlreadyReleased, None),
            ReserveOutcome::InsufficientStock {
                product,
                requested,
                available,
            } => {
                tracing::info!(
                    orderId = %order,
                    sagaId = %saga_id,
                    productId = %product,
                    requested = requested.get(),
                    available,
                    reason = FailureReason::OutOfStock.code(),
                    "not enough stock; nothing reserved"
                );
                self.failed(FailureReason::OutOfStock, Some(product))
            }
            ReserveOutcome::UnknownProduct { product } => {
                tracing::info!(
                    orderId = %order,
                    sagaId = %saga_id,
                    productId = %product,
                    reason = FailureReason::UnknownProduct.code(),
                    "unknown product; nothing reserved"
                );
                self.failed(FailureReason::UnknownProduct, Some(product))
            }
            ReserveOutcome::HeldByOther { owner } => {
                tracing::warn!(
                    orderId = %order,
                    sagaId = %saga_id,
                    owner = %echo(&owner),
                    reason = FailureReason::Other.code(),
                    "the order's reservation belongs to another saga; nothing reserved for this one"
                );
                self.failed(FailureReason::Other, None)
            }
        }
    }
}

impl<S: StockStore, I: IdempotencyStore> Handler for InventoryHandler<S, I> {
    fn handles(&self, kind: EventKind) -> bool {
        crate::DESCRIPTOR.handles(kind)
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        match &event.event {
            Event::OrderCreated(order) => self.on_order_created(order, event.deadline).await,
            Event::OrderCancelled(cancelled) => {
                self.on_order_cancelled(cancelled, event.deadline).await
            }
            Event::ReserveInventory(_) | Event::ReleaseInventory(_) => {
                self.on_command(&event).await
            }
            _ => Ok(Handled::Skipped {
                reason: "not an inventory event",
            }),
        }
    }
}
