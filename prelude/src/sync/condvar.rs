//! [`Condvar`] with std's API, for the prelude's [`Mutex`].

use super::lock::{Mutex, MutexGuard};
use super::tracker;
use std::panic::Location;
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

/// How long a waiting thread sleeps before it looks at the cell's interrupt again.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A condition variable with std's API: a thread holding a [`Mutex`] sleeps
/// in [`wait`](Condvar::wait) until another calls
/// [`notify_one`](Condvar::notify_one) or [`notify_all`](Condvar::notify_all).
/// As with std's, a wait may also end for no reason, so wait in a loop (or
/// with [`wait_while`](Condvar::wait_while)). An interrupt stops a waiting
/// cell, keeping its variables.
///
/// ```
/// use rustpar::prelude::*;
/// let ready = Arc::new((Mutex::new(false), Condvar::new()));
/// let other = ready.clone();
/// let setter = thread::spawn(move || {
///     *other.0.lock().unwrap() = true;
///     other.1.notify_all();
/// });
/// let guard = ready.1.wait_while(ready.0.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*guard);
/// drop(guard);
/// setter.join().unwrap();
/// ```
#[derive(Debug, Default)]
pub struct Condvar {
    /// Counts notifications, so that a waiter knows one came.
    notified: std::sync::Mutex<u64>,
    wake: std::sync::Condvar,
}

/// Whether a timed wait ended because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar { notified: std::sync::Mutex::new(0), wake: std::sync::Condvar::new() }
    }

    /// Lets go of the guard's lock, sleeps until notified, and takes the lock again.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None, Location::caller()).0
    }

    /// Waits until `condition` is false, looking at it after each wake-up.
    #[track_caller]
    pub fn wait_while<'a, T, F: FnMut(&mut T) -> bool>(&self, mut guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>> {
        let at = Location::caller();
        while condition(&mut *guard) {
            guard = self.wait_until(guard, None, at).0?;
        }
        Ok(guard)
    }

    /// As [`wait`](Condvar::wait), for at most `timeout`.
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (guard, timed_out) = self.wait_until(guard, Some(Instant::now() + timeout), Location::caller());
        match guard {
            Ok(guard) => Ok((guard, WaitTimeoutResult(timed_out))),
            Err(poisoned) => Err(PoisonError::new((poisoned.into_inner(), WaitTimeoutResult(timed_out)))),
        }
    }

    /// As [`wait_while`](Condvar::wait_while), for at most `timeout`.
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F: FnMut(&mut T) -> bool>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let at = Location::caller();
        let deadline = Instant::now() + timeout;
        while condition(&mut *guard) {
            if Instant::now() >= deadline {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = match self.wait_until(guard, Some(deadline), at).0 {
                Ok(guard) => guard,
                Err(poisoned) => return Err(PoisonError::new((poisoned.into_inner(), WaitTimeoutResult(false)))),
            };
        }
        Ok((guard, WaitTimeoutResult(false)))
    }

    pub fn notify_one(&self) {
        *self.notified.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.wake.notify_one();
    }

    pub fn notify_all(&self) {
        *self.notified.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.wake.notify_all();
    }

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> (LockResult<MutexGuard<'a, T>>, bool) {
        let mutex: &'a Mutex<T> = guard.mutex();
        // Taken before the lock is let go: a notification after that point
        // needs `notified`, so it cannot slip in unseen.
        let mut notified = self.notified.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = *notified;
        std::mem::forget(guard);
        mutex.unlock_for_wait();
        let mut timed_out = false;
        while *notified == seen {
            let slice = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(WAIT_SLICE),
                    _ => {
                        timed_out = true;
                        break;
                    }
                },
                None => WAIT_SLICE,
            };
            notified = self.wake.wait_timeout(notified, slice).unwrap_or_else(PoisonError::into_inner).0;
            if crate::cancel::interrupted() {
                drop(notified);
                // The lock is taken again first, so the guard the caller drops while stopping is real.
                let _guard = mutex.relock_after_wait(at);
                tracker::stop_cooperatively(crate::cancel::Interrupted);
            }
        }
        drop(notified);
        (mutex.relock_after_wait(at), timed_out)
    }
}
