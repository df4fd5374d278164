//! The event-type filter: the same rule as the template's `FilterCriteria`
//! (`{"data": {"eventType": [...]}}` or `{"data": {"commandType": [...]}}`).
//!
//! Lambda decodes a record's data as JSON to apply a filter on `data`. A
//! record whose data is not a JSON object cannot match and is dropped, and
//! so is a KPL-aggregated record (Lambda filters before any deaggregation).
//! That is mirrored here by default, so a local run drops what AWS drops;
//! the price is that a malformed record never reaches the function's
//! dead-letter path. Such records are logged and counted apart
//! (`filtered_non_json`) so they do not vanish unnoticed, and
//! [`NonJsonRecords::Deliver`] lets a local run deliver them instead.

use std::collections::BTreeSet;

/// What to do with a record whose data is not a JSON object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonJsonRecords {
    /// Drop it, as Lambda does when a filter tests `data`.
    #[default]
    Drop,
    /// Deliver it to the function (not what Lambda does).
    Deliver,
}

/// What the filter decided for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterVerdict {
    Deliver,
    /// JSON whose `eventType`/`commandType` is not allowed.
    Drop,
    /// Not a JSON object (or a KPL aggregate).
    DropNotJson,
}

/// Allows records whose JSON data has an `eventType` or `commandType` in a
/// set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilter {
    types: BTreeSet<String>,
    non_json: NonJsonRecords,
}

impl EventTypeFilter {
    pub fn new<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            types: types.into_iter().map(Into::into).collect(),
            non_json: NonJsonRecords::Drop,
        }
    }

    /// Chooses what happens to records that are not JSON objects.
    pub fn non_json(mut self, policy: NonJsonRecords) -> Self {
        self.non_json = policy;
        self
    }

    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.types.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    pub fn check(&self, data: &[u8]) -> FilterVerdict {
        let Ok(serde_json::Value::Object(object)) =
            serde_json::from_slice::<serde_json::Value>(data)
        else {
            return match self.non_json {
                NonJsonRecords::Drop => FilterVerdict::DropNotJson,
                NonJsonRecords::Deliver => FilterVerdict::Deliver,
            };
        };
        let allowed = |field: &str| {
            object
                .get(field)
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| self.types.contains(t))
        };
        if allowed("eventType") || allowed("commandType") {
            FilterVerdict::Deliver
        } else {
            FilterVerdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_listed_event_and_command_types_only() {
        let filter = EventTypeFilter::new(["ORDER_PLACED", "RESERVE_INVENTORY"]);
        assert_eq!(
            filter.check(br#"{"eventType":"ORDER_PLACED","payload":{}}"#),
            FilterVerdict::Deliver
        );
        assert_eq!(
            filter.check(br#"{"commandType":"RESERVE_INVENTORY","orderId":"o"}"#),
            FilterVerdict::Deliver
        );
        assert_eq!(
            filter.check(br#"{"eventType":"ORDER_SHIPPED"}"#),
            FilterVerdict::Drop
        );
        assert_eq!(filter.check(br#"{"eventType":7}"#), FilterVerdict::Drop);
        assert_eq!(
            filter.check(br#"{"payload":{"eventType":"ORDER_PLACED"}}"#),
            FilterVerdict::Drop
        );
        assert_eq!(
            filter.check(br#"["ORDER_PLACED"]"#),
            FilterVerdict::DropNotJson
        );
        assert_eq!(filter.check(b"not json"), FilterVerdict::DropNotJson);
        // A KPL aggregate starts with magic bytes, never JSON.
        assert_eq!(
            filter.check(&[0xF3, 0x89, 0x9A, 0xC2, 1, 2]),
            FilterVerdict::DropNotJson
        );
    }

    #[test]
    fn non_json_records_can_be_delivered_instead() {
        let filter = EventTypeFilter::new(["ORDER_PLACED"]).non_json(NonJsonRecords::Deliver);
        assert_eq!(filter.check(b"not json"), FilterVerdict::Deliver);
        assert_eq!(
            filter.check(br#"{"eventType":"ORDER_SHIPPED"}"#),
            FilterVerdict::Drop
        );
    }
}
