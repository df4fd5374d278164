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

use demo::chaos::{self, ChaosOptions};
use demo::ProgressOutput;
use fault_proxy::Profile;

const USAGE: &str = "usage: chaos [--orders N] [--customers N] [--profiles P,P,...] [--budget-s S] [--seed N] [--reset-emulator] [--step-timeout-s S]

  --orders N        orders per profile (default 200)
  --customers N     customers placing them, 2 to 10 (default 10)
  --profiles LIST   comma-separated fault profiles (default: none,throttling,5xx,
                    resets,latency,lost-responses,mixed); a profile is a built-in
                    name or key=value pairs joined by '+' (throttle=0.1+lost=0.02)
  --budget-s S      longest the functions may run under one profile (default 120)
  --seed N          seed of the fault draws (default 1)
  --reset-emulator  empty the emulator before each profile (only for an emulator
                    of this run's own: scripts/chaos.sh starts one)
  --step-timeout-s S  the saga's step timeout; the saga sweep runs every 2 s
                    (default 20; 0: no deadlines, no sweep)";

struct Args {
    options: ChaosOptions,
    profiles: Vec<Profile>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut options = ChaosOptions {
        progress: ProgressOutput::Lines,
        ..ChaosOptions::default()
    };
    let mut profiles: Vec<Profile> = chaos::FULL_PROFILES
        .iter()
        .filter_map(|name| Profile::builtin(name))
        .collect();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name} {text}: not a number"))
        };
        match arg.as_str() {
            "--orders" => {
                options.orders = number("--orders", value("--orders")?)? as usize;
            }
            "--customers" => {
                options.customers = number("--customers", value("--customers")?)? as usize;
            }
            "--budget-s" => {
                options.budget = Duration::from_secs(number("--budget-s", value("--budget-s")?)?);
            }
            "--seed" => options.seed = number("--seed", value("--seed")?)?,
            "--reset-emulator" => options.reset_emulator = true,
            "--step-timeout-s" => {
                let seconds = number("--step-timeout-s", value("--step-timeout-s")?)?;
                options.step_timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
            }
            "--profiles" => {
                profiles = value("--profiles")?
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Profile::parse(&p.replace('+', ",")).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
                if profiles.is_empty() {
                    return Err("--profiles names no profile".to_owned());
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    demo::Plan::large(options.orders, options.customers).map_err(|e| e.to_string())?;
    Ok(Args { options, profiles })
}

fn log_path() -> std::path::PathBuf {
    std::env::var_os("CHAOS_LOG")
        .map(Into::into)
        .unwrap_or_else(|| std::env::temp_dir().join("order-saga-chaos.log"))
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
            eprintln!("chaos: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = log_path();
    if let Err(err) = demo::log_to_file(&path) {
        eprintln!("chaos: cannot write logs to {}: {err}", path.display());
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let names: Vec<&str> = args.profiles.iter().map(|p| p.name.as_str()).collect();
    println!(
        "Chaos: {} orders per profile through all four functions, their AWS clients behind a fault proxy; profiles: {}",
        args.options.orders,
        names.join(", ")
    );
    let mut runs = Vec::new();
    for (index, profile) in args.profiles.iter().enumerate() {
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
        match chaos::run_profile(profile, region, &args.options).await {
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

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_to_every_profile_with_two_hundred_orders() {
        let parsed = args(&[]).unwrap();
        assert_eq!(parsed.options.orders, 200);
        let names: Vec<&str> = parsed.profiles.iter().map(|p| p.name.as_str()).collect();
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
        assert_eq!(parsed.options.orders, 60);
        assert_eq!(parsed.options.budget, Duration::from_secs(90));
        assert_eq!(parsed.options.seed, 3);
        assert!(parsed.options.reset_emulator);
        assert_eq!(parsed.options.step_timeout, None);
        assert_eq!(
            args(&[]).unwrap().options.step_timeout,
            Some(Duration::from_secs(20))
        );
        assert!(!args(&[]).unwrap().options.reset_emulator);
        assert_eq!(parsed.profiles.len(), 2);
        assert_eq!(parsed.profiles[1].throttle, 0.2);
        assert_eq!(parsed.profiles[1].lost_response, 0.01);
        for bad in [
            &["--orders", "5"][..],
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
