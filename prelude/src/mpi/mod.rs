//! Message passing between ranks, for cells that start with `:mpi -n N`.
//!
//! Such a cell is a program of its own, built with the [`mpi`](::mpi) crate
//! (rsmpi) and this prelude, and started N times by `mpirun`. Each copy is a
//! *rank*; in the cell, `world` (all ranks), `rank` (this copy's number,
//! from 0) and `size` (N) are already defined. What a rank prints appears in
//! the notebook tagged with its number; its plots and tables appear too.
//!
//! The `mpi` crate does the communication: `world.process_at_rank(1).send(&x)`
//! and `world.process_at_rank(0).receive::<T>()` for numbers, slices and
//! structs marked `#[derive(Equivalence)]`. This module adds the patterns the
//! course uses again and again: gather every rank's value on rank 0
//! ([`gather_to_root`]), add them up ([`reduce_sum`], [`all_reduce_sum`]),
//! hand out a part to each rank ([`scatter_from_root`]) and time a step the
//! way a parallel program is timed, by its slowest rank ([`time_max`]).
//!
//! ```no_run
//! // :mpi -n 4
//! let part: u64 = (rank as u64 * 100..(rank as u64 + 1) * 100).sum();
//! if let Some(total) = reduce_sum(&world, part) {
//!     println!("the sum of 0..{} is {total}", size * 100);
//! }
//! ```

#[doc(hidden)]
pub mod launch;

pub use ::mpi::*;

use ::mpi::collective::SystemOperation;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use std::time::{Duration, Instant};

/// What an `:mpi` cell has in scope besides the main prelude.
pub mod prelude {
    pub use super::{all_reduce_max, all_reduce_sum, gather_to_root, reduce_sum, scatter_from_root, sleeping_barrier, time_max};
    pub use ::mpi::Rank;
    pub use ::mpi::topology::SimpleCommunicator;
    pub use ::mpi::traits::*;
}

/// The rank that collects results: rank 0.
const ROOT: Rank = 0;

/// Every rank's `value`, in rank order, on rank 0 (`Some`); `None` on the
/// other ranks. Works for numbers and for structs marked
/// `#[derive(Equivalence)]`.
///
/// ```no_run
/// // :mpi -n 3
/// if let Some(ranks) = gather_to_root(&world, rank) {
///     assert_eq!(ranks, vec![0, 1, 2]);
/// }
/// ```
pub fn gather_to_root<T: Equivalence + Clone>(world: &SimpleCommunicator, value: T) -> Option<Vec<T>> {
    let root = world.process_at_rank(ROOT);
    if world.rank() == ROOT {
        let mut all = vec![value.clone(); world.size() as usize];
        root.gather_into_root(&value, &mut all[..]);
        Some(all)
    } else {
        root.gather_into(&value);
        None
    }
}

/// Rank 0 hands `parts[r]` to each rank `r` and every rank gets its own part.
/// `parts` is read on rank 0 only (pass `None` elsewhere); it must hold one
/// part per rank.
///
/// ```no_run
/// // :mpi -n 2
/// let parts = (rank == 0).then(|| vec![10.0, 20.0]);
/// let mine = scatter_from_root(&world, parts.as_deref());
/// assert_eq!(mine, 10.0 * (rank + 1) as f64);
/// ```
pub fn scatter_from_root<T: Equivalence + Clone + Default>(world: &SimpleCommunicator, parts: Option<&[T]>) -> T {
    let root = world.process_at_rank(ROOT);
    let mut mine = T::default();
    if world.rank() == ROOT {
        let parts = parts.expect("scatter_from_root: rank 0 must pass Some(parts), one part per rank");
        assert_eq!(
            parts.len(),
            world.size() as usize,
            "scatter_from_root needs exactly one part per rank: {} parts for {} ranks",
            parts.len(),
            world.size()
        );
        root.scatter_into_root(parts, &mut mine);
    } else {
        root.scatter_into(&mut mine);
    }
    mine
}

/// The sum of every rank's `value`, on rank 0 (`Some`); `None` elsewhere.
///
/// ```no_run
/// // :mpi -n 4
/// if let Some(total) = reduce_sum(&world, 1u32) {
///     assert_eq!(total, 4);
/// }
/// ```
pub fn reduce_sum<T: Equivalence + Default>(world: &SimpleCommunicator, value: T) -> Option<T> {
    let root = world.process_at_rank(ROOT);
    if world.rank() == ROOT {
        let mut total = T::default();
        root.reduce_into_root(&value, &mut total, SystemOperation::sum());
        Some(total)
    } else {
        root.reduce_into(&value, SystemOperation::sum());
        None
    }
}

/// The sum of every rank's `value`, on every rank.
///
/// ```no_run
/// // :mpi -n 4
/// assert_eq!(all_reduce_sum(&world, 2.5f64), 10.0);
/// ```
pub fn all_reduce_sum<T: Equivalence + Default>(world: &SimpleCommunicator, value: T) -> T {
    let mut total = T::default();
    world.all_reduce_into(&value, &mut total, SystemOperation::sum());
    total
}

/// The largest of every rank's `value`, on every rank.
///
/// ```no_run
/// // :mpi -n 4
/// assert_eq!(all_reduce_max(&world, rank), size - 1);
/// ```
pub fn all_reduce_max<T: Equivalence + Default>(world: &SimpleCommunicator, value: T) -> T {
    let mut largest = T::default();
    world.all_reduce_into(&value, &mut largest, SystemOperation::max());
    largest
}

/// Waits until every rank of `world` has come here, like `world.barrier()`,
/// but asleep. MPI's own barrier waits by spinning on a core, which is the
/// quickest way to notice the others when every rank has a core of its own.
/// When ranks outnumber cores (`-n 4` on two cores), ranks spinning in a
/// barrier take the cores from the ranks still at work, and what those
/// measure is no longer their own speed.
///
/// ```no_run
/// // :mpi -n 4
/// if rank < 2 {
///     // work that is being timed
/// }
/// sleeping_barrier(&world);
/// ```
pub fn sleeping_barrier(world: &SimpleCommunicator) {
    let mut pending = world.immediate_barrier();
    loop {
        match pending.test() {
            Ok(_) => return,
            Err(still_pending) => pending = still_pending,
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Runs `work` on every rank, starting together, and returns its result with
/// the time of the *slowest* rank: a parallel step is done only when its last
/// rank is. Every rank gets the same time.
///
/// ```no_run
/// // :mpi -n 2
/// let (sum, took) = time_max(&world, || (0..1_000_000u64).sum::<u64>());
/// if rank == 0 {
///     println!("{sum} in {:.2} ms", took.as_secs_f64() * 1e3);
/// }
/// ```
pub fn time_max<R>(world: &SimpleCommunicator, work: impl FnOnce() -> R) -> (R, Duration) {
    world.barrier();
    let started = Instant::now();
    let result = work();
    let mine = started.elapsed().as_secs_f64();
    (result, Duration::from_secs_f64(all_reduce_max(world, mine)))
}
