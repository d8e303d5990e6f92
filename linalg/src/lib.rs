//! Factorisations of `ndarray` matrices at BLAS speed, as `numpy.linalg` and
//! `scipy.linalg` give Python: a Cholesky factorisation to solve many
//! right-hand sides with, the eigenvalues of a symmetric matrix, least
//! squares.
//!
//! The work is done by [faer](https://docs.rs/faer), a linear-algebra crate
//! in Rust that uses every core for large matrices. Measured on the course's
//! 2-core machine (400×400, `bench/python_vs_rust.py`), it factorises and
//! solves several times faster than nalgebra and than OpenBLAS's LAPACK.
//! For eigenvalues alone, the LAPACK in Debian 12's OpenBLAS (`dsyevd`) is
//! faster on one thread (by 8 % at 60×60, 45 % at 800×800), but calls from
//! several threads wait for each other: 48 eigenvalue problems of 60×60 on
//! two threads took as long as on one, where faer's took half as long.
//! faer's algorithms are generic, and a cell that called them would compile
//! them for itself: tens of seconds at opt-level 3. The functions here are
//! not generic, so they are compiled once, with the prelude's saved build,
//! and a cell that calls them compiles in a fraction of a second.
//!
//! ```
//! use ndarray::array;
//! use rustpar_linalg::{Cholesky, eigvalsh};
//!
//! // 4 x + 2 y = 2 and 2 x + 3 y = 1: x = 0.5, y = 0.
//! let a = array![[4.0, 2.0], [2.0, 3.0]];
//! let x = Cholesky::new(&a).unwrap().solve(&array![[2.0], [1.0]]);
//! assert!((x[[0, 0]] - 0.5).abs() < 1e-12 && x[[1, 0]].abs() < 1e-12);
//! let eigenvalues = eigvalsh(&array![[2.0, 1.0], [1.0, 2.0]]).unwrap();
//! assert!((eigenvalues[0] - 1.0).abs() < 1e-12 && (eigenvalues[1] - 3.0).abs() < 1e-12);
//! ```

use faer::linalg::solvers::{Llt, Solve};
use faer::{Mat, MatRef, Side};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, AsArray, Ix1, Ix2};
use std::fmt;

/// Why a factorisation could not be computed.
#[derive(Clone, PartialEq)]
pub enum LinalgError {
    /// The matrix is not square, or the right-hand side does not fit it.
    Shape(String),
    /// Cholesky needs a symmetric positive definite matrix.
    NotPositiveDefinite,
    /// The iteration of an eigenvalue or singular value solver did not converge.
    NoConvergence,
}

impl fmt::Display for LinalgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinalgError: ")?;
        match self {
            LinalgError::Shape(what) => write!(f, "{what}."),
            LinalgError::NotPositiveDefinite => write!(
                f,
                "the matrix is not positive definite, so it has no Cholesky factorisation; check that it is symmetric with a positive diagonal, or use another solver."
            ),
            LinalgError::NoConvergence => write!(f, "the solver's iteration did not converge; check the matrix for NaN or infinite entries."),
        }
    }
}

// A failed `.unwrap()` shows the sentence, not the variant's name.
impl fmt::Debug for LinalgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for LinalgError {}

/// The Cholesky factorisation *A* = *L Lᵀ* of a symmetric positive definite
/// matrix: factorise once (about *n*³/3 operations), then solve for any
/// number of right-hand sides (about 2*n*² each). Only the lower triangle of
/// *A* is read. Solving only reads the factors, so threads can share one.
pub struct Cholesky {
    factors: Llt<f64>,
    size: usize,
}

impl Cholesky {
    pub fn new<'a>(a: impl AsArray<'a, f64, Ix2>) -> Result<Cholesky, LinalgError> {
        Cholesky::of(a.into())
    }

    fn of(a: ArrayView2<'_, f64>) -> Result<Cholesky, LinalgError> {
        let size = square(a, "Cholesky")?;
        let factors = to_faer(a).llt(Side::Lower).map_err(|_| LinalgError::NotPositiveDefinite)?;
        Ok(Cholesky { factors, size })
    }

    /// *X* with *A X* = *B*, for all the columns of `b` in one call (a
    /// multi-RHS solve, as SciPy's `cho_solve` with a matrix).
    ///
    /// Panics when `b` does not have as many rows as *A*.
    pub fn solve<'a>(&self, b: impl AsArray<'a, f64, Ix2>) -> Array2<f64> {
        self.solve_matrix(b.into())
    }

    fn solve_matrix(&self, b: ArrayView2<'_, f64>) -> Array2<f64> {
        self.check_rows(b.nrows());
        from_faer(self.factors.solve(to_faer(b).as_ref()).as_ref())
    }

    /// *x* with *A x* = *b*, for one right-hand side.
    ///
    /// Panics when `b` does not have as many entries as *A* has rows.
    pub fn solve_vector<'a>(&self, b: impl AsArray<'a, f64, Ix1>) -> Array1<f64> {
        self.solve_column(b.into())
    }

    fn solve_column(&self, b: ArrayView1<'_, f64>) -> Array1<f64> {
        self.check_rows(b.len());
        let column = self.factors.solve(Mat::from_fn(b.len(), 1, |i, _| b[i]));
        Array1::from_shape_fn(b.len(), |i| column[(i, 0)])
    }

    fn check_rows(&self, rows: usize) {
        assert!(rows == self.size, "{}", LinalgError::Shape(format!("the right-hand side has {rows} rows, the matrix {}", self.size)));
    }
}

/// The eigenvalues of a symmetric matrix, smallest first (as NumPy's
/// `eigvalsh`). Only the lower triangle is read.
pub fn eigvalsh<'a>(a: impl AsArray<'a, f64, Ix2>) -> Result<Array1<f64>, LinalgError> {
    symmetric_eigenvalues(a.into())
}

fn symmetric_eigenvalues(a: ArrayView2<'_, f64>) -> Result<Array1<f64>, LinalgError> {
    square(a, "eigvalsh")?;
    let mut eigenvalues = to_faer(a).self_adjoint_eigenvalues(Side::Lower).map_err(|_| LinalgError::NoConvergence)?;
    eigenvalues.sort_by(f64::total_cmp);
    Ok(Array1::from_vec(eigenvalues))
}

/// The *x* that minimises ‖*A x* − *b*‖₂, through the singular value
/// decomposition of *A* (as NumPy's `lstsq`): for a full-rank *A* with more
/// rows than columns, the least-squares fit.
pub fn lstsq<'a, 'b>(a: impl AsArray<'a, f64, Ix2>, b: impl AsArray<'b, f64, Ix1>) -> Result<Array1<f64>, LinalgError> {
    least_squares(a.into(), b.into())
}

fn least_squares(a: ArrayView2<'_, f64>, b: ArrayView1<'_, f64>) -> Result<Array1<f64>, LinalgError> {
    if a.nrows() != b.len() {
        return Err(LinalgError::Shape(format!("lstsq: the matrix has {} rows and the right-hand side {} entries", a.nrows(), b.len())));
    }
    let svd = to_faer(a).thin_svd().map_err(|_| LinalgError::NoConvergence)?;
    let x = svd.pseudoinverse() * Mat::from_fn(b.len(), 1, |i, _| b[i]);
    Ok(Array1::from_shape_fn(a.ncols(), |i| x[(i, 0)]))
}

fn square(a: ArrayView2<'_, f64>, what: &str) -> Result<usize, LinalgError> {
    match a.dim() {
        (rows, columns) if rows == columns => Ok(rows),
        (rows, columns) => Err(LinalgError::Shape(format!("{what} needs a square matrix, and this one is {rows}×{columns}"))),
    }
}

/// A copy: O(n²), against the O(n³) of a factorisation, and any layout of
/// ndarray's (transposed, sliced) comes out right.
fn to_faer(a: ArrayView2<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_faer(a: MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.nrows(), a.ncols()), |(i, j)| a[(i, j)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    // In the workspace, ndarray's `dot` calls CBLAS (the prelude turns its
    // `blas` feature on): the tests link the library the prelude links for it.
    #[link(name = "openblas")]
    unsafe extern "C" {}

    /// The course's stiffness-like matrix: banded, symmetric positive definite.
    fn banded(n: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, n), |(i, j)| match i.abs_diff(j) {
            0 => 10.0,
            1 => -2.0,
            2 => -1.0,
            _ => 0.0,
        })
    }

    #[test]
    fn cholesky_solves_many_right_hand_sides_and_one() {
        let a = banded(50);
        let b = Array2::from_shape_fn((50, 7), |(i, j)| (i * 7 + j) as f64 / 10.0);
        let cholesky = Cholesky::new(&a).unwrap();
        let x = cholesky.solve(&b);
        assert!((a.dot(&x) - &b).iter().all(|r| r.abs() < 1e-10));
        let column = cholesky.solve_vector(b.column(3));
        assert!((&column - &x.column(3)).iter().all(|d| d.abs() < 1e-12));
        // A transposed view is read as the matrix it shows.
        assert!((cholesky.solve(b.t().t()) - &x).iter().all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn bad_matrices_get_errors_that_say_why() {
        assert_eq!(Cholesky::new(&array![[1.0, 2.0], [2.0, 1.0]]).err(), Some(LinalgError::NotPositiveDefinite));
        let error = eigvalsh(&Array2::<f64>::zeros((2, 3))).unwrap_err();
        assert_eq!(error.to_string(), "LinalgError: eigvalsh needs a square matrix, and this one is 2×3.");
        assert!(lstsq(&Array2::<f64>::zeros((3, 2)), &array![1.0, 2.0]).is_err());
    }

    #[test]
    #[should_panic(expected = "the right-hand side has 3 rows, the matrix 2")]
    fn a_right_hand_side_of_the_wrong_size_panics_with_the_sizes() {
        Cholesky::new(&array![[2.0, 0.0], [0.0, 2.0]]).unwrap().solve(&Array2::<f64>::zeros((3, 1)));
    }

    #[test]
    fn eigenvalues_come_smallest_first() {
        // The second difference matrix: eigenvalues 2 - 2 cos(kπ/(n+1)).
        let n = 20;
        let a = Array2::from_shape_fn((n, n), |(i, j)| match i.abs_diff(j) {
            0 => 2.0,
            1 => -1.0,
            _ => 0.0,
        });
        let eigenvalues = eigvalsh(&a).unwrap();
        for (k, value) in eigenvalues.iter().enumerate() {
            let expected = 2.0 - 2.0 * ((k + 1) as f64 * std::f64::consts::PI / (n + 1) as f64).cos();
            assert!((value - expected).abs() < 1e-12, "eigenvalue {k}: {value} against {expected}");
        }
    }

    #[test]
    fn least_squares_fits_a_line() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let design = Array2::from_shape_fn((5, 2), |(i, j)| if j == 0 { xs[i] } else { 1.0 });
        // Points on y = 2x + 1, with residuals that sum to zero against both columns.
        let ys = array![3.1, 4.8, 7.0, 9.2, 10.9];
        let fit = lstsq(&design, &ys).unwrap();
        let normal = design.t().dot(&(design.dot(&fit) - &ys));
        assert!(normal.iter().all(|r| r.abs() < 1e-10), "the residual is orthogonal to the columns: {normal}");
    }
}
