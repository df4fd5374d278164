//! Several mappings driven together: one function's output can feed
//! another's input (a saga's commands, a participant's replies), so "idle"
//! means every shard of every mapping is drained at the same time.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::config::{MappingConfig, MappingConfigError};
use crate::invoke::Invoke;
use crate::mapping::{Activity, EventSourceMapping, RunError};
use crate::source::StreamSource;
use crate::stats::{MappingReport, MappingStats, RunOutcome, RunReport};

/// A mapping with its types erased, so mappings of different functions run
/// side by side.
pub(crate) trait DynMapping: Send {
    fn function_name(&self) -> &str;
    fn poll(&mut self) -> BoxFuture<'_, Result<Activity, RunError>>;
    fn refresh(&mut self) -> BoxFuture<'_, Result<usize, RunError>>;
    fn stats(&self) -> MappingStats;
    fn report(&self, since: &MappingStats) -> MappingReport;
}

/// How a run polls and when it stops.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Wait between polls of drained shards (Lambda polls an idle shard
    /// once a second).
    pub poll_interval: Duration,
    /// Polls in a row that must find every shard drained before a run
    /// until idle stops.
    pub quiet_polls: u32,
    /// Stop after this long even if records keep coming or failing.
    pub max_duration: Option<Duration>,
    /// How often a long run lists shards again to find new ones (a run
    /// until idle also lists them before it stops).
    pub shard_refresh_interval: Duration,
}

impl Default for RunOptions {
    /// For tests and demos: quick polls, stop after 5 minutes at most.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(100),
            quiet_polls: 2,
            max_duration: Some(Duration::from_secs(300)),
            shard_refresh_interval: Duration::from_secs(60),
        }
    }
}

impl RunOptions {
    /// For a long-running local mapping: Lambda's one poll a second, no
    /// time limit.
    pub fn forever() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            max_duration: None,
            ..Self::default()
        }
    }
}

/// Several mappings, run together.
#[derive(Default)]
pub struct Runner {
    mappings: Vec<Box<dyn DynMapping>>,
}

impl Runner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a mapping.
    #[allow(clippy::should_implement_trait)]
    pub fn add<I, S>(mut self, mapping: EventSourceMapping<I, S>) -> Self
    where
        I: Invoke + 'static,
        S: StreamSource + 'static,
    {
        self.push(mapping);
        self
    }

    /// Adds one function instance shared by all its mappings (one per
    /// entry of `configs`), as one Lambda function serves all its event
    /// source mappings.
    pub fn push_function<I: Invoke + 'static>(
        &mut self,
        invoker: I,
        sdk: &aws_config::SdkConfig,
        configs: impl IntoIterator<Item = MappingConfig>,
    ) -> Result<(), MappingConfigError> {
        let invoker = std::sync::Arc::new(invoker);
        for config in configs {
            self.push(EventSourceMapping::kinesis(
                std::sync::Arc::clone(&invoker),
                sdk,
                config,
            )?);
        }
        Ok(())
    }

    /// Adds a mapping to a runner held by reference.
    pub fn push<I, S>(&mut self, mapping: EventSourceMapping<I, S>)
    where
        I: Invoke + 'static,
        S: StreamSource + 'static,
    {
        self.mappings.push(Box::new(mapping));
    }

    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// The functions, in the order added.
    pub fn function_names(&self) -> Vec<&str> {
        self.mappings.iter().map(|m| m.function_name()).collect()
    }

    /// Polls every mapping until all their shards are drained together for
    /// `quiet_polls` polls in a row (and no new shard appeared), or until
    /// `max_duration`. A later call continues from the checkpoints.
    pub async fn run_until_idle(&mut self, options: &RunOptions) -> Result<RunReport, RunError> {
        let mut mappings: Vec<&mut dyn DynMapping> =
            self.mappings.iter_mut().map(|m| m.as_mut() as _).collect();
        drive(&mut mappings, options, std::future::pending()).await
    }

    /// Polls every mapping until `shutdown` completes (or `max_duration`
    /// passes). An invocation under way when the signal comes is finished
    /// and checkpointed first.
    pub async fn run_forever(
        &mut self,
        options: &RunOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunReport, RunError> {
        let mut mappings: Vec<&mut dyn DynMapping> =
            self.mappings.iter_mut().map(|m| m.as_mut() as _).collect();
        let options = RunOptions {
            quiet_polls: u32::MAX,
            ..options.clone()
        };
        drive(&mut mappings, &options, shutdown).await
    }
}

pub(crate) async fn drive(
    mappings: &mut [&mut dyn DynMapping],
    options: &RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let before: Vec<MappingStats> = mappings.iter().map(|m| m.stats()).collect();
    let mut shutdown: Pin<&mut (dyn Future<Output = ()> + Send)> = std::pin::pin!(shutdown);
    let mut quiet = 0u32;
    let mut rounds = 0u64;
    let mut last_refresh = Instant::now();
    let outcome = loop {
        if let Poll::Ready(()) = futures::poll!(shutdown.as_mut()) {
            break RunOutcome::Shutdown;
        }
        let activities = futures::future::join_all(mappings.iter_mut().map(|m| m.poll())).await;
        rounds += 1;
        let mut worked = false;
        let mut all_quiet = true;
        let mut wake_at: Option<Instant> = None;
        for activity in activities {
            let activity = activity?;
            worked |= activity.worked;
            all_quiet &= activity.quiet;
            if let Some(at) = activity.wake_at {
                wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
            }
        }
        quiet = if all_quiet {
            quiet.saturating_add(1)
        } else {
            0
        };
        if quiet >= options.quiet_polls || last_refresh.elapsed() >= options.shard_refresh_interval
        {
            last_refresh = Instant::now();
            let mut added = 0;
            for mapping in mappings.iter_mut() {
                added += mapping.refresh().await?;
            }
            if added > 0 {
                quiet = 0;
                continue;
            }
            if quiet >= options.quiet_polls {
                break RunOutcome::Idle;
            }
        }
        if options
            .max_duration
            .is_some_and(|max| started.elapsed() >= max)
        {
            break RunOutcome::TimedOut;
        }
        if worked {
            // Other tasks (a function's own background work) get a turn.
            tokio::task::yield_now().await;
            continue;
        }
        let now = Instant::now();
        let next_poll = now + options.poll_interval;
        let until = wake_at.map_or(next_poll, |at| at.min(next_poll));
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = shutdown.as_mut() => break RunOutcome::Shutdown,
        }
    };
    let reports: Vec<MappingReport> = mappings
        .iter()
        .zip(&before)
        .map(|(mapping, before)| mapping.report(before))
        .collect();
    let mut totals = MappingStats::default();
    for report in &reports {
        totals.add(&report.stats);
    }
    let report = RunReport {
        outcome,
        totals,
        mappings: reports,
        rounds,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        outcome = ?report.outcome,
        rounds = report.rounds,
        invocations = report.totals.invocations,
        delivered = report.totals.records_delivered,
        redelivered = report.totals.redelivered,
        filteredOut = report.totals.filtered_out,
        onFailureBatches = report.totals.on_failure_batches,
        elapsedMs = report.elapsed.as_millis() as u64,
        "event source run ended"
    );
    Ok(report)
}

/// A mapping run alone is a runner of one.
impl<I: Invoke, S: StreamSource> EventSourceMapping<I, S> {
    /// Drains every shard of this mapping alone; see
    /// [`Runner::run_until_idle`].
    pub async fn run_until_idle(&mut self, options: &RunOptions) -> Result<RunReport, RunError> {
        let mut mappings: [&mut dyn DynMapping; 1] = [self];
        drive(&mut mappings, options, std::future::pending()).await
    }
}

impl<I: Invoke, S: StreamSource> DynMapping for EventSourceMapping<I, S> {
    fn function_name(&self) -> &str {
        EventSourceMapping::function_name(self)
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<Activity, RunError>> {
        Box::pin(EventSourceMapping::poll(self))
    }

    fn refresh(&mut self) -> BoxFuture<'_, Result<usize, RunError>> {
        Box::pin(self.refresh_shards())
    }

    fn stats(&self) -> MappingStats {
        EventSourceMapping::stats(self)
    }

    fn report(&self, since: &MappingStats) -> MappingReport {
        EventSourceMapping::report(self, since)
    }
}
