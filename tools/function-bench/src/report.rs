//! The results as readable tables (the matrix, Rust against Python, cost
//! per million events, the quota check) and as the JSON report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::{Cell, CellResult, FunctionResult, Plan};
use crate::cost::{self, Cost};
use crate::functions::Runtime;

/// The cell the cost table and the chart's fixed axes use, when measured.
const REFERENCE: Cell = Cell {
    latency_ms: 5,
    records: 1_000,
    keys: 100,
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub generated_at: String,
    pub host: Host,
    pub settings: Settings,
    pub functions: Vec<FunctionResult>,
    /// Python ÷ Rust, per function and cell measured in both.
    pub comparisons: Vec<Comparison>,
    /// Per function and cell, at each memory size.
    pub costs: Vec<CostRow>,
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
    pub cells: Vec<Cell>,
    pub memory_mb: Vec<u32>,
    pub log_level: String,
    pub deadline_s: u64,
    pub billed_duration_model: &'static str,
    pub arm64_usd_per_gb_s: f64,
    pub x86_usd_per_gb_s: f64,
    pub usd_per_million_requests: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub name: String,
    pub cell: Cell,
    pub cpu_per_record: f64,
    pub wall: f64,
    pub init: f64,
    pub peak_rss: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostRow {
    pub label: String,
    pub runtime: Runtime,
    pub cell: Cell,
    pub costs: Vec<Cost>,
}

pub const BILLED_MODEL: &str = "billed duration = max(wall time, CPU time / (memory / 1769 MB)) \
                                rounded up to 1 ms, from a run on whole cores";

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
                cells: plan.cells.clone(),
                memory_mb: plan.memory_mb.clone(),
                log_level: plan.log_level.clone(),
                deadline_s: crate::bench::DEADLINE.as_secs(),
                billed_duration_model: BILLED_MODEL,
                arm64_usd_per_gb_s: cost::ARM64_PER_GB_S,
                x86_usd_per_gb_s: cost::X86_PER_GB_S,
                usd_per_million_requests: cost::PER_REQUEST * 1e6,
            },
            comparisons: comparisons(&functions),
            costs: costs(&functions, &plan.memory_mb),
            functions,
        }
    }
}

fn comparisons(functions: &[FunctionResult]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for python in functions.iter().filter(|f| f.runtime == Runtime::Python) {
        let Some(rust) = functions
            .iter()
            .find(|f| f.runtime == Runtime::Rust && f.name == python.name)
        else {
            continue;
        };
        for p in &python.cells {
            let Some(r) = rust.cells.iter().find(|r| r.cell == p.cell) else {
                continue;
            };
            out.push(Comparison {
                name: python.name.clone(),
                cell: p.cell,
                cpu_per_record: p.cpu_us_per_record / r.cpu_us_per_record,
                wall: p.wall_ms / r.wall_ms,
                init: p.init_ms / r.init_ms,
                peak_rss: p.peak_rss_mib / r.peak_rss_mib,
            });
        }
    }
    out
}

fn costs(functions: &[FunctionResult], memory_mb: &[u32]) -> Vec<CostRow> {
    let mut rows = Vec::new();
    for function in functions {
        for cell in &function.cells {
            rows.push(CostRow {
                label: function.label.clone(),
                runtime: function.runtime,
                cell: cell.cell,
                costs: memory_mb
                    .iter()
                    .filter_map(|&m| {
                        let billed = cell.billed_ms(m)?;
                        Some(cost::per_million_events(billed, m, cell.cell.records))
                    })
                    .collect(),
            });
        }
    }
    rows
}

/// The reference cell when measured, else the first one of the plan.
pub fn reference_cell(cells: &[Cell]) -> Option<Cell> {
    cells
        .iter()
        .copied()
        .find(|&c| c == REFERENCE)
        .or_else(|| cells.first().copied())
}

pub fn render(report: &Report) -> String {
    let mut out = intro(report);
    out.push_str(&matrix(report));
    out.push_str(&ratios(report));
    out.push_str(&cost_table(report));
    out.push_str(&quota_checks(report));
    out.push_str(&strace_checks(report));
    out.push_str(&problems(report));
    out
}

fn intro(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nFunction benchmark: each cell is one invocation of a fresh process behind a fake \
         Lambda Runtime API, calling a fake AWS endpoint with the cell's latency (log level {})",
        report.settings.log_level
    );
    let _ = writeln!(
        out,
        "Host: {} CPUs, load average {} (other work on the host inflates init and wall times)",
        report.host.cpus,
        report.host.load_average.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "Billed: {BILLED_MODEL}");
    let _ = writeln!(
        out,
        "CPU = user + system of all threads; syscalls = read/write kinds from /proc/<pid>/io; \
         context switches = voluntary + involuntary of the live threads; per AWS call\n"
    );
    out
}

fn matrix(report: &Report) -> String {
    let memory = &report.settings.memory_mb;
    let mut rows = header(&[
        "function",
        "lat ms",
        "records",
        "keys",
        "init ms",
        "wall ms",
        "CPU µs/rec",
        "calls/rec",
        "rw syscalls/call",
        "ctx sw/call",
        "peak MiB",
    ]);
    rows[0].extend(memory.iter().map(|m| format!("billed ms @{m}")));
    rows[0].push("effects".to_owned());
    for function in &report.functions {
        for c in &function.cells {
            rows.push(matrix_row(&function.label, c, memory));
        }
    }
    table(&rows)
}

fn matrix_row(label: &str, c: &CellResult, memory: &[u32]) -> Vec<String> {
    let mut row = vec![
        label.to_owned(),
        c.cell.latency_ms.to_string(),
        thousands(c.cell.records),
        thousands(c.cell.keys),
        format!("{:.1}", c.init_ms),
        format!("{:.0}", c.wall_ms),
        format!("{:.1}", c.cpu_us_per_record),
        format!("{:.2}", c.aws_calls_per_record),
        format!("{:.1}", c.read_write_syscalls_per_call),
        format!("{:.2}", c.context_switches_per_call),
        format!("{:.1}", c.peak_rss_mib),
    ];
    row.extend(memory.iter().map(|&m| {
        c.billed_ms(m)
            .map_or("-".to_owned(), |b| thousands(b as usize))
    }));
    let ok = c.effects.as_expected && c.failures == 0 && c.answer == "response";
    row.push(if ok { "ok" } else { "NOT as expected" }.to_owned());
    row
}

fn ratios(report: &Report) -> String {
    if report.comparisons.is_empty() {
        return String::new();
    }
    let mut rows = header(&[
        "Python ÷ Rust",
        "lat ms",
        "records",
        "keys",
        "CPU/rec",
        "wall",
        "init",
        "peak RSS",
    ]);
    for c in &report.comparisons {
        rows.push(vec![
            c.name.clone(),
            c.cell.latency_ms.to_string(),
            thousands(c.cell.records),
            thousands(c.cell.keys),
            format!("{:.1}x", c.cpu_per_record),
            format!("{:.1}x", c.wall),
            format!("{:.1}x", c.init),
            format!("{:.1}x", c.peak_rss),
        ]);
    }
    format!("\n{}", table(&rows))
}

fn cost_table(report: &Report) -> String {
    let Some(cell) = reference_cell(&report.settings.cells) else {
        return String::new();
    };
    let mut out = format!(
        "\nCost per million events, batches of {} records at {} ms per AWS call, {} keys \
         (arm64 ${}/GB-s, x86_64 ${}/GB-s, ${} per million requests):\n",
        thousands(cell.records),
        cell.latency_ms,
        thousands(cell.keys),
        cost::ARM64_PER_GB_S,
        cost::X86_PER_GB_S,
        cost::PER_REQUEST * 1e6
    );
    let mut rows = header(&[
        "function",
        "memory MB",
        "billed ms/batch",
        "GB-s per 1M",
        "$ per 1M arm64",
        "$ per 1M x86_64",
    ]);
    for row in report.costs.iter().filter(|r| r.cell == cell) {
        for c in &row.costs {
            rows.push(vec![
                row.label.clone(),
                c.memory_mb.to_string(),
                thousands(c.billed_ms_per_batch as usize),
                format!("{:.2}", c.gb_s_per_million),
                format!("{:.4}", c.arm64_usd_per_million),
                format!("{:.4}", c.x86_usd_per_million),
            ]);
        }
    }
    out.push_str(&table(&rows));
    out
}

fn quota_checks(report: &Report) -> String {
    let checks: Vec<_> = report
        .functions
        .iter()
        .filter_map(|f| f.quota_check.as_ref().map(|q| (&f.label, q)))
        .collect();
    let Some((_, first)) = checks.first() else {
        return String::new();
    };
    let mut out = format!(
        "\nModel check: the cell {} ms / {} records / {} keys again under a real {} MB CPU quota \
         ({}):\n",
        first.cell.latency_ms,
        thousands(first.cell.records),
        thousands(first.cell.keys),
        first.memory_mb,
        if first.how.is_empty() {
            "none available"
        } else {
            &first.how
        }
    );
    let mut rows = header(&[
        "function",
        "modelled billed ms",
        "wall ms under quota",
        "CPU ms",
    ]);
    for (label, check) in checks {
        let measured = check.measured.as_ref();
        rows.push(vec![
            label.clone(),
            check
                .modelled_billed_ms
                .map_or("-".to_owned(), |b| thousands(b as usize)),
            measured.map_or_else(
                || check.error.clone().unwrap_or_default(),
                |m| format!("{:.0}", m.wall_ms),
            ),
            measured.map_or("-".to_owned(), |m| format!("{:.0}", m.cpu_ms)),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

fn strace_checks(report: &Report) -> String {
    let checks: Vec<_> = report
        .functions
        .iter()
        .filter_map(|f| f.strace_check.as_ref().map(|s| (f, s)))
        .collect();
    let Some((_, first)) = checks.first() else {
        return String::new();
    };
    let mut out = format!(
        "\nEvery syscall (strace -c -f, a traced run of {} ms / {} records / {} keys) against the \
         read/write kinds of /proc/<pid>/io in the matrix:\n",
        first.cell.latency_ms,
        thousands(first.cell.records),
        thousands(first.cell.keys)
    );
    let mut rows = header(&[
        "function",
        "syscalls/call",
        "/proc io syscalls/call",
        "most frequent",
    ]);
    for (function, check) in checks {
        let io = function
            .cells
            .iter()
            .find(|c| c.cell == check.cell)
            .map_or("-".to_owned(), |c| {
                format!("{:.1}", c.read_write_syscalls_per_call)
            });
        let top = check.syscalls.as_ref().map_or_else(
            || check.error.clone().unwrap_or_default(),
            |s| {
                s.top
                    .iter()
                    .map(|(name, calls)| format!("{name} {calls}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        rows.push(vec![
            function.label.clone(),
            check
                .per_call()
                .map_or("-".to_owned(), |p| format!("{p:.1}")),
            io,
            top,
        ]);
    }
    out.push_str(&table(&rows));
    out
}

fn problems(report: &Report) -> String {
    let mut out = String::new();
    for function in &report.functions {
        for err in &function.errors {
            let _ = writeln!(out, "{} [{}]: {err}", function.label, function.status);
        }
        for c in function.cells.iter().filter(|c| !c.effects.as_expected) {
            let _ = writeln!(
                out,
                "{} at {:?}: {} ({})",
                function.label, c.cell, c.effects.summary, c.answer
            );
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("\nProblems:\n{out}")
    }
}

/// The rows of a table, starting with its header.
fn header(names: &[&str]) -> Vec<Vec<String>> {
    vec![names.iter().map(|&n| n.to_owned()).collect()]
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
            let pad = " ".repeat(widths[c].saturating_sub(cell.chars().count()));
            if c == 0 {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str("  ");
                line.push_str(&pad);
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
    fn groups_thousands() {
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

    #[test]
    fn the_reference_cell_is_preferred() {
        let other = Cell {
            latency_ms: 0,
            records: 100,
            keys: 1,
        };
        assert_eq!(reference_cell(&[other, REFERENCE]), Some(REFERENCE));
        assert_eq!(reference_cell(&[other]), Some(other));
        assert_eq!(reference_cell(&[]), None);
    }
}
