//! [`gpu_timeit`]: timing GPU work with CUDA events, on the GPU's own clock.

use super::device::{current_stream, gpu};
use super::error::GpuError;
use cudarc::driver::sys::CUevent_flags;
use rustpar::timing::{Timing, runs_after_warm_up};
use std::time::Duration;

/// Times GPU work as [`timeit`](rustpar::timing::timeit) times CPU work: one
/// warm-up run, then as many runs as fit in about half a second, shown as a
/// table. Each run is measured by two CUDA events recorded on the current
/// stream before and after `work`, and waits for the second: the time is
/// that of the GPU doing the work, not of the CPU queueing it.
///
/// `work` returns a `Result`; the first error stops the timing.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// if gpu_available() {
///     let a = GpuArray::<f32>::random((1024, 1024), 1)?;
///     let t = gpu_timeit("1024² matmul", || a.matmul(&a))?;
///     println!("{:.1} GFLOP/s", 2.0 * 1024f64.powi(3) / t.secs() / 1e9);
/// } else {
///     assert!(gpu_timeit("nothing", || Ok(())).is_err());
/// }
/// # Ok(()) }
/// ```
pub fn gpu_timeit<R>(name: &str, work: impl Fn() -> Result<R, GpuError>) -> Result<Timing, GpuError> {
    let context = &gpu()?.context;
    let stream = current_stream()?;
    let event = || context.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(GpuError::driver("create a CUDA event"));
    let (start, end) = (event()?, event()?);
    let time_once = || -> Result<Duration, GpuError> {
        rustpar::cancel::check_interrupt();
        start.record(&stream.cuda).map_err(GpuError::driver("record a CUDA event"))?;
        work()?;
        end.record(&stream.cuda).map_err(GpuError::driver("record a CUDA event"))?;
        end.synchronize().map_err(GpuError::driver("wait for the timed work"))?;
        let ms = start.elapsed_ms(&end).map_err(GpuError::driver("read the CUDA events"))?;
        Ok(Duration::from_secs_f64(f64::from(ms) / 1e3))
    };
    let runs = runs_after_warm_up(time_once()?);
    let timing = Timing::from_times(name, (0..runs).map(|_| time_once()).collect::<Result<_, _>>()?);
    timing.show();
    Ok(timing)
}
