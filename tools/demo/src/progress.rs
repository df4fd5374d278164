//! The progress line: records processed and sagas ended so far, printed
//! every half second while the functions run. On a terminal it is one line
//! rewritten in place; otherwise (a pipe, CI logs) one plain line each time.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Where the progress line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressOutput {
    /// Nothing printed (tests).
    Off,
    /// One line on stdout, rewritten with `\r`.
    Terminal,
    /// A new line on stdout each time.
    Lines,
}

impl ProgressOutput {
    /// `Terminal` when stdout is a terminal, `Lines` otherwise.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            Self::Terminal
        } else {
            Self::Lines
        }
    }
}

/// Counters the functions' invokers update as batches are answered.
#[derive(Debug, Default)]
pub struct Progress {
    invocations: AtomicU64,
    records: AtomicU64,
    /// Per order whose saga ended, whether it completed.
    ended: Mutex<HashMap<String, bool>>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub invocations: u64,
    pub records: u64,
    pub completed: usize,
    pub failed: usize,
}

impl Progress {
    /// One invocation answered, whose first `acknowledged` records were
    /// processed for good.
    pub fn batch(&self, acknowledged: usize) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        self.records
            .fetch_add(acknowledged as u64, Ordering::Relaxed);
    }

    /// A saga's outcome event was seen.
    pub fn saga_ended(&self, order_id: &str, completed: bool) {
        if let Ok(mut ended) = self.ended.lock() {
            ended.insert(order_id.to_owned(), completed);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let (completed, failed) = self
            .ended
            .lock()
            .map(|ended| {
                let completed = ended.values().filter(|c| **c).count();
                (completed, ended.len() - completed)
            })
            .unwrap_or_default();
        Snapshot {
            invocations: self.invocations.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            completed,
            failed,
        }
    }
}

impl Snapshot {
    /// The line shown for `orders` orders placed, `elapsed` into the run.
    pub fn line(&self, orders: usize, elapsed: Duration) -> String {
        let open = orders.saturating_sub(self.completed + self.failed);
        format!(
            "  {:>5.1} s | {:>5} records in {:>4} invocations | sagas: {:>3} completed, {:>3} failed, {:>3} open",
            elapsed.as_secs_f64(),
            self.records,
            self.invocations,
            self.completed,
            self.failed,
            open
        )
    }
}

/// The task printing the line.
pub struct Printer {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Printer {
    /// Starts printing `progress` every `every` until [`Printer::finish`].
    pub fn start(
        progress: Arc<Progress>,
        orders: usize,
        output: ProgressOutput,
        every: Duration,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = (output != ProgressOutput::Off).then(|| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                ticks.tick().await;
                loop {
                    let last = tokio::select! {
                        _ = ticks.tick() => false,
                        _ = stopped.changed() => true,
                    };
                    let line = progress.snapshot().line(orders, started.elapsed());
                    let mut out = std::io::stdout().lock();
                    // A closed stdout must not stop the demo.
                    let _ = match (output, last) {
                        (ProgressOutput::Terminal, false) => write!(out, "\r{line}"),
                        (ProgressOutput::Terminal, true) => writeln!(out, "\r{line}"),
                        _ => writeln!(out, "{line}"),
                    };
                    let _ = out.flush();
                    if last {
                        break;
                    }
                }
            })
        });
        Self { stop, task }
    }

    /// Prints the final line and stops.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_invocations_and_each_saga_once() {
        let progress = Progress::default();
        progress.batch(10);
        progress.batch(0);
        progress.saga_ended("ord-1", true);
        progress.saga_ended("ord-1", true);
        progress.saga_ended("ord-2", false);
        let snapshot = progress.snapshot();
        assert_eq!(
            snapshot,
            Snapshot {
                invocations: 2,
                records: 10,
                completed: 1,
                failed: 1
            }
        );
        let line = snapshot.line(5, Duration::from_millis(2500));
        assert!(line.contains("2.5 s"), "{line}");
        assert!(line.contains("10 records in    2 invocations"), "{line}");
        assert!(line.contains("1 completed,   1 failed,   3 open"), "{line}");
        assert!(!line.contains('\n'));
    }
}
