//! A minimal Lambda Runtime API (the interface `lambda_runtime` polls), on
//! 127.0.0.1 with a port of the system's choosing.
//!
//! - `GET /2018-06-01/runtime/invocation/next` waits for the next queued
//!   invocation and returns its payload with the headers the runtime
//!   reads: `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`
//!   (both required by `lambda_runtime`, which panics without them),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
//! - `POST .../invocation/{id}/response` and `.../invocation/{id}/error`
//!   complete that invocation.
//! - `POST /2018-06-01/runtime/init/error` records an init failure.
//!
//! Every poll is reported with the instant it arrived: the first poll of a
//! process marks the end of its init. When an invocation is queued with a
//! pid, that process's CPU and memory are read the moment its answer has
//! arrived and before it is acknowledged, while the process waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::proc_stats::{self, ProcSnapshot};
use crate::server::{self, Request, Response, Server};

const PREFIX: &str = "/2018-06-01/runtime/";

/// One invocation to hand to the function.
#[derive(Debug, Clone)]
pub struct InvocationRequest {
    pub request_id: String,
    pub payload: Vec<u8>,
    /// Epoch milliseconds.
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: String,
    /// Process whose figures are read when the answer arrives.
    pub snapshot_pid: Option<u32>,
}

/// How the function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Vec<u8>),
    Error {
        error_type: Option<String>,
        body: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct InvocationOutcome {
    pub answer: Answer,
    /// When the answer's body had been read completely.
    pub answered_at: Instant,
    /// When the function fetched the invocation.
    pub fetched_at: Option<Instant>,
    /// The process's figures at `answered_at`, when a pid was given.
    pub snapshot: Option<ProcSnapshot>,
}

/// Something the function did on its own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiEvent {
    /// A `GET .../invocation/next` arrived.
    Polled { at: Instant },
    /// `POST .../init/error`.
    InitError {
        error_type: Option<String>,
        body: String,
    },
    /// A request this API does not know, or an answer for no known invocation.
    Unexpected {
        method: String,
        path: String,
        status: u16,
    },
}

struct Queued {
    request: InvocationRequest,
    reply: oneshot::Sender<InvocationOutcome>,
}

struct Pending {
    reply: oneshot::Sender<InvocationOutcome>,
    snapshot_pid: Option<u32>,
    fetched_at: Instant,
}

struct State {
    queue: Mutex<mpsc::UnboundedReceiver<Queued>>,
    pending: StdMutex<HashMap<String, Pending>>,
    events: mpsc::UnboundedSender<ApiEvent>,
}

/// A running fake Runtime API; stops (and drops every connection) when
/// dropped.
pub struct FakeRuntimeApi {
    server: Server,
    queue: mpsc::UnboundedSender<Queued>,
    events: mpsc::UnboundedReceiver<ApiEvent>,
}

impl FakeRuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            queue: Mutex::new(queue_rx),
            pending: StdMutex::new(HashMap::new()),
            events: events_tx,
        });
        let server = Server::start(move |request| route(request, Arc::clone(&state))).await?;
        Ok(Self {
            server,
            queue: queue_tx,
            events: events_rx,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.addr().to_string()
    }

    /// Queues an invocation; the receiver yields the function's answer.
    pub fn enqueue(&self, request: InvocationRequest) -> oneshot::Receiver<InvocationOutcome> {
        let (reply, answer) = oneshot::channel();
        // The receiving side lives in the server's state, which lives as
        // long as `self`: sending cannot fail while `self` exists.
        let _ = self.queue.send(Queued { request, reply });
        answer
    }

    /// The next thing the function did (a poll, an init error...).
    pub async fn next_event(&mut self) -> Option<ApiEvent> {
        self.events.recv().await
    }
}

async fn route(request: Request, state: Arc<State>) -> Response {
    let tail = request.path.strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<&str> = tail.split('/').collect();
    let error_type = || {
        request
            .header("lambda-runtime-function-error-type")
            .map(str::to_owned)
    };
    let response = match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["invocation", "next"]) => return next_invocation(&state).await,
        ("POST", ["invocation", id, "response"]) => {
            complete(&state, id, Answer::Response(request.body.to_vec()))
        }
        ("POST", ["invocation", id, "error"]) => {
            let answer = Answer::Error {
                error_type: error_type(),
                body: request.body.to_vec(),
            };
            complete(&state, id, answer)
        }
        ("POST", ["init", "error"]) => {
            let _ = state.events.send(ApiEvent::InitError {
                error_type: error_type(),
                body: String::from_utf8_lossy(&request.body).into_owned(),
            });
            server::json(202, r#"{"status":"OK"}"#)
        }
        _ => server::json(
            404,
            r#"{"errorMessage":"unknown path","errorType":"InvalidRequestContent"}"#,
        ),
    };
    if response.status().as_u16() >= 400 {
        let _ = state.events.send(ApiEvent::Unexpected {
            method: request.method.to_string(),
            path: request.path.clone(),
            status: response.status().as_u16(),
        });
    }
    response
}

/// The long poll: waits for a queued invocation. A client that closes the
/// connection first (a killed process) drops this future, and the
/// invocation stays queued (`recv` loses nothing when cancelled).
async fn next_invocation(state: &State) -> Response {
    let _ = state.events.send(ApiEvent::Polled { at: Instant::now() });
    let Some(queued) = state.queue.lock().await.recv().await else {
        return server::json(500, r#"{"errorMessage":"the harness stopped"}"#);
    };
    let request = queued.request;
    state
        .pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(
            request.request_id.clone(),
            Pending {
                reply: queued.reply,
                snapshot_pid: request.snapshot_pid,
                fetched_at: Instant::now(),
            },
        );
    let response = server::json(200, request.payload);
    [
        ("Lambda-Runtime-Aws-Request-Id", request.request_id),
        (
            "Lambda-Runtime-Deadline-Ms",
            request.deadline_ms.to_string(),
        ),
        ("Lambda-Runtime-Invoked-Function-Arn", request.function_arn),
        ("Lambda-Runtime-Trace-Id", request.trace_id),
    ]
    .into_iter()
    .fold(response, |response, (name, value)| {
        server::header(response, name, &value)
    })
}

fn complete(state: &State, request_id: &str, answer: Answer) -> Response {
    let answered_at = Instant::now();
    let pending = state
        .pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(request_id);
    let Some(pending) = pending else {
        return server::json(
            400,
            r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
        );
    };
    let snapshot = pending
        .snapshot_pid
        .and_then(|pid| proc_stats::snapshot(pid).ok());
    let _ = pending.reply.send(InvocationOutcome {
        answer,
        answered_at,
        fetched_at: Some(pending.fetched_at),
        snapshot,
    });
    server::json(202, r#"{"status":"OK"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Sends `request` and reads the whole response.
    async fn exchange(stream: &mut TcpStream, request: impl AsRef<[u8]>) -> String {
        stream.write_all(request.as_ref()).await.unwrap();
        read_response(stream).await
    }

    async fn read_response(stream: &mut TcpStream) -> String {
        // Reads until the declared body length has arrived.
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "connection closed early: {}",
                String::from_utf8_lossy(&data)
            );
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).into_owned();
            if let Some(split) = text.find("\r\n\r\n") {
                let length: usize = text[..split]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if data.len() >= split + 4 + length {
                    return text;
                }
            }
        }
    }

    #[tokio::test]
    async fn serves_an_invocation_and_collects_its_answer() {
        let mut api = FakeRuntimeApi::start().await.unwrap();
        let answer = api.enqueue(InvocationRequest {
            request_id: "req-1".into(),
            payload: br#"{"Records":[]}"#.to_vec(),
            deadline_ms: 1_700_000_000_000,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            trace_id: "Root=1-abc".into(),
            snapshot_pid: Some(std::process::id()),
        });

        let mut stream = TcpStream::connect(api.address()).await.unwrap();
        let next = exchange(
            &mut stream,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
        assert!(next.contains("Lambda-Runtime-Aws-Request-Id: req-1\r\n"));
        assert!(next.contains("Lambda-Runtime-Deadline-Ms: 1700000000000\r\n"));
        assert!(next.contains(
            "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
        ));
        assert!(next.contains("Lambda-Runtime-Trace-Id: Root=1-abc\r\n"));
        assert!(next.ends_with("\r\n\r\n{\"Records\":[]}"));
        assert!(matches!(
            api.next_event().await,
            Some(ApiEvent::Polled { .. })
        ));

        // Same connection (keep-alive): the answer.
        let body = br#"{"batchItemFailures":[]}"#;
        stream
            .write_all(
                format!(
                    "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let ack = exchange(&mut stream, body).await;
        assert!(ack.starts_with("HTTP/1.1 202 Accepted\r\n"), "{ack}");
        let outcome = answer.await.unwrap();
        assert_eq!(outcome.answer, Answer::Response(body.to_vec()));
        assert!(outcome.snapshot.is_some_and(|s| s.peak_rss_kib > 0));

        // An answer for an unknown invocation is refused and reported.
        assert!(exchange(
            &mut stream,
            b"POST /2018-06-01/runtime/invocation/nope/error HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        )
        .await
        .starts_with("HTTP/1.1 400 "));
        assert_eq!(
            api.next_event().await,
            Some(ApiEvent::Unexpected {
                method: "POST".into(),
                path: "/2018-06-01/runtime/invocation/nope/error".into(),
                status: 400
            })
        );
    }

    #[tokio::test]
    async fn records_init_errors_and_skips_closed_polls() {
        let mut api = FakeRuntimeApi::start().await.unwrap();

        // A poll whose client disconnects must not swallow the invocation.
        let mut gone = TcpStream::connect(api.address()).await.unwrap();
        gone.write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        assert!(matches!(
            api.next_event().await,
            Some(ApiEvent::Polled { .. })
        ));
        drop(gone);

        let mut stream = TcpStream::connect(api.address()).await.unwrap();
        let body = r#"{"errorType":"Runtime.InitError","errorMessage":"bad config"}"#;
        assert!(exchange(&mut stream, format!(
                    "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nLambda-Runtime-Function-Error-Type: Runtime.InitError\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),)
            .await
            .starts_with("HTTP/1.1 202 "));
        assert_eq!(
            api.next_event().await,
            Some(ApiEvent::InitError {
                error_type: Some("Runtime.InitError".into()),
                body: body.into()
            })
        );

        let answer = api.enqueue(InvocationRequest {
            request_id: "req-2".into(),
            payload: b"{}".to_vec(),
            deadline_ms: 1,
            function_arn: "arn".into(),
            trace_id: "t".into(),
            snapshot_pid: None,
        });
        let next = exchange(
            &mut stream,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n",
        )
        .await;
        assert!(
            next.contains("Lambda-Runtime-Aws-Request-Id: req-2\r\n"),
            "{next}"
        );
        assert!(exchange(&mut stream, b"POST /2018-06-01/runtime/invocation/req-2/error HTTP/1.1\r\nLambda-Runtime-Function-Error-Type: unhandled\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .starts_with("HTTP/1.1 202 "));
        assert_eq!(
            answer.await.unwrap().answer,
            Answer::Error {
                error_type: Some("unhandled".into()),
                body: b"{}".to_vec()
            }
        );
    }
}
