//! The HTTP server both fakes run on: hyper's HTTP/1.1 with keep-alive, on
//! 127.0.0.1 with a port of the system's choosing. A handler sees the
//! request with its body read; a connection the client closes drops its
//! handler, which is how a long poll notices a killed process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub type Response = hyper::Response<Full<Bytes>>;

/// A request, its body read completely.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response with a JSON body and the given status.
pub fn json(status: u16, body: impl Into<Bytes>) -> Response {
    with_type(status, body, "application/json")
}

pub fn with_type(status: u16, body: impl Into<Bytes>, content_type: &str) -> Response {
    let mut response = hyper::Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// Adds a header; a value that is not a valid header value is left out.
pub fn header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A running server; stops (with every connection) when dropped.
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start<H, F>(handler: H) -> std::io::Result<Self>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            // Connections live in the set so that aborting the server
            // aborts them too.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve(stream, Arc::clone(&handler)));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<H, F>(stream: tokio::net::TcpStream, handler: Arc<H>)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let handler = Arc::clone(&handler);
            async move {
                let (parts, body) = request.into_parts();
                let response = match body.collect().await {
                    Ok(body) => {
                        handler(Request {
                            method: parts.method,
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body: body.to_bytes(),
                        })
                        .await
                    }
                    Err(_) => json(400, r#"{"message":"unreadable body"}"#),
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
    // Title case, as the real services write their headers.
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
