//! N-dimensional arrays with ndarray, in parallel, with reproducible random
//! data.
//!
//! [ndarray](https://docs.rs/ndarray) gives Rust NumPy-like arrays:
//! `Array1<f64>` is a vector, `Array2<f64>` a matrix, `array![..]` writes one
//! out, `s![..]` slices one. The parallel side: [`Zip`] walks several arrays
//! of the same shape together, and its `par_for_each` does so on all cores;
//! `par_map_inplace` / `par_mapv_inplace` change every element in parallel;
//! `axis_iter(..).into_par_iter()` hands rows out to threads.
//!
//! Matrix products (`a.dot(&b)`, `general_mat_mul`) of `f64` and `f32`
//! matrices run in the system's OpenBLAS, on every core, as NumPy's `a @ b`
//! does: ndarray's `blas` feature calls CBLAS, and this module links the
//! library that provides it (Debian's `libopenblas-dev`, which `install.sh`
//! installs).
//!
//! Random data comes from a seed, so a notebook shows the same numbers every
//! time it runs: [`random_array`], [`random_normal`], [`random_vec`], and
//! [`SeededRng`] for anything else.
//!
//! ```
//! use rustpar::prelude::*;
//! let a = random_array((100, 100), 1);
//! let b = random_array((100, 100), 2);
//! let mut c = Array2::<f64>::zeros((100, 100));
//! Zip::from(&mut c).and(&a).and(&b).par_for_each(|c, &a, &b| *c = a + b);
//! assert!((c.sum() - (a.sum() + b.sum())).abs() < 1e-9);
//! ```

// Provides the CBLAS functions that ndarray's `blas` feature calls.
#[link(name = "openblas")]
unsafe extern "C" {}

pub use ndarray::parallel::prelude::par_azip;
pub use ndarray::{
    self, Array, Array1, Array2, Array3, ArrayD, ArrayView, ArrayView1, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Axis, Ix1, Ix2, Ix3,
    IxDyn, ShapeBuilder, Zip, array, azip, s,
};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;
// The names rustc gives arrays (`ArrayBase<OwnedRepr<f64>, Dim<[usize; 2]>, f64>`
// is an `Array2<f64>`), so that a cell can write what an error message says.
pub use ndarray::{ArrayBase, Dim, IxDynImpl, OwnedRepr, ViewRepr};

/// A small, fast random number generator (rand_xoshiro's SplitMix64) that
/// gives the same numbers for the same seed, on every machine and with every
/// version of this crate. Not for cryptography. Its methods are inlined into
/// the cells that call them, so a loop drawing numbers compiles as one piece
/// of code (about a nanosecond per number). Of the rust-random generators,
/// SplitMix64 drew the Monte Carlo π loop's 20 million numbers fastest on the
/// course's 2-core machine (28.7 ms, against 35.8 for xoshiro256+, 36.8 for
/// PCG64-MCG and 37.5 for xoshiro256++; fastrand's wyrand 29.5).
///
/// ```
/// use rustpar::prelude::*;
/// let mut a = SeededRng::new(7);
/// let mut b = SeededRng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let dice = a.below(6) + 1;
/// assert!((1..=6).contains(&dice));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng {
    generator: SplitMix64,
}

impl SeededRng {
    /// A generator started from `seed`.
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(42);
    /// let x = rng.f64();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    #[inline]
    pub fn new(seed: u64) -> SeededRng {
        SeededRng { generator: SplitMix64::seed_from_u64(seed) }
    }

    /// The next 64 random bits.
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(0);
    /// assert_eq!(rng.next_u64(), 0xe220a8397b1dcdaf);
    /// ```
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.generator.next_u64()
    }

    /// A number uniformly drawn from `[0, 1)`.
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(1);
    /// assert!((0..100).all(|_| (0.0..1.0).contains(&rng.f64())));
    /// ```
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A number uniformly drawn from `[low, high)`.
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(1);
    /// let x = rng.uniform(-1.0, 1.0);
    /// assert!((-1.0..1.0).contains(&x));
    /// ```
    #[inline]
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.f64()
    }

    /// An integer uniformly drawn from `0..n` (`n` must be at least 1).
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(3);
    /// assert!(rng.below(10) < 10);
    /// ```
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            panic!("below(0) asks for a number in the empty range 0..0: give a bound of at least 1");
        }
        // Lemire's multiply-and-reject: no modulo bias.
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = self.next_u64() as u128 * n as u128;
            if product as u64 >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A number from the standard normal distribution (mean 0, standard
    /// deviation 1), by the Box–Muller transform.
    ///
    /// ```
    /// let mut rng = rustpar::prelude::SeededRng::new(5);
    /// let mean = (0..10_000).map(|_| rng.normal()).sum::<f64>() / 10_000.0;
    /// assert!(mean.abs() < 0.05);
    /// ```
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.f64(); // in (0, 1], so its logarithm is finite
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Shuffles a slice in place (Fisher–Yates).
    ///
    /// ```
    /// let mut v = vec![1, 2, 3, 4, 5];
    /// rustpar::prelude::SeededRng::new(9).shuffle(&mut v);
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3, 4, 5]);
    /// ```
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// An array of the given shape (`10`, `(rows, cols)`, ...) filled with numbers
/// uniformly drawn from `[0, 1)`; the same seed gives the same array.
///
/// ```
/// use rustpar::prelude::*;
/// let m: Array2<f64> = random_array((3, 4), 42);
/// assert_eq!(m.shape(), [3, 4]);
/// assert_eq!(m, random_array((3, 4), 42));
/// let v: Array1<f64> = random_array(5, 42);
/// assert!(v.iter().all(|x| (0.0..1.0).contains(x)));
/// ```
pub fn random_array<Sh: ShapeBuilder>(shape: Sh, seed: u64) -> Array<f64, Sh::Dim> {
    let mut rng = SeededRng::new(seed);
    Array::from_shape_simple_fn(shape, || rng.f64())
}

/// An array of the given shape filled with standard normal numbers (mean 0,
/// standard deviation 1); the same seed gives the same array.
///
/// ```
/// use rustpar::prelude::*;
/// let noise = random_normal(1000, 3);
/// assert!(noise.mean().unwrap().abs() < 0.1);
/// ```
pub fn random_normal<Sh: ShapeBuilder>(shape: Sh, seed: u64) -> Array<f64, Sh::Dim> {
    let mut rng = SeededRng::new(seed);
    Array::from_shape_simple_fn(shape, || rng.normal())
}

/// A `Vec` of `len` numbers uniformly drawn from `[0, 1)`.
///
/// ```
/// let v = rustpar::prelude::random_vec(4, 1);
/// assert_eq!(v.len(), 4);
/// assert_eq!(v, rustpar::prelude::random_vec(4, 1));
/// ```
pub fn random_vec(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = SeededRng::new(seed);
    (0..len).map(|_| rng.f64()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn splitmix_matches_its_reference_values() {
        // The first outputs of SplitMix64 seeded with 1234567 (from the
        // reference implementation by Sebastiano Vigna).
        let mut rng = SeededRng::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
        assert_eq!(rng.next_u64(), 9817491932198370423);
    }

    #[test]
    fn seeds_decide_the_numbers() {
        assert_eq!(random_array((2, 3), 1), random_array((2, 3), 1));
        assert_ne!(random_array((2, 3), 1), random_array((2, 3), 2));
        assert_eq!(random_vec(6, 1), random_array(6, 1).to_vec());
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut rng = SeededRng::new(11);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[rng.below(4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    }

    #[test]
    fn the_normal_numbers_have_unit_spread() {
        let x = random_normal(20_000, 8);
        let mean = x.mean().unwrap();
        let var = x.mapv(|v| (v - mean).powi(2)).mean().unwrap();
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean}, variance {var}");
    }

    #[test]
    fn parallel_zip_matches_the_serial_loop() {
        let a = random_array((64, 32), 1);
        let b = random_array((64, 32), 2);
        let mut c = Array2::<f64>::zeros((64, 32));
        Zip::from(&mut c).and(&a).and(&b).par_for_each(|c, &a, &b| *c = a * b);
        assert_eq!(c, &a * &b);
        let mut d = a.clone();
        d.par_mapv_inplace(|x| 2.0 * x);
        assert_eq!(d, &a * 2.0);
        let sums: Vec<f64> = a.axis_iter(Axis(0)).into_par_iter().map(|row| row.sum()).collect();
        assert_eq!(sums.len(), 64);
    }
}
