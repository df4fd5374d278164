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

use fault_proxy::{FaultProxy, Profile, ProxyConfig, BUILTIN};

const USAGE: &str =
    "usage: fault-proxy [--upstream URL] [--listen ADDR] [--profile SPEC] [--seed N]

  --upstream URL   the emulator (default: $AWS_ENDPOINT_URL)
  --listen ADDR    where to listen (default: 127.0.0.1:0, a free port)
  --profile SPEC   a built-in profile, or key=value pairs: throttle, 5xx, reset,
                   latency, lost (probabilities per request), latency_ms=MIN-MAX
                   (default: none)
  --seed N         seed of the fault draws (default: 0)

Admin: GET /__fault-proxy/counts, POST /__fault-proxy/counts/reset,
       GET or PUT /__fault-proxy/profile";

struct Args {
    config: ProxyConfig,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut upstream = std::env::var("AWS_ENDPOINT_URL").ok();
    let mut config = ProxyConfig::new(String::new());
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--upstream" => upstream = Some(value("--upstream")?),
            "--listen" => {
                let text = value("--listen")?;
                config.listen = text
                    .parse::<SocketAddr>()
                    .map_err(|_| format!("--listen {text}: not an address like 127.0.0.1:8080"))?;
            }
            "--profile" => {
                config.profile = Profile::parse(&value("--profile")?)
                    .map_err(|e| format!("{e} (built-in profiles: {})", BUILTIN.join(", ")))?
            }
            "--seed" => {
                let text = value("--seed")?;
                config.seed = text
                    .parse()
                    .map_err(|_| format!("--seed {text}: not a number"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    config.upstream = upstream
        .filter(|u| !u.trim().is_empty())
        .ok_or("no upstream: pass --upstream or set AWS_ENDPOINT_URL")?;
    Ok(Args { config })
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
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) if err.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("fault-proxy: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let profile = args.config.profile.name.clone();
    let upstream = args.config.upstream.clone();
    let proxy = match FaultProxy::start(args.config).await {
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

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn reads_every_option() {
        let parsed = args(&[
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
        assert_eq!(parsed.config.upstream, "http://127.0.0.1:5000");
        assert_eq!(parsed.config.listen.port(), 8099);
        assert_eq!(parsed.config.profile.name, "mixed");
        assert_eq!(parsed.config.seed, 7);
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
            assert!(args(&list).is_err(), "{bad:?}");
        }
        assert_eq!(args(&["--help"]).err().as_deref(), Some(""));
    }
}
