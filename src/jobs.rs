//! Background jobs: named tasks (import, embed, pre-label, train, export) that report progress
//! and can be cancelled. The same [`JobCtx`] drives a CLI progress bar (indicatif) or wakes the
//! GUI (a repaint callback); the work itself never knows which.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Returned by work that stopped because it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Shared state of one job.
#[derive(Debug)]
pub struct JobState {
    pub name: String,
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
    finished: AtomicBool,
    message: Mutex<String>,
    started: Instant,
}

/// A copy of a job's progress, for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub done: u64,
    pub total: u64,
    pub message: String,
    pub elapsed: Duration,
    pub finished: bool,
    pub cancel_requested: bool,
}

impl Snapshot {
    /// Fraction done (0..1); 0 when the total is unknown.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f32 / self.total as f32).min(1.0)
        }
    }
    /// Items per second so far.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.done as f64 / s
        } else {
            0.0
        }
    }
    /// Estimated time left, when it can be told.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (rate > 0.0 && self.total >= self.done)
            .then(|| Duration::from_secs_f64((self.total - self.done) as f64 / rate))
    }
}

type Observer = Arc<dyn Fn(&JobState) + Send + Sync>;

/// What a job's work sees: report progress, check for cancellation.
#[derive(Clone)]
pub struct JobCtx {
    state: Arc<JobState>,
    observer: Option<Observer>,
    /// The job this one is a step of ([`JobCtx::step`]): cancelling it cancels this one.
    parent: Option<Arc<JobState>>,
}

impl std::fmt::Debug for JobCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCtx")
            .field("state", &self.state)
            .finish()
    }
}

impl JobCtx {
    /// A context with no observer (tests, nested work).
    pub fn new(name: impl Into<String>) -> JobCtx {
        JobCtx {
            state: Arc::new(JobState {
                name: name.into(),
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                cancel: AtomicBool::new(false),
                finished: AtomicBool::new(false),
                message: Mutex::new(String::new()),
                started: Instant::now(),
            }),
            observer: None,
            parent: None,
        }
    }

    /// A step of this job with its own progress (e.g. one fold of a cross-validation whose
    /// solver sets its own totals), cancelled with this job.
    pub fn step(&self, name: impl Into<String>) -> JobCtx {
        JobCtx {
            parent: Some(self.state.clone()),
            ..JobCtx::new(name)
        }
    }

    /// Call `f` on every progress change (e.g. `ctx.request_repaint()`).
    pub fn with_observer(mut self, f: impl Fn(&JobState) + Send + Sync + 'static) -> JobCtx {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Drive an indicatif progress bar on stderr (CLI), with rate and ETA. Hidden when stderr
    /// is not a terminal.
    pub fn with_cli_bar(self) -> JobCtx {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta}) {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(self.state.name.clone());
        self.with_observer(move |s| {
            bar.set_length(s.total.load(Ordering::Relaxed));
            bar.set_position(s.done.load(Ordering::Relaxed));
            if let Ok(m) = s.message.lock() {
                bar.set_message(m.clone());
            }
            if s.finished.load(Ordering::Relaxed) {
                bar.finish();
            }
        })
    }

    fn notify(&self) {
        if let Some(o) = &self.observer {
            o(&self.state);
        }
    }

    pub fn set_total(&self, total: u64) {
        self.state.total.store(total, Ordering::Relaxed);
        self.notify();
    }
    pub fn set_done(&self, done: u64) {
        self.state.done.store(done, Ordering::Relaxed);
        self.notify();
    }
    pub fn inc(&self, n: u64) {
        self.state.done.fetch_add(n, Ordering::Relaxed);
        self.notify();
    }
    pub fn set_message(&self, m: impl Into<String>) {
        if let Ok(mut g) = self.state.message.lock() {
            *g = m.into();
        }
        self.notify();
    }
    /// Ask the job to stop; it does so at its next check.
    pub fn cancel(&self) {
        self.state.cancel.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.state.cancel.load(Ordering::Relaxed)
            || self
                .parent
                .as_ref()
                .is_some_and(|p| p.cancel.load(Ordering::Relaxed))
    }
    /// `Err(Cancelled)` once cancellation was requested.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
    pub fn finish(&self) {
        self.state.finished.store(true, Ordering::Relaxed);
        self.notify();
    }
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.state;
        Snapshot {
            name: s.name.clone(),
            done: s.done.load(Ordering::Relaxed),
            total: s.total.load(Ordering::Relaxed),
            message: s.message.lock().map(|m| m.clone()).unwrap_or_default(),
            elapsed: s.started.elapsed(),
            finished: s.finished.load(Ordering::Relaxed),
            cancel_requested: s.cancel.load(Ordering::Relaxed),
        }
    }
}

/// A job running on its own named thread.
pub struct Job<T> {
    pub ctx: JobCtx,
    handle: Option<JoinHandle<anyhow::Result<T>>>,
}

impl<T: Send + 'static> Job<T> {
    /// Start `work` on a thread named after the job.
    pub fn spawn(
        ctx: JobCtx,
        work: impl FnOnce(&JobCtx) -> anyhow::Result<T> + Send + 'static,
    ) -> Job<T> {
        let c = ctx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("job:{}", ctx.state.name))
            .spawn(move || {
                let out = work(&c);
                c.finish();
                out
            })
            .expect("spawning a thread");
        Job {
            ctx,
            handle: Some(handle),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.handle
            .as_ref()
            .map(|h| h.is_finished())
            .unwrap_or(true)
    }

    /// Take the result once finished (None while running or after it was taken).
    pub fn try_take(&mut self) -> Option<anyhow::Result<T>> {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let h = self.handle.take()?;
            Some(
                h.join().unwrap_or_else(|_| {
                    Err(anyhow::anyhow!("job {} panicked", self.ctx.state.name))
                }),
            )
        } else {
            None
        }
    }

    /// Wait for the result.
    pub fn join(mut self) -> anyhow::Result<T> {
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("job {} panicked", self.ctx.state.name))),
            None => Err(anyhow::anyhow!("job result already taken")),
        }
    }
}

/// True when `err`'s chain contains [`Cancelled`].
pub fn is_cancelled_error(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Cancelled>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_stops_a_running_job_and_progress_is_visible() {
        let job = Job::spawn(JobCtx::new("count"), |ctx| {
            ctx.set_total(1_000_000);
            for _ in 0..1_000_000u64 {
                ctx.check()?;
                ctx.inc(1);
                std::thread::sleep(Duration::from_micros(10));
            }
            Ok(())
        });
        while job.ctx.snapshot().done < 10 {
            std::thread::sleep(Duration::from_millis(1));
        }
        job.ctx.cancel();
        let err = job.join().unwrap_err();
        assert!(is_cancelled_error(&err));
    }
}
