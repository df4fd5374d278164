//! What Lambda bills for a batch, and what a million events cost.
//!
//! Lambda bills the invocation's duration, rounded up to 1 ms, at the
//! function's memory. The CPU a function gets is proportional to memory
//! ([`crate::quota::FULL_VCPU_MB`]), so a function that is measured on a
//! whole core would, at 128 MB, run until it had had its CPU time at 7% of
//! a core: billed duration ≈ max(wall time, CPU time / share), with share
//! = memory / 1,769 MB. Where a real quota is available the harness also
//! measures one batch under it ([`crate::quota`]), as a check of the model.

use serde::Serialize;

use crate::quota::FULL_VCPU_MB;

/// USD per GB-second, arm64 (the template's default architecture).
pub const ARM64_PER_GB_S: f64 = 0.000_013_333_4;
/// USD per GB-second, x86_64.
pub const X86_PER_GB_S: f64 = 0.000_016_666_7;
/// USD per request.
pub const PER_REQUEST: f64 = 0.20 / 1_000_000.0;

/// The share of one vCPU that `memory_mb` buys.
pub fn cpu_share(memory_mb: u32) -> f64 {
    f64::from(memory_mb) / FULL_VCPU_MB
}

/// The modelled billed duration of one invocation, in whole milliseconds.
pub fn billed_ms(wall_ms: f64, cpu_ms: f64, memory_mb: u32) -> u64 {
    wall_ms.max(cpu_ms / cpu_share(memory_mb)).ceil().max(1.0) as u64
}

/// The cost of a million events in batches of `records`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub memory_mb: u32,
    pub billed_ms_per_batch: u64,
    pub gb_s_per_million: f64,
    pub arm64_usd_per_million: f64,
    pub x86_usd_per_million: f64,
}

pub fn per_million_events(billed_ms: u64, memory_mb: u32, records: usize) -> Cost {
    let invocations = 1_000_000.0 / records.max(1) as f64;
    let gb_s = billed_ms as f64 / 1000.0 * f64::from(memory_mb) / 1024.0 * invocations;
    let requests = invocations * PER_REQUEST;
    Cost {
        memory_mb,
        billed_ms_per_batch: billed_ms,
        gb_s_per_million: gb_s,
        arm64_usd_per_million: gb_s * ARM64_PER_GB_S + requests,
        x86_usd_per_million: gb_s * X86_PER_GB_S + requests,
    }
}

/// The `MemorySize` parameter's default in a SAM template, read line by
/// line (the template uses CloudFormation tags a YAML parser rejects).
pub fn template_memory_mb(template: &str) -> Option<u32> {
    let mut lines = template.lines().skip_while(|l| l.trim() != "MemorySize:");
    lines.next()?;
    lines
        .take_while(|l| l.starts_with("    "))
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_bound_batches_are_billed_for_their_cpu_at_the_share() {
        // 100 ms of CPU at 128 MB takes 1,382 ms of a 7.2% share.
        assert_eq!(billed_ms(50.0, 100.0, 128), 1_383);
        // Waiting on AWS dominates: the wall time is billed, rounded up.
        assert_eq!(billed_ms(900.2, 10.0, 128), 901);
        assert_eq!(billed_ms(900.2, 10.0, 1769), 901);
    }

    #[test]
    fn prices_a_million_events() {
        // 1,000 batches of 1,000 records, 1 s each at 1 GB: 1,000 GB-s.
        let cost = per_million_events(1_000, 1_024, 1_000);
        assert!((cost.gb_s_per_million - 1_000.0).abs() < 1e-9);
        let expected = 1_000.0 * ARM64_PER_GB_S + 1_000.0 * PER_REQUEST;
        assert!((cost.arm64_usd_per_million - expected).abs() < 1e-12);
    }

    #[test]
    fn reads_the_template_memory_size() {
        let template = "Parameters:\n  MemorySize:\n    Type: Number\n    Default: 256\n  Timeout:\n    Default: 30\nResources:\n    MemorySize: !Ref MemorySize\n";
        assert_eq!(template_memory_mb(template), Some(256));
        assert_eq!(template_memory_mb("Parameters:\n"), None);
    }
}
