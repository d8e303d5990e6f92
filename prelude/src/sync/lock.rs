//! [`Mutex`] and [`RwLock`] with std's API, tracked (see [`tracker`](super::tracker)).
//!
//! Both are built on one raw lock: an atomic word (a writer bit and a count
//! of readers) that uncontended threads take with one compare-and-swap, and
//! std's `Mutex` and `Condvar` for the threads that must wait. Waiting threads
//! wake every 50 ms to look at the cell's interrupt and at the tracker, so a
//! deadlock or an interrupt stops them cooperatively and the session keeps
//! its variables. No global table is involved: every cell links its own copy
//! of the prelude, and a lock must work the same from all of them.

use super::tracker::{self, Site, tracker};
use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::Duration;

const WRITER: usize = 1 << (usize::BITS - 1);
/// How long a waiting thread sleeps before it looks at interrupts and deadlocks again.
const WAIT_SLICE: Duration = Duration::from_millis(50);
/// How many times a thread tries again, spinning, before it sleeps.
const SPINS: usize = 64;

/// The lock under both [`Mutex`] and [`RwLock`].
pub(crate) struct RawLock {
    state: AtomicUsize,
    waiters: AtomicUsize,
    gate: std::sync::Mutex<()>,
    wake: std::sync::Condvar,
    poisoned: AtomicBool,
    /// The tracker's number for this lock; 0 when it is not tracked.
    id: u64,
}

impl RawLock {
    fn new(label: Option<String>, made_at: Site, tracked: bool) -> RawLock {
        let id = if tracked { tracker().register(label, made_at) } else { 0 };
        RawLock {
            state: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            gate: std::sync::Mutex::new(()),
            wake: std::sync::Condvar::new(),
            poisoned: AtomicBool::new(false),
            id,
        }
    }

    fn try_write(&self) -> bool {
        self.state.compare_exchange(0, WRITER, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    fn try_read(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & WRITER == 0 {
            match self.state.compare_exchange_weak(state, state + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// Takes the lock if it is free, without waiting.
    fn try_take(&self, write: bool, at: Site) -> bool {
        let taken = if write { self.try_write() } else { self.try_read() };
        if taken && self.id != 0 {
            tracker::acquired(self.id, at);
        }
        taken
    }

    /// `value`, or the same in a `PoisonError` when a thread panicked holding the lock.
    fn checked<V>(&self, value: V) -> LockResult<V> {
        if self.poisoned.load(Ordering::Relaxed) { Err(PoisonError::new(value)) } else { Ok(value) }
    }

    /// Takes the lock (`write`: alone), waiting as long as it takes.
    fn acquire(&self, write: bool, at: Site) {
        let attempt = || if write { self.try_write() } else { self.try_read() };
        let spun = || {
            (0..SPINS).any(|_| {
                std::hint::spin_loop();
                attempt()
            })
        };
        if !attempt() && !spun() {
            self.wait_for(&attempt, at);
        }
        if self.id != 0 {
            tracker::acquired(self.id, at);
        }
    }

    fn wait_for(&self, attempt: &dyn Fn() -> bool, at: Site) {
        let _waiting = Waiting::start(self, at);
        loop {
            // First, and without the gate: a thread told to stop (a deadlock,
            // an interrupt) stops even if the lock has just come free.
            tracker::stop_if_asked(self.id != 0);
            let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            // Tried under the gate: a release after this waits for it, then wakes us.
            if attempt() {
                return;
            }
            drop(self.wake.wait_timeout(gate, WAIT_SLICE).unwrap_or_else(PoisonError::into_inner));
        }
    }

    fn release(&self, write: bool) {
        if self.id != 0 {
            tracker::released(self.id);
        }
        if write && std::thread::panicking() && !tracker::stopping() {
            self.poisoned.store(true, Ordering::Relaxed);
        }
        let last = if write {
            self.state.store(0, Ordering::SeqCst);
            true
        } else {
            self.state.fetch_sub(1, Ordering::SeqCst) == 1
        };
        if last && self.waiters.load(Ordering::SeqCst) > 0 {
            let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }
}

/// A thread waiting for a lock, as the lock and the tracker count it; it
/// stops counting however the wait ends (a deadlock or an interrupt stops
/// the thread with a panic).
struct Waiting<'a> {
    lock: &'a RawLock,
    at: Site,
}

impl Waiting<'_> {
    fn start(lock: &RawLock, at: Site) -> Waiting<'_> {
        if lock.id != 0 {
            tracker::waiting(lock.id, at, true);
        }
        lock.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting { lock, at }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.lock.waiters.fetch_sub(1, Ordering::SeqCst);
        if self.lock.id != 0 {
            tracker::waiting(self.lock.id, self.at, false);
        }
    }
}

impl Drop for RawLock {
    fn drop(&mut self) {
        if self.id != 0 {
            tracker().forget(self.id);
        }
    }
}

/// A mutual-exclusion lock with std's API (`lock()` gives a
/// `LockResult<MutexGuard>`), which the session's lock tracker follows:
/// a deadlock between prelude locks stops the cell with an error that names
/// the threads, the locks and the lines, and two code paths that take the
/// same locks in opposite orders get a warning even when they were lucky.
/// Name a lock for those reports with [`Mutex::named`]; [`Mutex::untracked`]
/// leaves it out (for timing lessons: tracking costs a few nanoseconds).
///
/// ```
/// use rustpar::prelude::*;
/// let account = Mutex::named("account a", 100);
/// *account.lock().unwrap() -= 30;
/// assert_eq!(*account.lock().unwrap(), 70);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: the raw lock lets one thread at a time reach the value, as std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// A reader–writer lock with std's API: many readers at once, or one
/// writer; tracked like [`Mutex`].
///
/// ```
/// use rustpar::prelude::*;
/// let table = RwLock::new(vec![1, 2, 3]);
/// assert_eq!(table.read().unwrap().len(), 3);
/// table.write().unwrap().push(4);
/// assert_eq!(*table.read().unwrap(), [1, 2, 3, 4]);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawLock,
    value: UnsafeCell<T>,
}

// SAFETY: readers share `&T` (needs Sync), a writer gets `&mut T` alone (needs Send), as std's.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Proof of holding a [`Mutex`]; the lock is let go when it is dropped.
#[must_use = "the lock is let go as soon as the guard is dropped: bind it with `let guard = ...`"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

/// Proof of reading an [`RwLock`].
#[must_use = "the lock is let go as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Proof of writing an [`RwLock`].
#[must_use = "the lock is let go as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and takes it. `Err` when a thread panicked while
    /// holding it (the guard is inside: `.unwrap_or_else(|e| e.into_inner())`).
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.acquire(true, Location::caller());
        self.raw.checked(MutexGuard { lock: self })
    }

    /// Takes the lock if it is free, without waiting.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if !self.raw.try_take(true, Location::caller()) {
            return Err(TryLockError::WouldBlock);
        }
        self.raw.checked(MutexGuard { lock: self }).map_err(TryLockError::Poisoned)
    }

    /// Lets go of the lock without a guard, for [`Condvar`](super::Condvar)'s waits.
    pub(crate) fn unlock_for_wait(&self) {
        self.raw.release(true);
    }

    /// Takes the lock again after a wait.
    pub(crate) fn relock_after_wait(&self, at: Site) -> LockResult<MutexGuard<'_, T>> {
        self.raw.acquire(true, at);
        self.raw.checked(MutexGuard { lock: self })
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T: ?Sized> RwLock<T> {
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.raw.acquire(false, Location::caller());
        self.raw.checked(RwLockReadGuard { lock: self })
    }

    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.acquire(true, Location::caller());
        self.raw.checked(RwLockWriteGuard { lock: self })
    }

    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if !self.raw.try_take(false, Location::caller()) {
            return Err(TryLockError::WouldBlock);
        }
        self.raw.checked(RwLockReadGuard { lock: self }).map_err(TryLockError::Poisoned)
    }

    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if !self.raw.try_take(true, Location::caller()) {
            return Err(TryLockError::WouldBlock);
        }
        self.raw.checked(RwLockWriteGuard { lock: self }).map_err(TryLockError::Poisoned)
    }
}

/// What [`Mutex`] and [`RwLock`] share: making them (tracked, labelled or
/// not), poisoning, and std's traits.
macro_rules! shared_lock_api {
    ($lock:ident) => {
        impl<T> $lock<T> {
            /// A lock around `value`, named in reports by where it was made.
            #[track_caller]
            pub fn new(value: T) -> $lock<T> {
                $lock { raw: RawLock::new(None, Location::caller(), true), value: UnsafeCell::new(value) }
            }

            /// A lock around `value` that reports call `label` (`"account a"`).
            #[track_caller]
            pub fn named(label: impl Into<String>, value: T) -> $lock<T> {
                $lock { raw: RawLock::new(Some(label.into()), Location::caller(), true), value: UnsafeCell::new(value) }
            }

            /// A lock the tracker does not follow: std's speed, no reports.
            #[track_caller]
            pub fn untracked(value: T) -> $lock<T> {
                $lock { raw: RawLock::new(None, Location::caller(), false), value: UnsafeCell::new(value) }
            }

            pub fn into_inner(self) -> LockResult<T> {
                let raw = self.raw;
                raw.checked(self.value.into_inner())
            }
        }

        impl<T: ?Sized> $lock<T> {
            pub fn is_poisoned(&self) -> bool {
                self.raw.poisoned.load(Ordering::Relaxed)
            }

            pub fn clear_poison(&self) {
                self.raw.poisoned.store(false, Ordering::Relaxed);
            }

            pub fn get_mut(&mut self) -> LockResult<&mut T> {
                self.raw.checked(self.value.get_mut())
            }
        }

        // As std's: a panic while holding the lock poisons it, which callers see.
        impl<T: ?Sized> std::panic::UnwindSafe for $lock<T> {}
        impl<T: ?Sized> std::panic::RefUnwindSafe for $lock<T> {}

        impl<T: Default> Default for $lock<T> {
            #[track_caller]
            fn default() -> $lock<T> {
                $lock::new(T::default())
            }
        }

        impl<T> From<T> for $lock<T> {
            #[track_caller]
            fn from(value: T) -> $lock<T> {
                $lock::new(value)
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $lock<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct(stringify!($lock));
                if self.raw.state.load(Ordering::Relaxed) & WRITER == 0 {
                    // SAFETY: no writer holds it now; a read for display, as std's Debug does with try_lock.
                    out.field("data", &unsafe { &*self.value.get() });
                } else {
                    out.field("data", &format_args!("<locked>"));
                }
                out.field("poisoned", &self.raw.poisoned.load(Ordering::Relaxed)).finish_non_exhaustive()
            }
        }
    };
}

/// A guard's access to its lock's value, its release, and std's traits.
macro_rules! guard_api {
    ($guard:ident, write: $write:expr) => {
        // SAFETY: a guard gives `&T` to other threads only where `T: Sync`, as std's.
        unsafe impl<T: ?Sized + Sync> Sync for $guard<'_, T> {}

        impl<T: ?Sized> Deref for $guard<'_, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard holds the lock.
                unsafe { &*self.lock.value.get() }
            }
        }

        impl<T: ?Sized> Drop for $guard<'_, T> {
            fn drop(&mut self) {
                self.lock.raw.release($write);
            }
        }

        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + fmt::Display> fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

shared_lock_api!(Mutex);
shared_lock_api!(RwLock);
guard_api!(MutexGuard, write: true);
guard_api!(RwLockReadGuard, write: false);
guard_api!(RwLockWriteGuard, write: true);

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock alone.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock alone.
        unsafe { &mut *self.lock.value.get() }
    }
}
