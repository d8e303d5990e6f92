//! Thread pools and data parallelism with rayon.
//!
//! [rayon](https://docs.rs/rayon) turns an iterator into a parallel one:
//! write `par_iter()` instead of `iter()` and the work is split between the
//! threads of a *pool*. By default rayon's global pool has one thread per core
//! ([`cores`]); [`on_threads`] runs code on a pool of the size you choose,
//! which is how you measure how a program scales.
//!
//! - [`join`] runs two closures, possibly in parallel (fork–join);
//! - [`scope`] spawns any number of tasks that may borrow local variables;
//! - [`thread::scope`] does the same with plain OS threads
//!   (`thread` is re-exported too).
//!
//! ```
//! use rustpar::prelude::*;
//! let v: Vec<u64> = (1..=1000).collect();
//! let sum: u64 = v.par_iter().sum();
//! let (evens, odds) = join(|| v.iter().filter(|x| *x % 2 == 0).count(), || v.iter().filter(|x| *x % 2 == 1).count());
//! assert_eq!((sum, evens, odds), (500_500, 500, 500));
//! let on_two = on_threads(2, || rayon::current_num_threads());
//! assert_eq!(on_two, 2);
//! ```

pub use rayon::{ThreadPool, current_num_threads, join, scope};
pub use std::thread;

/// The number of threads this machine can run at the same time (its cores,
/// or what the container allows); 1 when it cannot be found out.
///
/// ```
/// let n = rustpar::prelude::cores();
/// assert!(n >= 1);
/// ```
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A rayon thread pool with exactly `threads` threads. Run code on it with
/// its `install` method: every parallel iterator inside uses this pool.
///
/// ```
/// use rustpar::prelude::*;
/// let four = pool(4);
/// let sum: u64 = four.install(|| (1..=100u64).into_par_iter().sum());
/// assert_eq!(sum, 5050);
/// assert_eq!(four.current_num_threads(), 4);
/// ```
pub fn pool(threads: usize) -> ThreadPool {
    if threads == 0 {
        panic!("a pool needs at least one thread: pool(0) cannot run anything (try pool(1), or pool(cores()))");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rustpar-pool-{i}"))
        // A task of `spawn` that panics fails the cell instead of aborting the process.
        .panic_handler(crate::session::report_task_panic)
        .build()
        .unwrap_or_else(|error| panic!("could not start a pool of {threads} threads: {error}"))
}

/// Runs `work` on a fresh pool of `threads` threads and returns its result:
/// the parallel iterators, `join`s and `scope`s inside use that many threads.
///
/// ```
/// use rustpar::prelude::*;
/// let squares: Vec<u32> = on_threads(2, || (0..5u32).into_par_iter().map(|x| x * x).collect());
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// ```
pub fn on_threads<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    pool(threads).install(work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn pools_have_the_size_asked_for() {
        for n in 1..=3 {
            assert_eq!(on_threads(n, rayon::current_num_threads), n);
        }
    }

    #[test]
    fn pool_threads_are_named() {
        let names: Vec<String> = on_threads(2, || (0..4).into_par_iter().map(|_| thread::current().name().unwrap_or("").to_owned()).collect());
        assert!(names.iter().all(|name| name.starts_with("rustpar-pool-")), "{names:?}");
    }

    #[test]
    #[should_panic(expected = "a pool needs at least one thread")]
    fn a_pool_of_no_thread_is_explained() {
        pool(0);
    }

    #[test]
    fn cores_is_positive() {
        assert!(cores() >= 1);
    }
}
