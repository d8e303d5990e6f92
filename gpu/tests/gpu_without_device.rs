//! Without a GPU — no CUDA driver at all, or one with no visible device —
//! every GPU call returns a `GpuError` that says so, and nothing panics.
//!
//! The test hides any GPU with `CUDA_VISIBLE_DEVICES=""` before CUDA starts,
//! so it checks this path on every machine. It is the only test of this
//! binary: CUDA reads the variable once per process.

use rustpar::prelude::*;
use rustpar_gpu::prelude::*;
use rustpar_gpu::{Dims, GpuShape};

#[test]
fn every_gpu_call_says_there_is_no_gpu() {
    // SAFETY: no other thread of this test binary reads the environment.
    unsafe { std::env::set_var("CUDA_VISIBLE_DEVICES", "") };
    assert!(!gpu_available());

    let reason = gpu_info().expect_err("there is no GPU to describe");
    let text = reason.to_string();
    assert!(text.starts_with("GpuError: "), "{text}");
    assert!(text.contains("No CUDA driver was found") || text.contains("found no GPU device"), "the error says which is missing: {text}");
    assert!(text.contains("gpu_available()"), "the error says how to skip GPU code: {text}");
    assert_eq!(format!("{reason:?}"), text, "unwrap() shows the same sentence");

    let same_reason = |error: GpuError| assert_eq!(error, reason);
    same_reason(GpuArray::<f32>::from_slice(&[1.0, 2.0]).unwrap_err());
    same_reason(GpuArray::from_array(&array![[1.0f64, 2.0]]).unwrap_err());
    same_reason(GpuArray::<f32>::zeros((2, 2)).unwrap_err());
    same_reason(GpuArray::full(3, 1.0f64).unwrap_err());
    same_reason(GpuArray::<f32>::random(10, 1).unwrap_err());
    same_reason(GpuStream::new().err().expect("no stream without a GPU"));
    same_reason(gpu_synchronize().unwrap_err());
    same_reason(gpu_timeit("nothing", || Ok(())).unwrap_err());
    same_reason(RawKernel::new(r#"extern "C" __global__ void k() {}"#, "k").err().expect("no kernel without a GPU"));

    // What needs no GPU still works.
    let saxpy = ElementwiseKernel::new(&["x", "y"], &["a"], "a * x + y");
    assert!(saxpy.source::<f32>().contains("rustpar_out[rustpar_i] = (a * x + y);"));
    assert_eq!(Dims::from((16, 16)).count(), 256);
    assert_eq!((3, 4).dims(), vec![3, 4]);
}
