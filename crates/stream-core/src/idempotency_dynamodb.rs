//! The idempotency store on DynamoDB (`IDEMPOTENCY_TABLE`, key `id`).
//!
//! Item: `id` (S), `status` (`INPROGRESS` | `COMPLETED`), `expiration`
//! (N, epoch seconds; the table's TTL attribute), `in_progress_expiration`
//! (N, epoch milliseconds: the claiming invocation's deadline), `data` (S,
//! the stored result). Attribute names follow Powertools for AWS Lambda.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::idempotency::{epoch_now, Claim, IdempotencyStore, StoreError};

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

#[derive(Debug, Clone)]
pub struct DynamoDbIdempotencyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbIdempotencyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn read_claim(item: &HashMap<String, AttributeValue>) -> Option<Claim> {
        let status = item.get("status")?.as_s().ok()?;
        Some(if status == COMPLETED {
            Claim::AlreadyCompleted(item.get("data").and_then(|d| d.as_s().ok()).cloned())
        } else {
            Claim::InProgress
        })
    }
}

impl IdempotencyStore for DynamoDbIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        in_progress_until_ms: u64,
        expires_at_s: u64,
    ) -> Result<Claim, StoreError> {
        let now = epoch_now();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(key.to_owned()))
            .item("status", AttributeValue::S(IN_PROGRESS.to_owned()))
            .item("expiration", AttributeValue::N(expires_at_s.to_string()))
            .item("in_progress_expiration", AttributeValue::N(in_progress_until_ms.to_string()))
            // Free, expired, or held by an invocation that is past its
            // deadline (it timed out without releasing).
            .condition_expression(
                "attribute_not_exists(id) OR #exp < :now OR (#status = :inprogress AND #ipexp < :now_ms)",
            )
            .expression_attribute_names("#exp", "expiration")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ipexp", "in_progress_expiration")
            .expression_attribute_values(":now", AttributeValue::N(now.as_secs().to_string()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now.as_millis().to_string()))
            .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(err) => {
                let failed = match err.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => failed,
                    _ => {
                        return Err(StoreError(
                            anyhow::anyhow!(DisplayErrorContext(&err).to_string())
                                .context("claiming idempotency key"),
                        ))
                    }
                };
                if let Some(claim) = failed.item().and_then(Self::read_claim) {
                    return Ok(claim);
                }
                // The old item did not come back with the failure; read it.
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("id", AttributeValue::S(key.to_owned()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!(DisplayErrorContext(e)))
                    .context("reading idempotency record")?;
                Ok(item
                    .item()
                    .and_then(Self::read_claim)
                    // Deleted between the two calls: let the retry claim it.
                    .unwrap_or(Claim::InProgress))
            }
        }
    }

    async fn complete(
        &self,
        key: &str,
        result: Option<String>,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(key.to_owned()))
            .item("status", AttributeValue::S(COMPLETED.to_owned()))
            .item("expiration", AttributeValue::N(expires_at_s.to_string()));
        if let Some(result) = result {
            request = request.item("data", AttributeValue::S(result));
        }
        request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(DisplayErrorContext(e)))
            .context("completing idempotency record")?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(DisplayErrorContext(e)))
            .context("releasing idempotency record")?;
        Ok(())
    }
}
