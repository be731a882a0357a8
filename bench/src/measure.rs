//! Timing: repeated runs, medians, and the benchmark thread's own CPU time.
//!
//! The machine is shared, so besides wall-clock time every sample records the CPU time the
//! benchmark thread itself used (`/proc/thread-self/schedstat`, nanoseconds on CPU). Rates are
//! computed from CPU time: time the thread spent preempted by someone else's build does not count
//! against the code. The wall / CPU ratio is reported so contention stays visible. schedstat is
//! updated at scheduler ticks (4 ms here), so each sample loops the work for at least
//! [`Plan::sample_secs`] to keep that error under a few percent.

use std::hint::black_box;
use std::time::Instant;

/// Nanoseconds this thread has been on a CPU.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Samples per measurement (the median is reported).
    pub samples: usize,
    /// Minimum duration of one sample (the work is repeated inside it).
    pub sample_secs: f64,
}

impl Plan {
    /// The default: 7 samples of ≥ 0.1 s.
    pub const DEFAULT: Plan = Plan {
        samples: 7,
        sample_secs: 0.1,
    };
    /// For smoke tests: 3 samples of ≥ 0.02 s.
    pub const QUICK: Plan = Plan {
        samples: 3,
        sample_secs: 0.02,
    };
}

/// The result of one measurement: per-iteration seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Median CPU seconds per iteration.
    pub cpu: f64,
    /// Median wall seconds per iteration.
    pub wall: f64,
    /// Samples taken.
    pub samples: usize,
    /// Iterations per sample.
    pub iters: usize,
}

impl Timing {
    /// Wall / CPU: 1.0 on a quiet machine.
    pub fn contention(&self) -> f64 {
        if self.cpu > 0.0 {
            self.wall / self.cpu
        } else {
            0.0
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median of a list (0 for none).
pub fn median_of(v: &[f64]) -> f64 {
    median(v.to_vec())
}

/// Percentile (0–100) by nearest rank.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// Measures `f` (one iteration per call) per the plan, after one warm-up call.
pub fn run<T, F: FnMut() -> T>(plan: Plan, mut f: F) -> Timing {
    let t0 = Instant::now();
    black_box(f());
    let first = t0.elapsed().as_secs_f64().max(1e-7);
    let iters = ((plan.sample_secs / first).ceil() as usize).clamp(1, 100_000);
    let mut cpu = Vec::with_capacity(plan.samples);
    let mut wall = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let c0 = thread_cpu_ns();
        let w0 = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let w = w0.elapsed().as_secs_f64();
        let c = thread_cpu_ns().saturating_sub(c0) as f64 / 1e9;
        wall.push(w / iters as f64);
        // A sample too short for the tick-granular counter falls back to wall time.
        cpu.push(if c > 0.0 { c / iters as f64 } else { w / iters as f64 });
    }
    Timing {
        cpu: median(cpu),
        wall: median(wall),
        samples: plan.samples,
        iters,
    }
}
