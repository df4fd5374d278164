//! The idempotency store on DynamoDB (`IDEMPOTENCY_TABLE`, key `id`).
//!
//! Item: `id` (S), `status` (`INPROGRESS` | `COMPLETED`), `expiration`
//! (N, epoch seconds; the table's TTL attribute), `in_progress_expiration`
//! (N, epoch milliseconds: the claiming invocation's deadline), `data` (S,
//! the stored result), `token` (S, the claiming attempt). Attribute names
//! follow Powertools for AWS Lambda.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{epoch_now, Claim, IdempotencyStore, StoreError};

/// A store error, [`StoreError::Rejected`] when DynamoDB refused the request
/// for its data (a key or item beyond its limits) rather than failed to
/// serve it.
fn failure<E>(err: SdkError<E, HttpResponse>, doing: &'static str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = DisplayErrorContext(&err).to_string();
    if crate::aws::rejects_the_data(&err) {
        return StoreError::Rejected(format!("{doing}: {text}"));
    }
    StoreError::Unavailable(anyhow::anyhow!(text).context(doing))
}

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

    /// The claim that made a conditional claim fail: from the old item the
    /// failure returned, or read when it did not come back.
    async fn held_claim(
        &self,
        key: &str,
        old: Option<&HashMap<String, AttributeValue>>,
    ) -> Result<Claim, StoreError> {
        if let Some(claim) = old.and_then(Self::read_claim) {
            return Ok(claim);
        }
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
            .unwrap_or(Claim::InProgress { until_ms: 0 }))
    }

    fn read_claim(item: &HashMap<String, AttributeValue>) -> Option<Claim> {
        let status = item.get("status")?.as_s().ok()?;
        Some(if status == COMPLETED {
            Claim::AlreadyCompleted(item.get("data").and_then(|d| d.as_s().ok()).cloned())
        } else {
            Claim::InProgress {
                until_ms: item
                    .get("in_progress_expiration")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            }
        })
    }
}

impl IdempotencyStore for DynamoDbIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        token: &str,
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
            .item("token", AttributeValue::S(token.to_owned()))
            // Free, expired, held by an invocation that is past its deadline
            // (it timed out without releasing), or held by this very attempt
            // (a retry of a put whose answer was lost).
            .condition_expression(
                "attribute_not_exists(id) OR #exp < :now OR (#status = :inprogress AND (#ipexp < :now_ms OR #token = :token))",
            )
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
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
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    self.held_claim(key, failed.item()).await
                }
                _ => Err(failure(err, "claiming idempotency key")),
            },
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
            .map_err(|e| failure(e, "completing idempotency record"))?;
        Ok(())
    }

    async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_owned()))
            // Only this attempt's claim: never another invocation's.
            .condition_expression("#token = :token AND #status = :inprogress")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Gone already, lapsed and taken over, or completed: not
                // ours to delete.
                Ok(())
            }
            Err(err) => Err(failure(err, "releasing idempotency record")),
        }
    }
}
