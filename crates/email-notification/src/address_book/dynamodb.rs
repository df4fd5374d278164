//! The address book on DynamoDB: `CUSTOMERS_TABLE`, key `userId` (S),
//! attribute `email` (S).
//!
//! # Which DynamoDB errors are retried
//!
//! Throttling, 5xx, timeouts and connection failures are transient. So are
//! the errors of the deployment rather than of the record (a missing table,
//! denied access, a key schema that does not match, any other validation
//! error): fixing the deployment makes the retry succeed, and the record
//! must not be lost meanwhile. Only a `ValidationException` that blames
//! what the record carries (an item or key over DynamoDB's size limits, an
//! empty key) is permanent: no retry of that record can succeed, so it is
//! dead-lettered.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use order_events::{EmailAddress, Timestamp, UserId};

use super::{AddressBook, AddressBookError, Lookup};
use crate::text::for_log;

/// Splits a DynamoDB error of the address book into retry-or-reject; see the
/// module documentation.
pub fn classify<E>(err: &SdkError<E, HttpResponse>, doing: &str) -> AddressBookError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = format!(
        "{doing}: {}",
        for_log(&DisplayErrorContext(err).to_string())
    );
    let caused_by_the_data = stream_core::aws::rejects_the_data(err);
    if caused_by_the_data {
        AddressBookError::Rejected(detail)
    } else {
        AddressBookError::Unavailable(anyhow::anyhow!(detail))
    }
}

/// `CUSTOMERS_TABLE` on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDbAddressBook {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbAddressBook {
    pub const KEY: &'static str = "userId";
    pub const EMAIL: &'static str = "email";

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl AddressBook for DynamoDbAddressBook {
    async fn remember(&self, user: &UserId, email: &EmailAddress) -> Result<(), AddressBookError> {
        // An update rather than a put keeps any other attributes the
        // customer item may carry.
        self.client
            .update_item()
            .table_name(&self.table)
            .key(Self::KEY, AttributeValue::S(user.as_str().to_owned()))
            .update_expression("SET #email = :email, #updated = :updated")
            .expression_attribute_names("#email", Self::EMAIL)
            .expression_attribute_names("#updated", "emailUpdatedAt")
            .expression_attribute_values(":email", AttributeValue::S(email.as_str().to_owned()))
            .expression_attribute_values(
                ":updated",
                AttributeValue::S(Timestamp::now().to_rfc3339()),
            )
            .send()
            .await
            .map_err(|e| classify(&e, "remembering a customer's address"))?;
        Ok(())
    }

    async fn lookup(&self, user: &UserId) -> Result<Lookup, AddressBookError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(Self::KEY, AttributeValue::S(user.as_str().to_owned()))
            .projection_expression("#email")
            .expression_attribute_names("#email", Self::EMAIL)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e, "looking up a customer's address"))?;
        let Some(stored) = output.item().and_then(|item| item.get(Self::EMAIL)) else {
            return Ok(Lookup::Unknown);
        };
        Ok(match stored.as_s() {
            Ok(text) => match EmailAddress::parse(text.as_str()) {
                Ok(email) => Lookup::Found(email),
                Err(reason) => Lookup::Unusable(for_log(&reason)),
            },
            Err(_) => Lookup::Unusable("the stored `email` attribute is not a string".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str, message: &str, status: u16) -> SdkError<UpdateItemError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(
            UpdateItemError::generic(meta),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn validation_errors_caused_by_the_data_are_permanent() {
        for message in [
            "Item size has exceeded the maximum allowed size",
            "Item size to update has exceeded the maximum allowed size",
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
            "Hash primary key values must be under 2048 bytes",
            "One or more parameter values were invalid: An AttributeValue may not contain an empty string",
        ] {
            let err = classify(&service("ValidationException", message, 400), "remembering");
            assert!(
                matches!(err, AddressBookError::Rejected(_)),
                "{message}: {err:?}"
            );
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn the_deployment_s_faults_throttling_and_server_errors_stay_transient() {
        let cases = [
            service(
                "ValidationException",
                "One or more parameter values were invalid: Missing the key userId in the item",
                400,
            ),
            service(
                "ValidationException",
                "The provided key element does not match the schema",
                400,
            ),
            service(
                "ResourceNotFoundException",
                "Requested resource not found",
                400,
            ),
            service("AccessDeniedException", "not authorized", 400),
            service(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded",
                400,
            ),
            service(
                "ThrottlingException",
                "Rate of requests exceeds the allowed throughput",
                400,
            ),
            service("InternalServerError", "Item size has exceeded (sic)", 500),
        ];
        for err in &cases {
            let class = classify(err, "looking up");
            assert!(class.is_transient(), "{err:?} classified {class:?}");
        }
        let timeout: SdkError<UpdateItemError, HttpResponse> =
            SdkError::timeout_error(anyhow::anyhow!("timed out"));
        assert!(classify(&timeout, "looking up").is_transient());
    }

    #[test]
    fn error_text_is_masked_and_bounded() {
        let message = format!(
            "Item size has exceeded the maximum allowed size: jane@example.com {}",
            "x".repeat(100_000)
        );
        let err = classify(
            &service("ValidationException", &message, 400),
            "remembering",
        );
        let text = err.to_string();
        assert!(text.len() < 1024, "{} bytes", text.len());
        assert!(!text.contains("jane@example.com"), "{text}");
    }
}
