//! The measurement plan and its results. A plan is a matrix of cells
//! (latency of the fake AWS endpoint × batch size × partition keys); each
//! cell is one invocation of a fresh process, so that its init and its
//! peak memory belong to that batch alone, against a fresh fake endpoint
//! that counts the calls.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use crate::cost;
use crate::fake_aws::FakeAws;
use crate::functions::{Effects, Function, Runtime, Setup};
use crate::proc_stats::ProcSnapshot;
use crate::process::{FunctionProcess, Invoked, LaunchSpec, Ready};
use crate::quota::CpuQuota;
use crate::runtime_api::Answer;
use crate::strace::{Syscalls, Tracer};

/// The deadline the function is given for a batch.
pub const DEADLINE: Duration = Duration::from_secs(15 * 60);
/// How long a batch may take before the harness gives up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(17 * 60);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Failed sequence numbers kept in the report.
const FAILURES_KEPT: usize = 5;

/// One point of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub latency_ms: u64,
    pub records: usize,
    pub keys: usize,
}

/// Every combination, keys never above the records.
pub fn matrix(latencies_ms: &[u64], batches: &[usize], keys: &[usize]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &latency_ms in latencies_ms {
        for &records in batches {
            for &keys in keys.iter().filter(|&&k| k <= records) {
                cells.push(Cell {
                    latency_ms,
                    records,
                    keys,
                });
            }
        }
    }
    cells
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub functions: Vec<Function>,
    pub cells: Vec<Cell>,
    pub log_level: String,
    /// Where the Rust binaries are.
    pub bin_dir: PathBuf,
    /// The Python interpreter (of a venv with `awslambdaric`).
    pub python: PathBuf,
    /// Where the Python handlers' modules are.
    pub python_dir: PathBuf,
    pub logs_dir: PathBuf,
    /// Memory sizes the billed duration and cost are given for.
    pub memory_mb: Vec<u32>,
    /// One cell measured again under a real CPU quota, when available.
    pub quota_cell: Option<Cell>,
    /// One cell run again under strace, for every syscall.
    pub strace_cell: Option<Cell>,
    /// X-Ray as Lambda would set it up for the Rust functions.
    pub xray: crate::process::Xray,
    /// `MAX_CONCURRENCY` of the Rust functions, when set.
    pub max_concurrency: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResult {
    pub name: String,
    pub runtime: Runtime,
    pub label: String,
    pub workload: String,
    pub command: String,
    /// `measured`, `partial` (some cell failed), `failed` or `missing`.
    pub status: String,
    pub errors: Vec<String>,
    /// Over every fresh process of the matrix.
    pub init: Option<InitSummary>,
    pub cells: Vec<CellResult>,
    pub quota_check: Option<QuotaCheck>,
    pub strace_check: Option<StraceCheck>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitSummary {
    pub starts: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Modelled (share of a full core) against the same cell under the quota.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCheck {
    pub how: String,
    pub memory_mb: u32,
    pub cell: Cell,
    pub modelled_billed_ms: Option<u64>,
    pub measured: Option<CellResult>,
    pub error: Option<String>,
}

/// Every syscall of one cell's invocation, from a traced run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StraceCheck {
    pub cell: Cell,
    pub aws_calls: Option<u64>,
    pub syscalls: Option<Syscalls>,
    pub error: Option<String>,
}

impl StraceCheck {
    pub fn per_call(&self) -> Option<f64> {
        let total = self.syscalls.as_ref()?.total;
        Some(total as f64 / self.aws_calls?.max(1) as f64)
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Billed {
    pub memory_mb: u32,
    pub ms: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CellResult {
    #[serde(flatten)]
    pub cell: Cell,
    pub payload_bytes: usize,
    /// Spawn to the first poll of the Runtime API.
    pub init_ms: f64,
    /// From queueing the invocation to its complete answer.
    pub wall_ms: f64,
    /// CPU of the invocation (user + system, all threads).
    pub cpu_ms: f64,
    pub cpu_us_per_record: f64,
    /// The same from `/proc/<pid>/stat` (clock-tick resolution), as a check.
    pub cpu_ticks_ms: f64,
    pub aws_calls: u64,
    pub aws_calls_per_record: f64,
    pub context_switches_per_call: f64,
    pub read_write_syscalls_per_call: f64,
    /// VmHWM when the answer arrived.
    pub peak_rss_mib: f64,
    pub threads: u64,
    /// Modelled billed duration per memory size.
    pub billed: Vec<Billed>,
    /// `response`, or `error <type>: <body>`.
    pub answer: String,
    pub failures: usize,
    pub failed_sequences: Vec<String>,
    pub effects: Effects,
    /// Only in a traced run.
    pub traced_syscalls: Option<Syscalls>,
    /// Subsegments the function sent to the X-Ray daemon (with `--xray`).
    pub xray_subsegments: u64,
}

impl CellResult {
    pub fn billed_ms(&self, memory_mb: u32) -> Option<u64> {
        self.billed
            .iter()
            .find(|b| b.memory_mb == memory_mb)
            .map(|b| b.ms)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Measures every function of the plan, one after the other.
pub async fn run(plan: &Plan) -> Vec<FunctionResult> {
    let quota = plan.quota_cell.map(|_| CpuQuota::create(128));
    let mut results = Vec::new();
    for function in &plan.functions {
        eprintln!("== {}", function.label());
        let mut result = bench_function(plan, function).await;
        if result.status == "missing" {
            results.push(result);
            continue;
        }
        if let (Some(cell), Some(quota)) = (plan.quota_cell, &quota) {
            result.quota_check = Some(quota_check(plan, function, cell, quota, &result).await);
        }
        if let Some(cell) = plan.strace_cell {
            result.strace_check = Some(strace_check(plan, function, cell).await);
        }
        results.push(result);
    }
    results
}

/// The program and arguments that run `function`.
fn command(plan: &Plan, function: &Function) -> (PathBuf, Vec<String>, Option<PathBuf>) {
    match function.runtime {
        Runtime::Rust => (plan.bin_dir.join(&function.name), Vec::new(), None),
        // Absolute, as the handler's directory becomes the working
        // directory; not canonical, which would leave the venv.
        Runtime::Python => (
            std::path::absolute(&plan.python).unwrap_or_else(|_| plan.python.clone()),
            ["-m", "awslambdaric"]
                .map(str::to_owned)
                .into_iter()
                .chain([format!("{}.handler", function.python_module())])
                .collect(),
            Some(plan.python_dir.clone()),
        ),
    }
}

fn new_result(plan: &Plan, function: &Function) -> FunctionResult {
    let (program, args, _) = command(plan, function);
    FunctionResult {
        name: function.name.clone(),
        runtime: function.runtime,
        label: function.label(),
        workload: function
            .workload()
            .map_or("no workload defined", |w| w.description)
            .to_owned(),
        command: std::iter::once(program.display().to_string())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" "),
        status: "measured".to_owned(),
        errors: Vec::new(),
        init: None,
        cells: Vec::new(),
        quota_check: None,
        strace_check: None,
    }
}

fn missing(plan: &Plan, function: &Function) -> Option<String> {
    let (program, _, _) = command(plan, function);
    if function.workload().is_none() {
        return Some("no workload is defined for it in function-bench".to_owned());
    }
    if !program.is_file() {
        return Some(format!(
            "no program at {} (does it build / is the venv made?)",
            program.display()
        ));
    }
    None
}

async fn bench_function(plan: &Plan, function: &Function) -> FunctionResult {
    let mut result = new_result(plan, function);
    if let Some(why) = missing(plan, function) {
        result.status = "missing".to_owned();
        result.errors.push(why);
        return result;
    }
    for &cell in &plan.cells {
        match measure_cell(plan, function, cell, Extra::None).await {
            Ok(measured) => {
                eprintln!(
                    "   {} ms, {} records, {} keys: {:.0} ms wall, {:.1} µs CPU/record, {:.1} MiB",
                    cell.latency_ms,
                    cell.records,
                    cell.keys,
                    measured.wall_ms,
                    measured.cpu_us_per_record,
                    measured.peak_rss_mib
                );
                result.cells.push(measured);
            }
            Err(err) => {
                result.status = "partial".to_owned();
                result.errors.push(format!("{cell:?}: {err:#}"));
            }
        }
    }
    if result.cells.is_empty() {
        result.status = "failed".to_owned();
    }
    let starts: Vec<f64> = result.cells.iter().map(|c| c.init_ms).collect();
    if !starts.is_empty() {
        result.init = Some(InitSummary {
            starts: starts.len(),
            median_ms: median(&starts),
            min_ms: starts.iter().copied().fold(f64::INFINITY, f64::min),
            max_ms: starts.iter().copied().fold(0.0, f64::max),
        });
    }
    result
}

async fn quota_check(
    plan: &Plan,
    function: &Function,
    cell: Cell,
    quota: &Result<CpuQuota, String>,
    result: &FunctionResult,
) -> QuotaCheck {
    let modelled_billed_ms = result
        .cells
        .iter()
        .find(|c| c.cell == cell)
        .and_then(|c| c.billed_ms(128));
    let mut check = QuotaCheck {
        how: String::new(),
        memory_mb: 128,
        cell,
        modelled_billed_ms,
        measured: None,
        error: None,
    };
    match quota {
        Ok(quota) => {
            eprintln!("   the same batch under {}...", quota.how);
            check.how = quota.how.clone();
            match measure_cell(plan, function, cell, Extra::Quota(quota)).await {
                Ok(measured) => check.measured = Some(measured),
                Err(err) => check.error = Some(format!("{err:#}")),
            }
        }
        Err(why) => check.error = Some(format!("no CPU quota available: {why}")),
    }
    check
}

async fn strace_check(plan: &Plan, function: &Function, cell: Cell) -> StraceCheck {
    eprintln!("   the same batch under strace...");
    match measure_cell(plan, function, cell, Extra::Strace).await {
        Ok(traced) => StraceCheck {
            cell,
            aws_calls: Some(traced.aws_calls),
            syscalls: traced.traced_syscalls,
            error: None,
        },
        Err(err) => StraceCheck {
            cell,
            aws_calls: None,
            syscalls: None,
            error: Some(format!("{err:#}")),
        },
    }
}

/// What else a cell's run is done under.
#[derive(Clone, Copy)]
enum Extra<'a> {
    None,
    Quota(&'a CpuQuota),
    Strace,
}

fn launch_spec(
    plan: &Plan,
    function: &Function,
    setup: &Setup,
    cell: Cell,
    extra: Extra<'_>,
) -> LaunchSpec {
    let (binary, args, dir) = command(plan, function);
    let runtime = match function.runtime {
        Runtime::Rust => "rust",
        Runtime::Python => "python",
    };
    let label = format!(
        "{}-{runtime}-{}ms-{}-{}keys{}",
        function.name,
        cell.latency_ms,
        cell.records,
        cell.keys,
        match extra {
            Extra::None => "",
            Extra::Quota(_) => "-quota",
            Extra::Strace => "-strace",
        }
    );
    LaunchSpec {
        binary,
        args,
        dir,
        function_name: function.name.clone(),
        log_level: plan.log_level.clone(),
        env: {
            let mut env = setup.env.clone();
            if let (Some(n), Runtime::Rust) = (plan.max_concurrency, function.runtime) {
                env.push(("MAX_CONCURRENCY".to_owned(), n.to_string()));
            }
            env
        },
        log_path: plan.logs_dir.join(format!("{label}.log")),
        cgroup_procs: match extra {
            Extra::Quota(quota) => Some(quota.procs()),
            Extra::None | Extra::Strace => None,
        },
        xray: match function.runtime {
            Runtime::Rust => plan.xray,
            Runtime::Python => crate::process::Xray::Off,
        },
    }
}

async fn measure_cell(
    plan: &Plan,
    function: &Function,
    cell: Cell,
    extra: Extra<'_>,
) -> anyhow::Result<CellResult> {
    let workload = function.workload().context("no workload")?;
    let fake = FakeAws::start(Duration::from_millis(cell.latency_ms)).await?;
    let setup = Setup::new(workload, &fake.endpoint());
    let payload = setup.batch(cell.records, cell.keys)?;
    let payload_bytes = payload.len();

    let spec = launch_spec(plan, function, &setup, cell, extra);
    let mut process = FunctionProcess::launch(&spec).await?;
    let invoked = invoke_once(&mut process, &spec, payload, extra).await;
    // Datagrams still in flight when the answer came.
    if spec.xray != crate::process::Xray::Off {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let xray_subsegments = process.xray_subsegments();
    if spec.xray != crate::process::Xray::Off {
        eprintln!(
            "function-bench: {} sent {xray_subsegments} X-Ray subsegments ({:?})",
            spec.function_name, spec.xray
        );
    }
    process.stop().await;
    let (ready, invoked, traced_syscalls) = invoked?;

    let after = invoked
        .outcome
        .snapshot
        .context("could not read /proc of the function when it answered")?;
    let (answer, failed_sequences) = read_answer(&invoked.outcome.answer)?;
    let effects = setup.verify(&fake.counts(), cell.records);
    let usage = Usage::between(&invoked.before, &after, effects.aws_calls.total());
    let wall_ms = ms(invoked.wall);
    Ok(CellResult {
        cell,
        payload_bytes,
        init_ms: ms(ready.init),
        wall_ms,
        cpu_ms: usage.cpu_ms,
        cpu_us_per_record: usage.cpu_ms * 1000.0 / cell.records.max(1) as f64,
        cpu_ticks_ms: usage.cpu_ticks_ms,
        aws_calls: usage.calls,
        aws_calls_per_record: usage.calls as f64 / cell.records.max(1) as f64,
        context_switches_per_call: usage.per_call(usage.context_switches),
        read_write_syscalls_per_call: usage.per_call(usage.syscalls),
        peak_rss_mib: after.peak_rss_kib as f64 / 1024.0,
        threads: after.threads,
        billed: plan
            .memory_mb
            .iter()
            .map(|&memory_mb| Billed {
                memory_mb,
                ms: cost::billed_ms(wall_ms, usage.cpu_ms, memory_mb),
            })
            .collect(),
        answer,
        failures: failed_sequences.len(),
        failed_sequences: failed_sequences.into_iter().take(FAILURES_KEPT).collect(),
        effects,
        traced_syscalls,
        xray_subsegments,
    })
}

/// Waits for the process to be ready, then hands it the batch, traced when
/// asked.
async fn invoke_once(
    process: &mut FunctionProcess,
    spec: &LaunchSpec,
    payload: Vec<u8>,
    extra: Extra<'_>,
) -> anyhow::Result<(Ready, Invoked, Option<Syscalls>)> {
    let ready = process.wait_ready(READY_TIMEOUT).await?;
    let tracer = match extra {
        Extra::Strace => {
            let out = spec.log_path.with_extension("strace");
            Some(Tracer::attach(process.pid(), &out).await?)
        }
        Extra::None | Extra::Quota(_) => None,
    };
    let invoked = process.invoke(payload, DEADLINE, ANSWER_TIMEOUT).await?;
    let traced = match tracer {
        Some(tracer) => Some(tracer.finish().await?),
        None => None,
    };
    Ok((ready, invoked, traced))
}

/// `response` and the failed items, or the invocation error in words.
fn read_answer(answer: &Answer) -> anyhow::Result<(String, Vec<String>)> {
    Ok(match answer {
        Answer::Response(body) => ("response".to_owned(), failed_sequences(body)?),
        Answer::Error { error_type, body } => (
            format!(
                "error {}: {}",
                error_type.as_deref().unwrap_or("?"),
                String::from_utf8_lossy(body)
                    .chars()
                    .take(500)
                    .collect::<String>()
            ),
            Vec::new(),
        ),
    })
}

/// What the invocation used: the difference of two snapshots.
struct Usage {
    cpu_ms: f64,
    cpu_ticks_ms: f64,
    context_switches: u64,
    syscalls: u64,
    calls: u64,
}

impl Usage {
    fn between(before: &ProcSnapshot, after: &ProcSnapshot, calls: u64) -> Self {
        Self {
            cpu_ms: after.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e6,
            cpu_ticks_ms: after.cpu_ticks_ns.saturating_sub(before.cpu_ticks_ns) as f64 / 1e6,
            context_switches: after
                .context_switches
                .saturating_sub(before.context_switches),
            syscalls: after
                .read_write_syscalls
                .saturating_sub(before.read_write_syscalls),
            calls,
        }
    }

    fn per_call(&self, count: u64) -> f64 {
        count as f64 / self.calls.max(1) as f64
    }
}

/// The item identifiers of a `{"batchItemFailures":[...]}` response. A
/// failure without an identifier fails the whole batch in Lambda; it is
/// listed as `<null>`.
pub fn failed_sequences(body: &[u8]) -> anyhow::Result<Vec<String>> {
    let value: serde_json::Value =
        serde_json::from_slice(body).context("the response is not JSON")?;
    let failures = value
        .get("batchItemFailures")
        .and_then(|f| f.as_array())
        .with_context(|| {
            format!(
                "the response has no batchItemFailures list: {}",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        })?;
    Ok(failures
        .iter()
        .map(|f| {
            f.get("itemIdentifier")
                .and_then(|id| id.as_str())
                .unwrap_or("<null>")
                .to_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_batch_item_failures() {
        assert!(failed_sequences(br#"{"batchItemFailures":[]}"#)
            .unwrap()
            .is_empty());
        assert_eq!(
            failed_sequences(
                br#"{"batchItemFailures":[{"itemIdentifier":"7"},{"itemIdentifier":null}]}"#
            )
            .unwrap(),
            vec!["7".to_owned(), "<null>".to_owned()]
        );
        assert!(failed_sequences(b"null").is_err());
        assert!(failed_sequences(b"{}").is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_matrix_never_has_more_keys_than_records() {
        let cells = matrix(&[0, 5], &[100, 1_000], &[1, 1_000]);
        assert_eq!(cells.len(), 6);
        assert!(cells.iter().all(|c| c.keys <= c.records));
        assert_eq!(
            cells[0],
            Cell {
                latency_ms: 0,
                records: 100,
                keys: 1
            }
        );
    }
}
