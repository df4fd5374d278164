//! Every syscall of one invocation, from `strace -c -f` attached to the
//! ready process (all its threads) and stopped after the answer. Tracing
//! slows the process several times over, so it runs for one cell only, in
//! a run of its own whose times are not reported; the matrix counts the
//! read and write kinds from `/proc/<pid>/io` instead, which miss
//! `send`/`recv` and every wait.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::proc_stats;

/// Syscalls counted by strace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscalls {
    pub total: u64,
    /// The most frequent, most first.
    pub top: Vec<(String, u64)>,
}

pub struct Tracer {
    child: Child,
    out: PathBuf,
}

impl Tracer {
    /// Attaches to `pid`, returning once the kernel shows it traced.
    pub async fn attach(pid: u32, out: &Path) -> anyhow::Result<Self> {
        let child = Command::new("strace")
            .args(["-c", "-f", "-q", "-o"])
            .arg(out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting strace")?;
        for _ in 0..500 {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            if proc_stats::status_kib(&status, "TracerPid").is_some_and(|t| t != 0) {
                return Ok(Self {
                    child,
                    out: out.to_owned(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("strace did not attach within 5 s (is ptrace allowed here?)")
    }

    /// Detaches (strace writes its summary on SIGINT) and reads the counts.
    pub async fn finish(mut self) -> anyhow::Result<Syscalls> {
        if let Some(pid) = self.child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: signals a child this harness started and still owns.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        self.child.wait().await?;
        let summary = std::fs::read_to_string(&self.out)
            .with_context(|| format!("reading {}", self.out.display()))?;
        Ok(parse(&summary))
    }
}

/// Reads a `strace -c` table: `% time seconds usecs/call calls [errors]
/// syscall`, closed by a `total` row.
pub fn parse(summary: &str) -> Syscalls {
    let mut rows: Vec<(String, u64)> = summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.last()?;
            let calls = fields.get(3)?.parse().ok()?;
            Some(((*name).to_owned(), calls))
        })
        .collect();
    let total = rows
        .iter()
        .position(|(name, _)| name == "total")
        .map_or(0, |i| rows.remove(i).1);
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    rows.truncate(5);
    Syscalls { total, top: rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_table() {
        let summary = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.000400           2       200           epoll_wait
 30.00    0.000300           1       300        12 recvfrom
 30.00    0.000300           3       100           sendto
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           1       600        12 total
";
        let counted = parse(summary);
        assert_eq!(counted.total, 600);
        assert_eq!(counted.top[0], ("recvfrom".to_owned(), 300));
        assert_eq!(counted.top.len(), 3);
        assert_eq!(parse("").total, 0);
    }
}
