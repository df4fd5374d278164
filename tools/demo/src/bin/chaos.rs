//! `chaos`: the demo's order mix under injected faults, one run per fault
//! profile, then a table. Run with `make chaos` (or `make chaos-ci` for the
//! short set); it starts a private emulator first.
//!
//! ```text
//! chaos [--orders N] [--customers N] [--profiles P,P,...] [--budget-s S] [--seed N] [--reset-emulator] [--step-timeout-s S]
//! ```
//!
//! A profile is a built-in name (none, throttling, 5xx, resets, latency,
//! lost-responses, mixed) or a `key=value` spec (see `fault-proxy --help`).
//! Exits 1 when an invariant failed under some profile, 2 on an error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use demo::chaos::{self, ChaosOptions};
use demo::ProgressOutput;
use fault_proxy::Profile;

/// The demo's order mix under injected faults, one run per fault profile,
/// then a table.
#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Args {
    /// Orders per profile
    #[arg(long, value_name = "N", default_value_t = 200)]
    orders: usize,
    /// Customers placing them, 2 to 10
    #[arg(long, value_name = "N", default_value_t = 10)]
    customers: usize,
    /// Comma-separated fault profiles (default: none,throttling,5xx,resets,
    /// latency,lost-responses,mixed); a profile is a built-in name or
    /// key=value pairs joined by '+' (throttle=0.1+lost=0.02)
    #[arg(long, value_name = "LIST", value_parser = profiles)]
    profiles: Option<Profiles>,
    /// Longest the functions may run under one profile
    #[arg(long, value_name = "S", default_value_t = 120)]
    budget_s: u64,
    /// Seed of the fault draws
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Empty the emulator before each profile (only for an emulator of this
    /// run's own: scripts/chaos.sh starts one)
    #[arg(long)]
    reset_emulator: bool,
    /// The saga's step timeout; the saga sweep runs every 2 s (0: no
    /// deadlines, no sweep)
    #[arg(long, value_name = "S", default_value_t = 20)]
    step_timeout_s: u64,
}

/// The profiles `--profiles` names, at least one.
#[derive(Debug, Clone)]
struct Profiles(Vec<Profile>);

fn profiles(list: &str) -> Result<Profiles, String> {
    let profiles: Vec<Profile> = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Profile::parse(&p.replace('+', ",")).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if profiles.is_empty() {
        return Err("names no profile".to_owned());
    }
    Ok(Profiles(profiles))
}

impl Args {
    fn options(&self) -> ChaosOptions {
        ChaosOptions {
            orders: self.orders,
            customers: self.customers,
            seed: self.seed,
            budget: Duration::from_secs(self.budget_s),
            progress: ProgressOutput::Lines,
            reset_emulator: self.reset_emulator,
            step_timeout: (self.step_timeout_s > 0)
                .then(|| Duration::from_secs(self.step_timeout_s)),
            ..ChaosOptions::default()
        }
    }

    fn profiles(&self) -> Vec<Profile> {
        match &self.profiles {
            Some(Profiles(profiles)) => profiles.clone(),
            None => chaos::FULL_PROFILES
                .iter()
                .filter_map(|name| Profile::builtin(name))
                .collect(),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = demo::Plan::large(args.orders, args.customers) {
        eprintln!("chaos: {err}");
        return ExitCode::from(2);
    }
    let (options, profiles) = (args.options(), args.profiles());
    let path = demo::log_path("CHAOS_LOG", "order-saga-chaos.log");
    if let Err(err) = demo::log_to_file(&path) {
        eprintln!("chaos: cannot write logs to {}: {err}", path.display());
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    println!(
        "Chaos: {} orders per profile through every function, their AWS clients behind a fault proxy; profiles: {}",
        options.orders,
        names.join(", ")
    );
    let mut runs = Vec::new();
    for (index, profile) in profiles.iter().enumerate() {
        let region = chaos::region_for(index);
        println!(
            "\n== {} (per request: throttle {}, 5xx {}, reset {}, latency {} ({}-{} ms), lost {}; region {region})",
            profile.name,
            profile.throttle,
            profile.server_error,
            profile.reset,
            profile.latency,
            profile.latency_min_ms,
            profile.latency_max_ms,
            profile.lost_response
        );
        match chaos::run_profile(profile, region, &options).await {
            Ok(run) => {
                print!("{}", chaos::details(&run));
                runs.push(run);
            }
            Err(err) => {
                eprintln!("chaos: profile {}: {err:#}", profile.name);
                return ExitCode::from(2);
            }
        }
    }
    println!("\n{}", chaos::table(&runs));
    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| !r.is_ok())
        .map(|r| r.profile.name.as_str())
        .collect();
    println!(
        "{} profiles in {:.1} s; function logs (warnings and errors) in {}",
        runs.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    if failed.is_empty() {
        println!("Every invariant held under every profile.");
        ExitCode::SUCCESS
    } else {
        eprintln!("chaos: invariants failed under: {}", failed.join(", "));
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("chaos").chain(list.iter().copied()))
    }

    #[test]
    fn defaults_to_every_profile_with_two_hundred_orders() {
        let parsed = args(&[]).unwrap();
        assert_eq!(parsed.options().orders, 200);
        let profiles = parsed.profiles();
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, chaos::FULL_PROFILES);
    }

    #[test]
    fn reads_profiles_sizes_and_budget() {
        let parsed = args(&[
            "--orders",
            "60",
            "--profiles",
            "mixed, throttle=0.2+lost=0.01",
            "--budget-s",
            "90",
            "--seed",
            "3",
            "--reset-emulator",
            "--step-timeout-s",
            "0",
        ])
        .unwrap();
        let options = parsed.options();
        assert_eq!(options.orders, 60);
        assert_eq!(options.budget, Duration::from_secs(90));
        assert_eq!(options.seed, 3);
        assert!(options.reset_emulator);
        assert_eq!(options.step_timeout, None);
        let defaults = args(&[]).unwrap().options();
        assert_eq!(defaults.step_timeout, Some(Duration::from_secs(20)));
        assert!(!defaults.reset_emulator);
        let profiles = parsed.profiles();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[1].throttle, 0.2);
        assert_eq!(profiles[1].lost_response, 0.01);
        assert!(demo::Plan::large(5, 10).is_err(), "--orders 5 is refused");
        for bad in [
            &["--orders", "many"][..],
            &["--profiles", "gremlins"][..],
            &["--profiles", ","][..],
            &["--budget-s"][..],
            &["--nope"][..],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }
}
