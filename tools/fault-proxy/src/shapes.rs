//! Each service's own error responses, as the AWS SDKs parse them.
//!
//! | service | protocol | throttling | 5xx |
//! |---|---|---|---|
//! | DynamoDB | AWS JSON 1.0, `__type` `com.amazonaws.dynamodb.v20120810#<Code>` | 400 `ThrottlingException` or `ProvisionedThroughputExceededException` | 500 `InternalServerError`, 503 `ServiceUnavailable` |
//! | Kinesis | AWS JSON 1.1, bare `__type` | 400 `ProvisionedThroughputExceededException` (data plane) or `LimitExceededException` (control plane) | 500 `InternalFailure`, 503 `ServiceUnavailable` |
//! | SQS | AWS JSON 1.0, query-compatible: the code the SDK reports is the first part of `x-amzn-query-error` | 400 `RequestThrottled;Sender` or `ThrottlingException;Sender` | 500 `InternalError;Receiver`, 503 `ServiceUnavailable;Server` |
//! | SES v2 | REST JSON, code in `x-amzn-ErrorType` | 429 `TooManyRequestsException` | 500 `InternalFailure`, 503 `ServiceUnavailable` |
//!
//! The SQS client of the Rust SDK speaks AWS JSON 1.0 (`X-Amz-Target:
//! AmazonSQS.<Operation>`), not the query protocol with XML bodies, and
//! reads the error code from `x-amzn-query-error` before the body.

use crate::profile::Fault;
use crate::service::Service;

/// A complete error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorShape {
    pub status: u16,
    /// The code the SDK will report (`ProvideErrorMetadata::code`).
    pub code: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

const DYNAMODB_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// Kinesis operations on the control plane, throttled with
/// `LimitExceededException` rather than the per-shard error.
const KINESIS_CONTROL_PLANE: &[&str] = &[
    "ListShards",
    "ListStreams",
    "DescribeStream",
    "DescribeStreamSummary",
    "DescribeStreamConsumer",
    "CreateStream",
    "DeleteStream",
    "RegisterStreamConsumer",
];

fn json(message: &str, r#type: Option<&str>) -> String {
    let mut body = serde_json::Map::new();
    if let Some(t) = r#type {
        body.insert("__type".to_owned(), t.into());
    }
    body.insert("message".to_owned(), message.into());
    serde_json::Value::Object(body).to_string()
}

/// The response for `fault` from `service`, or `None` when the fault is not
/// an error response (a reset, a delay, a lost response) or the service is
/// unknown.
// Long: a table of each service's error shapes, kept in one place.
pub fn error_shape(service: Service, operation: Option<&str>, fault: &Fault) -> Option<ErrorShape> {
    let (throttle_variant, status) = match fault {
        Fault::Throttle { variant } => (Some(*variant), None),
        Fault::ServerError { status } => (None, Some(*status)),
        _ => return None,
    };
    let shape = match service {
        Service::DynamoDb => {
            let (status, code, message) = match (throttle_variant, status) {
                (Some(0), _) => (
                    400,
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                ),
                (Some(_), _) => (
                    400,
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded. \
                     Consider increasing your provisioning level with the UpdateTable API.",
                ),
                (None, Some(503)) => (503, "ServiceUnavailable", "Service unavailable"),
                (None, _) => (500, "InternalServerError", "Internal server error"),
            };
            ErrorShape {
                status,
                code,
                headers: vec![("content-type", "application/x-amz-json-1.0".to_owned())],
                body: json(message, Some(&format!("{DYNAMODB_PREFIX}{code}"))),
            }
        }
        Service::Kinesis => {
            let control_plane = operation.is_some_and(|op| KINESIS_CONTROL_PLANE.contains(&op));
            let (status, code, message) = match (throttle_variant, status) {
                (Some(_), _) if control_plane => (
                    400,
                    "LimitExceededException",
                    "Rate exceeded for stream under account 123456789012.",
                ),
                (Some(_), _) => (
                    400,
                    "ProvisionedThroughputExceededException",
                    "Rate exceeded for shard shardId-000000000000 in stream under account 123456789012.",
                ),
                (None, Some(503)) => (503, "ServiceUnavailable", "Service Unavailable"),
                (None, _) => (500, "InternalFailure", "Internal service failure."),
            };
            ErrorShape {
                status,
                code,
                headers: vec![("content-type", "application/x-amz-json-1.1".to_owned())],
                body: json(message, Some(code)),
            }
        }
        Service::Sqs => {
            let (status, code, fault_type, body_type, message) = match (throttle_variant, status) {
                (Some(0), _) => (
                    400,
                    "RequestThrottled",
                    "Sender",
                    "com.amazonaws.sqs#RequestThrottled",
                    "Request is throttled.",
                ),
                (Some(_), _) => (
                    400,
                    "ThrottlingException",
                    "Sender",
                    "com.amazon.coral.availability#ThrottlingException",
                    "Rate exceeded",
                ),
                (None, Some(503)) => (
                    503,
                    "ServiceUnavailable",
                    "Server",
                    "com.amazonaws.sqs#ServiceUnavailable",
                    "Service Unavailable",
                ),
                (None, _) => (
                    500,
                    "InternalError",
                    "Receiver",
                    "com.amazonaws.sqs#InternalError",
                    "We encountered an internal error. Please try again.",
                ),
            };
            ErrorShape {
                status,
                code,
                headers: vec![
                    ("content-type", "application/x-amz-json-1.0".to_owned()),
                    ("x-amzn-query-error", format!("{code};{fault_type}")),
                ],
                body: json(message, Some(body_type)),
            }
        }
        Service::Ses => {
            let (status, code, message) = match (throttle_variant, status) {
                (Some(_), _) => (429, "TooManyRequestsException", "Too many requests."),
                (None, Some(503)) => (503, "ServiceUnavailable", "Service Unavailable"),
                (None, _) => (500, "InternalFailure", "Internal Failure"),
            };
            ErrorShape {
                status,
                code,
                headers: vec![
                    ("content-type", "application/json".to_owned()),
                    ("x-amzn-errortype", code.to_owned()),
                ],
                body: json(message, None),
            }
        }
        Service::Other => return None,
    };
    Some(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const THROTTLE: [Fault; 2] = [
        Fault::Throttle { variant: 0 },
        Fault::Throttle { variant: 1 },
    ];
    const SERVER: [Fault; 2] = [
        Fault::ServerError { status: 500 },
        Fault::ServerError { status: 503 },
    ];

    fn body(shape: &ErrorShape) -> serde_json::Value {
        serde_json::from_str(&shape.body).unwrap()
    }

    fn header<'a>(shape: &'a ErrorShape, name: &str) -> Option<&'a str> {
        shape
            .headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn dynamodb_throttles_with_its_two_codes_as_json_1_0() {
        let codes: Vec<_> = THROTTLE
            .iter()
            .map(|f| error_shape(Service::DynamoDb, Some("PutItem"), f).unwrap())
            .collect();
        assert_eq!(codes[0].code, "ThrottlingException");
        assert_eq!(codes[1].code, "ProvisionedThroughputExceededException");
        for shape in &codes {
            assert_eq!(shape.status, 400);
            assert_eq!(
                body(shape)["__type"],
                format!("com.amazonaws.dynamodb.v20120810#{}", shape.code)
            );
            assert_eq!(
                header(shape, "content-type"),
                Some("application/x-amz-json-1.0")
            );
        }
        let server: Vec<_> = SERVER
            .iter()
            .map(|f| error_shape(Service::DynamoDb, None, f).unwrap())
            .collect();
        assert_eq!(
            (server[0].status, server[0].code),
            (500, "InternalServerError")
        );
        assert_eq!(
            (server[1].status, server[1].code),
            (503, "ServiceUnavailable")
        );
    }

    #[test]
    fn kinesis_throttles_per_shard_on_the_data_plane_and_per_account_on_the_control_plane() {
        let data = error_shape(Service::Kinesis, Some("PutRecords"), &THROTTLE[0]).unwrap();
        assert_eq!(
            (data.status, data.code),
            (400, "ProvisionedThroughputExceededException")
        );
        assert_eq!(
            body(&data)["__type"],
            "ProvisionedThroughputExceededException"
        );
        let control = error_shape(Service::Kinesis, Some("ListShards"), &THROTTLE[1]).unwrap();
        assert_eq!(control.code, "LimitExceededException");
        let failure = error_shape(Service::Kinesis, None, &SERVER[0]).unwrap();
        assert_eq!((failure.status, failure.code), (500, "InternalFailure"));
        assert_eq!(
            header(&failure, "content-type"),
            Some("application/x-amz-json-1.1")
        );
    }

    #[test]
    fn sqs_names_the_code_in_the_query_compatible_header() {
        let throttled = error_shape(Service::Sqs, Some("SendMessage"), &THROTTLE[0]).unwrap();
        assert_eq!(throttled.status, 400);
        assert_eq!(
            header(&throttled, "x-amzn-query-error"),
            Some("RequestThrottled;Sender")
        );
        assert_eq!(
            body(&throttled)["__type"],
            "com.amazonaws.sqs#RequestThrottled"
        );
        let other = error_shape(Service::Sqs, None, &THROTTLE[1]).unwrap();
        assert_eq!(
            header(&other, "x-amzn-query-error"),
            Some("ThrottlingException;Sender")
        );
        let internal = error_shape(Service::Sqs, None, &SERVER[0]).unwrap();
        assert_eq!(
            header(&internal, "x-amzn-query-error"),
            Some("InternalError;Receiver")
        );
    }

    #[test]
    fn ses_throttles_with_429_and_the_error_type_header() {
        let shape = error_shape(Service::Ses, None, &THROTTLE[0]).unwrap();
        assert_eq!(
            (shape.status, shape.code),
            (429, "TooManyRequestsException")
        );
        assert_eq!(
            header(&shape, "x-amzn-errortype"),
            Some("TooManyRequestsException")
        );
        assert!(body(&shape).get("__type").is_none());
        let unavailable = error_shape(Service::Ses, None, &SERVER[1]).unwrap();
        assert_eq!(unavailable.status, 503);
    }

    #[test]
    fn only_error_faults_of_known_services_have_a_shape() {
        assert!(error_shape(Service::Other, None, &THROTTLE[0]).is_none());
        for fault in [
            Fault::Reset,
            Fault::LostResponse,
            Fault::Latency(std::time::Duration::from_millis(1)),
        ] {
            assert!(error_shape(Service::DynamoDb, None, &fault).is_none());
        }
    }
}
