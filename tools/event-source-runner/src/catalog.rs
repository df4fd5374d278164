//! Which function reads which stream, and which types its filter lets
//! through: each function's own descriptor (`DESCRIPTOR` in its crate), the
//! same the deployed handler decides with and the template tests compare
//! with the event source mappings' `FilterCriteria`. Nothing here lists a
//! stream or a type itself; the linked functions' descriptors are in
//! [`crate::linked`] (re-exported here with the `linked` feature).

use order_events::EventKind;
pub use stream_core::function::{ORDER_COMMANDS_STREAM, ORDER_EVENTS_STREAM};
use stream_core::{
    config::Vars, ConfigError, CoreConfig, FunctionDescriptor, Handled, Handler, HandlerError,
    InMemoryDeadLetters, IncomingEvent, Pipeline, Source, StreamRef,
};

#[cfg(feature = "linked")]
pub use crate::linked::{find, manifest, DEPLOYED, FUNCTIONS};

use crate::config::MappingConfig;
use crate::filter::EventTypeFilter;

/// One stream a function reads.
pub type SourceSpec = Source;

/// A function and the streams it reads.
pub type FunctionSpec = FunctionDescriptor;

/// The filter of a source: the types it lets through, or none for a source
/// that takes everything.
pub trait SourceFilter {
    fn filter(&self) -> Option<EventTypeFilter>;
}

impl SourceFilter for Source {
    fn filter(&self) -> Option<EventTypeFilter> {
        (!self.kinds.is_empty())
            .then(|| EventTypeFilter::new(self.kinds.iter().map(|k| k.as_str())))
    }
}

/// The wire names of `kinds`.
pub fn type_names(kinds: &[EventKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

/// The mappings of `function` as the template deploys them: one per stream
/// it reads (named by that stream's variable in `vars`), with its filter
/// and the runner's defaults.
pub fn mapping_configs(
    function: &FunctionDescriptor,
    vars: &impl Vars,
) -> Result<Vec<MappingConfig>, ConfigError> {
    function
        .sources
        .iter()
        .map(|source| {
            Ok(MappingConfig {
                filter: source.filter(),
                ..MappingConfig::new(function.name, StreamRef::from_env(vars, source.stream_var)?)
            })
        })
        .collect()
}

/// Functions whose mapping of the events stream, among `functions`, lets
/// `kind` through.
pub fn event_readers(
    functions: &[FunctionDescriptor],
    kind: EventKind,
) -> impl Iterator<Item = &FunctionDescriptor> {
    functions.iter().filter(move |f| {
        f.sources
            .iter()
            .any(|s| s.stream_var == ORDER_EVENTS_STREAM && s.kinds.contains(&kind))
    })
}

/// A pseudo function of the runner's own: logs every record (no filter).
pub const PRINT: FunctionDescriptor = FunctionDescriptor {
    name: "print",
    summary: "logs every record it is given (no filter); to watch a stream",
    sources: &[Source {
        stream_var: ORDER_EVENTS_STREAM,
        kinds: &[],
    }],
};

/// Logs every event it is given; for watching a stream.
pub struct Print;

impl Handler for Print {
    fn handles(&self, _kind: EventKind) -> bool {
        true
    }

    async fn handle(&self, event: IncomingEvent) -> Result<Handled, HandlerError> {
        tracing::info!(
            eventType = %event.event.kind(),
            dedupKey = %event.dedup_key,
            orderId = event.event.order_id().map(|o| o.as_str()).unwrap_or_default(),
            partitionKey = %event.origin.partition_key,
            sequenceNumber = %event.origin.sequence_number,
            shard = event.origin.shard_id.as_deref().unwrap_or_default(),
            "record"
        );
        Ok(Handled::done())
    }
}

/// [`PRINT`]'s pipeline.
pub fn print_pipeline() -> Pipeline<Print, InMemoryDeadLetters> {
    Pipeline::new(
        Print,
        InMemoryDeadLetters::default(),
        CoreConfig::new(PRINT.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_read_each_source_stream_from_the_variables_with_its_filter() {
        const TWO: FunctionDescriptor = FunctionDescriptor {
            name: "f",
            summary: "s",
            sources: &[
                Source {
                    stream_var: ORDER_EVENTS_STREAM,
                    kinds: &[EventKind::OrderPlaced],
                },
                Source {
                    stream_var: ORDER_COMMANDS_STREAM,
                    kinds: &[],
                },
            ],
        };
        let vars = [
            (ORDER_EVENTS_STREAM, "events"),
            (ORDER_COMMANDS_STREAM, "commands"),
        ];
        let configs = mapping_configs(&TWO, &vars).unwrap();
        assert_eq!(configs[0].stream, StreamRef::Name("events".into()));
        assert_eq!(configs[0].function_name, "f");
        assert!(configs[0].filter.is_some());
        assert!(configs[1].filter.is_none());
        let err = mapping_configs(&TWO, &[(ORDER_EVENTS_STREAM, "events")]).unwrap_err();
        assert!(err.to_string().contains(ORDER_COMMANDS_STREAM), "{err}");
        let readers: Vec<_> = event_readers(&[TWO, PRINT], EventKind::OrderPlaced)
            .map(|f| f.name)
            .collect();
        assert_eq!(readers, ["f"]);
    }
}
