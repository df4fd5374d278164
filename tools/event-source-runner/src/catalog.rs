//! Which function reads which stream, and which types its filter lets
//! through: the same table as the template's event source mappings and
//! their `FilterCriteria`. Names only; linking a function in process is the
//! binary's registry's job, so this library depends on no function crate.

use crate::filter::EventTypeFilter;

/// One stream a function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSpec {
    /// The environment variable naming the stream.
    pub stream_var: &'static str,
    /// The types the filter allows; empty for no filter.
    pub types: &'static [&'static str],
}

impl SourceSpec {
    pub fn filter(&self) -> Option<EventTypeFilter> {
        (!self.types.is_empty()).then(|| EventTypeFilter::new(self.types.iter().copied()))
    }
}

/// A function and the streams it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub sources: &'static [SourceSpec],
    pub summary: &'static str,
}

impl FunctionSpec {
    /// The union of the types of every source, for a function pointed at
    /// one stream chosen on the command line.
    pub fn all_types(&self) -> Vec<&'static str> {
        let mut types: Vec<&'static str> = self
            .sources
            .iter()
            .flat_map(|s| s.types.iter().copied())
            .collect();
        types.sort_unstable();
        types.dedup();
        types
    }
}

pub const ORDER_EVENTS_STREAM: &str = "ORDER_EVENTS_STREAM";
pub const ORDER_COMMANDS_STREAM: &str = "ORDER_COMMANDS_STREAM";

/// Every function the project runs on the order streams.
pub const FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "email-notification",
        summary: "emails on registration, order placed, completed and failed",
        sources: &[SourceSpec {
            stream_var: ORDER_EVENTS_STREAM,
            types: &[
                "USER_REGISTERED",
                "ORDER_PLACED",
                "ORDER_COMPLETED",
                "ORDER_FAILED",
            ],
        }],
    },
    FunctionSpec {
        name: "inventory-update",
        summary: "reserves and releases stock; replies to inventory commands",
        sources: &[
            SourceSpec {
                stream_var: ORDER_EVENTS_STREAM,
                types: &["ORDER_CREATED", "ORDER_CANCELLED"],
            },
            SourceSpec {
                stream_var: ORDER_COMMANDS_STREAM,
                types: &["RESERVE_INVENTORY", "RELEASE_INVENTORY"],
            },
        ],
    },
    FunctionSpec {
        name: "order-saga-step",
        summary: "the order saga's orchestrator",
        sources: &[SourceSpec {
            stream_var: ORDER_EVENTS_STREAM,
            types: &[
                "ORDER_PLACED",
                "ORDER_CANCELLED",
                "INVENTORY_RESERVED",
                "INVENTORY_RESERVATION_FAILED",
                "INVENTORY_RELEASED",
                "PAYMENT_PROCESSED",
                "PAYMENT_FAILED",
                "PAYMENT_REFUNDED",
                "ORDER_SHIPPED",
                "SHIPPING_FAILED",
            ],
        }],
    },
    FunctionSpec {
        name: "participant-simulator",
        summary: "local stand-in for the payment and shipping services",
        sources: &[SourceSpec {
            stream_var: ORDER_COMMANDS_STREAM,
            types: &["PROCESS_PAYMENT", "REFUND_PAYMENT", "SHIP_ORDER"],
        }],
    },
    FunctionSpec {
        name: "print",
        summary: "logs every record it is given (no filter); to watch a stream",
        sources: &[SourceSpec {
            stream_var: ORDER_EVENTS_STREAM,
            types: &[],
        }],
    },
];

pub fn find(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_is_a_contract_type() {
        for function in FUNCTIONS {
            for source in function.sources {
                for name in source.types {
                    let kind = name.parse::<order_events::EventKind>().ok();
                    assert!(
                        kind.is_some(),
                        "{}: {name} is not a contract type",
                        function.name
                    );
                    let is_command = kind.is_some_and(|k| k.is_command());
                    assert_eq!(
                        is_command,
                        source.stream_var == ORDER_COMMANDS_STREAM,
                        "{}: {name} on {}",
                        function.name,
                        source.stream_var
                    );
                }
            }
        }
        assert_eq!(find("inventory-update").unwrap().all_types().len(), 4);
        assert!(find("print").unwrap().sources[0].filter().is_none());
        assert!(find("nope").is_none());
    }
}
