//! Correctness on a real GPU, against ndarray on the CPU, with fresh random
//! inputs each run (the seed is printed). Without a GPU each test says so
//! and passes; `tests/gpu_without_device.rs` tests that path.

use super::*;
use ndarray::{Array1, Array2};
use rustpar::array::SeededRng;

/// The GPU, or `None` after printing why these tests skip.
fn gpu_or_skip(test: &str) -> Option<GpuInfo> {
    match gpu_info() {
        Ok(info) => Some(info),
        Err(error) => {
            println!("skipping {test}: no GPU here ({error})");
            None
        }
    }
}

fn fresh_seed() -> u64 {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970").as_nanos() as u64;
    println!("random seed: {seed}");
    seed
}

/// Random values in [0.5, 1.5): never zero, so relative errors mean something.
fn random_matrix<T: GpuFloat + From<f32>>(rng: &mut SeededRng, rows: usize, columns: usize) -> Array2<T> {
    Array2::from_shape_simple_fn((rows, columns), || T::from(rng.uniform(0.5, 1.5) as f32))
}

fn relative_error(gpu: &[f64], cpu: &[f64]) -> f64 {
    let difference: f64 = gpu.iter().zip(cpu).map(|(g, c)| (g - c).powi(2)).sum::<f64>().sqrt();
    let size: f64 = cpu.iter().map(|c| c * c).sum::<f64>().sqrt();
    difference / size
}

/// Every operation of `GpuArray<T>` against ndarray, within `tolerance`.
fn check_against_ndarray<T: GpuFloat + From<f32> + Into<f64>>(tolerance: f64) -> Result<(), GpuError> {
    let mut rng = SeededRng::new(fresh_seed());
    let (m, k, n) = (67, 45, 93);
    let a: Array2<T> = random_matrix(&mut rng, m, k);
    let b: Array2<T> = random_matrix(&mut rng, k, n);
    let c: Array2<T> = random_matrix(&mut rng, m, k);
    let to_f64 = |array: &Array2<T>| array.iter().map(|&x| x.into()).collect::<Vec<f64>>();
    let (a64, b64, c64) = (to_f64(&a), to_f64(&b), to_f64(&c));
    let (ga, gb, gc) = (GpuArray::from_array(&a)?, GpuArray::from_array(&b)?, GpuArray::from_array(&c)?);
    let back = |array: &GpuArray<T>| -> Result<Vec<f64>, GpuError> { Ok(array.to_vec()?.into_iter().map(Into::into).collect()) };
    let check = |what: &str, gpu: Vec<f64>, cpu: Vec<f64>| {
        let error = relative_error(&gpu, &cpu);
        assert!(error <= tolerance, "{what}: relative error {error:e} above {tolerance:e}");
    };

    assert_eq!(back(&ga)?, a64, "a round trip changes nothing");
    let zip = |f: fn(f64, f64) -> f64| a64.iter().zip(&c64).map(|(&x, &y)| f(x, y)).collect::<Vec<f64>>();
    check("a + c", back(&(&ga + &gc)?)?, zip(|x, y| x + y));
    check("a - c", back(&(&ga - &gc)?)?, zip(|x, y| x - y));
    check("a * c", back(&(&ga * &gc)?)?, zip(|x, y| x * y));
    check("a / c", back(&(&ga / &gc)?)?, zip(|x, y| x / y));
    let three = T::from(3.0);
    check("a * 3", back(&(&ga * three)?)?, a64.iter().map(|x| x * 3.0).collect());
    check("a + 3", back(&(&ga + three)?)?, a64.iter().map(|x| x + 3.0).collect());
    let map = |f: fn(f64) -> f64| a64.iter().map(|&x| f(x)).collect::<Vec<f64>>();
    check("sqrt", back(&ga.sqrt()?)?, map(f64::sqrt));
    check("exp", back(&ga.exp()?)?, map(f64::exp));
    check("log", back(&ga.log()?)?, map(f64::ln));
    check("sin", back(&ga.sin()?)?, map(f64::sin));
    check("cos", back(&ga.cos()?)?, map(f64::cos));
    check("tanh", back(&ga.tanh()?)?, map(f64::tanh));
    check("abs", back(&(&ga * T::from(-1.0))?.abs()?)?, a64.clone());
    check("map", back(&ga.map("x * x + 1")?)?, map(|x| x * x + 1.0));
    let saxpy = ElementwiseKernel::new(&["x", "y"], &["a"], "a * x + y");
    check("saxpy", back(&saxpy.run(&[&ga, &gc], &[three])?)?, zip(|x, y| 3.0 * x + y));

    check("sum", vec![ga.sum()?.into()], vec![a64.iter().sum()]);
    check("max", vec![ga.max()?.into()], vec![a64.iter().copied().fold(f64::MIN, f64::max)]);
    check("dot", vec![ga.dot(&gc)?.into()], vec![a64.iter().zip(&c64).map(|(x, y)| x * y).sum()]);
    let a_f64 = Array2::from_shape_vec((m, k), a64).expect("m × k values");
    let b_f64 = Array2::from_shape_vec((k, n), b64).expect("k × n values");
    let product: Array2<T> = ga.matmul(&gb)?.to_array()?;
    check("matmul", to_f64(&product), a_f64.dot(&b_f64).into_raw_vec_and_offset().0);

    let long = GpuArray::<T>::random(3_000_001, rng.next_u64())?;
    let values: Vec<f64> = back(&long)?;
    assert!(values.iter().all(|&x| x > 0.0 && x <= 1.0), "uniform values lie in (0, 1]");
    check("sum of many", vec![long.sum()?.into()], vec![values.iter().sum()]);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!((mean - 0.5).abs() < 0.01, "uniform values have mean 0.5, got {mean}");
    Ok(())
}

#[test]
fn f32_operations_match_ndarray() -> Result<(), GpuError> {
    if gpu_or_skip("f32_operations_match_ndarray").is_some() {
        check_against_ndarray::<f32>(1e-5)?;
    }
    Ok(())
}

#[test]
fn f64_operations_match_ndarray() -> Result<(), GpuError> {
    if gpu_or_skip("f64_operations_match_ndarray").is_some() {
        check_against_ndarray::<f64>(1e-12)?;
    }
    Ok(())
}

#[test]
fn raw_kernels_see_their_grid_and_shared_memory() -> Result<(), GpuError> {
    if gpu_or_skip("raw_kernels_see_their_grid_and_shared_memory").is_none() {
        return Ok(());
    }
    let source = r#"
        extern "C" __global__ void block_sums(const float* x, float* sums, int n) {
            extern __shared__ float cache[];
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            cache[threadIdx.x] = i < n ? x[i] : 0.0f;
            __syncthreads();
            if (threadIdx.x == 0) {
                float total = 0.0f;
                for (int t = 0; t < blockDim.x; t++) total += cache[t];
                sums[blockIdx.x] = total;
            }
        }"#;
    let mut rng = SeededRng::new(fresh_seed());
    let x: Vec<f32> = (0..1000).map(|_| rng.uniform(0.5, 1.5) as f32).collect();
    let (blocks, threads) = (8, 128);
    let gx = GpuArray::from_slice(&x)?;
    let mut sums = GpuArray::<f32>::zeros(blocks)?;
    RawKernel::new(source, "block_sums")?.launch(blocks, threads).shared_memory(128 * 4).arg(&gx).arg(&mut sums).arg(1000).run()?;
    let expected: Vec<f64> = x.chunks(threads).map(|chunk| chunk.iter().map(|&v| f64::from(v)).sum()).collect();
    let got: Vec<f64> = sums.to_vec()?.into_iter().map(f64::from).collect();
    assert!(relative_error(&got, &expected) < 1e-5, "{got:?} vs {expected:?}");
    Ok(())
}

#[test]
fn streams_timings_and_errors_behave() -> Result<(), GpuError> {
    if gpu_or_skip("streams_timings_and_errors_behave").is_none() {
        return Ok(());
    }
    let stream = GpuStream::new()?;
    let x = stream.run(|| GpuArray::<f64>::random((300, 200), 5))?;
    let y = stream.run(|| x.matmul(&x.map("x").and_then(|t| t.reshape((200, 300)))?))?;
    stream.synchronize()?;
    assert_eq!(y.shape(), &[300, 300]);
    let timing = gpu_timeit("matmul", || x.matmul(&x.map("2 * x")?.reshape((200, 300))?))?;
    assert!(timing.runs >= 1 && timing.median > std::time::Duration::ZERO);

    let v = GpuArray::from_array(&Array1::from_vec(vec![1.0f32, 2.0]))?;
    let message = |error: GpuError| error.message().to_owned();
    assert!(message(v.matmul(&v).unwrap_err()).contains("two matrices"));
    assert!(message((&v + &GpuArray::<f32>::zeros(3)?).unwrap_err()).contains("one shape"));
    assert!(message(RawKernel::new("this is not CUDA", "k").err().expect("it does not compile")).contains("did not compile"));
    let kernel = RawKernel::new(r#"extern "C" __global__ void k() {}"#, "k");
    assert!(kernel.is_ok());
    assert!(message(RawKernel::new(r#"extern "C" __global__ void k() {}"#, "other").err().expect("no such kernel")).contains("no kernel named"));
    assert!(message(GpuArray::<f32>::from_slice(&[])?.max().unwrap_err()).contains("empty"));
    Ok(())
}
