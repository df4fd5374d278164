//! What a function is, said once: its name, the streams it reads and the
//! event kinds it acts on there. The handler's `handles`, the local event
//! source runner's catalog and filters, and the manifest the template tests
//! and scripts read (`functions.json`) all come from a function's
//! descriptor, so adding or changing a function touches its own crate.

use order_events::EventKind;
use serde_json::{json, Value};

/// The environment variable of the events stream.
pub const ORDER_EVENTS_STREAM: &str = "ORDER_EVENTS_STREAM";
/// The environment variable of the commands stream.
pub const ORDER_COMMANDS_STREAM: &str = "ORDER_COMMANDS_STREAM";

/// One stream a function reads, and the kinds it acts on there; its event
/// source mapping lets exactly these through when filters are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The environment variable naming the stream.
    pub stream_var: &'static str,
    pub kinds: &'static [EventKind],
}

/// A function's descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDescriptor {
    /// The binary and the function's name.
    pub name: &'static str,
    pub summary: &'static str,
    pub sources: &'static [Source],
}

impl FunctionDescriptor {
    /// True when the function acts on `kind` on any stream it reads.
    pub fn handles(&self, kind: EventKind) -> bool {
        self.sources.iter().any(|s| s.kinds.contains(&kind))
    }

    /// Every kind the function acts on, sorted, once each.
    pub fn kinds(&self) -> Vec<EventKind> {
        let mut kinds: Vec<EventKind> = self
            .sources
            .iter()
            .flat_map(|s| s.kinds.iter().copied())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// The descriptor as the manifest writes it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "summary": self.summary,
            "sources": self.sources.iter().map(|s| json!({
                "streamVar": s.stream_var,
                "eventTypes": s.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The manifest of the deployed functions (`functions.json`), for the
/// template tests and the scripts: one entry per descriptor, in order.
pub fn manifest(functions: &[&FunctionDescriptor]) -> String {
    let functions: Vec<Value> = functions.iter().map(|f| f.to_json()).collect();
    let mut text = serde_json::to_string_pretty(&json!({ "functions": functions }))
        .unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_STREAMS: FunctionDescriptor = FunctionDescriptor {
        name: "f",
        summary: "s",
        sources: &[
            Source {
                stream_var: ORDER_EVENTS_STREAM,
                kinds: &[EventKind::UserRegistered, EventKind::PaymentFailed],
            },
            Source {
                stream_var: ORDER_COMMANDS_STREAM,
                kinds: &[EventKind::ShipOrder, EventKind::UserRegistered],
            },
        ],
    };

    #[test]
    fn handles_the_kinds_of_every_source_and_nothing_else() {
        assert!(TWO_STREAMS.handles(EventKind::PaymentFailed));
        assert!(TWO_STREAMS.handles(EventKind::ShipOrder));
        assert!(!TWO_STREAMS.handles(EventKind::OrderPlaced));
        // Each kind once, in the order first named.
        assert_eq!(
            TWO_STREAMS.kinds(),
            vec![
                EventKind::UserRegistered,
                EventKind::PaymentFailed,
                EventKind::ShipOrder
            ]
        );
        let manifest: Value = serde_json::from_str(&manifest(&[&TWO_STREAMS])).unwrap();
        assert_eq!(
            manifest["functions"][0]["sources"][1]["eventTypes"],
            json!(["SHIP_ORDER", "USER_REGISTERED"])
        );
    }
}
