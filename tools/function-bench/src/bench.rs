//! The measurement plan and its results: init time over repeated cold
//! starts, then one invocation per batch size, each in a fresh process so
//! that the peak memory belongs to that batch alone. The measured batches
//! call the fast fake AWS endpoint ([`crate::fake_aws`] says why); the
//! batches against the emulator check the same binaries end to end.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;
use serde::Serialize;

use crate::fake_aws::FakeAws;
use crate::functions::{self, Backend, Effects, Function, Setup};
use crate::process::{FunctionProcess, LaunchSpec};
use crate::runtime_api::Answer;

/// The deadline the function is given for a batch.
pub const DEADLINE: Duration = Duration::from_secs(15 * 60);
/// How long a batch may take before the harness gives up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(17 * 60);
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Failed sequence numbers kept in the report.
const FAILURES_KEPT: usize = 5;

#[derive(Debug, Clone)]
pub struct Plan {
    pub functions: Vec<Function>,
    /// Batch sizes measured against the fake AWS endpoint.
    pub batches: Vec<usize>,
    /// Latency of every call to the fake endpoint.
    pub latency: Duration,
    /// Batch sizes run against the emulator (moto).
    pub moto_batches: Vec<usize>,
    pub init_runs: usize,
    /// One more batch of this size at log level info.
    pub info_batch: Option<usize>,
    pub log_level: String,
    pub bin_dir: PathBuf,
    pub logs_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResult {
    pub name: String,
    pub workload: String,
    pub binary: String,
    pub binary_bytes: Option<u64>,
    /// `measured`, `partial` (some step failed), `failed` or `missing`.
    pub status: String,
    pub errors: Vec<String>,
    pub init: Option<InitResult>,
    pub batches: Vec<BatchResult>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitResult {
    pub runs: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub samples_ms: Vec<f64>,
    /// Median peak RSS of the process when it first polled.
    pub ready_peak_rss_mib: f64,
    /// Median CPU time spent until the first poll.
    pub ready_cpu_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub records: usize,
    /// `fake` (the fast endpoint) or `moto` (the emulator).
    pub backend: String,
    pub log_level: String,
    pub payload_bytes: usize,
    /// From queueing the invocation to its complete answer.
    pub wall_ms: f64,
    /// CPU of the invocation (process CPU clock, all threads).
    pub cpu_ms: f64,
    pub cpu_us_per_record: f64,
    /// The same from `/proc/<pid>/stat` (clock-tick resolution), as a check.
    pub cpu_ticks_ms: f64,
    /// Peak RSS of the process (VmHWM) when the answer arrived.
    pub peak_rss_mib: f64,
    /// Peak RSS before the invocation (after init, idle).
    pub idle_peak_rss_mib: f64,
    pub rss_after_mib: f64,
    pub threads: u64,
    /// `response`, or `error <type>: <body>` when the function reported an
    /// invocation error.
    pub answer: String,
    pub failures: usize,
    pub failed_sequences: Vec<String>,
    pub effects: Option<Effects>,
    pub log_bytes: u64,
    pub log_lines: usize,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs `f` in its own task, so a panicking helper (testkit panics on a
/// failed AWS call) fails this step, not the whole run.
async fn guarded<T: Send + 'static>(
    f: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    match tokio::spawn(f).await {
        Ok(result) => result,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => Err(anyhow::anyhow!(
                "{}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned())
            )),
            Err(err) => Err(err.into()),
        },
    }
}

/// Measures every function of the plan, one after the other.
pub async fn run(plan: &Plan, aws: Option<SdkConfig>) -> Vec<FunctionResult> {
    let mut results = Vec::new();
    for &function in &plan.functions {
        eprintln!("== {}", function.name());
        results.push(bench_function(plan, function, aws.clone()).await);
    }
    results
}

async fn bench_function(plan: &Plan, function: Function, aws: Option<SdkConfig>) -> FunctionResult {
    let binary = plan.bin_dir.join(function.name());
    let mut result = FunctionResult {
        name: function.name().to_owned(),
        workload: function.workload().to_owned(),
        binary: binary.display().to_string(),
        binary_bytes: std::fs::metadata(&binary).ok().map(|m| m.len()),
        status: "measured".to_owned(),
        errors: Vec::new(),
        init: None,
        batches: Vec::new(),
    };
    if result.binary_bytes.is_none() {
        result.status = "missing".to_owned();
        result.errors.push(format!(
            "no binary at {} (does the crate build?)",
            binary.display()
        ));
        return result;
    }
    match measure_init(plan, function, &binary).await {
        Ok(init) => result.init = Some(init),
        Err(err) => {
            // A function that cannot start cannot be invoked either.
            result.status = "failed".to_owned();
            result.errors.push(format!("init: {err:#}"));
            return result;
        }
    }

    let mut runs: Vec<(usize, String, bool)> = plan
        .batches
        .iter()
        .map(|&n| (n, plan.log_level.clone(), false))
        .collect();
    if let Some(n) = plan.info_batch {
        runs.push((n, "info".to_owned(), false));
    }
    if function.needs_aws() {
        runs.extend(
            plan.moto_batches
                .iter()
                .map(|&n| (n, plan.log_level.clone(), true)),
        );
    }
    for (records, level, on_moto) in runs {
        let backend = if on_moto { "moto" } else { "fake" };
        eprintln!("   batch of {records} records, {backend} AWS, log level {level}...");
        let moto = match (&aws, on_moto) {
            (Some(aws), true) => Some(aws.clone()),
            (None, true) => {
                result.status = "partial".to_owned();
                result.errors.push(format!(
                    "batch of {records} against moto skipped: AWS_ENDPOINT_URL is not set \
                     (run under scripts/local-aws.sh run -- ...)"
                ));
                continue;
            }
            (_, false) => None,
        };
        match measure_batch(plan, function, &binary, moto, records, &level).await {
            Ok(batch) => {
                eprintln!(
                    "   {:.1} s wall, {:.1} µs CPU/record, peak RSS {:.1} MiB, {} failures",
                    batch.wall_ms / 1000.0,
                    batch.cpu_us_per_record,
                    batch.peak_rss_mib,
                    batch.failures
                );
                result.batches.push(batch);
            }
            Err(err) => {
                result.status = "partial".to_owned();
                result
                    .errors
                    .push(format!("batch of {records} ({backend}, {level}): {err:#}"));
            }
        }
    }
    result
}

fn spec(
    plan: &Plan,
    setup: &Setup,
    binary: &std::path::Path,
    level: &str,
    label: &str,
) -> LaunchSpec {
    LaunchSpec {
        binary: binary.to_owned(),
        function_name: setup.function.name().to_owned(),
        log_level: level.to_owned(),
        env: setup.env.clone(),
        log_path: plan
            .logs_dir
            .join(format!("{}-{label}.log", setup.function.name())),
    }
}

/// Init does not call AWS (clients are only built), so the starts point
/// at the fake endpoint and need no emulator.
async fn measure_init(
    plan: &Plan,
    function: Function,
    binary: &std::path::Path,
) -> anyhow::Result<InitResult> {
    let fake = FakeAws::start(plan.latency).await?;
    let setup = functions::setup(
        function,
        &Backend::Fake {
            endpoint: fake.endpoint(),
        },
    )
    .await?;
    let mut samples = Vec::new();
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..plan.init_runs.max(1) {
        let spec = spec(
            plan,
            &setup,
            binary,
            &plan.log_level,
            &format!("init-{run}"),
        );
        let mut process = FunctionProcess::launch(&spec).await?;
        let ready = process.wait_ready(READY_TIMEOUT).await;
        process.stop().await;
        let ready = ready?;
        samples.push(ms(ready.init));
        rss.push(mib(ready.snapshot.peak_rss_kib));
        cpu.push(ready.snapshot.cpu_ns as f64 / 1e6);
    }
    Ok(InitResult {
        runs: samples.len(),
        median_ms: median(&samples),
        min_ms: samples.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: samples.iter().copied().fold(0.0, f64::max),
        samples_ms: samples,
        ready_peak_rss_mib: median(&rss),
        ready_cpu_ms: median(&cpu),
    })
}

async fn measure_batch(
    plan: &Plan,
    function: Function,
    binary: &std::path::Path,
    moto: Option<SdkConfig>,
    records: usize,
    level: &str,
) -> anyhow::Result<BatchResult> {
    let (backend, fake) = match &moto {
        Some(aws) => (Backend::Moto(Box::new(aws.clone())), None),
        None => {
            let fake = FakeAws::start(plan.latency).await?;
            (
                Backend::Fake {
                    endpoint: fake.endpoint(),
                },
                Some(fake),
            )
        }
    };
    let setup = guarded(async move { functions::setup(function, &backend).await })
        .await
        .context("creating the function's resources")?;
    let backend_name = if setup.on_moto() { "moto" } else { "fake" };
    let payload = setup.batch(records)?;
    let payload_bytes = payload.len();

    let spec = spec(
        plan,
        &setup,
        binary,
        level,
        &format!("{records}-{backend_name}-{level}"),
    );
    let mut process = FunctionProcess::launch(&spec).await?;
    let invoked = async {
        process.wait_ready(READY_TIMEOUT).await?;
        process.invoke(payload, DEADLINE, ANSWER_TIMEOUT).await
    }
    .await;
    process.stop().await;
    let invoked = invoked?;

    let after = invoked
        .outcome
        .snapshot
        .context("could not read /proc of the function when it answered")?;
    let before = invoked.before;
    let cpu_ns = after.cpu_ns.saturating_sub(before.cpu_ns);
    let (answer, failed_sequences) = match &invoked.outcome.answer {
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
    };

    let effects = match (moto, &fake) {
        (Some(aws), _) => {
            let verify_setup = setup.clone();
            guarded(async move { verify_setup.verify_moto(&aws, records).await })
                .await
                .context("checking the batch's effects")?
        }
        (None, Some(fake)) => setup.verify_fake(&fake.counts(), records),
        (None, None) => unreachable!("a batch runs against moto or the fake"),
    };
    let log = std::fs::read(&spec.log_path).unwrap_or_default();

    Ok(BatchResult {
        records,
        backend: backend_name.to_owned(),
        log_level: level.to_owned(),
        payload_bytes,
        wall_ms: ms(invoked.wall),
        cpu_ms: cpu_ns as f64 / 1e6,
        cpu_us_per_record: cpu_ns as f64 / 1e3 / records.max(1) as f64,
        cpu_ticks_ms: after.cpu_ticks_ns.saturating_sub(before.cpu_ticks_ns) as f64 / 1e6,
        peak_rss_mib: mib(after.peak_rss_kib),
        idle_peak_rss_mib: mib(before.peak_rss_kib),
        rss_after_mib: mib(after.rss_kib),
        threads: after.threads,
        answer,
        failures: failed_sequences.len(),
        failed_sequences: failed_sequences.into_iter().take(FAILURES_KEPT).collect(),
        effects: Some(effects),
        log_bytes: log.len() as u64,
        log_lines: log.iter().filter(|&&b| b == b'\n').count(),
    })
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
}
