//! The parallel prelude of rustpar notebooks.
//!
//! Every rustpar session starts with `use rustpar::prelude::*;` in effect, so
//! a notebook can use what this crate gathers without any `:dep`. One module
//! per idea of the course:
//!
//! - [`pool`]: rayon's parallel iterators, `join` and `scope`; thread pools of
//!   a chosen size ([`pool()`](pool::pool), [`on_threads`](pool::on_threads)),
//!   [`cores`](pool::cores), and scoped OS threads (`thread::scope`);
//! - [`channel`]: crossbeam's bounded and unbounded channels, `select!`,
//!   interrupt-aware waits and a producer–consumer
//!   [`pipeline`](channel::pipeline) with back-pressure;
//! - [`sync`]: locks, condition variables, barriers, atomics, a
//!   [`Semaphore`](sync::Semaphore), and [`race_demo`](sync::race_demo) to
//!   watch updates get lost;
//! - [`array`](mod@array): ndarray with parallel `Zip`, and seeded random arrays
//!   ([`random_array`](array::random_array)) so notebooks are reproducible;
//! - [`timing`]: [`timeit`](timing::timeit), [`compare`](timing::compare) and
//!   [`scaling`](timing::scaling) (speedup, efficiency and an Amdahl fit);
//! - [`plot`]: line, scatter, bar and histogram charts, shown as SVG;
//! - [`timeline`]: which thread did what when, drawn as one row per thread;
//! - [`display`]: rich outputs (HTML, Markdown, SVG, PNG, tables, progress
//!   bars) that appear at once and can be updated in place;
//! - `mpi` (in `:mpi` cells only): helpers for ranks that gather, reduce and
//!   time together, on the `mpi` crate;
//! - [`cancel`]: cooperative interrupts, so that stopping a cell keeps the
//!   session's variables (the waits and progress bars above check for them).
//!
//! Three more parts come with every session but are not dependencies of this
//! crate, because rust-analyzer reads every crate of a session's
//! dependencies before its first cell, and these are large: GPU arrays and
//! kernels (the `rustpar-gpu` crate: `GpuArray`, `gpu_available`, …, on
//! cudarc), factorisations of ndarray matrices (`linalg::Cholesky`,
//! `linalg::eigvalsh`, `linalg::lstsq`: the `rustpar-linalg` crate, on faer)
//! and async I/O (`tokio`). The kernel adds each, already built, the
//! first time a cell names it, as listed under
//! `[package.metadata.rustpar.on-demand]` in this crate's Cargo.toml. The
//! linear-algebra crate nalgebra is built ahead of time as well, and a
//! notebook adds it with the line listed there under `precompiled`,
//! `:dep nalgebra = { version = "0.34.2", default-features = false, features = ["std"] }`,
//! which then compiles nothing.
//!
//! ```
//! use rustpar::prelude::*;
//! let v: Vec<u64> = (1..=1000).collect();
//! let total: u64 = on_threads(2, || v.par_iter().sum());
//! check_interrupt(); // returns at once unless the cell was interrupted
//! assert_eq!(total, 500_500);
//! ```

pub mod array;
pub mod cancel;
pub mod channel;
pub mod display;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod plot;
pub mod pool;
#[doc(hidden)]
pub mod session;
pub mod sync;
pub mod timeline;
pub mod timing;

pub use crossbeam_channel;
pub use ndarray;
pub use plotters;
pub use rayon;

/// Everything a notebook cell gets from `use rustpar::prelude::*;`.
pub mod prelude {
    pub use crate::array::{
        Array, Array1, Array2, Array3, ArrayBase, ArrayD, ArrayView, ArrayView1, ArrayView2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Axis, Dim,
        Ix1, Ix2, Ix3, IxDyn, IxDynImpl, OwnedRepr, SeededRng, ShapeBuilder, ViewRepr, Zip, array, azip, ndarray, par_azip, random_array,
        random_normal, random_vec, s,
    };
    pub use crate::cancel::{Interruptible, check_interrupt, interrupted, sleep};
    pub use crate::channel::{
        Receiver, RecvChecked, RecvError, RecvTimeoutError, Results, SendChecked, SendError, SendTimeoutError, Sender, TryRecvError, TrySendError,
        after, bounded, never, pipeline, select, tick, unbounded,
    };
    pub use crate::display::ShowResult as _;
    pub use crate::display::{
        DisplayHandle, ParWithProgress, Progress, Row, Table, Tabular, WithProgress, bundle, clear_output, html, markdown, png, progress, svg, table,
    };
    pub use crate::plot::{Plot, bar, histogram, line, scatter};
    pub use crate::pool::{ThreadPool, cores, current_num_threads, join, on_threads, pool, scope, thread};
    pub use crate::sync::{
        Arc, AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicUsize, Barrier, Condvar, Mutex, MutexGuard, OnceLock,
        Ordering, Permit, Race, RwLock, RwLockReadGuard, RwLockWriteGuard, Semaphore, deadlock_timeout, lock_tracking, race_demo,
    };
    pub use crate::timeline::{Span, Timeline};
    pub use crate::timing::{Comparison, Scaling, SpeedupCheck, Timing, check_speedup, compare, measure, scaling, timeit};
    pub use rayon;
    pub use rayon::prelude::*;
}
