//! Sharing memory between threads, safely.
//!
//! Threads that share data need it wrapped: [`Arc`] shares ownership, and a
//! lock or an atomic makes changes safe. A [`Mutex`] lets one thread at a
//! time in; an [`RwLock`] lets many readers or one writer in; a [`Condvar`]
//! lets a thread sleep until another says something changed; a [`Barrier`]
//! makes threads wait for each other; a [`Semaphore`] lets at most *n*
//! threads in. Atomics (`AtomicUsize`, ...) change one number without a lock.
//!
//! [`race_demo`] shows what goes wrong without them: updates get lost.
//!
//! The prelude's [`Mutex`], [`RwLock`] and [`Condvar`] have std's API, and
//! the session's lock tracker follows them: a deadlock between them stops the
//! cell with an error (`Deadlock`) that names each thread, the lock it holds
//! and the lock it waits for, with the lines of code, once it has lasted
//! [`deadlock_timeout`] (10 s unless set; at once when the cell is
//! interrupted); and two code paths that take the same locks in opposite
//! orders get a warning under the cell even when the run was lucky. Label a
//! lock for those reports with [`Mutex::named`]; leave it out with
//! [`Mutex::untracked`], or every lock made from then on with
//! [`lock_tracking`]`(false)`, when timing lock costs.
//!
//! `Ordering` here is the memory ordering of atomics (`Ordering::SeqCst`,
//! `Ordering::Relaxed`, ...); for the result of comparisons write
//! `std::cmp::Ordering` (or `use std::cmp::Ordering;`, which then takes over
//! the name).
//!
//! ```
//! use rustpar::prelude::*;
//! let counter = Arc::new(Mutex::new(0));
//! thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| *counter.lock().unwrap() += 1);
//!     }
//! });
//! assert_eq!(*counter.lock().unwrap(), 4);
//! ```

mod condvar;
mod lock;
pub(crate) mod tracker;

use crate::cancel::check_interrupt;
use std::fmt;
use std::time::Duration;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use lock::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
pub use std::sync::{Arc, Barrier, LockResult, OnceLock, PoisonError, TryLockError, TryLockResult};
pub use tracker::Deadlocked;

/// How long threads must wait for each other's locks in a cycle before the
/// cell is stopped with a `Deadlock` error (10 s unless set; the kernel's
/// `:deadlock-timeout 5s` sets it too). An interrupt reports a deadlock at once.
///
/// ```
/// rustpar::sync::deadlock_timeout(std::time::Duration::from_secs(3));
/// ```
pub fn deadlock_timeout(timeout: Duration) {
    tracker::tracker().set_timeout(timeout);
}

/// Whether locks made from now on are tracked (they are unless turned off):
/// tracking costs a few nanoseconds per lock, which a lesson timing locks
/// may leave out.
///
/// ```
/// rustpar::sync::lock_tracking(false);
/// let plain = rustpar::prelude::Mutex::new(0);
/// rustpar::sync::lock_tracking(true);
/// # drop(plain);
/// ```
pub fn lock_tracking(on: bool) {
    tracker::tracker().enabled.store(on, Ordering::Relaxed);
}

/// A counting semaphore: at most `permits` threads hold a [`Permit`] at the
/// same time; the others wait in [`acquire`](Semaphore::acquire). The permit
/// is given back when it is dropped. Built from a `Mutex` and a `Condvar`.
///
/// ```
/// use rustpar::prelude::*;
/// let slots = Semaphore::new(2);
/// let inside = AtomicUsize::new(0);
/// let most = AtomicUsize::new(0);
/// thread::scope(|s| {
///     for _ in 0..6 {
///         s.spawn(|| {
///             let _permit = slots.acquire();
///             let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
///             most.fetch_max(now, Ordering::SeqCst);
///             sleep(std::time::Duration::from_millis(2));
///             inside.fetch_sub(1, Ordering::SeqCst);
///         });
///     }
/// });
/// assert!(most.load(Ordering::SeqCst) <= 2);
/// ```
#[derive(Debug)]
pub struct Semaphore {
    available: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// Proof of having been let in by a [`Semaphore`]; dropping it lets the next
/// waiting thread in.
///
/// ```
/// use rustpar::prelude::*;
/// let s = Semaphore::new(1);
/// {
///     let _permit = s.acquire();
///     assert_eq!(s.available(), 0);
/// } // dropped here
/// assert_eq!(s.available(), 1);
/// ```
#[derive(Debug)]
#[must_use = "the permit is given back as soon as it is dropped: bind it with `let _permit = ...`"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::Semaphore::new(3).available(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { available: std::sync::Mutex::new(permits), freed: std::sync::Condvar::new() }
    }

    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        // The lock is never held while user code runs, so poisoning cannot
        // leave the count half-updated.
        self.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a permit (stopping the cell if it is interrupted while it
    /// waits).
    ///
    /// ```
    /// let s = rustpar::prelude::Semaphore::new(1);
    /// let permit = s.acquire();
    /// drop(permit);
    /// ```
    pub fn acquire(&self) -> Permit<'_> {
        let mut available = self.count();
        while *available == 0 {
            drop(available);
            check_interrupt();
            available = self.count();
            if *available == 0 {
                available = self.freed.wait_timeout(available, Duration::from_millis(20)).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
            }
        }
        *available -= 1;
        Permit { semaphore: self }
    }

    /// A permit if one is free now, `None` otherwise (never waits).
    ///
    /// ```
    /// let s = rustpar::prelude::Semaphore::new(1);
    /// let first = s.try_acquire();
    /// assert!(first.is_some());
    /// assert!(s.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut available = self.count();
        (*available > 0).then(|| {
            *available -= 1;
            Permit { semaphore: self }
        })
    }

    /// How many permits are free right now.
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::Semaphore::new(2).available(), 2);
    /// ```
    pub fn available(&self) -> usize {
        *self.count()
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.semaphore.count() += 1;
        self.semaphore.freed.notify_one();
    }
}

/// What [`race_demo`] counted.
///
/// ```
/// let race = rustpar::prelude::race_demo(2, 1000);
/// assert_eq!(race.expected, 2000);
/// assert_eq!(race.lost(), race.expected - race.racy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Race {
    /// Threads × increments: what a correct counter reaches.
    pub expected: u64,
    /// What the counter updated with a separate read and write reached.
    pub racy: u64,
    /// What the counter updated with `fetch_add` reached (always `expected`).
    pub safe: u64,
}

impl Race {
    /// The updates the racy counter lost.
    ///
    /// ```
    /// let race = rustpar::prelude::race_demo(1, 100);
    /// assert_eq!(race.lost(), 0); // one thread cannot race with itself
    /// ```
    pub fn lost(&self) -> u64 {
        self.expected - self.racy
    }

    /// How evcxr shows a race that ends a cell.
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        crate::display::bundle([("text/plain", self.to_string())]);
    }
}

impl fmt::Display for Race {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {}, racy counter {} ({} updates lost, {:.1}%), atomic fetch_add counter {}",
            self.expected,
            self.racy,
            self.lost(),
            100.0 * self.lost() as f64 / self.expected.max(1) as f64,
            self.safe
        )
    }
}

/// Makes a lost-update race visible, safely: `threads` threads each add 1 to
/// two shared counters `increments` times. The racy counter is updated with a
/// load, then (after a `yield_now` that invites another thread in) a store
/// of the value read plus one, so two threads that read the same value both
/// write the same result and one update is lost. The safe counter uses
/// `fetch_add`, a single indivisible read-modify-write. (Both are atomics, so
/// there is no undefined behaviour: the race is in the program's logic, which
/// is what a data race on a plain variable would also break.)
///
/// ```
/// use rustpar::prelude::*;
/// let race = race_demo(4, 1_000);
/// println!("{race}");
/// assert!(race.racy <= race.expected);
/// assert_eq!(race.safe, race.expected);
/// ```
pub fn race_demo(threads: usize, increments: u64) -> Race {
    let racy = AtomicU64::new(0);
    let safe = AtomicU64::new(0);
    let start = Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for i in 0..increments {
                    if i % 1024 == 0 && crate::cancel::interrupted() {
                        return; // stopped below, on the calling thread
                    }
                    let seen = racy.load(Ordering::Relaxed);
                    std::thread::yield_now();
                    racy.store(seen + 1, Ordering::Relaxed);
                    safe.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    check_interrupt();
    Race { expected: threads as u64 * increments, racy: racy.into_inner(), safe: safe.into_inner() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_race_never_counts_too_much_and_the_atomic_counter_is_exact() {
        for threads in 1..=4 {
            let race = race_demo(threads, 2_000);
            assert_eq!(race.expected, threads as u64 * 2_000);
            assert!(race.racy <= race.expected, "{race}");
            assert!(race.racy >= 1, "{race}");
            assert_eq!(race.safe, race.expected, "{race}");
        }
        assert_eq!(race_demo(1, 500).lost(), 0);
    }

    #[test]
    fn the_semaphore_limits_how_many_are_inside() {
        let semaphore = Semaphore::new(2);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let _permit = semaphore.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(semaphore.available(), 2);
    }

    #[test]
    fn try_acquire_never_waits() {
        let semaphore = Semaphore::new(1);
        let permit = semaphore.try_acquire().expect("one is free");
        assert!(semaphore.try_acquire().is_none());
        drop(permit);
        assert!(semaphore.try_acquire().is_some());
    }
}
