//! Best-of-N wall-clock timing for the quick comparison tables.
//!
//! Each sample runs the closure enough times to take about [`Timer::batch`]; the fastest
//! sample is kept (the least disturbed by other load on a shared machine). Use ratios taken in
//! one run, not absolute figures, when the machine is noisy.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Timing parameters.
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    /// Target duration of one sample.
    pub batch: Duration,
    /// Number of samples; the best is kept.
    pub samples: u32,
}

impl Default for Timer {
    fn default() -> Self {
        Timer {
            batch: Duration::from_micros(1000),
            samples: 120,
        }
    }
}

impl Timer {
    /// Best time per call of `f`, in nanoseconds.
    pub fn ns_per_call<R>(&self, mut f: impl FnMut() -> R) -> f64 {
        // Calibrate: double the iteration count until one batch takes long enough.
        let mut iters: u64 = 1;
        loop {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            if t.elapsed() >= self.batch / 4 || iters >= 1 << 30 {
                break;
            }
            iters *= 2;
        }
        iters *= 4;
        let mut best = f64::INFINITY;
        for _ in 0..self.samples {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
        }
        best
    }

    /// Best throughput of `f` over `bytes` bytes per call, in GB/s (10^9 bytes per second).
    pub fn gbps<R>(&self, bytes: usize, f: impl FnMut() -> R) -> f64 {
        bytes as f64 / self.ns_per_call(f)
    }
}
