//! What the kernel knows about a child process: its CPU time and memory.
//!
//! CPU time comes from the process's CPU-time clock
//! (`clock_getcpuclockid` + `clock_gettime`): nanoseconds, summed over all
//! threads including ones that already exited. `/proc/<pid>/schedstat`
//! would only cover the main thread, and `/proc/<pid>/stat` counts in clock
//! ticks (10 ms), too coarse for a short invocation; the latter is kept as
//! a cross-check.
//!
//! Context switches are summed over the live threads'
//! `/proc/<pid>/task/<tid>/status` (the process's own status file counts
//! its main thread only). Syscalls are the read and write kinds that
//! `/proc/<pid>/io` counts (`syscr` + `syscw`, the whole process): socket
//! reads and writes, not futex or epoll waits.

use std::fs;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcSnapshot {
    /// On-CPU time of all threads, user + system, in nanoseconds.
    pub cpu_ns: u64,
    /// utime + stime from `/proc/<pid>/stat`, converted to nanoseconds
    /// (resolution: one clock tick).
    pub cpu_ticks_ns: u64,
    /// `VmHWM`: peak resident set size since the process started, in KiB.
    pub peak_rss_kib: u64,
    /// `VmRSS`: resident set size now, in KiB.
    pub rss_kib: u64,
    pub threads: u64,
    /// Voluntary plus involuntary context switches of the live threads.
    pub context_switches: u64,
    /// `syscr` + `syscw` of `/proc/<pid>/io`.
    pub read_write_syscalls: u64,
}

/// Reads the current figures of process `pid`.
pub fn snapshot(pid: u32) -> io::Result<ProcSnapshot> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let cpu_ticks_ns = stat_cpu_ticks(&stat)
        .map(|ticks| ticks.saturating_mul(1_000_000_000) / clock_ticks_per_second())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/<pid>/stat"))?;
    let cpu_ns = process_cpu_ns(pid).unwrap_or(cpu_ticks_ns);
    Ok(ProcSnapshot {
        cpu_ns,
        cpu_ticks_ns,
        peak_rss_kib: status_kib(&status, "VmHWM").unwrap_or(0),
        rss_kib: status_kib(&status, "VmRSS").unwrap_or(0),
        threads: status_kib(&status, "Threads").unwrap_or(0),
        context_switches: context_switches(pid),
        read_write_syscalls: read_write_syscalls(pid).unwrap_or(0),
    })
}

fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status_kib(&status, "voluntary_ctxt_switches").unwrap_or(0)
                + status_kib(&status, "nonvoluntary_ctxt_switches").unwrap_or(0)
        })
        .sum()
}

fn read_write_syscalls(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    Some(status_kib(&io, "syscr")? + status_kib(&io, "syscw")?)
}

/// A numeric field of `/proc/<pid>/status` (`VmHWM:     12345 kB`).
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime (fields 14 and 15) of `/proc/<pid>/stat`, in clock ticks.
/// The command name (field 2) may hold spaces and parentheses, so fields
/// are counted after its closing parenthesis.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards; utime is field 14.
    let utime: u64 = fields.nth(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's clock tick rate (`getconf CLK_TCK`), usually 100.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The process-wide CPU clock of `pid`, in nanoseconds.
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer for the call's duration.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the call's duration.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(u64::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u64::try_from(ts.tv_nsec).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat_fields() {
        let status =
            "Name:\tx\nVmPeak:\t  99 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 2048 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(12345));
        assert_eq!(status_kib(status, "VmRSS"), Some(2048));
        assert_eq!(status_kib(status, "Threads"), Some(3));
        assert_eq!(status_kib(status, "VmSwap"), None);

        // The name holds a space and a parenthesis; utime = 7, stime = 5.
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194304 100 0 0 0 7 5 0 0 20 0 3 0 1 2 3";
        assert_eq!(stat_cpu_ticks(stat), Some(12));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        // Burn a little CPU so the clock has moved.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let snap = snapshot(std::process::id()).unwrap();
        assert!(snap.cpu_ns > 0);
        assert!(snap.peak_rss_kib >= snap.rss_kib && snap.rss_kib > 0);
        assert!(snap.threads >= 1);
        assert!(snap.context_switches > 0);
        assert!(snap.read_write_syscalls > 0);
    }
}
