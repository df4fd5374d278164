//! Invoking over HTTP a Lambda-compatible invoke endpoint, such as the one
//! `cargo lambda watch` serves on `127.0.0.1`
//! (`POST /2015-03-31/functions/{name}/invocations`): the function runs as
//! its own binary, exactly as built for Lambda.
//!
//! The endpoint sets the function's deadline itself, so the invocation's
//! deadline is not sent; the mapping's timeout still bounds the wait. The
//! first call to `cargo lambda watch` compiles the function: give the
//! mapping a timeout long enough for that.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use stream_core::{Deadline, KinesisEvent, KinesisEventResponse};

use crate::invoke::{Invoke, InvokeError};

/// Longest error body quoted in an [`InvokeError`].
const MAX_QUOTED: usize = 512;

/// A function behind a Lambda-compatible invoke endpoint.
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
}

impl HttpInvoker {
    /// `endpoint` is the base URL (`http://127.0.0.1:9000`).
    pub fn new(endpoint: &str, function_name: &str) -> Result<Self, String> {
        let base = endpoint.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(format!("`{endpoint}` is not an http:// URL"));
        }
        let uri: hyper::Uri = format!("{base}/2015-03-31/functions/{function_name}/invocations")
            .parse()
            .map_err(|e| format!("`{endpoint}` is not a valid URL: {e}"))?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Ok(Self { client, uri })
    }

    pub fn uri(&self) -> String {
        self.uri.to_string()
    }
}

impl Invoke for HttpInvoker {
    async fn invoke(
        &self,
        event: KinesisEvent,
        _deadline: Deadline,
    ) -> Result<KinesisEventResponse, InvokeError> {
        let body = serde_json::to_vec(&crate::event::to_lambda_json(&event))
            .map_err(|e| InvokeError::Unavailable(e.into()))?;
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| InvokeError::Unavailable(e.into()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| InvokeError::Unavailable(anyhow::anyhow!("POST {}: {e}", self.uri)))?;
        let status = response.status();
        let function_error = response.headers().get("x-amz-function-error").is_some();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                InvokeError::Unavailable(anyhow::anyhow!("reading the answer of {}: {e}", self.uri))
            })?
            .to_bytes();
        if status.is_server_error() && status != hyper::StatusCode::INTERNAL_SERVER_ERROR {
            // A gateway or the endpoint itself failed, not the function.
            return Err(InvokeError::Unavailable(anyhow::anyhow!(
                "{} answered {status}: {}",
                self.uri,
                quote(&body)
            )));
        }
        if !status.is_success() || function_error {
            return Err(InvokeError::Function(format!(
                "status {status}: {}",
                quote(&body)
            )));
        }
        parse_response(&body)
    }
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

/// Reads a function's answer as Lambda does: no answer, `null`, or no
/// `batchItemFailures` is a success; an entry without a usable
/// `itemIdentifier` is kept as a null identifier (the whole batch failed).
pub fn parse_response(body: &[u8]) -> Result<KinesisEventResponse, InvokeError> {
    let mut response = KinesisEventResponse::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(response);
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        InvokeError::Function(format!("the answer is not JSON ({e}): {}", quote(body)))
    })?;
    let failures = match value.get("batchItemFailures") {
        None | Some(serde_json::Value::Null) => return Ok(response),
        Some(serde_json::Value::Array(failures)) => failures,
        Some(other) => {
            return Err(InvokeError::Function(format!(
                "batchItemFailures is not a list: {other}"
            )))
        }
    };
    for failure in failures {
        let mut item = aws_lambda_events::event::streams::KinesisBatchItemFailure::default();
        item.item_identifier = failure
            .get("itemIdentifier")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        response.batch_item_failures.push(item);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_answers_as_lambda_does() {
        assert!(parse_response(b"").unwrap().batch_item_failures.is_empty());
        assert!(parse_response(b"null")
            .unwrap()
            .batch_item_failures
            .is_empty());
        assert!(parse_response(b"{}")
            .unwrap()
            .batch_item_failures
            .is_empty());
        assert!(parse_response(br#"{"batchItemFailures":null}"#)
            .unwrap()
            .batch_item_failures
            .is_empty());
        let answer = parse_response(
            br#"{"batchItemFailures":[{"itemIdentifier":"7"},{"itemIdentifier":null},{"id":"8"}]}"#,
        )
        .unwrap();
        let ids: Vec<Option<&str>> = answer
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(ids, vec![Some("7"), None, None]);
        assert!(matches!(
            parse_response(b"oops"),
            Err(InvokeError::Function(_))
        ));
    }

    #[test]
    fn builds_the_invoke_url() {
        let invoker = HttpInvoker::new("http://127.0.0.1:9000/", "order-saga-step").unwrap();
        assert_eq!(
            invoker.uri(),
            "http://127.0.0.1:9000/2015-03-31/functions/order-saga-step/invocations"
        );
        assert!(HttpInvoker::new("https://example.com", "f").is_err());
    }

    /// A one-shot HTTP server answering with `status` and `body`.
    async fn serve_once(
        status: &'static str,
        body: &'static str,
    ) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as many body bytes as it announces.
            loop {
                let n = socket.read(&mut chunk).await.unwrap();
                request.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            request
        });
        (address, handle)
    }

    /// The error of an invocation with an empty event at `address`.
    async fn invoke_empty(address: &str) -> InvokeError {
        HttpInvoker::new(address, "fn")
            .unwrap()
            .invoke(
                KinesisEvent::default(),
                Deadline::in_(Duration::from_secs(5)),
            )
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn posts_the_event_and_reads_the_answer() {
        let (address, server) = serve_once(
            "200 OK",
            r#"{"batchItemFailures":[{"itemIdentifier":"5"}]}"#,
        )
        .await;
        let invoker = HttpInvoker::new(&address, "fn").unwrap();
        let source = crate::event::EventSource::from_stream_arn(
            "arn:aws:kinesis:us-east-1:1:stream/s",
            None,
        );
        let record = crate::source::StreamRecord {
            sequence_number: "5".into(),
            partition_key: "k".into(),
            data: b"{}".to_vec(),
            approximate_arrival: std::time::SystemTime::now(),
        };
        let answer = invoker
            .invoke(
                source.event("shardId-000000000000", [&record]),
                Deadline::in_(Duration::from_secs(5)),
            )
            .await
            .unwrap();
        assert_eq!(
            answer.batch_item_failures[0].item_identifier.as_deref(),
            Some("5")
        );
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(
            request.starts_with("POST /2015-03-31/functions/fn/invocations HTTP/1.1"),
            "{request}"
        );
        assert!(
            request.contains(r#""eventID":"shardId-000000000000:5""#),
            "{request}"
        );
        assert!(
            request.contains(r#""approximateArrivalTimestamp":1"#),
            "a number: {request}"
        );

        let (address, server) =
            serve_once("500 Internal Server Error", r#"{"errorType":"Boom"}"#).await;
        let error = invoke_empty(&address).await;
        assert!(
            matches!(error, InvokeError::Function(ref m) if m.contains("Boom")),
            "{error}"
        );
        server.await.unwrap();

        // The server has closed its socket: nothing listens there any more.
        let error = invoke_empty(&address).await;
        assert!(matches!(error, InvokeError::Unavailable(_)), "{error}");
    }
}
