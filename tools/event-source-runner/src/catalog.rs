//! Which function reads which stream, and which types its filter lets
//! through: each function's own descriptor (`DESCRIPTOR` in its crate), the
//! same the deployed handler decides with and the template tests compare
//! with the event source mappings' `FilterCriteria`. Nothing here lists a
//! stream or a type itself.

use order_events::EventKind;
pub use stream_core::function::{ORDER_COMMANDS_STREAM, ORDER_EVENTS_STREAM};
use stream_core::{FunctionDescriptor, Source};

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

/// A pseudo function of the runner's own: logs every record (no filter).
pub const PRINT: FunctionDescriptor = FunctionDescriptor {
    name: "print",
    summary: "logs every record it is given (no filter); to watch a stream",
    sources: &[Source {
        stream_var: ORDER_EVENTS_STREAM,
        kinds: &[],
    }],
};

/// The functions that ship: the ones `functions.json` describes.
pub const DEPLOYED: &[FunctionDescriptor] = &[
    email_notification::DESCRIPTOR,
    inventory_update::DESCRIPTOR,
    order_saga_step::DESCRIPTOR,
];

/// Every function the runner can run on the order streams: the deployed
/// ones, the participant simulator and `print`.
pub const FUNCTIONS: &[FunctionDescriptor] = &[
    DEPLOYED[0],
    DEPLOYED[1],
    DEPLOYED[2],
    participant_simulator::DESCRIPTOR,
    PRINT,
];

/// The manifest of the deployed functions, as `functions.json` holds it.
pub fn manifest() -> String {
    let deployed: Vec<&FunctionDescriptor> = DEPLOYED.iter().collect();
    stream_core::function::manifest(&deployed)
}

pub fn find(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_from_the_commands_stream_and_events_from_the_events_stream() {
        for function in FUNCTIONS {
            for source in function.sources {
                for kind in source.kinds {
                    assert_eq!(
                        kind.is_command(),
                        source.stream_var == ORDER_COMMANDS_STREAM,
                        "{}: {kind} on {}",
                        function.name,
                        source.stream_var
                    );
                }
            }
        }
        assert_eq!(find("inventory-update").unwrap().kinds().len(), 4);
        assert!(find("print").unwrap().sources[0].filter().is_none());
        assert!(find("nope").is_none());
        assert_eq!(
            FUNCTIONS.len(),
            DEPLOYED.len() + 2,
            "every deployed function is runnable"
        );
    }

    /// `functions.json` is the descriptors' manifest for the template tests
    /// and the scripts; `UPDATE_MANIFEST=1` rewrites it after a change.
    #[test]
    fn the_manifest_file_is_the_descriptors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions.json");
        let expected = manifest();
        if std::env::var_os("UPDATE_MANIFEST").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "functions.json is stale: run `make manifest` (UPDATE_MANIFEST=1 cargo test -p event-source-runner manifest)"
        );
    }
}
