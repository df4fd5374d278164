//! `fault-proxy`: the fault-injecting proxy as a process.
//!
//! ```text
//! fault-proxy [--upstream URL] [--listen ADDR] [--profile SPEC] [--seed N]
//! ```
//!
//! The upstream defaults to `AWS_ENDPOINT_URL`, the listen address to
//! `127.0.0.1:0`. It prints `FAULT_PROXY_URL=http://127.0.0.1:PORT` once
//! listening, serves until SIGINT or SIGTERM, then prints the counts as
//! JSON.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use fault_proxy::{FaultProxy, Profile, ProxyConfig, BUILTIN};

/// The fault-injecting proxy in front of the emulator.
#[derive(Debug, Parser)]
#[command(
    name = "fault-proxy",
    after_help = "Admin: GET /__fault-proxy/counts, POST /__fault-proxy/counts/reset,\n       GET or PUT /__fault-proxy/profile"
)]
struct Args {
    /// The emulator (default: $AWS_ENDPOINT_URL)
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Where to listen (default: 127.0.0.1:0, a free port)
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// A built-in profile, or key=value pairs: throttle, 5xx, reset,
    /// latency, lost (probabilities per request), latency_ms=MIN-MAX
    /// (default: none)
    #[arg(long, value_name = "SPEC", value_parser = profile)]
    profile: Option<Profile>,
    /// Seed of the fault draws
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
}

fn profile(spec: &str) -> Result<Profile, String> {
    Profile::parse(spec).map_err(|e| format!("{e} (built-in profiles: {})", BUILTIN.join(", ")))
}

impl Args {
    /// The proxy's configuration; the upstream falls back to
    /// `AWS_ENDPOINT_URL`.
    fn config(self, endpoint_from_env: Option<String>) -> Result<ProxyConfig, String> {
        let upstream = self
            .upstream
            .or(endpoint_from_env)
            .filter(|u| !u.trim().is_empty())
            .ok_or("no upstream: pass --upstream or set AWS_ENDPOINT_URL")?;
        let mut config = ProxyConfig::new(upstream);
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(profile) = self.profile {
            config.profile = profile;
        }
        config.seed = self.seed;
        Ok(config)
    }
}

async fn terminated() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Args::parse().config(std::env::var("AWS_ENDPOINT_URL").ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("fault-proxy: {err} (--help shows the usage)");
            return ExitCode::from(2);
        }
    };
    let profile = config.profile.name.clone();
    let upstream = config.upstream.clone();
    let proxy = match FaultProxy::start(config).await {
        Ok(proxy) => proxy,
        Err(err) => {
            eprintln!("fault-proxy: {err}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "fault-proxy: listening on {} in front of {upstream}, profile {profile}",
        proxy.endpoint_url()
    );
    println!("FAULT_PROXY_URL={}", proxy.endpoint_url());
    terminated().await;
    let counts = proxy.counts();
    proxy.shutdown().await;
    match serde_json::to_string(&counts) {
        Ok(json) => println!("{json}"),
        Err(err) => eprintln!("fault-proxy: counts: {err}"),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(list: &[&str]) -> Result<ProxyConfig, String> {
        Args::try_parse_from(std::iter::once("fault-proxy").chain(list.iter().copied()))
            .map_err(|e| e.to_string())?
            .config(None)
    }

    #[test]
    fn reads_every_option() {
        let parsed = config(&[
            "--upstream",
            "http://127.0.0.1:5000",
            "--listen",
            "127.0.0.1:8099",
            "--profile",
            "mixed",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(parsed.upstream, "http://127.0.0.1:5000");
        assert_eq!(parsed.listen.port(), 8099);
        assert_eq!(parsed.profile.name, "mixed");
        assert_eq!(parsed.seed, 7);
        let defaults = Args::try_parse_from(["fault-proxy"])
            .unwrap()
            .config(Some("http://127.0.0.1:4566".into()))
            .unwrap();
        assert_eq!(defaults.upstream, "http://127.0.0.1:4566");
        assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(defaults.profile, Profile::none());
    }

    #[test]
    fn refuses_bad_options() {
        let up = ["--upstream", "http://127.0.0.1:1"];
        for bad in [
            &["--listen", "nowhere"][..],
            &["--profile", "chaos-monkey"][..],
            &["--seed", "x"][..],
            &["--what"][..],
            &["--seed"][..],
        ] {
            let mut list = up.to_vec();
            list.extend_from_slice(bad);
            assert!(config(&list).is_err(), "{bad:?}");
        }
        assert!(config(&[]).unwrap_err().contains("no upstream"));
        assert!(config(&["--profile", "chaos-monkey"])
            .unwrap_err()
            .contains("built-in profiles"));
        let help = Args::try_parse_from(["fault-proxy", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    }
}
