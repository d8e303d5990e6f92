//! [`GpuArray`]: a vector or matrix of `f32` or `f64` in the GPU's memory.

use super::device::{Library, current_stream};
use super::error::GpuError;
use super::kernel::{ElementwiseKernel, LaunchArg, reduce};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::curand::CudaRng;
use cudarc::driver::{CudaSlice, DeviceRepr, ValidAsZeroBits};
use ndarray::{Array, ArrayBase, Data, Dimension, IxDyn};
use std::fmt;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element types a [`GpuArray`] can hold: `f32` (what GPUs are fastest
/// at) and `f64`.
///
/// ```
/// use rustpar_gpu::GpuFloat;
/// assert_eq!(<f32 as GpuFloat>::CUDA_TYPE, "float");
/// assert_eq!(<f64 as GpuFloat>::CUDA_TYPE, "double");
/// ```
pub trait GpuFloat:
    DeviceRepr + ValidAsZeroBits + Copy + Default + PartialEq + fmt::Debug + fmt::Display + Send + Sync + 'static + sealed::Sealed
{
    /// The type's name in CUDA C.
    const CUDA_TYPE: &'static str;
    /// Zero, the start of a sum.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Minus infinity, the start of a maximum.
    const NEG_INFINITY: Self;

    #[doc(hidden)]
    fn array_arg(array: &CudaSlice<Self>) -> LaunchArg<'_>;
    #[doc(hidden)]
    fn array_arg_mut(array: &mut CudaSlice<Self>) -> LaunchArg<'_>;
    #[doc(hidden)]
    fn scalar_arg(self) -> LaunchArg<'static>;
    /// # Safety
    /// The shapes in `config` must fit the three arrays.
    #[doc(hidden)]
    unsafe fn gemm(
        blas: &CudaBlas,
        config: GemmConfig<Self>,
        a: &CudaSlice<Self>,
        b: &CudaSlice<Self>,
        c: &mut CudaSlice<Self>,
    ) -> Result<(), cudarc::cublas::result::CublasError>;
    #[doc(hidden)]
    fn fill_uniform(rng: &CudaRng, array: &mut CudaSlice<Self>) -> Result<(), cudarc::curand::result::CurandError>;
}

macro_rules! gpu_float {
    ($t:ty, $cuda:literal, $read:ident, $write:ident, $number:ident) => {
        impl GpuFloat for $t {
            const CUDA_TYPE: &'static str = $cuda;
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const NEG_INFINITY: $t = <$t>::NEG_INFINITY;

            fn array_arg(array: &CudaSlice<$t>) -> LaunchArg<'_> {
                LaunchArg::$read(array)
            }

            fn array_arg_mut(array: &mut CudaSlice<$t>) -> LaunchArg<'_> {
                LaunchArg::$write(array)
            }

            fn scalar_arg(self) -> LaunchArg<'static> {
                LaunchArg::$number(self)
            }

            unsafe fn gemm(
                blas: &CudaBlas,
                config: GemmConfig<$t>,
                a: &CudaSlice<$t>,
                b: &CudaSlice<$t>,
                c: &mut CudaSlice<$t>,
            ) -> Result<(), cudarc::cublas::result::CublasError> {
                // SAFETY: passed on to the caller.
                unsafe { Gemm::<$t>::gemm(blas, config, a, b, c) }
            }

            fn fill_uniform(rng: &CudaRng, array: &mut CudaSlice<$t>) -> Result<(), cudarc::curand::result::CurandError> {
                rng.fill_with_uniform(array)
            }
        }
    };
}
gpu_float!(f32, "float", F32Array, F32ArrayMut, F32);
gpu_float!(f64, "double", F64Array, F64ArrayMut, F64);

/// A shape for a new [`GpuArray`]: `n` for a vector, `(rows, columns)` for a
/// matrix, or the sizes in a `Vec`.
///
/// ```
/// use rustpar_gpu::GpuShape;
/// assert_eq!((3, 4).dims(), vec![3, 4]);
/// assert_eq!(10.dims(), vec![10]);
/// ```
pub trait GpuShape {
    /// The size along each dimension.
    fn dims(self) -> Vec<usize>;
}

impl GpuShape for usize {
    fn dims(self) -> Vec<usize> {
        vec![self]
    }
}

impl GpuShape for (usize, usize) {
    fn dims(self) -> Vec<usize> {
        vec![self.0, self.1]
    }
}

impl GpuShape for Vec<usize> {
    fn dims(self) -> Vec<usize> {
        self
    }
}

/// A vector or a matrix (row-major) of `f32` or `f64` in the GPU's memory,
/// as a CuPy array: copy data in from a slice or an ndarray array, compute
/// on the GPU, copy the result back.
///
/// - arithmetic with `+ - * /`, between arrays of one shape or with a
///   number, gives a new array: `(&a + &b)?`, `(&a * 2.0)?`;
/// - maps: [`sqrt`](GpuArray::sqrt), [`exp`](GpuArray::exp), … and
///   [`map`](GpuArray::map) for any expression of `x`;
/// - reductions: [`sum`](GpuArray::sum), [`max`](GpuArray::max),
///   [`dot`](GpuArray::dot);
/// - [`matmul`](GpuArray::matmul), the matrix product (cuBLAS).
///
/// Every call returns a `Result`, whose error says what went wrong (on a
/// machine without a GPU: that there is none). Calls return as soon as the
/// GPU has the work queued; reading a result waits for it.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// # fn main() -> Result<(), GpuError> {
/// if gpu_available() {
///     let a = GpuArray::from_array(&array![[1.0f32, 2.0], [3.0, 4.0]])?;
///     let b = (&a * 10.0)?;
///     let c: Array2<f32> = (&a + &b)?.to_array()?;
///     assert_eq!(c, array![[11.0, 22.0], [33.0, 44.0]]);
///     assert_eq!(a.sum()?, 10.0);
/// }
/// # Ok(()) }
/// ```
pub struct GpuArray<T: GpuFloat> {
    pub(crate) data: CudaSlice<T>,
    shape: Vec<usize>,
}

impl<T: GpuFloat> GpuArray<T> {
    /// An array of `shape` whose elements a kernel will all write.
    pub(crate) fn uninitialized(shape: Vec<usize>) -> Result<GpuArray<T>, GpuError> {
        let stream = current_stream()?;
        let len = shape.iter().product();
        let data = if len == 0 {
            stream.cuda.null()
        } else {
            // SAFETY: every caller writes every element before anyone reads one.
            unsafe { stream.cuda.alloc::<T>(len) }
        };
        Ok(GpuArray { data: data.map_err(GpuError::driver("allocate GPU memory"))?, shape })
    }

    /// A vector holding a copy of `values`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// match GpuArray::from_slice(&[1.0f32, 2.0, 3.0]) {
    ///     Ok(x) => assert_eq!(x.shape(), &[3]),
    ///     Err(error) => assert!(error.message().contains("CUDA")),
    /// }
    /// ```
    pub fn from_slice(values: &[T]) -> Result<GpuArray<T>, GpuError> {
        let stream = current_stream()?;
        let data = if values.is_empty() { stream.cuda.null() } else { stream.cuda.clone_htod(values) };
        Ok(GpuArray { data: data.map_err(GpuError::driver("copy the data to the GPU"))?, shape: vec![values.len()] })
    }

    /// A copy of an ndarray vector or matrix.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(m) = GpuArray::from_array(&Array2::<f64>::ones((2, 3))) {
    ///     assert_eq!(m.shape(), &[2, 3]);
    /// }
    /// ```
    pub fn from_array<S: Data<Elem = T>, D: Dimension>(array: &ArrayBase<S, D>) -> Result<GpuArray<T>, GpuError> {
        if !(1..=2).contains(&array.ndim()) {
            return Err(GpuError::new(format!(
                "A GpuArray is a vector or a matrix, but this array has {} dimensions: reshape it first.",
                array.ndim()
            )));
        }
        let contiguous = array.as_standard_layout();
        let values = contiguous.as_slice().expect("a standard-layout array is one slice");
        GpuArray::from_slice(values)?.reshape(array.shape().to_vec())
    }

    /// An array of `shape` filled with zeros.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(z) = GpuArray::<f32>::zeros((2, 2)) {
    ///     assert_eq!(z.to_vec().unwrap(), vec![0.0; 4]);
    /// }
    /// ```
    pub fn zeros(shape: impl GpuShape) -> Result<GpuArray<T>, GpuError> {
        let shape = shape.dims();
        let stream = current_stream()?;
        let len = shape.iter().product();
        let data = if len == 0 { stream.cuda.null() } else { stream.cuda.alloc_zeros::<T>(len) };
        Ok(GpuArray { data: data.map_err(GpuError::driver("allocate GPU memory"))?, shape })
    }

    /// An array of `shape` with every element `value`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::full(3, 1.5f64) {
    ///     assert_eq!(x.sum().unwrap(), 4.5);
    /// }
    /// ```
    pub fn full(shape: impl GpuShape, value: T) -> Result<GpuArray<T>, GpuError> {
        let shape = shape.dims();
        GpuArray::from_slice(&vec![value; shape.iter().product()])?.reshape(shape)
    }

    /// An array of `shape` with random numbers drawn uniformly from (0, 1]
    /// on the GPU by cuRAND; the same `seed` gives the same numbers.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::<f32>::random(10_000, 42) {
    ///     let mean = x.sum().unwrap() / 10_000.0;
    ///     assert!((mean - 0.5).abs() < 0.05);
    /// }
    /// ```
    pub fn random(shape: impl GpuShape, seed: u64) -> Result<GpuArray<T>, GpuError> {
        Library::Curand.require()?;
        let mut array = GpuArray::uninitialized(shape.dims())?;
        if array.is_empty() {
            return Ok(array);
        }
        let stream = current_stream()?;
        let rng = CudaRng::new(seed, stream.cuda.clone()).map_err(GpuError::library("start cuRAND"))?;
        T::fill_uniform(&rng, &mut array.data).map_err(GpuError::library("fill the array with random numbers"))?;
        Ok(array)
    }

    /// The size along each dimension: `[n]` or `[rows, columns]`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(m) = GpuArray::<f32>::zeros((4, 5)) {
    ///     assert_eq!(m.shape(), &[4, 5]);
    /// }
    /// ```
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// How many dimensions: 1 or 2.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(v) = GpuArray::<f32>::zeros(7) {
    ///     assert_eq!(v.ndim(), 1);
    /// }
    /// ```
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// How many elements.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(m) = GpuArray::<f64>::zeros((3, 3)) {
    ///     assert_eq!(m.len(), 9);
    /// }
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array has no elements.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(v) = GpuArray::<f32>::from_slice(&[]) {
    ///     assert!(v.is_empty());
    /// }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same elements with another shape of the same size.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(v) = GpuArray::<f32>::zeros(6) {
    ///     assert_eq!(v.reshape((2, 3)).unwrap().shape(), &[2, 3]);
    /// }
    /// ```
    pub fn reshape(self, shape: impl GpuShape) -> Result<GpuArray<T>, GpuError> {
        let shape = shape.dims();
        if shape.iter().product::<usize>() != self.len() || !(1..=2).contains(&shape.len()) {
            return Err(GpuError::new(format!(
                "Cannot reshape {} elements (shape {:?}) to {shape:?}: a GpuArray has 1 or 2 dimensions and keeps its size.",
                self.len(),
                self.shape
            )));
        }
        Ok(GpuArray { data: self.data, shape })
    }

    /// A copy of the elements in the computer's memory (row by row), once
    /// the work queued before has finished.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::from_slice(&[1.0f32, 2.0]) {
    ///     assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0]);
    /// }
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>, GpuError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let stream = current_stream()?;
        let values = stream.cuda.clone_dtoh(&self.data).map_err(GpuError::driver("copy the data from the GPU"))?;
        stream.synchronize()?;
        Ok(values)
    }

    /// A copy as an ndarray array; say which kind, e.g.
    /// `let m: Array2<f32> = x.to_array()?;`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::from_array(&array![[1.0f64, 2.0]]) {
    ///     let back: Array2<f64> = x.to_array().unwrap();
    ///     assert_eq!(back, array![[1.0, 2.0]]);
    /// }
    /// ```
    pub fn to_array<D: Dimension>(&self) -> Result<Array<T, D>, GpuError> {
        let values = Array::from_shape_vec(IxDyn(&self.shape), self.to_vec()?).expect("the shape holds every element");
        values.into_dimensionality::<D>().map_err(|_| {
            GpuError::new(format!(
                "This GpuArray has {} dimension(s) (shape {:?}) but an array of {} was asked for: use Array{} (or reshape).",
                self.ndim(),
                self.shape,
                D::NDIM.map_or("any number".to_owned(), |n| n.to_string()),
                self.ndim()
            ))
        })
    }

    /// A new array with `expression` computed for each element `x` (CUDA C:
    /// `x * x + 1`, `sqrt(x)`, `fmax(x, 0)`…); compiled once, then cached.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::from_slice(&[-1.0f32, 2.0]) {
    ///     assert_eq!(x.map("fmax(x, 0)").unwrap().to_vec().unwrap(), vec![0.0, 2.0]);
    /// }
    /// ```
    pub fn map(&self, expression: &str) -> Result<GpuArray<T>, GpuError> {
        ElementwiseKernel::new(&["x"], &[], expression).run(&[self], &[])
    }

    /// The sum of all elements.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::from_slice(&[1.0f64, 2.0, 3.5]) {
    ///     assert_eq!(x.sum().unwrap(), 6.5);
    /// }
    /// ```
    pub fn sum(&self) -> Result<T, GpuError> {
        reduce(self, self, "x", "a + b", T::ZERO)
    }

    /// The largest element.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Ok(x) = GpuArray::from_slice(&[1.0f32, 7.0, -3.0]) {
    ///     assert_eq!(x.max().unwrap(), 7.0);
    /// }
    /// ```
    pub fn max(&self) -> Result<T, GpuError> {
        if self.is_empty() {
            return Err(GpuError::new("An empty array has no largest element."));
        }
        reduce(self, self, "x", "fmax(a, b)", T::NEG_INFINITY)
    }

    /// The dot product: the sum of the products of matching elements of two
    /// arrays of one shape.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let (Ok(x), Ok(y)) = (GpuArray::from_slice(&[1.0f32, 2.0]), GpuArray::from_slice(&[3.0f32, 4.0])) {
    ///     assert_eq!(x.dot(&y).unwrap(), 11.0);
    /// }
    /// ```
    pub fn dot(&self, other: &GpuArray<T>) -> Result<T, GpuError> {
        if self.shape != other.shape {
            return Err(GpuError::new(format!("A dot product needs two arrays of one shape, but got {:?} and {:?}.", self.shape, other.shape)));
        }
        reduce(self, other, "x * y", "a + b", T::ZERO)
    }

    /// The matrix product `self · other` of an (m × k) and a (k × n)
    /// matrix, computed by cuBLAS.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// # fn main() -> Result<(), GpuError> {
    /// if gpu_available() {
    ///     let a = GpuArray::from_array(&array![[1.0f64, 2.0], [3.0, 4.0]])?;
    ///     let identity = GpuArray::from_array(&array![[1.0, 0.0], [0.0, 1.0]])?;
    ///     assert_eq!(a.matmul(&identity)?.to_vec()?, a.to_vec()?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn matmul(&self, other: &GpuArray<T>) -> Result<GpuArray<T>, GpuError> {
        let (&[m, k], &[k2, n]) = (self.shape(), other.shape()) else {
            return Err(GpuError::new(format!(
                "matmul multiplies two matrices, but got shapes {:?} and {:?}: reshape a vector to (n, 1) or (1, n).",
                self.shape, other.shape
            )));
        };
        if k != k2 {
            return Err(GpuError::new(format!(
                "Cannot multiply a {m}×{k} matrix by a {k2}×{n} one: the first's columns must match the second's rows."
            )));
        }
        let too_big =
            |size: usize| i32::try_from(size).map_err(|_| GpuError::new(format!("cuBLAS takes matrices of at most {} rows and columns.", i32::MAX)));
        let (rows, inner, columns) = (too_big(m)?, too_big(k)?, too_big(n)?);
        if m == 0 || n == 0 || k == 0 {
            return GpuArray::zeros((m, n));
        }
        let mut out = GpuArray::uninitialized(vec![m, n])?;
        // cuBLAS reads matrices column by column; a row-major matrix read so
        // is its transpose. So it computes outᵀ = otherᵀ · selfᵀ.
        let config = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_N,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: columns,
            n: rows,
            k: inner,
            alpha: T::ONE,
            lda: columns,
            ldb: inner,
            beta: T::ZERO,
            ldc: columns,
        };
        current_stream()?.with_blas(|blas| {
            // SAFETY: the shapes were checked above and `out` is m × n.
            unsafe { T::gemm(blas, config, &other.data, &self.data, &mut out.data) }.map_err(GpuError::library("multiply the matrices"))
        })?;
        Ok(out)
    }
}

macro_rules! maps {
    ($($name:ident: $expression:literal, $meaning:literal, $input:literal => $output:literal;)*) => {
        impl<T: GpuFloat> GpuArray<T> {$(
            #[doc = concat!("A new array holding ", $meaning, " of each element (CUDA's `", $expression, "`).")]
            ///
            /// ```
            /// use rustpar::prelude::*;
            /// use rustpar_gpu::prelude::*;
            #[doc = concat!("if let Ok(x) = GpuArray::from_slice(&[", $input, "f64]) {")]
            #[doc = concat!("    let y = x.", stringify!($name), "().unwrap().to_vec().unwrap()[0];")]
            #[doc = concat!("    assert!((y - ", $output, ").abs() < 1e-12);")]
            /// }
            /// ```
            pub fn $name(&self) -> Result<GpuArray<T>, GpuError> {
                self.map($expression)
            }
        )*}
    };
}
maps! {
    sqrt: "sqrt(x)", "the square root", "4.0" => "2.0";
    exp: "exp(x)", "e to the power", "0.0" => "1.0";
    log: "log(x)", "the natural logarithm", "1.0" => "0.0";
    sin: "sin(x)", "the sine", "0.0" => "0.0";
    cos: "cos(x)", "the cosine", "0.0" => "1.0";
    tanh: "tanh(x)", "the hyperbolic tangent", "0.0" => "0.0";
    abs: "fabs(x)", "the absolute value", "-3.0" => "3.0";
}

macro_rules! operators {
    ($($trait:ident $method:ident $op:literal),*) => {$(
        /// Element by element, between two arrays of one shape: `(&a + &b)?`.
        impl<T: GpuFloat> std::ops::$trait<&GpuArray<T>> for &GpuArray<T> {
            type Output = Result<GpuArray<T>, GpuError>;

            fn $method(self, other: &GpuArray<T>) -> Self::Output {
                ElementwiseKernel::new(&["x", "y"], &[], concat!("x ", $op, " y")).run(&[self, other], &[])
            }
        }

        /// Each element with a number: `(&a * 2.0)?`.
        impl<T: GpuFloat> std::ops::$trait<T> for &GpuArray<T> {
            type Output = Result<GpuArray<T>, GpuError>;

            fn $method(self, number: T) -> Self::Output {
                ElementwiseKernel::new(&["x"], &["s"], concat!("x ", $op, " s")).run(&[self], &[number])
            }
        }
    )*};
}
operators!(Add add "+", Sub sub "-", Mul mul "*", Div div "/");

/// The shape, and the elements when there are at most 1000 of them (copied
/// from the GPU, once its queued work has finished).
impl<T: GpuFloat> fmt::Display for GpuArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuArray<{}> of shape {:?}", T::CUDA_TYPE, self.shape)?;
        if self.len() > 1000 {
            return write!(f, " (too many elements to print: copy some back with to_vec or to_array)");
        }
        match self.to_array::<IxDyn>() {
            Ok(values) => write!(f, "\n{values}"),
            Err(error) => write!(f, " ({error})"),
        }
    }
}

/// The element type and shape, without copying anything from the GPU.
impl<T: GpuFloat> fmt::Debug for GpuArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpuArray<{}> of shape {:?}", T::CUDA_TYPE, self.shape)
    }
}
