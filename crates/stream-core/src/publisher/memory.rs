//! A scripted `PutRecords` that fails the entries a test picks.

use std::sync::Mutex;

use order_events::OutgoingRecord;

use super::{EntryResult, PutRecordsApi};

/// A scripted `PutRecords` for tests: records every call and fails the
/// entries a script picks.
#[derive(Default)]
pub struct FakePutRecords {
    calls: Mutex<Vec<Vec<OutgoingRecord>>>,
    landed: Mutex<Vec<OutgoingRecord>>,
    #[allow(clippy::type_complexity)]
    fail_entry: Option<Box<dyn Fn(usize, &OutgoingRecord) -> bool + Send + Sync>>,
}

impl FakePutRecords {
    /// `fail_entry(call_number, record)` decides whether that entry fails.
    pub fn failing(
        fail_entry: impl Fn(usize, &OutgoingRecord) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            fail_entry: Some(Box::new(fail_entry)),
            ..Self::default()
        }
    }

    /// Every call's entries, in call order.
    pub fn calls(&self) -> Vec<Vec<OutgoingRecord>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Records that landed, in the order they landed.
    pub fn landed(&self) -> Vec<OutgoingRecord> {
        self.landed.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl PutRecordsApi for FakePutRecords {
    async fn put_records(&self, entries: &[&OutgoingRecord]) -> anyhow::Result<Vec<EntryResult>> {
        let mut calls = self.calls.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let call = calls.len();
        calls.push(entries.iter().map(|e| (*e).clone()).collect());
        drop(calls);
        let mut landed = self
            .landed
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(entries
            .iter()
            .map(|entry| {
                if self.fail_entry.as_ref().is_some_and(|f| f(call, entry)) {
                    EntryResult::Failed {
                        code: "ProvisionedThroughputExceededException".into(),
                        message: "Rate exceeded for shard".into(),
                    }
                } else {
                    landed.push((*entry).clone());
                    EntryResult::Ok
                }
            })
            .collect())
    }
}
