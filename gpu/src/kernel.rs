//! Kernels: CUDA C source compiled at run time by NVRTC (once per source,
//! then cached), launched on a grid of blocks of threads.
//!
//! - [`RawKernel`]: a whole `__global__` function of your own, launched with
//!   the grid and block sizes you choose;
//! - [`ElementwiseKernel`]: only the expression computed for each element;
//!   the loop over elements is written for you. The arithmetic and maps of
//!   [`GpuArray`] are element-wise kernels too.

use super::array::{GpuArray, GpuFloat};
use super::device::{Library, current_stream};
use super::error::GpuError;
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};

/// Threads per block of the kernels the prelude writes itself.
const THREADS_PER_BLOCK: usize = 256;
/// The most blocks an element-wise kernel starts: each thread then handles
/// several elements (a grid-stride loop).
const MAX_BLOCKS: usize = 65_535;

/// The kernel `name` compiled from `source`, from the cache when this source
/// was compiled before.
fn compiled(source: &str, name: &str) -> Result<CudaFunction, GpuError> {
    let gpu = Library::Nvrtc.require()?;
    let key = format!("{name}\n{source}");
    let mut kernels = gpu.kernels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(function) = kernels.get(&key) {
        return Ok(function.clone());
    }
    let ptx = cudarc::nvrtc::compile_ptx(source).map_err(|error| match error {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => {
            GpuError::new(format!("The CUDA source did not compile; fix the lines NVRTC points at:\n{}", log.to_string_lossy().trim_end()))
        }
        other => GpuError::library("compile the CUDA source")(other),
    })?;
    let module = gpu.context.load_module(ptx).map_err(GpuError::driver("load the compiled kernel"))?;
    let function = module.load_function(name).map_err(|_| {
        GpuError::new(format!(
            "The CUDA source has no kernel named `{name}`. Declare it as `extern \"C\" __global__ void {name}(...)` \
             (extern \"C\" keeps its name as written)."
        ))
    })?;
    kernels.insert(key, function.clone());
    Ok(function)
}

/// Sizes of a grid (in blocks) or of a block (in threads), in up to three
/// dimensions: `256`, `(16, 16)` or `(8, 8, 4)`.
///
/// ```
/// use rustpar_gpu::Dims;
/// let block: Dims = (16, 16).into();
/// assert_eq!(block.count(), 256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Sizes along x, y and z.
    pub sizes: (usize, usize, usize),
}

impl Dims {
    /// How many blocks or threads in all.
    ///
    /// ```
    /// assert_eq!(rustpar_gpu::Dims::from(10).count(), 10);
    /// ```
    pub fn count(&self) -> usize {
        self.sizes.0 * self.sizes.1 * self.sizes.2
    }

    fn to_cuda(self, what: &str) -> Result<(u32, u32, u32), GpuError> {
        let fit = |size: usize| {
            u32::try_from(size)
                .ok()
                .filter(|&size| size > 0)
                .ok_or_else(|| GpuError::new(format!("The {what} sizes {:?} do not fit: each must be between 1 and 4294967295.", self.sizes)))
        };
        Ok((fit(self.sizes.0)?, fit(self.sizes.1)?, fit(self.sizes.2)?))
    }
}

impl From<usize> for Dims {
    fn from(x: usize) -> Dims {
        Dims { sizes: (x, 1, 1) }
    }
}

impl From<(usize, usize)> for Dims {
    fn from((x, y): (usize, usize)) -> Dims {
        Dims { sizes: (x, y, 1) }
    }
}

impl From<(usize, usize, usize)> for Dims {
    fn from(sizes: (usize, usize, usize)) -> Dims {
        Dims { sizes }
    }
}

/// One argument of a kernel launch: a GPU array (`&x` to read it, `&mut y`
/// to write it) or a number (`f32`, `f64`, `i32`, `u32`, `i64`, `u64`;
/// a `usize` becomes an `unsigned long long`). Made by
/// [`Launch::arg`] through `From`.
///
/// ```
/// use rustpar_gpu::LaunchArg;
/// let n: LaunchArg = 1000usize.into();
/// assert!(matches!(n, LaunchArg::U64(1000)));
/// ```
#[derive(Debug)]
pub enum LaunchArg<'a> {
    /// An `f32` array the kernel reads (`const float*`).
    F32Array(&'a CudaSlice<f32>),
    /// An `f32` array the kernel writes (`float*`).
    F32ArrayMut(&'a mut CudaSlice<f32>),
    /// An `f64` array the kernel reads (`const double*`).
    F64Array(&'a CudaSlice<f64>),
    /// An `f64` array the kernel writes (`double*`).
    F64ArrayMut(&'a mut CudaSlice<f64>),
    /// A `float`.
    F32(f32),
    /// A `double`.
    F64(f64),
    /// An `int`.
    I32(i32),
    /// An `unsigned int`.
    U32(u32),
    /// A `long long`.
    I64(i64),
    /// An `unsigned long long` (also `size_t` on 64-bit machines).
    U64(u64),
}

impl<'a, T: GpuFloat> From<&'a GpuArray<T>> for LaunchArg<'a> {
    fn from(array: &'a GpuArray<T>) -> LaunchArg<'a> {
        T::array_arg(&array.data)
    }
}

impl<'a, T: GpuFloat> From<&'a mut GpuArray<T>> for LaunchArg<'a> {
    fn from(array: &'a mut GpuArray<T>) -> LaunchArg<'a> {
        T::array_arg_mut(&mut array.data)
    }
}

macro_rules! number_arguments {
    ($($number:ty => $variant:ident),*) => {$(
        impl From<$number> for LaunchArg<'_> {
            fn from(value: $number) -> Self {
                LaunchArg::$variant(value as _)
            }
        }
    )*};
}
number_arguments!(f32 => F32, f64 => F64, i32 => I32, u32 => U32, i64 => I64, u64 => U64, usize => U64);

/// A kernel launch being prepared: add the arguments in the order of the
/// kernel's parameters, then [`run`](Launch::run) it. Made by
/// [`RawKernel::launch`].
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// if gpu_available() {
///     let fill = RawKernel::new(
///         r#"extern "C" __global__ void fill(float* out, float value, int n) {
///             int i = blockIdx.x * blockDim.x + threadIdx.x;
///             if (i < n) out[i] = value;
///         }"#,
///         "fill",
///     )?;
///     let mut out = GpuArray::<f32>::zeros(1000)?;
///     fill.launch(4, 256).arg(&mut out).arg(2.5f32).arg(1000).run()?;
///     assert_eq!(out.sum()?, 2500.0);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a launch does nothing until it is run"]
pub struct Launch<'a> {
    function: CudaFunction,
    grid: Dims,
    block: Dims,
    shared_memory_bytes: u32,
    args: Vec<LaunchArg<'a>>,
}

impl<'a> Launch<'a> {
    fn new(function: CudaFunction, grid: impl Into<Dims>, block: impl Into<Dims>) -> Launch<'a> {
        Launch { function, grid: grid.into(), block: block.into(), shared_memory_bytes: 0, args: Vec::new() }
    }

    /// Adds the next argument: `&array`, `&mut array` or a number.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(kernel) = RawKernel::new(r#"extern "C" __global__ void nothing(int n) {}"#, "nothing") {
    ///     kernel.launch(1, 32).arg(7).run().unwrap();
    /// }
    /// ```
    pub fn arg(mut self, arg: impl Into<LaunchArg<'a>>) -> Launch<'a> {
        self.args.push(arg.into());
        self
    }

    /// Gives each block `bytes` of dynamic shared memory, for a kernel that
    /// declares `extern __shared__ float buffer[];`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(kernel) = RawKernel::new(r#"extern "C" __global__ void nothing() {}"#, "nothing") {
    ///     kernel.launch(1, 32).shared_memory(32 * 4).run().unwrap();
    /// }
    /// ```
    pub fn shared_memory(mut self, bytes: u32) -> Launch<'a> {
        self.shared_memory_bytes = bytes;
        self
    }

    /// Queues the kernel on the current stream and returns at once (the
    /// GPU runs it later; reading a result, or synchronising, waits for it).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(kernel) = RawKernel::new(r#"extern "C" __global__ void nothing() {}"#, "nothing") {
    ///     kernel.launch(1, 1).run().unwrap();
    ///     gpu_synchronize().unwrap();
    /// }
    /// ```
    pub fn run(mut self) -> Result<(), GpuError> {
        let config = LaunchConfig {
            grid_dim: self.grid.to_cuda("grid")?,
            block_dim: self.block.to_cuda("block")?,
            shared_mem_bytes: self.shared_memory_bytes,
        };
        let stream = current_stream()?;
        let mut builder = stream.cuda.launch_builder(&self.function);
        for arg in &mut self.args {
            match arg {
                LaunchArg::F32Array(array) => builder.arg(*array),
                LaunchArg::F32ArrayMut(array) => builder.arg(&mut **array),
                LaunchArg::F64Array(array) => builder.arg(*array),
                LaunchArg::F64ArrayMut(array) => builder.arg(&mut **array),
                LaunchArg::F32(value) => builder.arg(&*value),
                LaunchArg::F64(value) => builder.arg(&*value),
                LaunchArg::I32(value) => builder.arg(&*value),
                LaunchArg::U32(value) => builder.arg(&*value),
                LaunchArg::I64(value) => builder.arg(&*value),
                LaunchArg::U64(value) => builder.arg(&*value),
            };
        }
        // SAFETY: the kernel's parameters are the student's (or the prelude's)
        // to match; the arrays live until the launch is queued and cudarc keeps
        // their memory alive until the work that uses them is done.
        unsafe { builder.launch(config) }.map(drop).map_err(GpuError::driver("launch the kernel"))
    }
}

/// A kernel written in CUDA C, as CuPy's `RawKernel`: compiled once with
/// NVRTC, launched on a grid of blocks of threads. Each thread finds its
/// element from `blockIdx`, `blockDim` and `threadIdx`; declare the kernel
/// `extern "C"` so its name is kept.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// let source = r#"
/// extern "C" __global__ void add(const double* x, const double* y, double* out, int n) {
///     int i = blockIdx.x * blockDim.x + threadIdx.x;   // this thread's element
///     if (i < n) out[i] = x[i] + y[i];
/// }"#;
/// if gpu_available() {
///     let add = RawKernel::new(source, "add")?;
///     let x = GpuArray::from_slice(&[1.0, 2.0, 3.0])?;
///     let y = GpuArray::from_slice(&[10.0, 20.0, 30.0])?;
///     let mut out = GpuArray::<f64>::zeros(3)?;
///     add.launch(1, 32).arg(&x).arg(&y).arg(&mut out).arg(3).run()?;
///     assert_eq!(out.to_vec()?, vec![11.0, 22.0, 33.0]);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RawKernel {
    function: CudaFunction,
}

impl RawKernel {
    /// Compiles `source` (or finds it compiled) and picks its kernel `name`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// let broken = RawKernel::new(r#"extern "C" __global__ void k() { oops }"#, "k");
    /// assert!(broken.is_err());
    /// ```
    pub fn new(source: &str, name: &str) -> Result<RawKernel, GpuError> {
        Ok(RawKernel { function: compiled(source, name)? })
    }

    /// Starts preparing a launch of `grid` blocks of `block` threads each.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(kernel) = RawKernel::new(r#"extern "C" __global__ void nothing() {}"#, "nothing") {
    ///     kernel.launch((2, 2), (16, 16)).run().unwrap();
    /// }
    /// ```
    pub fn launch<'a>(&self, grid: impl Into<Dims>, block: impl Into<Dims>) -> Launch<'a> {
        Launch::new(self.function.clone(), grid, block)
    }
}

/// An element-wise kernel, as CuPy's `ElementwiseKernel`: you write the
/// expression for one element, the prelude writes the kernel around it.
/// Arrays and numbers are named; the expression uses the names, and any
/// CUDA math function (`sqrt`, `exp`, `fma`…).
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// let saxpy = ElementwiseKernel::new(&["x", "y"], &["a"], "a * x + y");
/// println!("{}", saxpy.source::<f32>());   // the CUDA C it runs
/// if gpu_available() {
///     let x = GpuArray::from_slice(&[1.0f32, 2.0])?;
///     let y = GpuArray::from_slice(&[10.0f32, 20.0])?;
///     assert_eq!(saxpy.run(&[&x, &y], &[3.0])?.to_vec()?, vec![13.0, 26.0]);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementwiseKernel {
    arrays: Vec<String>,
    scalars: Vec<String>,
    expression: String,
}

impl ElementwiseKernel {
    /// A kernel computing `expression` for each element, reading the arrays
    /// named `arrays` and the numbers named `scalars`.
    ///
    /// ```
    /// let hypot = rustpar_gpu::ElementwiseKernel::new(&["x", "y"], &[], "sqrt(x * x + y * y)");
    /// assert!(hypot.source::<f64>().contains("sqrt(x * x + y * y)"));
    /// ```
    pub fn new(arrays: &[&str], scalars: &[&str], expression: &str) -> ElementwiseKernel {
        let owned = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        ElementwiseKernel { arrays: owned(arrays), scalars: owned(scalars), expression: expression.to_owned() }
    }

    /// The CUDA C source this kernel compiles to for element type `T`.
    ///
    /// ```
    /// let double = rustpar_gpu::ElementwiseKernel::new(&["x"], &[], "2 * x");
    /// assert!(double.source::<f32>().contains("const float x = "));
    /// ```
    pub fn source<T: GpuFloat>(&self) -> String {
        let t = T::CUDA_TYPE;
        let parameters: String = self
            .arrays
            .iter()
            .map(|name| format!("const {t}* __restrict__ rustpar_array_{name}, "))
            .chain(self.scalars.iter().map(|name| format!("const {t} {name}, ")))
            .collect();
        let loads: String = self.arrays.iter().map(|name| format!("        const {t} {name} = rustpar_array_{name}[rustpar_i];\n")).collect();
        format!(
            "extern \"C\" __global__ void rustpar_elementwise({t}* __restrict__ rustpar_out, {parameters}unsigned long long rustpar_n) {{\n\
             \x20   for (unsigned long long rustpar_i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; rustpar_i < rustpar_n;\n\
             \x20        rustpar_i += (unsigned long long)blockDim.x * gridDim.x) {{\n\
             {loads}\
             \x20       rustpar_out[rustpar_i] = ({});\n\
             \x20   }}\n\
             }}\n",
            self.expression
        )
    }

    /// Runs the kernel on arrays of one shape (given in the order of their
    /// names) and numbers, giving a new array of that shape.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// let clamp = ElementwiseKernel::new(&["x"], &["low", "high"], "fmin(fmax(x, low), high)");
    /// if let Ok(x) = GpuArray::from_slice(&[-5.0f64, 0.5, 7.0]) {
    ///     assert_eq!(clamp.run(&[&x], &[0.0, 1.0]).unwrap().to_vec().unwrap(), vec![0.0, 0.5, 1.0]);
    /// }
    /// ```
    pub fn run<T: GpuFloat>(&self, arrays: &[&GpuArray<T>], scalars: &[T]) -> Result<GpuArray<T>, GpuError> {
        self.check_names()?;
        if arrays.len() != self.arrays.len() || scalars.len() != self.scalars.len() {
            return Err(GpuError::new(format!(
                "This kernel takes {} array(s) ({}) and {} number(s) ({}), but was given {} and {}.",
                self.arrays.len(),
                self.arrays.join(", "),
                self.scalars.len(),
                self.scalars.join(", "),
                arrays.len(),
                scalars.len()
            )));
        }
        let Some(first) = arrays.first() else {
            return Err(GpuError::new("An element-wise kernel needs at least one array: its shape is the result's."));
        };
        if let Some(other) = arrays.iter().find(|array| array.shape() != first.shape()) {
            return Err(GpuError::new(format!(
                "Element-wise operations need arrays of one shape, but got {:?} and {:?}.",
                first.shape(),
                other.shape()
            )));
        }
        let function = compiled(&self.source::<T>(), "rustpar_elementwise")?;
        let mut out = GpuArray::uninitialized(first.shape().to_vec())?;
        let n = out.len();
        if n == 0 {
            return Ok(out);
        }
        let mut launch = Launch::new(function, n.div_ceil(THREADS_PER_BLOCK).min(MAX_BLOCKS), THREADS_PER_BLOCK).arg(&mut out);
        for &array in arrays {
            launch = launch.arg(array);
        }
        for &scalar in scalars {
            launch = launch.arg(T::scalar_arg(scalar));
        }
        launch.arg(n).run()?;
        Ok(out)
    }

    fn check_names(&self) -> Result<(), GpuError> {
        let is_name = |name: &str| {
            name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with("rustpar_")
        };
        match self.arrays.iter().chain(&self.scalars).find(|name| !is_name(name)) {
            Some(bad) => {
                Err(GpuError::new(format!("`{bad}` cannot name a kernel input: use letters, digits and _ (not starting with a digit or rustpar_).")))
            }
            None => Ok(()),
        }
    }
}

/// Combines all elements into one value on the GPU: each block reduces its
/// share in shared memory, then one block reduces the blocks' results.
/// `map` computes each element's value from `x` (and `y`); `combine` merges
/// two values `a` and `b`; `identity` changes nothing when combined.
pub(crate) fn reduce<T: GpuFloat>(x: &GpuArray<T>, y: &GpuArray<T>, map: &str, combine: &str, identity: T) -> Result<T, GpuError> {
    let blocks = x.len().div_ceil(THREADS_PER_BLOCK).clamp(1, 1024);
    let mut partial = GpuArray::<T>::uninitialized(vec![blocks])?;
    reduction_pass(x, y, &mut partial, map, combine, identity, blocks)?;
    let mut total = GpuArray::<T>::uninitialized(vec![1])?;
    reduction_pass(&partial, &partial, &mut total, "x", combine, identity, 1)?;
    Ok(total.to_vec()?[0])
}

fn reduction_pass<T: GpuFloat>(
    x: &GpuArray<T>,
    y: &GpuArray<T>,
    out: &mut GpuArray<T>,
    map: &str,
    combine: &str,
    identity: T,
    blocks: usize,
) -> Result<(), GpuError> {
    let t = T::CUDA_TYPE;
    let source = format!(
        "extern \"C\" __global__ void rustpar_reduce({t}* out, const {t}* xs, const {t}* ys, const {t} identity, unsigned long long n) {{\n\
         \x20   __shared__ {t} cache[{THREADS_PER_BLOCK}];\n\
         \x20   {t} a = identity;\n\
         \x20   for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n; i += (unsigned long long)blockDim.x * gridDim.x) {{\n\
         \x20       const {t} x = xs[i];\n\
         \x20       const {t} y = ys[i];\n\
         \x20       const {t} b = ({map});\n\
         \x20       a = ({combine});\n\
         \x20   }}\n\
         \x20   cache[threadIdx.x] = a;\n\
         \x20   __syncthreads();\n\
         \x20   for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {{\n\
         \x20       if (threadIdx.x < stride) {{\n\
         \x20           const {t} a = cache[threadIdx.x];\n\
         \x20           const {t} b = cache[threadIdx.x + stride];\n\
         \x20           cache[threadIdx.x] = ({combine});\n\
         \x20       }}\n\
         \x20       __syncthreads();\n\
         \x20   }}\n\
         \x20   if (threadIdx.x == 0) out[blockIdx.x] = cache[0];\n\
         }}\n"
    );
    Launch::new(compiled(&source, "rustpar_reduce")?, blocks, THREADS_PER_BLOCK)
        .arg(out)
        .arg(x)
        .arg(y)
        .arg(T::scalar_arg(identity))
        .arg(x.len())
        .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_inputs_must_be_plain_names() {
        assert!(ElementwiseKernel::new(&["x", "y_2"], &["_a"], "x").check_names().is_ok());
        for bad in ["2x", "x y", "", "rustpar_out", "x[0]"] {
            let error = ElementwiseKernel::new(&[bad], &[], "x").check_names().unwrap_err();
            assert!(error.message().contains("cannot name a kernel input"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn sizes_must_fit_cuda() {
        assert_eq!(Dims::from((4, 2, 3)).to_cuda("grid").unwrap(), (4, 2, 3));
        assert!(Dims::from(0).to_cuda("block").unwrap_err().message().contains("between 1 and"));
        assert!(Dims::from(1usize << 33).to_cuda("grid").is_err());
    }
}
