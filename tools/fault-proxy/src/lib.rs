//! A fault-injecting HTTP proxy for the AWS SDK clients of the functions.
//!
//! It sits between the clients (their endpoint set to the proxy) and the
//! local emulator, forwards every request over kept-alive connections, and
//! per [`Profile`] injects, with given probabilities:
//!
//! - **throttling**, in each service's own error shape ([`shapes`]);
//! - **5xx** (500 or 503), in the service's internal-error shape;
//! - **connection resets** before the request is forwarded (nothing applied);
//! - **latency spikes**: the request is held, then forwarded;
//! - **lost responses**: the request is forwarded and applied by the
//!   emulator, then the client's connection is closed without an answer, as
//!   when a response is lost on the way back.
//!
//! The service is read from `X-Amz-Target` or the SigV4 credential scope
//! ([`service`]); requests for anything else (the emulator's own API) are
//! forwarded untouched. What was injected is counted per kind and service
//! ([`Counts`]), in process through [`FaultProxy::counts`] or over HTTP at
//! `GET /__fault-proxy/counts`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fault_proxy::ProxyError> {
//! use fault_proxy::{FaultProxy, Profile, ProxyConfig};
//!
//! let proxy = FaultProxy::start(
//!     ProxyConfig::new("http://127.0.0.1:5000").profile(Profile::builtin("mixed").unwrap_or_default()),
//! )
//! .await?;
//! // Point the SDK clients at proxy.endpoint_url(), run, then:
//! println!("{:?}", proxy.counts());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

pub mod counts;
pub mod profile;
pub mod server;
pub mod service;
pub mod shapes;

pub use counts::{Counters, Counts};
pub use profile::{Dice, Fault, FaultKind, Profile, ProfileError, Roll, BUILTIN};
pub use server::{FaultProxy, ProxyConfig, ProxyError, ADMIN_PREFIX};
pub use service::{identify, RequestInfo, Service};
pub use shapes::{error_shape, ErrorShape};
