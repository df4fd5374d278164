//! One function process behind its own fake Runtime API: started with the
//! environment Lambda gives a function (a `provided.al2023` binary, or a
//! Python runtime client and its handler), optionally inside a CPU-quota
//! cgroup, made ready, invoked, stopped.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use tokio::process::{Child, Command};

use crate::proc_stats::{self, ProcSnapshot};
use crate::runtime_api::{ApiEvent, FakeRuntimeApi, InvocationOutcome, InvocationRequest};

/// Variables passed through from the harness's environment. Everything
/// else, the endpoint and credentials included, comes from the launch
/// spec: nothing leaks in (no profile, no HOME, no real credentials), as
/// in Lambda.
const PASSED_THROUGH: &[&str] = &["PATH"];

/// How to start a function.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The program: the function's binary, or the Python interpreter.
    pub binary: PathBuf,
    pub args: Vec<String>,
    /// The working directory (where a Python handler's module is).
    pub dir: Option<PathBuf>,
    pub function_name: String,
    /// `AWS_LAMBDA_LOG_LEVEL`.
    pub log_level: String,
    /// The function's own variables (tables, streams, queues...).
    pub env: Vec<(String, String)>,
    /// Where its stdout and stderr go.
    pub log_path: PathBuf,
    /// The `cgroup.procs` of a cgroup the process joins before it runs.
    pub cgroup_procs: Option<PathBuf>,
    /// Whether Lambda's tracing is on for the function, and whether its
    /// invocations are sampled.
    pub xray: Xray,
}

/// X-Ray as Lambda sets it up: with tracing active, a daemon address in
/// the environment and a sampling decision in each invocation's trace
/// header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Xray {
    /// Tracing off: no daemon address.
    #[default]
    Off,
    /// Tracing on, the invocation not sampled (most of them: Lambda
    /// samples one a second and 5% of the rest).
    Unsampled,
    /// Tracing on and the invocation sampled.
    Sampled,
}

/// A stand-in for the X-Ray daemon: a UDP socket on loopback that counts
/// the datagrams (one per subsegment) it receives.
struct XrayDaemon {
    address: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl XrayDaemon {
    fn start() -> anyhow::Result<Self> {
        use std::sync::atomic::Ordering;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let address = socket.local_addr()?;
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, done) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while !done.load(Ordering::Relaxed) {
                if socket.recv(&mut buf).is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            address,
            received,
            stop,
        })
    }
}

impl Drop for XrayDaemon {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl LaunchSpec {
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            self.function_name
        )
    }
}

/// The process is waiting for its first invocation.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// From just before spawning to its first poll of the Runtime API.
    pub init: Duration,
    pub snapshot: ProcSnapshot,
}

#[derive(Debug, Clone)]
pub struct Invoked {
    pub outcome: InvocationOutcome,
    /// The process's figures just before the invocation was queued.
    pub before: ProcSnapshot,
    /// From queueing to the complete answer.
    pub wall: Duration,
}

pub struct FunctionProcess {
    xray_daemon: Option<XrayDaemon>,
    child: Child,
    pid: u32,
    api: FakeRuntimeApi,
    spawned_at: Instant,
    spec: LaunchSpec,
    invocations: u64,
}

impl FunctionProcess {
    pub async fn launch(spec: &LaunchSpec) -> anyhow::Result<Self> {
        let api = FakeRuntimeApi::start()
            .await
            .context("starting the fake Runtime API")?;
        let log = std::fs::File::create(&spec.log_path)
            .with_context(|| format!("creating {}", spec.log_path.display()))?;
        let log_err = log.try_clone()?;

        let mut command = Command::new(&spec.binary);
        command.args(&spec.args);
        if let Some(dir) = &spec.dir {
            command.current_dir(dir);
        }
        if let Some(procs) = &spec.cgroup_procs {
            let procs = CString::new(procs.as_os_str().as_bytes())?;
            // SAFETY: the closure only makes async-signal-safe calls.
            unsafe { command.pre_exec(move || join_cgroup(&procs)) };
        }
        command
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        for name in PASSED_THROUGH {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.function_name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", &spec.log_level)
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC");
        for (name, value) in &spec.env {
            command.env(name, value);
        }
        let xray_daemon = match spec.xray {
            Xray::Off => None,
            Xray::Unsampled | Xray::Sampled => {
                let daemon = XrayDaemon::start().context("starting the X-Ray daemon stand-in")?;
                command.env("AWS_XRAY_DAEMON_ADDRESS", daemon.address.to_string());
                Some(daemon)
            }
        };

        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.binary.display()))?;
        let pid = child
            .id()
            .context("the function exited before its pid was known")?;
        Ok(Self {
            xray_daemon,
            child,
            pid,
            api,
            spawned_at,
            spec: spec.clone(),
            invocations: 0,
        })
    }

    /// The subsegments the function has sent to the X-Ray daemon.
    pub fn xray_subsegments(&self) -> u64 {
        self.xray_daemon.as_ref().map_or(0, |daemon| {
            daemon.received.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the first poll of the Runtime API.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Ready> {
        let give_up = tokio::time::sleep(timeout);
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                event = self.api.next_event() => match event {
                    Some(ApiEvent::Polled { at }) => {
                        let snapshot = proc_stats::snapshot(self.pid)
                            .context("reading /proc of the function")?;
                        return Ok(Ready { init: at.saturating_duration_since(self.spawned_at), snapshot });
                    }
                    Some(ApiEvent::InitError { error_type, body }) => bail!(
                        "init error {}: {body}{}",
                        error_type.unwrap_or_default(),
                        self.log_tail()
                    ),
                    Some(ApiEvent::Unexpected { .. }) | None => {}
                },
                status = self.child.wait() => bail!(
                    "{} exited ({}) before polling the Runtime API{}",
                    self.spec.binary.display(),
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    self.log_tail()
                ),
                () = &mut give_up => bail!(
                    "no poll of the Runtime API within {timeout:?}{}",
                    self.log_tail()
                ),
            }
        }
    }

    /// Hands `payload` to the function and waits for its answer, at most
    /// until `timeout`. The function is told its deadline is `deadline`
    /// from now.
    pub async fn invoke(
        &mut self,
        payload: Vec<u8>,
        deadline: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Invoked> {
        self.invocations += 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline_ms = now.saturating_add(deadline).as_millis() as u64;
        let before = proc_stats::snapshot(self.pid).context("reading /proc of the function")?;
        let started = Instant::now();
        let mut answer = self.api.enqueue(InvocationRequest {
            request_id: format!("{}-{}", uuid::Uuid::new_v4(), self.invocations),
            payload,
            deadline_ms,
            function_arn: self.spec.function_arn(),
            trace_id: format!(
                // Stamped now, as Lambda does: X-Ray refuses a trace id
                // from the future.
                "Root=1-{:08x}-{};Parent=0000000000000001;Sampled={}",
                now.as_secs(),
                &uuid::Uuid::new_v4().simple().to_string()[..24],
                u8::from(self.spec.xray == Xray::Sampled)
            ),
            snapshot_pid: Some(self.pid),
        });
        let give_up = tokio::time::sleep(timeout);
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                outcome = &mut answer => {
                    let outcome = outcome.context("the Runtime API stopped")?;
                    let wall = outcome.answered_at.saturating_duration_since(started);
                    return Ok(Invoked { outcome, before, wall });
                }
                // The process polls again after answering: nothing to do.
                _ = self.api.next_event() => {}
                status = self.child.wait() => bail!(
                    "{} exited ({}) during the invocation{}",
                    self.spec.binary.display(),
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    self.log_tail()
                ),
                () = &mut give_up => bail!("no answer within {timeout:?}{}", self.log_tail()),
            }
        }
    }

    /// Kills the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    fn log_tail(&self) -> String {
        log_tail(&self.spec.log_path, 12)
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` this is
/// (writing `0` names the writer). Runs between fork and exec, so it
/// neither allocates nor locks.
fn join_cgroup(procs: &CStr) -> std::io::Result<()> {
    // SAFETY: `procs` is a valid C string; the descriptor is closed below.
    let fd = unsafe { libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: writes one byte from a static buffer to an open descriptor.
    let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let error = std::io::Error::last_os_error();
    // SAFETY: `fd` is open and owned here.
    unsafe { libc::close(fd) };
    if written == 1 {
        Ok(())
    } else {
        Err(error)
    }
}

/// The last `lines` lines of a log, as a suffix for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return format!(" (log {} is empty)", path.display());
    }
    let tail = &all[all.len().saturating_sub(lines)..];
    format!(
        "; last lines of {}:\n    {}",
        path.display(),
        tail.join("\n    ")
    )
}
