//! The GPU of this process: found once, on first use, and shared by every
//! cell; its description ([`gpu_info`]), its streams and synchronisation.

use super::error::GpuError;
use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use rustpar::display::Table;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// Device 0 with its default stream and the kernels compiled so far.
pub(crate) struct Gpu {
    pub(crate) context: Arc<CudaContext>,
    default_stream: GpuStream,
    /// Compiled kernels by source text: NVRTC runs once per source.
    pub(crate) kernels: Mutex<HashMap<String, CudaFunction>>,
}

/// The GPU, or why there is none. Looked for once per process.
pub(crate) fn gpu() -> Result<&'static Gpu, GpuError> {
    static GPU: OnceLock<Result<Gpu, GpuError>> = OnceLock::new();
    GPU.get_or_init(find_gpu).as_ref().map_err(GpuError::clone)
}

fn find_gpu() -> Result<Gpu, GpuError> {
    // SAFETY: only tries to open the driver library (libcuda.so).
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(GpuError::new(
            "No CUDA driver was found on this machine (libcuda could not be loaded), so nothing can run on a GPU here. \
             Use a machine with an NVIDIA GPU and its driver, and test gpu_available() to skip GPU code elsewhere.",
        ));
    }
    let no_device = |why: String| {
        GpuError::new(format!(
            "The CUDA driver found no GPU device ({why}). Check that `nvidia-smi` lists a GPU and that \
             CUDA_VISIBLE_DEVICES does not hide it; test gpu_available() to skip GPU code on machines without one."
        ))
    };
    cudarc::driver::result::init().map_err(|error| no_device(GpuError::driver("start CUDA")(error).message().to_owned()))?;
    match CudaContext::device_count() {
        Ok(count) if count > 0 => {}
        Ok(_) => return Err(no_device("it counts 0 devices".into())),
        Err(error) => return Err(no_device(GpuError::driver("count the devices")(error).message().to_owned())),
    }
    let context = CudaContext::new(0).map_err(GpuError::driver("open GPU 0"))?;
    let default_stream = GpuStream::wrap(context.default_stream());
    Ok(Gpu { context, default_stream, kernels: Mutex::new(HashMap::new()) })
}

/// True when this machine has an NVIDIA GPU that CUDA can use. Without one,
/// every GPU call returns a [`GpuError`] saying so (nothing panics), so a
/// notebook can test this and skip its GPU cells.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// if gpu_available() {
///     println!("{}", gpu_info().unwrap());
/// } else {
///     println!("no GPU here: the GPU cells will say so and skip");
/// }
/// ```
pub fn gpu_available() -> bool {
    gpu().is_ok()
}

/// A CUDA library that the driver alone does not provide.
#[derive(Clone, Copy)]
pub(crate) enum Library {
    /// The run-time compiler, for kernels written as CUDA C source.
    Nvrtc,
    /// Linear algebra, for matrix products.
    Cublas,
    /// Random numbers.
    Curand,
}

impl Library {
    /// The GPU, once this library is known to load.
    pub(crate) fn require(self) -> Result<&'static Gpu, GpuError> {
        static FOUND: [OnceLock<bool>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let gpu = gpu()?;
        let (name, file, used_for) = match self {
            Library::Nvrtc => ("NVRTC", "libnvrtc", "kernels cannot be compiled"),
            Library::Cublas => ("cuBLAS", "libcublas", "matrix products cannot run"),
            Library::Curand => ("cuRAND", "libcurand", "random arrays cannot be made"),
        };
        // SAFETY: each only tries to open its library.
        let present = || unsafe {
            match self {
                Library::Nvrtc => cudarc::nvrtc::sys::is_culib_present(),
                Library::Cublas => cudarc::cublas::sys::is_culib_present(),
                Library::Curand => cudarc::curand::sys::is_culib_present(),
            }
        };
        if *FOUND[self as usize].get_or_init(present) {
            Ok(gpu)
        } else {
            Err(GpuError::new(format!(
                "The CUDA library {name} ({file}.so) was not found, so {used_for}. Install the CUDA toolkit \
                 (or NVIDIA's Python wheels) and add the folder holding {file}.so to LD_LIBRARY_PATH."
            )))
        }
    }
}

/// What the GPU is: made by [`gpu_info`]. Shown as a table when it ends a
/// cell.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// if let Ok(info) = gpu_info() {
///     println!("{} threads can run at once", info.multiprocessors * info.max_threads_per_multiprocessor);
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GpuInfo {
    /// The model, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// The compute capability (major, minor): what the hardware can do.
    pub compute_capability: (i32, i32),
    /// Global memory, in bytes.
    pub memory_bytes: usize,
    /// Streaming multiprocessors: each runs several blocks at a time.
    pub multiprocessors: u32,
    /// The most threads one block may have.
    pub max_threads_per_block: u32,
    /// The most threads one multiprocessor keeps in flight.
    pub max_threads_per_multiprocessor: u32,
    /// Threads that execute in lockstep (a warp).
    pub warp_size: u32,
    /// Shared memory one block may use, in bytes.
    pub shared_memory_per_block: usize,
    /// The level-2 cache, in bytes.
    pub l2_cache_bytes: usize,
}

/// Describes the GPU (device 0), or says why there is none.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// match gpu_info() {
///     Ok(info) => info.table().show(),
///     Err(error) => println!("{error}"),
/// }
/// ```
pub fn gpu_info() -> Result<GpuInfo, GpuError> {
    let context = &gpu()?.context;
    let attribute =
        |which: CUdevice_attribute| context.attribute(which).map(|value| value as u32).map_err(GpuError::driver("read the GPU's attributes"));
    Ok(GpuInfo {
        name: context.name().map_err(GpuError::driver("read the GPU's name"))?,
        compute_capability: context.compute_capability().map_err(GpuError::driver("read the GPU's compute capability"))?,
        memory_bytes: context.total_mem().map_err(GpuError::driver("read the GPU's memory size"))?,
        multiprocessors: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
        max_threads_per_block: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?,
        max_threads_per_multiprocessor: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)?,
        warp_size: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_WARP_SIZE)?,
        shared_memory_per_block: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)? as usize,
        l2_cache_bytes: attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as usize,
    })
}

impl GpuInfo {
    /// The description as a two-column table.
    ///
    /// ```
    /// if let Ok(info) = rustpar_gpu::gpu_info() {
    ///     assert!(info.table().html().contains("warp size"));
    /// }
    /// ```
    pub fn table(&self) -> Table {
        let (major, minor) = self.compute_capability;
        let kib = |bytes: usize| format!("{} KiB", bytes / 1024);
        Table::new(["property", "value"])
            .row(("GPU", &self.name))
            .row(("compute capability", format!("{major}.{minor}")))
            .row(("global memory", format!("{:.1} GiB", self.memory_bytes as f64 / (1u64 << 30) as f64)))
            .row(("multiprocessors (SMs)", self.multiprocessors))
            .row(("max threads per block", self.max_threads_per_block))
            .row(("max threads per SM", self.max_threads_per_multiprocessor))
            .row(("warp size", self.warp_size))
            .row(("shared memory per block", kib(self.shared_memory_per_block)))
            .row(("L2 cache", kib(self.l2_cache_bytes)))
    }

    /// How evcxr shows a `GpuInfo` that ends a cell: as its table.
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        self.table().show();
    }
}

impl fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.compute_capability;
        write!(
            f,
            "{} (compute capability {major}.{minor}, {:.1} GiB, {} SMs)",
            self.name,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.multiprocessors
        )
    }
}

/// A queue of GPU work. Work on one stream runs in order; work on different
/// streams may overlap. Everything runs on the GPU's default stream unless
/// code is wrapped in [`GpuStream::run`]. GPU calls return as soon as their
/// work is queued: [`synchronize`](GpuStream::synchronize) waits for it.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// if gpu_available() {
///     let stream = GpuStream::new()?;
///     let x = stream.run(|| GpuArray::<f32>::random(1_000, 1))?;
///     stream.synchronize()?;
///     assert_eq!(x.len(), 1_000);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GpuStream {
    pub(crate) cuda: Arc<CudaStream>,
    /// This stream's cuBLAS handle, made on its first matrix product.
    blas: Arc<Mutex<Option<CudaBlas>>>,
}

thread_local! {
    /// The stream chosen by the innermost `GpuStream::run` on this thread.
    static CURRENT_STREAM: RefCell<Option<GpuStream>> = const { RefCell::new(None) };
}

impl GpuStream {
    fn wrap(cuda: Arc<CudaStream>) -> GpuStream {
        GpuStream { cuda, blas: Arc::new(Mutex::new(None)) }
    }

    /// A new stream on the GPU.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// match GpuStream::new() {
    ///     Ok(_stream) => println!("a second queue of GPU work"),
    ///     Err(error) => assert!(!gpu_available(), "{error}"),
    /// }
    /// ```
    pub fn new() -> Result<GpuStream, GpuError> {
        let gpu = gpu()?;
        gpu.context.new_stream().map(GpuStream::wrap).map_err(GpuError::driver("create a stream"))
    }

    /// Runs `work` with this stream as the one GPU calls of this thread
    /// queue their work on (as CuPy's `with stream:`), then goes back to the
    /// previous one.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// # fn main() -> Result<(), GpuError> {
    /// if gpu_available() {
    ///     let stream = GpuStream::new()?;
    ///     let total = stream.run(|| GpuArray::from_slice(&[1.0f64, 2.0, 3.0])?.sum())?;
    ///     assert_eq!(total, 6.0);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn run<R>(&self, work: impl FnOnce() -> R) -> R {
        struct Restore(Option<GpuStream>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT_STREAM.with(|current| *current.borrow_mut() = self.0.take());
            }
        }
        let _restore = Restore(CURRENT_STREAM.with(|current| current.borrow_mut().replace(self.clone())));
        work()
    }

    /// Waits until all work queued on this stream has finished.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(stream) = GpuStream::new() {
    ///     stream.synchronize().unwrap();
    /// }
    /// ```
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.cuda.synchronize().map_err(GpuError::driver("wait for the stream"))
    }

    /// Runs `product` with this stream's cuBLAS handle.
    pub(crate) fn with_blas<R>(&self, product: impl FnOnce(&CudaBlas) -> Result<R, GpuError>) -> Result<R, GpuError> {
        Library::Cublas.require()?;
        let mut blas = self.blas.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if blas.is_none() {
            *blas = Some(CudaBlas::new(self.cuda.clone()).map_err(GpuError::library("start cuBLAS"))?);
        }
        product(blas.as_ref().expect("the handle was just made"))
    }
}

/// The stream GPU calls on this thread queue their work on: the innermost
/// [`GpuStream::run`]'s, else the default stream.
pub(crate) fn current_stream() -> Result<GpuStream, GpuError> {
    let gpu = gpu()?;
    Ok(CURRENT_STREAM.with(|current| current.borrow().clone()).unwrap_or_else(|| gpu.default_stream.clone()))
}

/// Waits until all work queued on the GPU, on every stream, has finished.
/// GPU calls return as soon as their work is queued, so time GPU code only
/// after synchronising (or with [`gpu_timeit`](super::gpu_timeit)).
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// if gpu_available() {
///     let a = GpuArray::<f32>::random((512, 512), 1)?;
///     let start = std::time::Instant::now();
///     let _c = a.matmul(&a)?;   // queued, not finished
///     gpu_synchronize()?;        // now it is
///     println!("matmul took {:?}", start.elapsed());
/// }
/// # Ok(()) }
/// ```
pub fn gpu_synchronize() -> Result<(), GpuError> {
    gpu()?.context.synchronize().map_err(GpuError::driver("wait for the GPU"))
}
