//! A CPU quota like Lambda's: a function gets CPU in proportion to its
//! memory, one full vCPU at 1,769 MB, so 128 MB buys about 7% of one.
//! The quota is a child cgroup of the harness's own with a CFS bandwidth
//! limit: `cpu.max` on cgroup v2, `cpu.cfs_quota_us` on v1 (hybrid hosts
//! often mount the cpu controller only on v1). Where neither is writable
//! the billed duration is modelled instead ([`crate::cost`]).

use std::fs;
use std::path::{Path, PathBuf};

/// Memory at which Lambda gives one full vCPU.
pub const FULL_VCPU_MB: f64 = 1769.0;
/// The scheduler period the quota is a share of.
const PERIOD_US: u64 = 100_000;

/// A CPU-quota cgroup; removed when dropped (its processes must be gone).
#[derive(Debug)]
pub struct CpuQuota {
    dir: PathBuf,
    pub memory_mb: u32,
    /// `cgroup v2 cpu.max` or `cgroup v1 cpu.cfs_quota_us`, and the quota.
    pub how: String,
}

impl CpuQuota {
    /// A cgroup limited to the CPU share of `memory_mb`, or why there is none.
    pub fn create(memory_mb: u32) -> Result<Self, String> {
        let quota_us = (PERIOD_US as f64 * f64::from(memory_mb) / FULL_VCPU_MB).ceil() as u64;
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let name = format!("function-bench-{}", std::process::id());
        let mut tried = Vec::new();
        if let Some(parent) = v2_dir(&own) {
            match make(
                &parent.join(&name),
                &[("cpu.max", format!("{quota_us} {PERIOD_US}"))],
            ) {
                Ok(dir) => {
                    let how = format!("cgroup v2 cpu.max {quota_us} {PERIOD_US}");
                    return Ok(Self {
                        dir,
                        memory_mb,
                        how,
                    });
                }
                Err(e) => tried.push(format!("v2 {}: {e}", parent.display())),
            }
        }
        if let Some(parent) = v1_dir(&own) {
            let settings = [
                ("cpu.cfs_period_us", PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", quota_us.to_string()),
            ];
            match make(&parent.join(&name), &settings) {
                Ok(dir) => {
                    let how = format!("cgroup v1 cpu.cfs_quota_us {quota_us} per {PERIOD_US} µs");
                    return Ok(Self {
                        dir,
                        memory_mb,
                        how,
                    });
                }
                Err(e) => tried.push(format!("v1 {}: {e}", parent.display())),
            }
        }
        if tried.is_empty() {
            tried.push("no cgroup with a cpu controller".to_owned());
        }
        Err(tried.join("; "))
    }

    /// The file a process writes to join.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

fn make(dir: &Path, settings: &[(&str, String)]) -> std::io::Result<PathBuf> {
    fs::create_dir(dir)?;
    for (file, value) in settings {
        if let Err(e) = fs::write(dir.join(file), value) {
            let _ = fs::remove_dir(dir);
            return Err(e);
        }
    }
    Ok(dir.to_owned())
}

/// The harness's cgroup v2 directory, when the cpu controller is there.
fn v2_dir(own: &str) -> Option<PathBuf> {
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|root| PathBuf::from(format!("{root}{}", path.trim_end_matches('/'))))
        .find(|dir| {
            fs::read_to_string(dir.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
        })
}

/// The harness's cgroup v1 directory of the cpu controller.
fn v1_dir(own: &str) -> Option<PathBuf> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "cpu").then(|| {
            let mount = Path::new("/sys/fs/cgroup").join(controllers);
            let mount = if mount.is_dir() {
                mount
            } else {
                PathBuf::from("/sys/fs/cgroup/cpu")
            };
            mount.join(path.trim_start_matches('/'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cpu_controller_in_v1_lines() {
        let own = "4:memory:/x\n1:cpu:/\n0::/\n";
        assert_eq!(v1_dir(own), Some(PathBuf::from("/sys/fs/cgroup/cpu/")));
        assert_eq!(v1_dir("0::/\n"), None);
    }
}
