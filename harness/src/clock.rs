//! The one clock every measured time is read from: the generation loops (ONNX Runtime's dynamic
//! and static loops, candle's) for TTFT, the encoder and each step, a session's load, a cell's
//! wall time. A monotonic reading in nanoseconds since a mark, the same for every backend;
//! [`crate::generation::Steps`] turns a loop's readings into a generation's record, and
//! [`crate::bench`] the records into metrics.

use std::time::Instant;

/// A started clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    /// Starts a clock now.
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    /// Nanoseconds since the clock started.
    pub fn ns(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }

    /// Seconds since the clock started (a cell's time budget).
    pub fn secs(self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}
