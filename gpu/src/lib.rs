//! Arrays and kernels on an NVIDIA GPU, as easy as CuPy's, built on
//! [cudarc](https://docs.rs/cudarc).
//!
//! **The CUDA model in a paragraph.** A GPU runs one function, a *kernel*,
//! on thousands of threads at once. The threads come in *blocks* (up to 1024
//! threads, which can share fast *shared memory* and wait for each other),
//! and the blocks form a *grid*. Each thread finds its piece of the work from
//! its block's index and its own (`blockIdx.x * blockDim.x + threadIdx.x`).
//! Data lives in the GPU's *global memory*, large but far; each thread also
//! has its own *registers*, the fastest memory of all. The computer (the
//! *host*) copies data to the GPU (the *device*) and back, and queues work on
//! *streams*: GPU calls return before the work is done, so wait for it
//! ([`gpu_synchronize`]) before reading a clock, or time with
//! [`gpu_timeit`].
//!
//! What this module gives:
//!
//! - [`gpu_available`] and [`gpu_info`]: is there a GPU, and what is it;
//! - [`GpuArray`]: a vector or matrix of `f32`/`f64` on the GPU, made from
//!   slices and ndarray arrays or filled by cuRAND, with element-wise
//!   arithmetic and maps, reductions (`sum`, `max`, `dot`) and the matrix
//!   product of cuBLAS;
//! - [`ElementwiseKernel`] and [`RawKernel`]: your own kernels in CUDA C,
//!   compiled once at run time by NVRTC (as CuPy's kernels of those names);
//! - [`GpuStream`] and [`gpu_synchronize`]: queues of work and waiting for
//!   them; [`gpu_timeit`]: timings by CUDA events.
//!
//! CUDA is loaded when first needed, so this builds and runs on machines
//! without it: there [`gpu_available`] is false and every call returns a
//! [`GpuError`] that says so — nothing panics. A notebook tests
//! `gpu_available()` to skip its GPU cells.
//!
//! **Why a crate of its own.** cudarc is large, and every crate in a
//! session's dependencies is read by rust-analyzer before the session's first
//! cell. So the kernel adds this crate, and `use rustpar_gpu::prelude::*`, the
//! first time a cell names one of its items (`GpuArray`, `gpu_available`, …;
//! the list is in the prelude's Cargo.toml): a notebook needs no `:dep` line,
//! and sessions without a GPU cell never pay for it.
//!
//! ```
//! use rustpar::prelude::*;
//! use rustpar_gpu::prelude::*;
//! # fn main() -> Result<(), GpuError> {
//! if gpu_available() {
//!     let x = GpuArray::<f32>::random(1_000_000, 7)?;   // made on the GPU
//!     let y = (&(&x * 2.0)? + &x)?;                       // 3x, element-wise
//!     let ratio = y.sum()? / x.sum()?;                    // back as one number
//!     assert!((ratio - 3.0).abs() < 1e-3);
//! } else {
//!     println!("{}", gpu_info().unwrap_err());             // says why not
//! }
//! # Ok(()) }
//! ```

mod array;
mod device;
mod error;
mod kernel;
mod timing;

pub use array::{GpuArray, GpuFloat, GpuShape};
pub use device::{GpuInfo, GpuStream, gpu_available, gpu_info, gpu_synchronize};
pub use error::GpuError;
pub use kernel::{Dims, ElementwiseKernel, Launch, LaunchArg, RawKernel};
pub use timing::gpu_timeit;

#[cfg(test)]
mod tests;

/// What the kernel brings into scope with this crate: the names that a cell
/// can use without a path.
pub mod prelude {
    pub use crate::{ElementwiseKernel, GpuArray, GpuError, GpuInfo, GpuStream, RawKernel, gpu_available, gpu_info, gpu_synchronize, gpu_timeit};
}
