//! Coverage feedback from LLVM's SanitizerCoverage, on stable Rust.
//!
//! When the code under test is compiled with
//! `-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3
//! -Cllvm-args=-sanitizer-coverage-inline-8bit-counters` (all stable
//! codegen options; `tools/fuzz/sancov-rustc` adds them to the crates
//! worth instrumenting), every instrumented module registers its array of
//! edge counters through `__sanitizer_cov_8bit_counters_init` before `main`.
//! The engine zeroes the counters before a case and reads them after it: an
//! input that reaches an edge, or an edge's hit-count bucket, never seen
//! before is kept in the corpus, as libFuzzer does.
//!
//! In an uninstrumented build nothing registers and [`Counters::available`]
//! is false: the engine then falls back to the targets' own outcome
//! signatures.

use std::sync::Mutex;

static REGIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// Called by instrumented code (from module constructors) with the bounds
/// of one module's counters.
///
/// # Safety
///
/// `start..stop` must be a live, writable array of counters, as the
/// instrumentation guarantees.
#[no_mangle]
pub unsafe extern "C" fn __sanitizer_cov_8bit_counters_init(start: *mut u8, stop: *mut u8) {
    if let Ok(mut regions) = REGIONS.lock() {
        if (start as usize) < (stop as usize) {
            regions.push((start as usize, stop as usize));
        }
    }
}

/// The counters of this process.
pub struct Counters {
    regions: Vec<(usize, usize)>,
    total: usize,
}

/// libFuzzer's hit-count buckets, as bits.
fn bucket(count: u8) -> u8 {
    match count {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 4,
        4..=7 => 8,
        8..=15 => 16,
        16..=31 => 32,
        32..=127 => 64,
        _ => 128,
    }
}

impl Counters {
    pub fn new() -> Self {
        let regions = REGIONS.lock().map(|r| r.clone()).unwrap_or_default();
        let total = regions.iter().map(|(a, b)| b - a).sum();
        Self { regions, total }
    }

    pub fn available(&self) -> bool {
        self.total > 0
    }

    /// Number of counters (edges) instrumented.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn slices(&self) -> impl Iterator<Item = &'static mut [u8]> + '_ {
        self.regions.iter().map(|&(start, stop)| {
            // SAFETY: the instrumentation registered this range as the
            // module's counter array, which lives as long as the process.
            unsafe { std::slice::from_raw_parts_mut(start as *mut u8, stop - start) }
        })
    }

    /// Zeroes every counter (before a case).
    pub fn reset(&self) {
        for slice in self.slices() {
            slice.fill(0);
        }
    }

    /// Merges the counters of the last case into `seen`: what they reached
    /// that was not seen before.
    pub fn merge_into(&self, seen: &mut Coverage) -> Novelty {
        if seen.buckets.len() != self.total {
            seen.buckets = vec![0; self.total];
        }
        let mut new = Novelty::None;
        let mut offset = 0;
        for slice in self.slices() {
            let known = &mut seen.buckets[offset..offset + slice.len()];
            // Whole words first: most counters are zero.
            for (counts, known) in slice.chunks(8).zip(known.chunks_mut(8)) {
                if counts.iter().all(|&c| c == 0) {
                    continue;
                }
                for (&count, known) in counts.iter().zip(known.iter_mut()) {
                    let b = bucket(count);
                    if b & !*known != 0 {
                        if *known == 0 {
                            seen.edges += 1;
                            new = Novelty::Edge;
                        } else if new == Novelty::None {
                            new = Novelty::Count;
                        }
                        *known |= b;
                    }
                }
            }
            offset += slice.len();
        }
        new
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// What a case reached that no case before it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    None,
    /// An edge already reached, a new number of times (bucket).
    Count,
    /// An edge never reached before.
    Edge,
}

/// What one target has reached so far.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    buckets: Vec<u8>,
    /// Edges reached at least once.
    pub edges: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_single_bits_and_grow() {
        let mut last = 0;
        for count in 0..=255u8 {
            let b = bucket(count);
            assert!(b == 0 || b.is_power_of_two());
            assert!(b >= last);
            last = b;
        }
    }
}
