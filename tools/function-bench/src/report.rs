//! The results as a readable table (targets beside the figures) and as the
//! JSON file `target/function-bench.json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::{FunctionResult, Plan};

/// What the functions are held to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    pub init_ms: f64,
    pub peak_rss_mib_1k: f64,
    pub peak_rss_mib_10k: f64,
    pub cpu_us_per_record: f64,
}

pub const TARGETS: Targets = Targets {
    init_ms: 25.0,
    peak_rss_mib_1k: 24.0,
    peak_rss_mib_10k: 64.0,
    cpu_us_per_record: 100.0,
};

/// The Python consumers doing the same work against the same emulator.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub init_ms: f64,
    pub peak_rss_mib: f64,
    pub cpu_us_per_record: f64,
}

pub const PYTHON: Reference = Reference {
    init_ms: 320.0,
    peak_rss_mib: 53.0,
    cpu_us_per_record: 3000.0,
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub generated_at: String,
    pub host: Host,
    pub settings: Settings,
    pub targets: Targets,
    pub python_reference: Reference,
    pub functions: Vec<FunctionResult>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub cpus: usize,
    pub load_average: Option<String>,
    pub kernel: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub batches: Vec<usize>,
    pub latency_ms: u64,
    pub moto_batches: Vec<usize>,
    pub init_runs: usize,
    pub info_batch: Option<usize>,
    pub log_level: String,
    pub memory_size_mb: u32,
    pub deadline_s: u64,
    pub bin_dir: String,
    pub aws_endpoint: Option<String>,
}

impl Report {
    pub fn new(plan: &Plan, functions: Vec<FunctionResult>) -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self {
            generated_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            host: Host {
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                load_average: std::fs::read_to_string("/proc/loadavg")
                    .ok()
                    .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
                kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .ok()
                    .map(|s| s.trim().to_owned()),
            },
            settings: Settings {
                batches: plan.batches.clone(),
                latency_ms: plan.latency.as_millis() as u64,
                moto_batches: plan.moto_batches.clone(),
                init_runs: plan.init_runs,
                info_batch: plan.info_batch,
                log_level: plan.log_level.clone(),
                memory_size_mb: 128,
                deadline_s: crate::bench::DEADLINE.as_secs(),
                bin_dir: plan.bin_dir.display().to_string(),
                aws_endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
            },
            targets: TARGETS,
            python_reference: PYTHON,
            functions,
        }
    }
}

fn rss_target(records: usize) -> Option<f64> {
    match records {
        1_000 => Some(TARGETS.peak_rss_mib_1k),
        10_000 => Some(TARGETS.peak_rss_mib_10k),
        _ => None,
    }
}

/// `value`, and whether it is under `target`.
fn judged(value: f64, target: Option<f64>, decimals: usize) -> String {
    let mark = match target {
        Some(t) if value < t => " ok",
        Some(_) => " OVER",
        None => "",
    };
    format!("{value:.decimals$}{mark}")
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row per function: init (when `with_init`), then peak RSS, CPU per
/// record and wall time per batch size, for the batches against `backend`
/// at the measured log level; the targets and the Python reference first.
fn summary(report: &Report, backend: &str, batches: &[usize], with_init: bool) -> String {
    let level = &report.settings.log_level;
    let mut header = vec!["".to_owned()];
    let mut target_row = vec!["target".to_owned()];
    let mut python_row = vec!["python (reference)".to_owned()];
    if with_init {
        header.push("init ms".to_owned());
        target_row.push(format!("< {}", TARGETS.init_ms));
        python_row.push(format!("{}", PYTHON.init_ms));
    }
    for &n in batches {
        header.push(format!("RSS MiB {}", thousands(n)));
        target_row.push(rss_target(n).map_or("-".to_owned(), |t| format!("< {t}")));
        python_row.push(format!("{}", PYTHON.peak_rss_mib));
    }
    for &n in batches {
        header.push(format!("CPU µs/rec {}", thousands(n)));
        target_row.push(format!("< {}", TARGETS.cpu_us_per_record));
        python_row.push(format!("{}", PYTHON.cpu_us_per_record));
    }
    for &n in batches {
        header.push(format!("wall s {}", thousands(n)));
        target_row.push("-".to_owned());
        python_row.push("-".to_owned());
    }
    let mut rows = vec![header, target_row, python_row];
    for result in &report.functions {
        let mut row = vec![result.name.clone()];
        if with_init {
            row.push(result.init.as_ref().map_or(result.status.clone(), |i| {
                judged(i.median_ms, Some(TARGETS.init_ms), 1)
            }));
        }
        let by_size = |n: usize| {
            result
                .batches
                .iter()
                .find(|b| b.records == n && b.backend == backend && &b.log_level == level)
        };
        for &n in batches {
            row.push(
                by_size(n).map_or("-".to_owned(), |b| judged(b.peak_rss_mib, rss_target(n), 1)),
            );
        }
        for &n in batches {
            row.push(by_size(n).map_or("-".to_owned(), |b| {
                judged(b.cpu_us_per_record, Some(TARGETS.cpu_us_per_record), 1)
            }));
        }
        for &n in batches {
            row.push(by_size(n).map_or("-".to_owned(), |b| format!("{:.1}", b.wall_ms / 1000.0)));
        }
        rows.push(row);
    }
    table(&rows)
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let settings = &report.settings;
    let _ = writeln!(
        out,
        "\nFunction benchmark: real binaries behind a fake Lambda Runtime API (memory size 128, \
         log level {}, init = spawn to first poll, median of {} starts)",
        settings.log_level, settings.init_runs
    );
    let _ = writeln!(
        out,
        "Host: {} CPUs, load average {} (other work on the host inflates init and wall times)",
        report.host.cpus,
        report.host.load_average.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "\nMeasured: AWS calls to the fast fake endpoint, {} ms per call",
        settings.latency_ms
    );
    out.push_str(&summary(report, "fake", &settings.batches, true));
    if report
        .functions
        .iter()
        .any(|f| f.batches.iter().any(|b| b.backend == "moto"))
    {
        let _ = writeln!(
            out,
            "\nEnd to end against the emulator at {} (its slowness inflates CPU: the SDK polls \
             each waiting request every 100 ms)",
            settings.aws_endpoint.as_deref().unwrap_or("?")
        );
        out.push_str(&summary(report, "moto", &settings.moto_batches, false));
    }

    // Details per function.
    for result in &report.functions {
        let _ = writeln!(out, "\n{} [{}]", result.name, result.status);
        let _ = writeln!(
            out,
            "  binary {} ({})",
            result.binary,
            result
                .binary_bytes
                .map_or("missing".to_owned(), |b| format!(
                    "{:.1} MiB",
                    b as f64 / 1048576.0
                ))
        );
        let _ = writeln!(out, "  workload: {}", result.workload);
        if let Some(init) = &result.init {
            let _ = writeln!(
                out,
                "  init: median {:.1} ms (min {:.1}, max {:.1}, {} starts); at ready: peak RSS {:.1} MiB, CPU {:.1} ms",
                init.median_ms, init.min_ms, init.max_ms, init.runs, init.ready_peak_rss_mib, init.ready_cpu_ms
            );
        }
        let mut rows = vec![[
            "records",
            "AWS",
            "log",
            "payload MiB",
            "wall s",
            "CPU ms",
            "CPU µs/rec",
            "(ticks ms)",
            "RSS before",
            "peak RSS MiB",
            "threads",
            "failures",
            "dead letters",
            "effects",
        ]
        .map(str::to_owned)
        .to_vec()];
        for b in &result.batches {
            let effects = b.effects.as_ref();
            rows.push(vec![
                thousands(b.records),
                b.backend.clone(),
                b.log_level.clone(),
                format!("{:.1}", b.payload_bytes as f64 / 1048576.0),
                format!("{:.1}", b.wall_ms / 1000.0),
                format!("{:.0}", b.cpu_ms),
                format!("{:.1}", b.cpu_us_per_record),
                format!("{:.0}", b.cpu_ticks_ms),
                format!("{:.1}", b.idle_peak_rss_mib),
                judged(b.peak_rss_mib, rss_target(b.records), 1),
                b.threads.to_string(),
                if b.answer == "response" {
                    b.failures.to_string()
                } else {
                    b.answer.clone()
                },
                effects.map_or("-".to_owned(), |e| e.dead_letters.to_string()),
                effects.map_or("-".to_owned(), |e| {
                    format!(
                        "{}{}",
                        e.summary,
                        if e.as_expected {
                            ""
                        } else {
                            " (NOT as expected)"
                        }
                    )
                }),
            ]);
        }
        if result.batches.is_empty() {
            let _ = writeln!(out, "  no batch measured");
        } else {
            for line in table(&rows).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        for b in &result.batches {
            if let Some(reason) = b
                .effects
                .as_ref()
                .and_then(|e| e.first_dead_letter_reason.as_ref())
            {
                let _ = writeln!(out, "  first dead letter ({} records): {reason}", b.records);
            }
            if !b.failed_sequences.is_empty() {
                let _ = writeln!(
                    out,
                    "  failed sequence numbers ({} records, first {}): {}",
                    b.records,
                    b.failed_sequences.len(),
                    b.failed_sequences.join(", ")
                );
            }
            if b.log_level == "info" {
                let _ = writeln!(
                    out,
                    "  log output at info ({} records): {} lines, {:.1} MiB",
                    b.records,
                    b.log_lines,
                    b.log_bytes as f64 / 1048576.0
                );
            }
        }
        for err in &result.errors {
            let _ = writeln!(out, "  error: {err}");
        }
    }
    out
}

/// Left-aligned first column, right-aligned others.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_figures_against_targets() {
        assert_eq!(judged(12.34, Some(25.0), 1), "12.3 ok");
        assert_eq!(judged(30.0, Some(25.0), 0), "30 OVER");
        assert_eq!(judged(30.0, None, 1), "30.0");
        assert_eq!(thousands(10000), "10,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned()],
            vec!["long".to_owned(), "22".to_owned()],
        ];
        assert_eq!(table(&rows), "a      1\nlong  22\n");
    }
}
