//! Cooperative interrupts.
//!
//! When you press the notebook's stop button, the kernel raises a flag in the
//! process that runs your cell. Code that checks the flag stops by itself and
//! the session keeps all its variables; code that never checks (`loop {}`) is
//! stopped by restarting the evaluator (after a grace period of well under a
//! second), which loses them. So, in long loops, call [`check_interrupt`],
//! and wait with [`sleep`] rather than `std::thread::sleep`.
//!
//! In a parallel loop, write `.interruptible()` (see [`Interruptible`]) in
//! front of `for_each`, `map`, `sum`...: it checks the flag before each item
//! and, as soon as one thread stops, keeps the others from starting any new
//! item. (Calling `check_interrupt()` inside a rayon closure also stops the
//! loop, but rayon then still visits every pending piece of the work once,
//! which for millions of items takes too long.) The prelude's own waits
//! (channels, pipelines, semaphores, progress bars, timings) check the flag by
//! themselves.
//!
//! ```
//! use rustpar::prelude::*;
//! for step in 0..3 {
//!     check_interrupt();
//!     sleep(std::time::Duration::from_millis(1));
//! }
//! let total: u64 = (0..1_000_000u64).into_par_iter().interruptible().map(|x| x % 3).sum();
//! assert_eq!(total, 999_999);
//! ```

use crate::session::state;
use rayon::iter::ParallelIterator;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The payload of the panic that stops an interrupted cell.
///
/// ```
/// let stopped = std::panic::catch_unwind(|| std::panic::panic_any(rustpar::cancel::Interrupted));
/// assert!(stopped.unwrap_err().is::<rustpar::cancel::Interrupted>());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

/// True once the person at the notebook has asked the running cell to stop.
///
/// ```
/// assert!(!rustpar::prelude::interrupted());
/// ```
pub fn interrupted() -> bool {
    state().interrupt.load(Ordering::Relaxed)
}

/// Stops the cell if it was interrupted, keeping the session's variables.
/// Cheap enough (one atomic load) to call in every iteration of a loop. In
/// rayon's parallel iterators, prefer [`.interruptible()`](Interruptible),
/// which also stops the other threads at once.
///
/// ```
/// rustpar::prelude::check_interrupt();
/// ```
pub fn check_interrupt() {
    if interrupted() {
        std::panic::panic_any(Interrupted);
    }
    // A new cell: the next interrupt is reported to the kernel again.
    let reported = &state().interrupt_reported;
    if reported.load(Ordering::Relaxed) {
        reported.store(false, Ordering::Relaxed);
    }
}

/// True the first time it is called after an interrupt (until the next cell),
/// so that a parallel loop whose every thread stops reports the stop once.
pub(crate) fn first_report_of_interrupt() -> bool {
    !state().interrupt_reported.swap(true, Ordering::Relaxed)
}

/// Adds `.interruptible()` to rayon's parallel iterators: a loop that stops
/// promptly, on every thread, when the cell is interrupted.
///
/// ```
/// use rustpar::prelude::*;
/// let v: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
/// let roots: Vec<f64> = v.par_iter().interruptible().map(|x| x.sqrt()).collect();
/// assert_eq!(roots[9], 3.0);
/// ```
pub trait Interruptible: rayon::iter::ParallelIterator {
    /// This iterator, checking for an interrupt before each item. Once a
    /// thread stops, the others start no new item (rayon's `panic_fuse`), so
    /// the loop ends quickly even with millions of items left.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// (0..100).into_par_iter().interruptible().for_each(|i| assert!(i < 100));
    /// ```
    fn interruptible(self) -> rayon::iter::Inspect<rayon::iter::PanicFuse<Self>, fn(&Self::Item)> {
        // The fuse comes first so that it sees the panic of the check.
        let check: fn(&Self::Item) = |_| check_interrupt();
        self.panic_fuse().inspect(check)
    }
}

impl<P: rayon::iter::ParallelIterator> Interruptible for P {}

/// Sleeps like `std::thread::sleep`, but wakes up and stops the cell when it
/// is interrupted.
///
/// ```
/// rustpar::prelude::sleep(std::time::Duration::from_millis(5));
/// ```
pub fn sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    loop {
        check_interrupt();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}
