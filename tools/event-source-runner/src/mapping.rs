//! One function on one stream: every shard, stepped together.
//!
//! Shards are listed at start and again when the runner looks for new ones
//! (a split or merge). A child shard is read only once its parents are read
//! to their end, so a key's records stay in order across a resharding;
//! shards found after the start are read from their beginning.

use std::collections::{BTreeMap, HashSet};
use std::time::{Instant, SystemTime};

use stream_core::StreamRef;

use crate::checkpoint::{self, CheckpointError, ShardCheckpoint};
use crate::config::{MappingConfig, MappingConfigError, StartingPosition};
use crate::event::EventSource;
use crate::invoke::Invoke;
use crate::shard::{ShardContext, ShardState, Step};
use crate::source::{IteratorPosition, KinesisSource, SourceError, StreamSource};
use crate::stats::{MappingReport, MappingStats};

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{function}: cannot read stream {stream}: {source}")]
    Start {
        function: String,
        stream: String,
        #[source]
        source: SourceError,
    },
    #[error("{function}: {source}")]
    Checkpoint {
        function: String,
        #[source]
        source: CheckpointError,
    },
}

/// What one polling round of a mapping came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Some shard made progress.
    pub worked: bool,
    /// Every shard is drained (or finished): nothing read, nothing pending.
    pub quiet: bool,
    /// The earliest instant a waiting shard wants to be stepped.
    pub wake_at: Option<Instant>,
}

struct Started {
    event_source: EventSource,
    shards: Vec<ShardState>,
    saved: BTreeMap<String, ShardCheckpoint>,
    started_at: SystemTime,
}

/// Lambda's event source mapping for one function and one stream.
pub struct EventSourceMapping<I, S = KinesisSource> {
    invoker: I,
    source: S,
    config: MappingConfig,
    started: Option<Started>,
}

impl<I: Invoke> EventSourceMapping<I, KinesisSource> {
    /// A mapping reading Kinesis (or the emulator `AWS_ENDPOINT_URL` points
    /// at) with the given SDK configuration.
    pub fn kinesis(
        invoker: I,
        sdk: &aws_config::SdkConfig,
        config: MappingConfig,
    ) -> Result<Self, MappingConfigError> {
        Self::new(invoker, KinesisSource::from_config(sdk), config)
    }
}

impl<I: Invoke, S: StreamSource> EventSourceMapping<I, S> {
    pub fn new(invoker: I, source: S, config: MappingConfig) -> Result<Self, MappingConfigError> {
        config.validate()?;
        Ok(Self {
            invoker,
            source,
            config,
            started: None,
        })
    }

    pub fn config(&self) -> &MappingConfig {
        &self.config
    }

    pub fn invoker(&self) -> &I {
        &self.invoker
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// The function this mapping invokes.
    pub fn function_name(&self) -> &str {
        &self.config.function_name
    }

    /// The stream's ARN, once started.
    pub fn stream_arn(&self) -> Option<&str> {
        self.started
            .as_ref()
            .map(|s| s.event_source.stream_arn.as_str())
    }

    /// Counters since the mapping was created.
    pub fn stats(&self) -> MappingStats {
        let mut total = MappingStats::default();
        for shard in self.started.iter().flat_map(|s| &s.shards) {
            total.add(&shard.stats);
        }
        total
    }

    /// The last acknowledged sequence number of each shard that has one.
    pub fn checkpoints(&self) -> BTreeMap<String, String> {
        self.started
            .iter()
            .flat_map(|s| &s.shards)
            .filter_map(|shard| Some((shard.id().to_owned(), shard.checkpoint()?.to_owned())))
            .collect()
    }

    /// Resolves the stream, loads saved checkpoints and lists the shards.
    /// With `LATEST`, this is the moment after which records are delivered.
    /// Called by the first poll if not before.
    pub async fn start(&mut self) -> Result<(), RunError> {
        if self.started.is_some() {
            return Ok(());
        }
        let start_error = |source| RunError::Start {
            function: self.config.function_name.clone(),
            stream: stream_label(&self.config.stream),
            source,
        };
        let started_at = SystemTime::now();
        let stream_arn = self
            .source
            .stream_arn(&self.config.stream)
            .await
            .map_err(start_error)?;
        let event_source =
            EventSource::from_stream_arn(&stream_arn, self.config.invoke_identity_arn.as_deref());
        let saved = match &self.config.checkpoint_file {
            Some(path) => checkpoint::load(path, &stream_arn, &self.config.function_name).map_err(
                |source| RunError::Checkpoint {
                    function: self.config.function_name.clone(),
                    source,
                },
            )?,
            None => BTreeMap::new(),
        };
        let listed = self
            .source
            .list_shards(&self.config.stream)
            .await
            .map_err(start_error)?;
        let position = match self.config.starting_position {
            StartingPosition::TrimHorizon => IteratorPosition::TrimHorizon,
            StartingPosition::Latest => IteratorPosition::Latest,
            StartingPosition::AtTimestamp(at) => IteratorPosition::AtTimestamp(at),
        };
        let mut shards: Vec<ShardState> = listed
            .into_iter()
            .map(|info| {
                let saved = saved.get(&info.shard_id);
                ShardState::new(info, position.clone(), saved)
            })
            .collect();
        if self.config.starting_position == StartingPosition::Latest {
            for shard in &mut shards {
                shard
                    .prime(&self.source, &self.config)
                    .await
                    .map_err(start_error)?;
            }
        }
        tracing::info!(
            function = %self.config.function_name,
            stream = %stream_arn,
            shards = shards.len(),
            resumed = saved.len(),
            "event source mapping started"
        );
        self.started = Some(Started {
            event_source,
            shards,
            saved,
            started_at,
        });
        Ok(())
    }

    /// Lists the shards again and adds new ones; returns how many.
    pub async fn refresh_shards(&mut self) -> Result<usize, RunError> {
        self.start().await?;
        let Some(started) = self.started.as_mut() else {
            return Ok(0);
        };
        let listed = match self.source.list_shards(&self.config.stream).await {
            Ok(listed) => listed,
            Err(err) => {
                tracing::warn!(function = %self.config.function_name, error = %err, "listing shards failed");
                return Ok(0);
            }
        };
        let known: HashSet<String> = started.shards.iter().map(|s| s.id().to_owned()).collect();
        let mut added = 0;
        for info in listed {
            if !known.contains(&info.shard_id) {
                tracing::info!(function = %self.config.function_name, shard = %info.shard_id, "new shard");
                let saved = started.saved.get(&info.shard_id);
                started
                    .shards
                    .push(ShardState::new(info, IteratorPosition::TrimHorizon, saved));
                added += 1;
            }
        }
        Ok(added)
    }

    /// Steps every shard once, together.
    pub async fn poll(&mut self) -> Result<Activity, RunError> {
        self.start().await?;
        let Self {
            invoker,
            source,
            config,
            started,
        } = self;
        let Some(started) = started.as_mut() else {
            return Ok(Activity::default());
        };
        let unfinished: HashSet<String> = started
            .shards
            .iter()
            .filter(|s| !s.is_finished())
            .map(|s| s.id().to_owned())
            .collect();
        let ctx = ShardContext {
            invoker: &*invoker,
            source: &*source,
            config: &*config,
            event_source: &started.event_source,
            started_at: started.started_at,
        };
        let ctx = &ctx;
        let unfinished = &unfinished;
        let steps = futures::future::join_all(started.shards.iter_mut().map(|shard| async move {
            if shard
                .info
                .parents()
                .any(|parent| unfinished.contains(parent))
            {
                Step::Idle
            } else {
                shard.step(ctx).await
            }
        }))
        .await;

        let mut activity = Activity {
            quiet: true,
            ..Activity::default()
        };
        for step in steps {
            match step {
                Step::Worked => {
                    activity.worked = true;
                    activity.quiet = false;
                }
                Step::WaitUntil(at) => {
                    activity.quiet = false;
                    activity.wake_at = Some(activity.wake_at.map_or(at, |w| w.min(at)));
                }
                Step::Idle | Step::Finished => {}
            }
        }
        self.save_checkpoints();
        Ok(activity)
    }

    fn save_checkpoints(&mut self) {
        let Some(started) = self.started.as_mut() else {
            return;
        };
        if !started.shards.iter().any(|s| s.dirty) {
            return;
        }
        for shard in &mut started.shards {
            shard.dirty = false;
            started.saved.insert(shard.id().to_owned(), shard.saved());
        }
        if let Some(path) = &self.config.checkpoint_file {
            if let Err(err) = checkpoint::save(
                path,
                &started.event_source.stream_arn,
                &self.config.function_name,
                &started.saved,
            ) {
                tracing::error!(function = %self.config.function_name, error = %err, "saving checkpoints failed");
            }
        }
    }

    /// The report of this mapping, counting from `since`.
    pub fn report(&self, since: &MappingStats) -> MappingReport {
        MappingReport {
            function_name: self.config.function_name.clone(),
            stream_arn: self.stream_arn().unwrap_or_default().to_owned(),
            stats: self.stats().since(since),
            checkpoints: self.checkpoints(),
        }
    }
}

fn stream_label(stream: &StreamRef) -> String {
    match stream {
        StreamRef::Name(name) => name.clone(),
        StreamRef::Arn(arn) => arn.clone(),
    }
}
