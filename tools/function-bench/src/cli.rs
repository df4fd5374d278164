//! Command-line options.

use std::path::PathBuf;

use clap::Parser;

use crate::bench::{matrix, Cell, Plan};
use crate::cost;
use crate::functions::{self, Function};
use crate::report;

/// Measures what Lambda bills for each function: the real binary (and its
/// Python counterpart, when there is one) behind a fake Lambda Runtime API,
/// calling a fake AWS endpoint with a set latency that counts every call.
/// Each cell of the matrix (latency × batch × partition keys) is one
/// invocation of a fresh process.
#[derive(Debug, Parser)]
#[command(name = "function-bench")]
pub struct Args {
    /// Functions to measure (repeat, or comma-separated): the deployed
    /// functions of functions.json, or echo-function [default: all deployed]
    #[arg(long = "function", value_delimiter = ',')]
    functions: Vec<String>,
    /// Batch sizes [default: 1000]
    #[arg(long = "batch", value_delimiter = ',', value_parser = positive)]
    batches: Vec<usize>,
    /// Latencies of every fake AWS call [default: 0,5,20]
    #[arg(long = "latency-ms", value_delimiter = ',')]
    latencies_ms: Vec<u64>,
    /// Partition keys a batch is spread over (cells with more keys than
    /// records are skipped) [default: 1,100,1000]
    #[arg(long = "keys", value_delimiter = ',', value_parser = positive)]
    keys: Vec<usize>,
    /// A quick subset: latency 5 ms, batch 1000, keys 100 and 1000
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full matrix: latencies 0, 5, 20 ms; batches 100, 1000, 5000;
    /// keys 1, 100, 1000
    #[arg(long)]
    full: bool,
    /// Leave out the Python counterparts
    #[arg(long)]
    no_python: bool,
    /// Measure one cell (5 ms, 1000 records, 100 keys when in the matrix,
    /// else the first) again under a real 128 MB CPU quota (a cgroup),
    /// when the host lets the harness make one
    #[arg(long)]
    quota_check: bool,
    /// Run the same cell again under `strace -c -f` for every syscall (the
    /// matrix counts only the read and write kinds)
    #[arg(long)]
    strace: bool,
    /// Memory sizes the billed duration and cost are given for
    /// [default: 128 and template.yaml's MemorySize]
    #[arg(long = "memory-mb", value_delimiter = ',')]
    memory_mb: Vec<u32>,
    /// X-Ray as Lambda sets it up for the Rust functions: off (no daemon),
    /// unsampled (daemon address set, invocation not sampled: most
    /// invocations with tracing active) or sampled (a daemon stand-in
    /// counts the subsegments)
    #[arg(long, value_enum, default_value = "off")]
    xray: XrayArg,
    /// MAX_CONCURRENCY of the Rust functions (partition keys at once)
    /// [default: the functions' own default]
    #[arg(long, value_parser = positive)]
    max_concurrency: Option<usize>,
    /// AWS_LAMBDA_LOG_LEVEL of the functions
    #[arg(long, default_value = "warn", value_parser = lowercase)]
    log_level: String,
    /// Where the function binaries are (cargo puts the bench profile's there)
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The Python interpreter of a venv with bench/python/requirements.txt
    #[arg(long, default_value = "target/bench-venv/bin/python")]
    python: PathBuf,
    /// Where the Python counterparts' modules are
    #[arg(long, default_value = "bench/python")]
    python_dir: PathBuf,
    /// Where each run's output goes
    #[arg(long, default_value = "target/function-bench-logs")]
    logs_dir: PathBuf,
    /// The JSON report
    #[arg(long, default_value = "target/function-bench.json")]
    out: PathBuf,
    /// The chart
    #[arg(long, default_value = "target/function-bench.svg")]
    svg: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum XrayArg {
    Off,
    Unsampled,
    Sampled,
}

impl From<XrayArg> for crate::process::Xray {
    fn from(arg: XrayArg) -> Self {
        match arg {
            XrayArg::Off => Self::Off,
            XrayArg::Unsampled => Self::Unsampled,
            XrayArg::Sampled => Self::Sampled,
        }
    }
}

fn positive(value: &str) -> Result<usize, String> {
    match value.trim().replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{value}` is not a number")),
    }
}

fn lowercase(value: &str) -> Result<String, String> {
    Ok(value.to_ascii_lowercase())
}

#[derive(Debug, Clone)]
pub struct Options {
    pub plan: Plan,
    pub out: PathBuf,
    pub svg: PathBuf,
}

fn or(values: Vec<u64>, default: &[u64]) -> Vec<u64> {
    if values.is_empty() {
        default.to_vec()
    } else {
        values
    }
}

impl Args {
    fn cells(&self) -> Vec<Cell> {
        let (latencies, batches, keys): (&[u64], &[u64], &[u64]) = if self.quick {
            (&[5], &[1_000], &[100, 1_000])
        } else if self.full {
            (&[0, 5, 20], &[100, 1_000, 5_000], &[1, 100, 1_000])
        } else {
            (&[0, 5, 20], &[1_000], &[1, 100, 1_000])
        };
        let sizes = |given: &[usize]| given.iter().map(|&n| n as u64).collect();
        let batches = or(sizes(&self.batches), batches);
        let keys = or(sizes(&self.keys), keys);
        let to_usize = |v: Vec<u64>| v.into_iter().map(|n| n as usize).collect::<Vec<_>>();
        matrix(
            &or(self.latencies_ms.clone(), latencies),
            &to_usize(batches),
            &to_usize(keys),
        )
    }

    fn functions(&self) -> Result<Vec<Function>, String> {
        let known = functions::known().map_err(|e| format!("functions.json: {e}"))?;
        let mut names: Vec<String> = Vec::new();
        for name in self.functions.iter().map(|f| f.trim()) {
            if !known.iter().any(|k| k == name) {
                return Err(format!(
                    "--function: unknown function `{name}` (known: {})",
                    known.join(", ")
                ));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        if names.is_empty() {
            names = functions::deployed().map_err(|e| format!("functions.json: {e}"))?;
        }
        let mut list: Vec<Function> = names.iter().map(|n| Function::rust(n)).collect();
        if !self.no_python {
            list.extend(functions::python_counterparts(&names, &self.python_dir));
        }
        Ok(list)
    }

    fn memory_mb(&self) -> Vec<u32> {
        if !self.memory_mb.is_empty() {
            return self.memory_mb.clone();
        }
        let template = std::fs::read_to_string("template.yaml").unwrap_or_default();
        let mut sizes = vec![128];
        sizes.extend(cost::template_memory_mb(&template).filter(|&m| m != 128));
        sizes
    }

    pub fn into_options(self) -> Result<Options, String> {
        let cells = self.cells();
        Ok(Options {
            plan: Plan {
                functions: self.functions()?,
                cells: cells.clone(),
                log_level: self.log_level.clone(),
                bin_dir: self.bin_dir.clone(),
                python: self.python.clone(),
                python_dir: self.python_dir.clone(),
                logs_dir: self.logs_dir.clone(),
                memory_mb: self.memory_mb(),
                quota_cell: self
                    .quota_check
                    .then(|| report::reference_cell(&cells))
                    .flatten(),
                strace_cell: self
                    .strace
                    .then(|| report::reference_cell(&cells))
                    .flatten(),
                xray: self.xray.into(),
                max_concurrency: self.max_concurrency,
            },
            out: self.out,
            svg: self.svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Options, String> {
        let args = Args::try_parse_from(std::iter::once("function-bench").chain(a.iter().copied()))
            .map_err(|e| e.to_string())?;
        args.into_options()
    }

    fn axes(cells: &[Cell]) -> (Vec<u64>, Vec<usize>, Vec<usize>) {
        let mut axes = (Vec::new(), Vec::new(), Vec::new());
        for c in cells {
            if !axes.0.contains(&c.latency_ms) {
                axes.0.push(c.latency_ms);
            }
            if !axes.1.contains(&c.records) {
                axes.1.push(c.records);
            }
            if !axes.2.contains(&c.keys) {
                axes.2.push(c.keys);
            }
        }
        axes
    }

    #[test]
    fn defaults_measure_every_deployed_function_and_its_python_counterpart() {
        let options = parse(&["--python-dir", "../../bench/python"]).unwrap();
        let plan = &options.plan;
        let deployed = functions::deployed().unwrap();
        let rust: Vec<_> = deployed.iter().map(|n| Function::rust(n)).collect();
        assert_eq!(plan.functions[..rust.len()], rust[..]);
        assert!(plan
            .functions
            .contains(&Function::python("inventory-update")));
        assert_eq!(
            axes(&plan.cells),
            (vec![0, 5, 20], vec![1_000], vec![1, 100, 1_000])
        );
        assert_eq!(plan.log_level, "warn");
        assert_eq!(plan.memory_mb[0], 128);
        assert!(plan.quota_cell.is_none() && plan.strace_cell.is_none());
        assert_eq!(options.out, PathBuf::from("target/function-bench.json"));
        assert_eq!(options.svg, PathBuf::from("target/function-bench.svg"));
    }

    #[test]
    fn quick_and_full_pick_their_matrices() {
        let quick = parse(&["--quick", "--no-python"]).unwrap().plan;
        assert_eq!(axes(&quick.cells), (vec![5], vec![1_000], vec![100, 1_000]));
        let full = parse(&["--full"]).unwrap().plan;
        assert_eq!(
            axes(&full.cells),
            (vec![0, 5, 20], vec![100, 1_000, 5_000], vec![1, 100, 1_000])
        );
        // 3 latencies × (100: 2 key counts, 1,000 and 5,000: 3 each).
        assert_eq!(full.cells.len(), 24);
        assert!(parse(&["--quick", "--full"]).is_err());
    }

    #[test]
    fn reads_every_option() {
        let options = parse(&[
            "--function",
            "inventory-update,echo-function",
            "--function=inventory-update",
            "--batch",
            "10",
            "--batch=2_000,30",
            "--keys",
            "5",
            "--latency-ms",
            "20",
            "--no-python",
            "--quota-check",
            "--strace",
            "--memory-mb",
            "128,1769",
            "--log-level",
            "INFO",
            "--bin-dir",
            "b",
            "--python",
            "py",
            "--python-dir",
            "pd",
            "--logs-dir",
            "l",
            "--out",
            "o.json",
            "--svg",
            "o.svg",
        ])
        .unwrap();
        let plan = &options.plan;
        assert_eq!(
            plan.functions,
            vec![
                Function::rust("inventory-update"),
                Function::rust("echo-function")
            ]
        );
        assert_eq!(axes(&plan.cells), (vec![20], vec![10, 2_000, 30], vec![5]));
        assert_eq!(plan.quota_cell, Some(plan.cells[0]));
        assert_eq!(plan.strace_cell, Some(plan.cells[0]));
        assert_eq!(plan.memory_mb, vec![128, 1769]);
        assert_eq!(plan.log_level, "info");
        assert_eq!(plan.bin_dir, PathBuf::from("b"));
        assert_eq!(plan.python, PathBuf::from("py"));
        assert_eq!(plan.python_dir, PathBuf::from("pd"));
        assert_eq!(plan.logs_dir, PathBuf::from("l"));
        assert_eq!(options.out, PathBuf::from("o.json"));
        assert_eq!(options.svg, PathBuf::from("o.svg"));
    }

    #[test]
    fn rejects_bad_options() {
        for bad in [
            &["--function", "nope"][..],
            &["--batch", "x"],
            &["--batch", "0"],
            &["--keys", "0"],
            &["--latency-ms", "-1"],
            &["--batch"],
            &["--frobnicate"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
