//! [`GpuError`]: what went wrong with a GPU call, said in a sentence.

use cudarc::driver::DriverError;
use std::fmt;

/// What went wrong with a GPU call: no CUDA driver or device on this
/// machine, a shape that does not fit, a kernel that does not compile, a GPU
/// out of memory…
///
/// Its text starts with `GpuError: ` and then says what happened and, where
/// there is one, what to do about it. A cell that returns one through `?`
/// fails with the error name `GpuError`; `.unwrap()` shows the same text.
///
/// ```
/// use rustpar::prelude::*;
/// use rustpar_gpu::prelude::*;
/// match gpu_info() {
///     Ok(info) => println!("found {}", info.name),
///     Err(error) => {
///         assert!(error.to_string().starts_with("GpuError: "));
///         println!("{}", error.message());
///     }
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct GpuError {
    message: String,
}

impl GpuError {
    pub(crate) fn new(message: impl Into<String>) -> GpuError {
        GpuError { message: message.into() }
    }

    /// The sentence alone, without the leading `GpuError: `.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// use rustpar_gpu::prelude::*;
    /// if let Err(error) = GpuArray::<f32>::zeros(10) {
    ///     assert!(!error.message().starts_with("GpuError"));
    /// }
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A CUDA driver call failed while doing `what` (e.g. "copy the array to
    /// the GPU").
    pub(crate) fn driver(what: &str) -> impl FnOnce(DriverError) -> GpuError {
        move |error| {
            let name = error.error_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|_| format!("{error:?}"));
            let meaning = error.error_string().map(|text| text.to_string_lossy().into_owned()).unwrap_or_default();
            let fix = if name == "CUDA_ERROR_OUT_OF_MEMORY" {
                " Free GPU arrays you no longer need (drop them, or let their cell's variables go) or use smaller ones."
            } else {
                ""
            };
            GpuError::new(format!("Could not {what}: CUDA says {name} ({meaning}).{fix}"))
        }
    }

    /// A call into a CUDA library (cuBLAS, cuRAND, NVRTC) failed while doing `what`.
    pub(crate) fn library<E: fmt::Debug>(what: &str) -> impl FnOnce(E) -> GpuError {
        move |error| GpuError::new(format!("Could not {what}: the CUDA library reported {error:?}."))
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rustpar_wire::named_error("GpuError", &self.message))
    }
}

/// The same text as `Display`, so that `.unwrap()` and `{:?}` read well.
impl fmt::Debug for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for GpuError {}
