//! The GPU figures of rustpar's `GpuArray`: 4096×4096 sgemm in TFLOP/s and
//! host↔device copies in GB/s, as one JSON line (after a readable summary).
//!
//! `python bench/gpu/compare_cupy.py` runs this and CuPy's equivalents on
//! the same machine and prints both. Alone:
//! `cargo run --release --example gpu_bench -p rustpar-gpu`.
//!
//! Both sides are measured alike: wall-clock time between two device
//! synchronisations, median of several repetitions, after a warm-up.

use rustpar::array::SeededRng;
use rustpar_gpu::prelude::*;
use std::time::Instant;

const N: usize = 4096;
const MATMULS_PER_REPETITION: usize = 10;
const REPETITIONS: usize = 5;
const COPY_BYTES: usize = 256 << 20;

/// The median wall-clock seconds of `work`, each run ended by a device
/// synchronisation.
fn median_seconds(mut work: impl FnMut() -> Result<(), GpuError>) -> Result<f64, GpuError> {
    work()?;
    gpu_synchronize()?;
    let mut times = Vec::new();
    for _ in 0..REPETITIONS {
        gpu_synchronize()?;
        let start = Instant::now();
        work()?;
        gpu_synchronize()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[REPETITIONS / 2])
}

fn main() -> Result<(), GpuError> {
    let info = gpu_info()?;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |t| t.as_nanos() as u64);
    let a = GpuArray::<f32>::random((N, N), seed)?;
    let b = GpuArray::<f32>::random((N, N), seed + 1)?;

    // Correctness first: sampled entries of the product against the CPU, in f64.
    let (a_host, b_host, c_host) = (a.to_vec()?, b.to_vec()?, a.matmul(&b)?.to_vec()?);
    let mut rng = SeededRng::new(seed);
    let worst = (0..64)
        .map(|_| {
            let (i, j) = (rng.below(N as u64) as usize, rng.below(N as u64) as usize);
            let exact: f64 = (0..N).map(|k| f64::from(a_host[i * N + k]) * f64::from(b_host[k * N + j])).sum();
            (f64::from(c_host[i * N + j]) - exact).abs() / exact.abs()
        })
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "sgemm disagrees with the CPU: relative error {worst:e}");

    let seconds = median_seconds(|| {
        for _ in 0..MATMULS_PER_REPETITION {
            a.matmul(&b)?;
        }
        Ok(())
    })? / MATMULS_PER_REPETITION as f64;
    let sgemm_tflops = 2.0 * (N as f64).powi(3) / seconds / 1e12;

    let host: Vec<f32> = (0..COPY_BYTES / 4).map(|i| (i % 1000) as f32 + 0.5).collect();
    let h2d_gbps = COPY_BYTES as f64 / median_seconds(|| GpuArray::from_slice(&host).map(drop))? / 1e9;
    let device = GpuArray::from_slice(&host)?;
    let d2h_gbps = COPY_BYTES as f64 / median_seconds(|| device.to_vec().map(drop))? / 1e9;

    println!("GPU: {info}");
    println!("sgemm {N}x{N}: {sgemm_tflops:.2} TFLOP/s (sampled relative error {worst:.1e})");
    println!("host -> device: {h2d_gbps:.2} GB/s, device -> host: {d2h_gbps:.2} GB/s ({} MiB, pageable memory)", COPY_BYTES >> 20);
    println!(
        "{{\"gpu\": {:?}, \"sgemm_tflops\": {sgemm_tflops}, \"h2d_gbps\": {h2d_gbps}, \"d2h_gbps\": {d2h_gbps}, \"sgemm_max_relative_error\": {worst}}}",
        info.name
    );
    Ok(())
}
