//! `make chaos`: the demo's order mix under injected faults.
//!
//! Each profile runs the whole story on fresh resources: a large plan
//! ([`Plan::large`]) is published, and the four functions run behind the
//! event source runner with every AWS client of theirs going through a
//! [`fault_proxy::FaultProxy`] in front of the emulator. The runner's own
//! stream reads, the set-up and the final checks talk to the emulator
//! directly, so the faults hit only the functions.
//!
//! The mappings are set up as the template deploys them: retries bounded
//! by record age (12 h), not by a small count, bisect on function error,
//! a 30 s function timeout and no event filters. A run continues until both
//! streams are drained (every record processed for good) or the profile's
//! time budget runs out; then the invariants are checked ([`checks`]).
//!
//! Each profile uses its own region of the emulator, so its tables stay
//! small (the emulator copies every table of a region on each
//! `TransactWriteItems`) and one profile's state cannot leak into the next;
//! with [`ChaosOptions::reset_emulator`] the emulator is also emptied
//! before each profile, which keeps its answer to the mail query quick.

pub mod checks;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_config::Region;
use event_source_runner::linked;
use event_source_runner::{
    catalog, Deadline, MappingConfig, OnFailureDestination, RunOptions, RunOutcome, RunReport,
    Runner, StreamRef,
};
use fault_proxy::{Counts, FaultKind, FaultProxy, Profile, ProxyConfig};
use order_events::EmailAddress;
use tokio::sync::watch;

use crate::progress::{Printer, Progress, ProgressOutput};
use crate::publisher::OrderEventPublisher;
use crate::report::Check;
use crate::shop::Plan;
use crate::wiring::{self, Clients, WireOptions};
use crate::{inspect, setup};

/// The profiles of `make chaos`, in order: every built-in one.
pub const FULL_PROFILES: [&str; 7] = fault_proxy::BUILTIN;

/// Regions the profiles of one run take in turn.
const REGIONS: [&str; 8] = [
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// The region of the `index`-th profile of a run.
pub fn region_for(index: usize) -> &'static str {
    REGIONS[index % REGIONS.len()]
}

/// How big each profile's run is, and how long it may take.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub orders: usize,
    pub customers: usize,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Longest the functions may run under one profile.
    pub budget: Duration,
    pub progress: ProgressOutput,
    pub progress_every: Duration,
    /// Empty the emulator before each profile. The emulator answers the
    /// mail query (`/moto-api/data.json`) by serialising everything it
    /// holds, under its lock, so without a reset each profile's check gets
    /// slower; only for an emulator of the run's own (`make chaos` starts
    /// one).
    pub reset_emulator: bool,
    /// The saga's step timeout; with one, the saga sweep
    /// (`order_saga_step::sweep`) runs every `sweep_every` while the
    /// functions run, as its schedule would. `None`: no deadlines swept.
    pub step_timeout: Option<Duration>,
    pub sweep_every: Duration,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            orders: 200,
            customers: 10,
            seed: 1,
            budget: Duration::from_secs(120),
            progress: ProgressOutput::Off,
            progress_every: Duration::from_secs(10),
            reset_emulator: false,
            step_timeout: Some(Duration::from_secs(20)),
            sweep_every: Duration::from_secs(2),
        }
    }
}

/// What the event source runner saw: its retries are the faults the
/// functions could not absorb themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerRetries {
    pub invocations: u64,
    /// Records delivered again after a failure.
    pub redelivered: u64,
    /// Invocations answered with some records failed.
    pub partial_failures: u64,
    /// Invocations failed as a whole (errors, timeouts).
    pub whole_batch_failures: u64,
    pub bisections: u64,
    pub outcome_idle: bool,
}

/// What the saga sweep did over a profile's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepTotals {
    pub runs: u64,
    /// Sagas whose awaited reply was overdue: compensation started.
    pub timed_out: u64,
    pub compensations_resent: u64,
    pub compensations_given_up: u64,
    /// Sagas the sweep ended FAILED.
    pub failed: u64,
    /// Ended sagas whose unconfirmed outbox was published again.
    pub republished: u64,
    /// Sagas a reply moved first (nothing written).
    pub superseded: u64,
    pub store_errors: u64,
    pub unpublished: u64,
}

impl SweepTotals {
    fn add(&mut self, report: &order_saga_step::SweepReport) {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        self.runs += 1;
        self.timed_out += n(report.timed_out);
        self.compensations_resent += n(report.compensations_resent);
        self.compensations_given_up += n(report.compensations_given_up);
        self.failed += n(report.failed);
        self.republished += n(report.republished);
        self.superseded += n(report.superseded);
        self.store_errors += n(report.store_errors);
        self.unpublished += n(report.unpublished);
    }
}

/// The sweep on its schedule, in the background.
struct SweepLoop {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<SweepTotals>,
}

impl SweepLoop {
    fn start(sweeper: order_saga_step::sweep::SagaSweeper, every: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut totals = SweepTotals::default();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
                // A run is never cut short: stopping waits for it.
                let report = sweeper
                    .run(order_saga_step::now_millis(), Deadline::in_(SWEEP_TIMEOUT))
                    .await;
                totals.add(&report);
            }
            totals
        });
        Self { stop, task }
    }

    async fn finish(self) -> SweepTotals {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The sweep function's timeout per run.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds `next` to `sum`: counters summed, the outcome and checkpoints of
/// the later run.
fn merge(sum: Option<RunReport>, next: RunReport) -> RunReport {
    match sum {
        None => next,
        Some(mut sum) => {
            sum.totals.add(&next.totals);
            sum.rounds += next.rounds;
            sum.elapsed += next.elapsed;
            sum.outcome = next.outcome;
            sum.mappings = next.mappings;
            sum
        }
    }
}

/// One profile's run.
#[derive(Debug, Clone)]
pub struct ProfileRun {
    pub profile: Profile,
    pub region: String,
    pub orders: usize,
    pub faults: Counts,
    pub runner: RunnerRetries,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    /// Sagas per final status.
    pub statuses: BTreeMap<String, usize>,
    /// What the saga sweep did, when it ran.
    pub sweep: Option<SweepTotals>,
    pub wall: Duration,
}

impl ProfileRun {
    pub fn holding(&self) -> usize {
        self.checks.iter().filter(|c| c.holds()).count()
    }

    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(Check::holds)
    }
}

/// Functions whose mapping of the events stream gets the record that is
/// not JSON (every one, with no filter) and the invalid order (those that
/// handle `ORDER_PLACED`).
fn readers() -> (BTreeSet<String>, BTreeSet<String>) {
    let invalid_order = crate::report::order_placed_readers()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let not_json = linked::LINKED
        .iter()
        .filter(|f| {
            f.sources
                .iter()
                .any(|s| s.stream_var == catalog::ORDER_EVENTS_STREAM)
        })
        .map(|f| f.name.to_owned())
        .collect();
    (invalid_order, not_json)
}

/// Per-service settings from the environment, none of them: each client
/// would otherwise read `AWS_ENDPOINT_URL` again (a per-service setting
/// goes ahead of the configuration's own endpoint) and bypass the proxy.
#[derive(Debug, Clone, Copy)]
struct NoServiceSettings;

impl aws_types::service_config::LoadServiceConfig for NoServiceSettings {
    fn load_config(&self, _key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

/// The mappings as the template deploys them.
fn as_deployed(config: &mut MappingConfig, on_failure: &OnFailureDestination) {
    config.max_retry_attempts = -1;
    config.max_record_age = Some(Duration::from_secs(12 * 3600));
    config.bisect_on_error = true;
    config.timeout = Duration::from_secs(30);
    config.filter = None;
    config.on_failure = Some(on_failure.clone());
}

/// Runs the plan under `profile` in `region` of the emulator
/// `AWS_ENDPOINT_URL` points at.
// Long: the profile's story in order (set-up, publish, run, inspect, check).
pub async fn run_profile(
    profile: &Profile,
    region: &str,
    options: &ChaosOptions,
) -> anyhow::Result<ProfileRun> {
    let started = Instant::now();
    let endpoint = emulator_endpoint()?;
    let plan = Plan::large(options.orders, options.customers)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let suffix = &run_id[..8];
    let sender = EmailAddress::parse(format!("orders@chaos-{suffix}.example.com").as_str())
        .map_err(|e| anyhow::anyhow!("sender: {e}"))?;
    if options.reset_emulator {
        setup::reset_emulator(&endpoint).await?;
    }
    let sides = Sides::start(&endpoint, region, profile, options.seed).await?;
    let direct = &sides.direct;

    let resources = setup::Resources::create(direct, suffix, sender.clone()).await?;
    resources.seed_stock(direct, plan.stock().iter()).await?;
    let before = inspect::inventory(direct, &resources.inventory_table).await?;
    let publisher = Arc::new(OrderEventPublisher::new(
        aws_sdk_kinesis::Client::new(direct),
        StreamRef::Name(resources.events_stream.clone()),
    ));
    crate::publish_burst(&publisher, &plan).await?;

    let progress = Arc::new(Progress::default());
    let (on_failure, _given_up) = OnFailureDestination::memory();
    let tune = move |config: &mut MappingConfig| as_deployed(config, &on_failure);
    let wiring::Wiring { runner, .. } = wiring::wire_with(
        &WireOptions {
            clients: Clients {
                functions: &sides.functions,
                runner: direct,
            },
            tune: &tune,
            step_timeout: options.step_timeout,
        },
        &resources,
        &plan,
        &progress,
        &publisher,
    )?;
    let printer = Printer::start(
        Arc::clone(&progress),
        plan.orders.len(),
        options.progress,
        options.progress_every,
    );
    let ran = run_functions(runner, &sides, &resources, options).await;
    printer.finish().await;
    let (run, sweep) = ran?;
    let faults = sides.proxy.counts();
    sides.proxy.shutdown().await;

    let (after, sagas, dead_letters, events, commands) = tokio::try_join!(
        inspect::inventory(direct, &resources.inventory_table),
        inspect::sagas(direct, &resources.saga_table),
        inspect::dead_letters(direct, &resources.dead_letter_queue_url),
        inspect::stream_events(direct, &resources.events_stream),
        inspect::stream_events(direct, &resources.commands_stream),
    )?;
    // Alone: the emulator holds its lock while it serialises its state.
    let mail = inspect::sent_mail(&endpoint, sender.as_str()).await?;
    let (invalid_order_readers, not_json_readers) = readers();
    let verdict = checks::evaluate(&checks::Observed {
        plan: &plan,
        before: &before,
        after: &after,
        sagas: &sagas,
        dead_letters: &dead_letters,
        mail: &mail,
        events: &events,
        commands: &commands,
        run: &run,
        invalid_order_readers,
        not_json_readers,
    });
    let mut notes = verdict.notes;
    notes.extend(off_plan_note(&plan, &sagas));
    let mut statuses = BTreeMap::new();
    for saga in &sagas {
        *statuses.entry(saga.status.clone()).or_insert(0) += 1;
    }
    let t = &run.totals;
    Ok(ProfileRun {
        profile: profile.clone(),
        region: region.to_owned(),
        orders: plan.orders.len(),
        faults,
        runner: RunnerRetries {
            invocations: t.invocations,
            redelivered: t.redelivered,
            partial_failures: t.partial_failures,
            whole_batch_failures: t.whole_batch_failures,
            bisections: t.bisections,
            outcome_idle: run.outcome == RunOutcome::Idle,
        },
        checks: verdict.checks,
        notes,
        statuses,
        sweep,
        wall: started.elapsed(),
    })
}

/// The emulator, from `AWS_ENDPOINT_URL`.
fn emulator_endpoint() -> anyhow::Result<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .context(
            "AWS_ENDPOINT_URL is not set: chaos runs against a local emulator only; \
             start it with `make chaos`",
        )
}

/// The two sides of a profile's run: set-up, the runner's reads and the
/// checks talk to the emulator directly; the functions, through the proxy.
struct Sides {
    /// The SDK's defaults, straight to the emulator.
    direct: aws_config::SdkConfig,
    /// The functions' own SDK settings (retries, timeouts), through the
    /// proxy.
    functions: aws_config::SdkConfig,
    proxy: FaultProxy,
}

impl Sides {
    async fn start(
        endpoint: &str,
        region: &str,
        profile: &Profile,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let direct = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .load()
            .await;
        let base = stream_core::aws::load_config().await;
        let proxy = FaultProxy::start(
            ProxyConfig::new(endpoint.to_owned())
                .profile(profile.clone())
                .seed(seed),
        )
        .await
        .context("starting the fault proxy")?;
        let mut functions = base.to_builder();
        functions
            .set_region(Some(Region::new(region.to_owned())))
            .set_endpoint_url(Some(proxy.endpoint_url()))
            .set_service_config(Some(NoServiceSettings));
        Ok(Self {
            direct,
            functions: functions.build(),
            proxy,
        })
    }
}

/// The saga sweep on its schedule, when the run has step deadlines.
fn start_sweep(
    functions: &aws_config::SdkConfig,
    resources: &setup::Resources,
    options: &ChaosOptions,
) -> anyhow::Result<Option<SweepLoop>> {
    let Some(timeout) = options.step_timeout else {
        return Ok(None);
    };
    let mut vars = resources.vars("order-saga-sweep");
    vars.insert(
        order_saga_step::config::STEP_TIMEOUT_VAR.to_owned(),
        timeout.as_secs().max(1).to_string(),
    );
    let config = order_saga_step::SweepConfig::from_vars(&vars)?;
    Ok(Some(SweepLoop::start(
        order_saga_step::sweep::build_sweeper(functions, &config),
        options.sweep_every,
    )))
}

/// Runs the functions (and the sweep) until every stream is drained and
/// every saga ended, or the budget runs out.
async fn run_functions(
    mut runner: Runner,
    sides: &Sides,
    resources: &setup::Resources,
    options: &ChaosOptions,
) -> anyhow::Result<(RunReport, Option<SweepTotals>)> {
    let sweep = start_sweep(&sides.functions, resources, options)?;
    let ends = Instant::now() + options.budget;
    let drain = |until: Instant| RunOptions {
        poll_interval: Duration::from_millis(100),
        quiet_polls: 3,
        max_duration: Some(until.saturating_duration_since(Instant::now())),
        ..RunOptions::default()
    };
    let mut run = None;
    let mut failure = None;
    // Drained is not done while a saga waits for a reply that may never
    // come: its deadline is the sweep's to act on, which then publishes
    // more to drain.
    loop {
        match runner.run_until_idle(&drain(ends)).await {
            Ok(next) => run = Some(merge(run, next)),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
        let idle = run.as_ref().is_some_and(|r| r.outcome == RunOutcome::Idle);
        if !idle || sweep.is_none() || Instant::now() >= ends {
            break;
        }
        if open_sagas(&sides.direct, resources).await? == 0 {
            break;
        }
        tokio::time::sleep(options.sweep_every).await;
    }
    let sweep = match sweep {
        Some(sweep) => {
            let totals = sweep.finish().await;
            // What the last sweep run published, drained too.
            if failure.is_none() && run.as_ref().is_some_and(|r| r.outcome == RunOutcome::Idle) {
                match runner
                    .run_until_idle(&drain(Instant::now() + Duration::from_secs(30)))
                    .await
                {
                    Ok(next) => run = Some(merge(run, next)),
                    Err(err) => failure = Some(err),
                }
            }
            Some(totals)
        }
        None => None,
    };
    if let Some(err) = failure {
        return Err(err).context("running the functions");
    }
    Ok((run.context("the functions never ran")?, sweep))
}

/// Sagas not ended yet.
async fn open_sagas(
    direct: &aws_config::SdkConfig,
    resources: &setup::Resources,
) -> anyhow::Result<usize> {
    Ok(inspect::sagas(direct, &resources.saga_table)
        .await?
        .iter()
        .filter(|s| s.status != "COMPLETED" && s.status != "FAILED")
        .count())
}

/// A note of the orders that ended otherwise than planned, if any.
fn off_plan_note(plan: &Plan, sagas: &[inspect::SagaRow]) -> Option<String> {
    let off_plan = checks::off_plan(plan, sagas);
    if off_plan.is_empty() {
        return None;
    }
    let shown: Vec<String> = off_plan
        .iter()
        .take(5)
        .map(|(id, what)| format!("{id} {what}"))
        .collect();
    Some(format!(
        "{} orders ended otherwise than planned, e.g. {}",
        off_plan.len(),
        shown.join("; ")
    ))
}

/// The details of one profile's run: broken invariants, notes, outcomes.
pub fn details(run: &ProfileRun) -> String {
    let mut text = String::new();
    let statuses: Vec<String> = run
        .statuses
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    let _ = writeln!(
        text,
        "[{}] {} orders in {:.1} s: sagas {}; {} requests through the proxy, {} faults injected",
        run.profile.name,
        run.orders,
        run.wall.as_secs_f64(),
        statuses.join(", "),
        run.faults.total_requests(),
        run.faults.total_injected()
    );
    let injected: Vec<String> = run
        .faults
        .injected
        .iter()
        .map(|(kind, by_service)| {
            let services: Vec<String> = by_service
                .iter()
                .map(|(service, n)| format!("{service} {n}"))
                .collect();
            format!("{kind}: {}", services.join(", "))
        })
        .collect();
    if !injected.is_empty() {
        let _ = writeln!(text, "  faults: {}", injected.join("; "));
    }
    let r = &run.runner;
    let _ = writeln!(
        text,
        "  runner: {} invocations, {} records redelivered, {} partial and {} whole-batch failures, {} bisections",
        r.invocations, r.redelivered, r.partial_failures, r.whole_batch_failures, r.bisections
    );
    if let Some(sw) = &run.sweep {
        let _ = writeln!(
            text,
            "  sweep: {} runs, {} steps timed out, {} compensations re-sent ({} given up), {} sagas failed by deadline, {} outboxes republished, {} races lost to a reply",
            sw.runs,
            sw.timed_out,
            sw.compensations_resent,
            sw.compensations_given_up,
            sw.failed,
            sw.republished,
            sw.superseded
        );
    }
    crate::report::write_checks(&mut text, &run.checks);
    for note in &run.notes {
        let _ = writeln!(text, "  note: {note}");
    }
    text
}

/// The summary table of every profile's run.
pub fn table(runs: &[ProfileRun]) -> String {
    let mut text = String::new();
    let header = [
        "profile",
        "orders",
        "throttle",
        "5xx",
        "reset",
        "latency",
        "lost",
        "redelivered",
        "failed batches",
        "timed out",
        "invariants",
        "wall",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for run in runs {
        let mut row = vec![run.profile.name.clone(), run.orders.to_string()];
        for kind in FaultKind::ALL {
            row.push(run.faults.of_kind(kind).to_string());
        }
        row.push(run.runner.redelivered.to_string());
        row.push((run.runner.partial_failures + run.runner.whole_batch_failures).to_string());
        row.push(
            run.sweep
                .map_or_else(|| "-".to_owned(), |s| s.timed_out.to_string()),
        );
        row.push(format!(
            "{}/{}{}",
            run.holding(),
            run.checks.len(),
            if run.is_ok() { "" } else { " FAIL" }
        ));
        row.push(format!("{:.1} s", run.wall.as_secs_f64()));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(text, "| {} |", cells.join(" | "));
        if n == 0 {
            // Markdown: the first column left-aligned, the numbers right.
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 {
                        "-".repeat(w + 2)
                    } else {
                        format!("{}:", "-".repeat(w + 1))
                    }
                })
                .collect();
            let _ = writeln!(text, "|{}|", rule.join("|"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, ok: bool) -> ProfileRun {
        let mut check = Check::new("x");
        if !ok {
            check.broken.push("broken".into());
        }
        let mut faults = Counts::default();
        faults
            .injected
            .entry(FaultKind::Throttle)
            .or_default()
            .insert(fault_proxy::Service::DynamoDb, 12);
        ProfileRun {
            profile: Profile::builtin(name).unwrap(),
            region: "us-east-2".into(),
            orders: 200,
            faults,
            runner: RunnerRetries {
                redelivered: 30,
                partial_failures: 4,
                whole_batch_failures: 1,
                ..RunnerRetries::default()
            },
            checks: vec![check, Check::new("y")],
            notes: vec![],
            statuses: BTreeMap::from([("COMPLETED".to_owned(), 200)]),
            sweep: Some(SweepTotals {
                runs: 9,
                timed_out: 3,
                ..SweepTotals::default()
            }),
            wall: Duration::from_millis(61_500),
        }
    }

    #[test]
    fn the_table_has_a_row_per_profile_with_faults_retries_and_verdicts() {
        let text = table(&[run("throttling", true), run("mixed", false)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("profile") && lines[0].contains("invariants"));
        assert!(
            lines[1].starts_with("|---") && lines[1].ends_with(":|"),
            "{text}"
        );
        assert!(lines[2].starts_with("| throttling "), "{text}");
        assert!(lines[2].contains(" 12 |"), "{text}");
        assert!(lines[2].contains("2/2 "), "{text}");
        assert!(lines[2].contains("61.5 s"), "{text}");
        assert!(lines[3].contains("1/2 FAIL"), "{text}");
        let widths: BTreeSet<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert_eq!(widths.len(), 1, "aligned:\n{text}");
    }

    #[test]
    fn details_show_broken_invariants_and_notes() {
        let mut failed = run("mixed", false);
        failed.notes.push("something to know".into());
        let text = details(&failed);
        assert!(text.contains("[FAIL] x"), "{text}");
        assert!(text.contains("- broken"), "{text}");
        assert!(text.contains("note: something to know"), "{text}");
        assert!(text.contains("200 COMPLETED"), "{text}");
        assert!(text.contains("faults: throttle: dynamodb 12"), "{text}");
        assert!(text.contains("sweep: 9 runs, 3 steps timed out"), "{text}");
        failed.sweep = None;
        assert!(!details(&failed).contains("sweep:"));
    }

    #[test]
    fn mappings_are_set_up_as_deployed() {
        let (destination, _) = OnFailureDestination::memory();
        let mut config = MappingConfig::new("f", StreamRef::Name("s".into()));
        as_deployed(&mut config, &destination);
        assert_eq!(config.max_retry_attempts, -1);
        assert!(config.bisect_on_error);
        assert!(config.filter.is_none());
        config.validate().unwrap();
        assert_ne!(region_for(0), region_for(1));
        assert_eq!(region_for(0), region_for(REGIONS.len()));
    }

    #[test]
    fn every_function_reading_order_events_gets_the_non_json_record() {
        let (invalid_order, not_json) = readers();
        assert!(not_json.contains("order-saga-step"));
        assert!(not_json.contains("email-notification"));
        assert!(invalid_order.is_subset(&not_json));
        assert!(invalid_order.contains("order-saga-step"));
        assert!(!not_json.contains("participant-simulator"));
    }
}
