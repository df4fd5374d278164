//! Command-line options.

use std::path::PathBuf;

use crate::bench::Plan;
use crate::functions::Function;

pub const USAGE: &str = "\
function-bench: measures each Lambda function's real binary behind a fake
Lambda Runtime API: init time, peak memory and CPU per record of one batch.
The measured batches call a fast fake AWS endpoint with a set latency (the
SDK's CPU while waiting grows with the endpoint's slowness, and moto is slow);
the --moto-batch runs check the same binaries end to end against the local
emulator, so run it as
    scripts/local-aws.sh run -- function-bench [OPTIONS]
(scripts/bench-functions.sh builds the binaries and does that).

Options:
  --function NAME     measure NAME (repeat, or comma-separated): email-notification,
                      inventory-update, order-saga-step, echo-function
                      (default: the three functions)
  --batch N[,N...]    batch sizes measured against the fake endpoint, one
                      invocation each in a fresh process (default: 1000,10000)
  --latency-ms N      latency of every fake AWS call (default: 5)
  --moto-batch N[,N]  batch sizes run against the emulator at AWS_ENDPOINT_URL;
                      0 = none (default: 1000)
  --init-runs N       cold starts measured for the init time (default: 10)
  --info-batch N      one more batch of N records at log level info; 0 = none
                      (default: 1000)
  --log-level LEVEL   AWS_LAMBDA_LOG_LEVEL of the measured batches (default: warn)
  --bin-dir DIR       where the function binaries are (default: target/release, where
                      cargo puts the bench profile's binaries)
  --logs-dir DIR      where each run's output goes (default: target/function-bench-logs)
  --out FILE          the JSON report (default: target/function-bench.json)
  -h, --help          this text
";

#[derive(Debug, Clone)]
pub struct Options {
    pub plan: Plan,
    pub out: PathBuf,
}

fn number(option: &str, value: &str) -> Result<usize, String> {
    value
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{option}: `{value}` is not a number"))
}

/// Parses the arguments after the program name. `Ok(None)` means help
/// was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut functions = Vec::new();
    let mut batches = Vec::new();
    let mut moto_batches = None;
    let mut latency_ms = 5;
    let mut init_runs = 10;
    let mut info_batch = Some(1_000);
    let mut log_level = "warn".to_owned();
    let mut bin_dir = PathBuf::from("target/release");
    let mut logs_dir = PathBuf::from("target/function-bench-logs");
    let mut out = PathBuf::from("target/function-bench.json");

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--function" => {
                for f in value()?.split(',').filter(|f| !f.trim().is_empty()) {
                    let function = Function::parse(f.trim())
                        .ok_or_else(|| format!("--function: unknown function `{f}`"))?;
                    if !functions.contains(&function) {
                        functions.push(function);
                    }
                }
            }
            "--batch" => {
                for n in value()?.split(',').filter(|n| !n.trim().is_empty()) {
                    let n = number("--batch", n)?;
                    if n == 0 {
                        return Err("--batch: a batch needs at least one record".into());
                    }
                    batches.push(n);
                }
            }
            "--moto-batch" => {
                let list = moto_batches.get_or_insert_with(Vec::new);
                for n in value()?.split(',').filter(|n| !n.trim().is_empty()) {
                    let n = number("--moto-batch", n)?;
                    if n > 0 {
                        list.push(n);
                    }
                }
            }
            "--latency-ms" => latency_ms = number("--latency-ms", &value()?)?,
            "--init-runs" => init_runs = number("--init-runs", &value()?)?.max(1),
            "--info-batch" => {
                let n = number("--info-batch", &value()?)?;
                info_batch = (n > 0).then_some(n);
            }
            "--log-level" => log_level = value()?.to_ascii_lowercase(),
            "--bin-dir" => bin_dir = PathBuf::from(value()?),
            "--logs-dir" => logs_dir = PathBuf::from(value()?),
            "--out" => out = PathBuf::from(value()?),
            other => return Err(format!("unknown option `{other}` (see --help)")),
        }
    }
    if functions.is_empty() {
        functions = Function::PRODUCT.to_vec();
    }
    if batches.is_empty() {
        batches = vec![1_000, 10_000];
    }
    Ok(Some(Options {
        plan: Plan {
            functions,
            batches,
            latency: std::time::Duration::from_millis(latency_ms as u64),
            moto_batches: moto_batches.unwrap_or_else(|| vec![1_000]),
            init_runs,
            info_batch,
            log_level,
            bin_dir,
            logs_dir,
        },
        out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Option<Options>, String> {
        parse(a.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_measure_the_three_functions() {
        let options = args(&[]).unwrap().unwrap();
        assert_eq!(options.plan.functions, Function::PRODUCT.to_vec());
        assert_eq!(options.plan.batches, vec![1_000, 10_000]);
        assert_eq!(options.plan.moto_batches, vec![1_000]);
        assert_eq!(options.plan.latency, std::time::Duration::from_millis(5));
        assert_eq!(options.plan.init_runs, 10);
        assert_eq!(options.plan.info_batch, Some(1_000));
        assert_eq!(options.plan.log_level, "warn");
        assert_eq!(options.out, PathBuf::from("target/function-bench.json"));
    }

    #[test]
    fn reads_every_option() {
        let options = args(&[
            "--function",
            "inventory-update,echo-function",
            "--function=inventory-update",
            "--batch",
            "10",
            "--batch=2_000,30",
            "--init-runs",
            "3",
            "--info-batch",
            "0",
            "--log-level",
            "INFO",
            "--moto-batch",
            "0",
            "--latency-ms",
            "20",
            "--bin-dir",
            "b",
            "--logs-dir",
            "l",
            "--out",
            "o.json",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            options.plan.functions,
            vec![Function::InventoryUpdate, Function::Echo]
        );
        assert_eq!(options.plan.batches, vec![10, 2_000, 30]);
        assert_eq!(options.plan.init_runs, 3);
        assert_eq!(options.plan.info_batch, None);
        assert!(options.plan.moto_batches.is_empty());
        assert_eq!(options.plan.latency, std::time::Duration::from_millis(20));
        assert_eq!(options.plan.log_level, "info");
        assert_eq!(options.plan.bin_dir, PathBuf::from("b"));
        assert_eq!(options.plan.logs_dir, PathBuf::from("l"));
        assert_eq!(options.out, PathBuf::from("o.json"));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(args(&["-h"]).unwrap().is_none());
        for bad in [
            &["--function", "nope"][..],
            &["--batch", "x"],
            &["--batch", "0"],
            &["--latency-ms", "-1"],
            &["--batch"],
            &["--frobnicate"],
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
    }
}
