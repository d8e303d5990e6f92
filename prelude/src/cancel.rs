//! Cooperative interrupts.
//!
//! When you press the notebook's stop button, the kernel raises a flag in the
//! process that runs your cell. Code that checks the flag stops by itself and
//! the session keeps all its variables; code that never checks (`loop {}`) is
//! stopped by restarting the evaluator, which loses them. So, in long loops,
//! call [`check_interrupt`], and wait with [`sleep`] rather than
//! `std::thread::sleep`.
//!
//! ```
//! use rustpar::prelude::*;
//! for step in 0..3 {
//!     check_interrupt();
//!     sleep(std::time::Duration::from_millis(1));
//! }
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The payload of the panic that stops an interrupted cell.
///
/// ```
/// let stopped = std::panic::catch_unwind(|| std::panic::panic_any(rustpar::cancel::Interrupted));
/// assert!(stopped.unwrap_err().is::<rustpar::cancel::Interrupted>());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

/// The kernel's flag, when this code runs in a rustpar cell process.
fn flag() -> Option<&'static AtomicBool> {
    static FLAG: OnceLock<Option<&'static AtomicBool>> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let address: usize = std::env::var(rustpar_wire::INTERRUPT_FLAG_ENV).ok()?.parse().ok()?;
        // SAFETY: the cell process publishes the address of a static AtomicBool
        // that lives as long as the process, and this code runs in that process.
        (address != 0).then(|| unsafe { &*(address as *const AtomicBool) })
    })
}

/// True once the person at the notebook has asked the running cell to stop.
///
/// ```
/// assert!(!rustpar::prelude::interrupted());
/// ```
pub fn interrupted() -> bool {
    flag().is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Stops the cell if it was interrupted, keeping the session's variables.
/// Cheap enough (one atomic load) to call in every iteration of a loop,
/// including inside rayon's parallel iterators.
///
/// ```
/// rustpar::prelude::check_interrupt();
/// ```
pub fn check_interrupt() {
    if interrupted() {
        std::panic::panic_any(Interrupted);
    }
}

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
