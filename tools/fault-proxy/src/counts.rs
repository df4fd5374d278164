//! What the proxy saw and injected, per service and per kind of fault.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::profile::FaultKind;
use crate::service::Service;

const SERVICES: usize = Service::ALL.len();
const KINDS: usize = FaultKind::ALL.len();

/// Live counters, shared by every connection.
#[derive(Debug, Default)]
pub struct Counters {
    requests: [AtomicU64; SERVICES],
    injected: [[AtomicU64; SERVICES]; KINDS],
    upstream_errors: AtomicU64,
    connections: AtomicU64,
}

impl Counters {
    pub fn request(&self, service: Service) {
        self.requests[service.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn injected(&self, kind: FaultKind, service: Service) {
        self.injected[kind.index()][service.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        for counter in self.requests.iter().chain(self.injected.iter().flatten()) {
            counter.store(0, Ordering::Relaxed);
        }
        self.upstream_errors.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
    }

    /// The counters now (zeros left out).
    pub fn snapshot(&self) -> Counts {
        let mut counts = Counts::default();
        for service in Service::ALL {
            let n = self.requests[service.index()].load(Ordering::Relaxed);
            if n > 0 {
                counts.requests.insert(service, n);
            }
            for kind in FaultKind::ALL {
                let n = self.injected[kind.index()][service.index()].load(Ordering::Relaxed);
                if n > 0 {
                    counts.injected.entry(kind).or_default().insert(service, n);
                }
            }
        }
        counts.upstream_errors = self.upstream_errors.load(Ordering::Relaxed);
        counts.connections = self.connections.load(Ordering::Relaxed);
        counts
    }
}

/// A snapshot of the counters; the admin path serves it as JSON:
/// `{"requests":{"dynamodb":120,...},"injected":{"throttle":{"dynamodb":9},...},"upstream_errors":0,"connections":3}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests received per service, faulted or not (admin requests apart).
    pub requests: BTreeMap<Service, u64>,
    /// Faults injected, per kind and service.
    pub injected: BTreeMap<FaultKind, BTreeMap<Service, u64>>,
    /// Requests the upstream did not answer (answered 502 to the client).
    pub upstream_errors: u64,
    /// Client connections accepted (each serves many requests while kept
    /// alive).
    #[serde(default)]
    pub connections: u64,
}

impl Counts {
    /// Faults of `kind` injected into `service`.
    pub fn get(&self, kind: FaultKind, service: Service) -> u64 {
        self.injected
            .get(&kind)
            .and_then(|by_service| by_service.get(&service))
            .copied()
            .unwrap_or(0)
    }

    /// Faults of `kind`, every service.
    pub fn of_kind(&self, kind: FaultKind) -> u64 {
        self.injected
            .get(&kind)
            .map_or(0, |by_service| by_service.values().sum())
    }

    /// Every fault injected.
    pub fn total_injected(&self) -> u64 {
        FaultKind::ALL.iter().map(|k| self.of_kind(*k)).sum()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// The counts accumulated since `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let mut out = Counts::default();
        for (service, n) in &self.requests {
            let before = earlier.requests.get(service).copied().unwrap_or(0);
            if *n > before {
                out.requests.insert(*service, n - before);
            }
        }
        for (kind, by_service) in &self.injected {
            for (service, n) in by_service {
                let before = earlier.get(*kind, *service);
                if *n > before {
                    out.injected
                        .entry(*kind)
                        .or_default()
                        .insert(*service, n - before);
                }
            }
        }
        out.upstream_errors = self.upstream_errors.saturating_sub(earlier.upstream_errors);
        out.connections = self.connections.saturating_sub(earlier.connections);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_service_and_serialises_with_names() {
        let counters = Counters::default();
        counters.request(Service::DynamoDb);
        counters.request(Service::DynamoDb);
        counters.request(Service::Ses);
        counters.injected(FaultKind::Throttle, Service::DynamoDb);
        counters.injected(FaultKind::Throttle, Service::Ses);
        counters.injected(FaultKind::LostResponse, Service::Ses);
        let counts = counters.snapshot();
        assert_eq!(counts.get(FaultKind::Throttle, Service::DynamoDb), 1);
        assert_eq!(counts.of_kind(FaultKind::Throttle), 2);
        assert_eq!(counts.total_injected(), 3);
        assert_eq!(counts.total_requests(), 3);
        assert_eq!(counts.get(FaultKind::Reset, Service::Sqs), 0);

        let json = serde_json::to_value(&counts).unwrap();
        assert_eq!(json["requests"]["dynamodb"], 2);
        assert_eq!(json["injected"]["throttle"]["ses"], 1);
        assert_eq!(json["injected"]["lost_response"]["ses"], 1);
        let back: Counts = serde_json::from_value(json).unwrap();
        assert_eq!(back, counts);

        let earlier = counts.clone();
        counters.injected(FaultKind::Throttle, Service::DynamoDb);
        let delta = counters.snapshot().since(&earlier);
        assert_eq!(delta.total_injected(), 1);
        assert_eq!(delta.total_requests(), 0);

        counters.reset();
        assert_eq!(counters.snapshot(), Counts::default());
    }
}
