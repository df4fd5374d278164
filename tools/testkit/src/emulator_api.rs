//! The emulator's own HTTP API (`/moto-api/...`), which the SDK clients
//! cannot reach: what it recorded, and emptying it. These return errors
//! rather than panic, since the demo uses them outside tests too.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The emulator answers `data.json` by serialising everything it holds,
/// which takes a while once it holds much.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the emulator at `endpoint` holds (`GET /moto-api/data.json`),
/// sent mail included.
pub async fn data(endpoint: &str) -> anyhow::Result<serde_json::Value> {
    let (url, body) = call(endpoint, Method::GET, "/moto-api/data.json").await?;
    serde_json::from_slice(&body).with_context(|| format!("{url} returned invalid JSON"))
}

/// Empties the emulator at `endpoint` (`POST /moto-api/reset`): every
/// resource of every region goes, so only for an emulator of one's own.
pub async fn reset(endpoint: &str) -> anyhow::Result<()> {
    call(endpoint, Method::POST, "/moto-api/reset").await?;
    Ok(())
}

/// One request with no body; the answer's body when it succeeded.
async fn call(endpoint: &str, method: Method, path: &str) -> anyhow::Result<(String, Bytes)> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let request = Request::builder()
        .method(method.clone())
        .uri(url.as_str())
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .with_context(|| format!("{url} is not a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "answered {status}");
        anyhow::Ok(body)
    };
    let body = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no complete response within {TIMEOUT:?}"))
        .and_then(|answer| answer)
        .with_context(|| format!("{method} {url}"))?;
    Ok((url, body))
}
