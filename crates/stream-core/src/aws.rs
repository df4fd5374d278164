//! Shared AWS plumbing: the SDK configuration (which honours
//! `AWS_ENDPOINT_URL`, so nothing changes between local and AWS) and the
//! transient/permanent split of SDK errors.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};

/// Attempts per AWS call, the first included. The SDK retries throttling,
/// 5xx, timeouts and dropped connections with exponential backoff and
/// jitter (50 ms doubling to at most 2 s), so a burst of faults is
/// absorbed in the call that met it; what outlasts four attempts is a real
/// outage, which the pipeline answers by waiting and reporting the record.
pub const SDK_MAX_ATTEMPTS: u32 = 4;

/// Loads the SDK configuration from the environment, once per process,
/// with the retry and timeout settings every client uses.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        // Stalled-stream protection guards large downloads and uploads; the
        // calls here send and receive a few kilobytes of JSON, which the
        // attempt timeout already bounds, and its throughput check wakes
        // every call in flight while it waits (CPU that grows with the
        // endpoint's latency).
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// The one HTTPS client every SDK client of the process shares (so they
/// share its connection pool): hyper with rustls on ring. The SDK's default
/// client would bring aws-lc as well, a second crypto library in every
/// bootstrap for no gain on small JSON calls.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK retry policy (standard mode) every client uses.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(SDK_MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(2))
}

/// Timeouts: an answer that never comes (a half-open connection) costs one
/// attempt, not the invocation.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(25))
        .build()
}

/// A retry partition without the SDK's retry quota. The default quota (a
/// token bucket shared by all calls of a service) stops retrying after a
/// few dozen failures in a row, which under a fault rate of tens of percent
/// turns absorbable faults into failed records. This process already bounds
/// its calls in flight (`MAX_CONCURRENCY`), so retries cannot storm.
pub fn retry_partition(service: &'static str) -> RetryPartition {
    RetryPartition::custom(service)
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// A DynamoDB client with the shared retry settings.
pub fn dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .retry_partition(retry_partition("dynamodb"))
            .build(),
    )
}

/// An SQS client with the shared retry settings.
pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .retry_partition(retry_partition("sqs"))
            .build(),
    )
}

/// A Kinesis client with the shared retry settings.
pub fn kinesis_client(sdk: &aws_config::SdkConfig) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(sdk)
            .retry_partition(retry_partition("kinesis"))
            .build(),
    )
}

/// Error codes that mean "try again later" beyond the SDK's own throttling
/// and transient lists (which the SDK already retries within a call). These
/// the SDK does not retry, but a later delivery may well succeed, so a
/// record that meets one is reported for retry rather than dead-lettered:
/// a transaction that lost a race, and server-side faults reported in the
/// body rather than by a 5xx status.
const RETRY_LATER_CODES: &[&str] = &[
    "TransactionConflictException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottlingException",
];

fn is_retry_later_code(code: &str) -> bool {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || RETRY_LATER_CODES.contains(&code)
}

/// True for errors worth retrying: timeouts, connection failures, 5xx and
/// throttling. Everything else (validation, not found, access denied) is a
/// problem a retry does not fix.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error()
                || ctx.raw().status().as_u16() == 429
                || ctx.err().code().is_some_and(is_retry_later_code)
        }
        _ => false,
    }
}

/// The error's code, for logs and classification.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// True when a DynamoDB validation message blames the request's data (its
/// size, an empty key) rather than the table or the request's shape.
pub fn blames_the_data(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    (message.contains("size") && (message.contains("exceed") || message.contains("limit")))
        || message.contains("must be under")
        || message.contains("may not contain an empty string")
}

/// True when DynamoDB refused the request because of the data in it (an
/// item or key beyond its limits): the same data can never succeed. A
/// validation error that blames the table or the request's shape (a wrong
/// key schema, a missing table) is a deployment fault, fixed by a deploy,
/// and stays retryable so records wait for the fix instead of being
/// dead-lettered.
pub fn rejects_the_data<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    error_code(err) == Some("ValidationException")
        && matches!(err, SdkError::ServiceError(ctx) if ctx.err().message().is_some_and(blames_the_data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdks_throttling_codes_and_ours_are_retried_later_and_nothing_else() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestTimeout",
            "TransactionConflictException",
            "InternalServerError",
        ] {
            assert!(is_retry_later_code(code), "{code}");
        }
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "ResourceNotFoundException",
            "ConditionalCheckFailedException",
            "MessageRejected",
        ] {
            assert!(!is_retry_later_code(code), "{code}");
        }
    }
}
