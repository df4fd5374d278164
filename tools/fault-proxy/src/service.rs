//! Which AWS service, and which operation, a request is for.
//!
//! The JSON protocols name both in `X-Amz-Target`
//! (`DynamoDB_20120810.PutItem`, `Kinesis_20131202.PutRecords`,
//! `AmazonSQS.SendMessage`). REST protocols (SES v2) do not, so the service
//! is read from the SigV4 credential scope in `Authorization`
//! (`Credential=AKID/20250101/us-east-1/ses/aws4_request`). Anything else
//! (the emulator's own API, an unsigned request) is `Other` and never gets
//! a fault.

use hyper::header::{HeaderMap, AUTHORIZATION};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    DynamoDb,
    Kinesis,
    Sqs,
    /// SES v2 (`email` endpoints, signed as `ses`).
    Ses,
    Other,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::DynamoDb,
        Service::Kinesis,
        Service::Sqs,
        Service::Ses,
        Service::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Service::DynamoDb => "dynamodb",
            Service::Kinesis => "kinesis",
            Service::Sqs => "sqs",
            Service::Ses => "ses",
            Service::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Service::DynamoDb => 0,
            Service::Kinesis => 1,
            Service::Sqs => 2,
            Service::Ses => 3,
            Service::Other => 4,
        }
    }

    /// A service whose requests may get faults.
    pub fn is_aws(self) -> bool {
        self != Service::Other
    }

    fn from_signing_name(name: &str) -> Self {
        match name {
            "dynamodb" => Service::DynamoDb,
            "kinesis" => Service::Kinesis,
            "sqs" => Service::Sqs,
            "ses" | "email" => Service::Ses,
            _ => Service::Other,
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What the proxy knows of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub service: Service,
    /// The operation, when `X-Amz-Target` names it.
    pub operation: Option<String>,
}

/// Reads the service and operation from the request headers.
pub fn identify(headers: &HeaderMap) -> RequestInfo {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        let service = if prefix.starts_with("DynamoDB_") {
            Service::DynamoDb
        } else if prefix.starts_with("Kinesis_") {
            Service::Kinesis
        } else if prefix == "AmazonSQS" {
            Service::Sqs
        } else {
            Service::Other
        };
        if service.is_aws() {
            return RequestInfo {
                service,
                operation: (!operation.is_empty()).then(|| operation.to_owned()),
            };
        }
    }
    let service = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(signing_name)
        .map_or(Service::Other, Service::from_signing_name);
    RequestInfo {
        service,
        operation: None,
    }
}

/// The service of a SigV4 `Authorization` header's credential scope.
fn signing_name(authorization: &str) -> Option<&str> {
    let credential = authorization
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.strip_prefix("Credential="))?;
    // AKID/date/region/service/aws4_request
    let mut scope = credential.split('/');
    let _key = scope.next()?;
    let _date = scope.next()?;
    let _region = scope.next()?;
    let service = scope.next()?;
    (scope.next() == Some("aws4_request")).then_some(service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20251030/us-east-1/{service}/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature=abc"
        )
    }

    #[test]
    fn json_protocols_are_known_by_their_target() {
        let info = identify(&headers(&[(
            "x-amz-target",
            "DynamoDB_20120810.TransactWriteItems",
        )]));
        assert_eq!(info.service, Service::DynamoDb);
        assert_eq!(info.operation.as_deref(), Some("TransactWriteItems"));
        let info = identify(&headers(&[("x-amz-target", "Kinesis_20131202.PutRecords")]));
        assert_eq!(info.service, Service::Kinesis);
        let info = identify(&headers(&[("x-amz-target", "AmazonSQS.SendMessage")]));
        assert_eq!(
            (info.service, info.operation.as_deref()),
            (Service::Sqs, Some("SendMessage"))
        );
    }

    #[test]
    fn rest_protocols_are_known_by_the_credential_scope() {
        let mut map = HeaderMap::new();
        map.insert(AUTHORIZATION, HeaderValue::from_str(&auth("ses")).unwrap());
        assert_eq!(identify(&map).service, Service::Ses);
        map.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&auth("dynamodb")).unwrap(),
        );
        assert_eq!(identify(&map).service, Service::DynamoDb);
        map.insert(AUTHORIZATION, HeaderValue::from_str(&auth("s3")).unwrap());
        assert_eq!(identify(&map).service, Service::Other);
    }

    #[test]
    fn anything_else_is_other() {
        assert_eq!(identify(&HeaderMap::new()).service, Service::Other);
        assert_eq!(
            identify(&headers(&[("authorization", "Bearer xyz")])).service,
            Service::Other
        );
        assert_eq!(
            identify(&headers(&[("authorization", "Credential=a/b/c")])).service,
            Service::Other
        );
        assert_eq!(
            identify(&headers(&[("x-amz-target", "Unknown_2020.Op")])).service,
            Service::Other
        );
    }
}
