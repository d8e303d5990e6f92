//! Which of OpenBLAS's kernels the cells' matrix products run on.
//!
//! The prelude links the system's OpenBLAS (ndarray's `blas` feature), which
//! picks its kernels for the processor when it loads. A library older than
//! the processor does not recognise it and falls back to its slowest, SSE3
//! kernels: Debian 12's OpenBLAS 0.3.21 on a 2023 Xeon says "Core: Prescott"
//! and multiplies 1000×1000 matrices at 33 GFLOP/s on two cores, against 155
//! with the AVX-512 kernels it has (NumPy's newer copy: 145). The kernel names
//! the kernels that the processor's instructions allow in `OPENBLAS_CORETYPE`,
//! for itself and every process it starts (cells, `:mpi` ranks), unless the
//! user has set it.

/// The variable OpenBLAS reads when it loads.
const CORE_TYPE: &str = "OPENBLAS_CORETYPE";

/// What the processor offers, as far as OpenBLAS's choice goes.
#[derive(Debug, Clone, Copy, Default)]
struct Instructions {
    /// AVX-512 F, DQ, BW and VL: what OpenBLAS's SkylakeX kernels use.
    avx512: bool,
    /// AVX2 and FMA: what its Haswell kernels use.
    avx2_fma: bool,
}

impl Instructions {
    fn of_this_processor() -> Instructions {
        #[cfg(target_arch = "x86_64")]
        {
            Instructions {
                avx512: is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl"),
                avx2_fma: is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Instructions::default()
    }

    /// The fastest OpenBLAS kernels these instructions run, if any need naming.
    fn core_type(self) -> Option<&'static str> {
        if self.avx512 {
            Some("SkylakeX")
        } else if self.avx2_fma {
            Some("Haswell")
        } else {
            None
        }
    }
}

/// Sets `OPENBLAS_CORETYPE` for this process and those it starts, unless it
/// is set already. Call before the process starts other threads.
pub fn choose_kernels() {
    if std::env::var_os(CORE_TYPE).is_some() {
        return;
    }
    if let Some(core) = Instructions::of_this_processor().core_type() {
        // SAFETY: called from `main` before any other thread exists.
        unsafe { std::env::set_var(CORE_TYPE, core) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widest_vector_instructions_choose_the_kernels() {
        assert_eq!(Instructions { avx512: true, avx2_fma: true }.core_type(), Some("SkylakeX"));
        assert_eq!(Instructions { avx512: false, avx2_fma: true }.core_type(), Some("Haswell"));
        assert_eq!(Instructions::default().core_type(), None, "older processors: OpenBLAS's own choice");
    }
}
