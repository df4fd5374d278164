//! The proxy itself: accepts HTTP/1.1 connections (kept alive), decides a
//! fault per request, and forwards to the upstream over a pool of kept-alive
//! connections.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::counts::{Counters, Counts};
use crate::profile::{Dice, Fault, Profile, ProfileError};
use crate::service::{identify, RequestInfo};
use crate::shapes::error_shape;

/// Requests under this path are the proxy's own: never forwarded, never
/// faulted.
pub const ADMIN_PREFIX: &str = "/__fault-proxy/";

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How a proxy is started.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The emulator's base URL (`http://127.0.0.1:PORT`).
    pub upstream: String,
    pub profile: Profile,
    /// Seed of the fault draws.
    pub seed: u64,
}

impl ProxyConfig {
    /// A proxy on a free loopback port in front of `upstream`, with no
    /// faults.
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: upstream.into(),
            profile: Profile::none(),
            seed: 0,
        }
    }

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream `{url}`: {reason}")]
    Upstream { url: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

#[derive(Debug, Clone)]
struct Upstream {
    scheme: String,
    authority: String,
    base_path: String,
}

impl Upstream {
    fn parse(url: &str) -> Result<Self, ProxyError> {
        let invalid = |reason: &str| ProxyError::Upstream {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.trim().parse().map_err(|_| invalid("not a URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| invalid("no scheme"))?;
        if scheme != "http" {
            return Err(invalid("only http:// upstreams are supported"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        Ok(Self {
            scheme: scheme.to_owned(),
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Ok(Uri::try_from(format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.base_path, path_and_query
        ))?)
    }
}

struct Shared {
    upstream: Upstream,
    profile: RwLock<Arc<Profile>>,
    dice: Dice,
    counters: Counters,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    fn profile(&self) -> Arc<Profile> {
        match self.profile.read() {
            Ok(profile) => Arc::clone(&profile),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set_profile(&self, profile: Profile) {
        let profile = Arc::new(profile);
        match self.profile.write() {
            Ok(mut current) => *current = profile,
            Err(poisoned) => *poisoned.into_inner() = profile,
        }
    }
}

/// A running proxy. Dropping it stops it; [`FaultProxy::shutdown`] also
/// waits for the listener to close.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("profile", &self.shared.profile().name)
            .finish()
    }
}

impl FaultProxy {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: ProxyConfig) -> Result<Self, ProxyError> {
        config.profile.validate()?;
        let upstream = Upstream::parse(&config.upstream)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build_http();
        let shared = Arc::new(Shared {
            upstream,
            profile: RwLock::new(Arc::new(config.profile)),
            dice: Dice::new(config.seed),
            counters: Counters::default(),
            client,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        tracing::info!(%addr, upstream = %config.upstream, "fault proxy listening");
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give the SDK clients as their endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        self.shared.counters.snapshot()
    }

    pub fn reset_counts(&self) {
        self.shared.counters.reset();
    }

    pub fn profile(&self) -> Profile {
        (*self.shared.profile()).clone()
    }

    /// Switches the profile for the requests that follow.
    pub fn set_profile(&self, profile: Profile) -> Result<(), ProfileError> {
        profile.validate()?;
        self.shared.set_profile(profile);
        Ok(())
    }

    /// Stops accepting, closes every connection and waits for the listener
    /// task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    shared.counters.connection();
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(err) => {
                    // Out of descriptors and the like: wait, then go on.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let state = Arc::new(ConnState::default());
    let io = TokioIo::new(ProxyIo {
        stream,
        state: Arc::clone(&state),
    });
    let service = hyper::service::service_fn(move |request| {
        handle(Arc::clone(&shared), Arc::clone(&state), request)
    });
    if let Err(err) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(error = %err, "connection ended");
    }
}

/// What the handler decided about its connection.
#[derive(Debug, Default)]
struct ConnState {
    /// Close with a TCP reset rather than a FIN.
    reset: AtomicBool,
}

/// The client connection; closed with a reset (`SO_LINGER` 0) when a fault
/// asks for one.
struct ProxyIo {
    stream: TcpStream,
    state: Arc<ConnState>,
}

impl ProxyIo {
    fn resetting(&self) -> bool {
        self.state.reset.load(Ordering::SeqCst)
    }
}

impl AsyncRead for ProxyIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.resetting() {
            // No FIN first: the drop that follows sends the reset.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

impl Drop for ProxyIo {
    fn drop(&mut self) {
        if self.resetting() {
            if let Err(err) = self.stream.set_zero_linger() {
                tracing::debug!(error = %err, "could not arm the reset");
            }
        }
    }
}

/// The handler's way to end a connection without answering.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("connection reset by the fault proxy")]
    Reset,
    #[error("response withheld by the fault proxy")]
    LostResponse,
    #[error("the client went away: {0}")]
    Client(hyper::Error),
}

type Answer = Response<Full<Bytes>>;

fn plain(status: StatusCode, body: impl Into<Bytes>, content_type: &str) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    request: Request<Incoming>,
) -> Result<Answer, Dropped> {
    if request.uri().path().starts_with(ADMIN_PREFIX) {
        return Ok(admin(&shared, request).await);
    }
    let info = identify(request.headers());
    shared.counters.request(info.service);
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(Dropped::Client)?.to_bytes();
    let fault = if info.service.is_aws() {
        shared.profile().decide(shared.dice.roll())
    } else {
        None
    };
    let Some(fault) = fault else {
        return Ok(forward(&shared, parts, body).await);
    };
    shared.counters.injected(fault.kind(), info.service);
    tracing::debug!(
        service = %info.service,
        operation = info.operation.as_deref().unwrap_or(""),
        fault = ?fault,
        "injecting"
    );
    match fault {
        Fault::Throttle { .. } | Fault::ServerError { .. } => Ok(error_answer(&info, &fault)),
        Fault::Reset => {
            conn.reset.store(true, Ordering::SeqCst);
            Err(Dropped::Reset)
        }
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            Ok(forward(&shared, parts, body).await)
        }
        Fault::LostResponse => {
            // The upstream applies the request and answers; the client
            // never hears of it.
            let _applied = forward(&shared, parts, body).await;
            Err(Dropped::LostResponse)
        }
    }
}

fn error_answer(info: &RequestInfo, fault: &Fault) -> Answer {
    let Some(shape) = error_shape(info.service, info.operation.as_deref(), fault) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "fault without a shape",
            "text/plain",
        );
    };
    let mut response = Response::new(Full::new(Bytes::from(shape.body)));
    *response.status_mut() =
        StatusCode::from_u16(shape.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in shape.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_static("fault-proxy"),
    );
    response
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(shared: &Shared, parts: hyper::http::request::Parts, body: Bytes) -> Answer {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let uri = match shared.upstream.uri(&path) {
        Ok(uri) => uri,
        Err(err) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("cannot forward {path}: {err}"),
                "text/plain",
            )
        }
    };
    let mut upstream_request = Request::new(Full::new(body));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.uri_mut() = uri;
    copy_headers(&parts.headers, upstream_request.headers_mut());
    let response = match shared.client.request(upstream_request).await {
        Ok(response) => response,
        Err(err) => {
            shared.counters.upstream_error();
            tracing::warn!(error = %err, "upstream did not answer");
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("upstream did not answer: {err}"),
                "text/plain",
            );
        }
    };
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            shared.counters.upstream_error();
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("upstream answer broke off: {err}"),
                "text/plain",
            );
        }
    };
    let mut answer = Response::new(Full::new(body));
    *answer.status_mut() = parts.status;
    copy_headers(&parts.headers, answer.headers_mut());
    answer
}

/// `GET counts`, `POST counts/reset`, `GET profile`, `PUT profile` (a
/// built-in name, a `key=value` spec, or a JSON profile).
async fn admin(shared: &Shared, request: Request<Incoming>) -> Answer {
    let path = request
        .uri()
        .path()
        .trim_start_matches(ADMIN_PREFIX)
        .trim_end_matches('/')
        .to_owned();
    let method = request.method().clone();
    let json =
        |value: serde_json::Value| plain(StatusCode::OK, value.to_string(), "application/json");
    match (method, path.as_str()) {
        (Method::GET, "counts") => {
            json(serde_json::to_value(shared.counters.snapshot()).unwrap_or_default())
        }
        (Method::POST, "counts/reset") => {
            shared.counters.reset();
            json(serde_json::json!({"reset": true}))
        }
        (Method::GET, "profile") => {
            json(serde_json::to_value(&*shared.profile()).unwrap_or_default())
        }
        (Method::PUT, "profile") => {
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(err) => return plain(StatusCode::BAD_REQUEST, err.to_string(), "text/plain"),
            };
            let text = String::from_utf8_lossy(&body);
            let parsed = if text.trim_start().starts_with('{') {
                serde_json::from_str::<Profile>(&text)
                    .map_err(|e| ProfileError(e.to_string()))
                    .and_then(|p| p.validate().map(|()| p))
            } else {
                Profile::parse(&text)
            };
            match parsed {
                Ok(profile) => {
                    let value = serde_json::to_value(&profile).unwrap_or_default();
                    shared.set_profile(profile);
                    json(value)
                }
                Err(err) => plain(StatusCode::BAD_REQUEST, err.to_string(), "text/plain"),
            }
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            format!(
                "fault proxy admin: GET {ADMIN_PREFIX}counts, POST {ADMIN_PREFIX}counts/reset, \
                 GET or PUT {ADMIN_PREFIX}profile"
            ),
            "text/plain",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_http_with_a_host() {
        let up = Upstream::parse("http://127.0.0.1:5000/").unwrap();
        assert_eq!(
            up.uri("/moto-api/data.json?x=1").unwrap().to_string(),
            "http://127.0.0.1:5000/moto-api/data.json?x=1"
        );
        let based = Upstream::parse("http://localhost:1/base").unwrap();
        assert_eq!(
            based.uri("/").unwrap().to_string(),
            "http://localhost:1/base/"
        );
        assert!(Upstream::parse("https://example.com").is_err());
        assert!(Upstream::parse("127.0.0.1:5000").is_err());
        assert!(Upstream::parse("not a url").is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_not_copied() {
        let mut from = HeaderMap::new();
        from.insert("connection", HeaderValue::from_static("close"));
        from.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        from.insert("x-amz-target", HeaderValue::from_static("A.B"));
        from.insert("host", HeaderValue::from_static("127.0.0.1:1"));
        let mut to = HeaderMap::new();
        copy_headers(&from, &mut to);
        assert_eq!(to.len(), 2);
        assert!(to.contains_key("x-amz-target") && to.contains_key("host"));
    }
}
