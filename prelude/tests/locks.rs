//! The prelude's locks: std's behaviour, and the tracker's reports.

use rustpar::prelude::*;
use rustpar::sync::{Deadlocked, TryLockError};
use std::time::{Duration, Instant};

#[test]
fn locks_behave_as_std_s() {
    let counter = Arc::new(Mutex::new(0u64));
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    *counter.lock().unwrap() += 1;
                }
            });
        }
    });
    assert_eq!(*counter.lock().unwrap(), 40_000);
    assert!(counter.try_lock().is_ok());
    let held = counter.lock().unwrap();
    assert!(matches!(counter.try_lock(), Err(TryLockError::WouldBlock)));
    drop(held);

    let table = RwLock::new(vec![1]);
    {
        let (a, b) = (table.read().unwrap(), table.read().unwrap());
        assert_eq!(a.len() + b.len(), 2, "two readers at once");
        assert!(matches!(table.try_write(), Err(TryLockError::WouldBlock)));
    }
    table.write().unwrap().push(2);
    assert_eq!(table.into_inner().unwrap(), [1, 2]);

    let poisoned = Mutex::new(1);
    let _ = std::panic::catch_unwind(|| {
        let _guard = poisoned.lock().unwrap();
        panic!("while holding it");
    });
    assert!(poisoned.is_poisoned() && poisoned.lock().is_err());
    poisoned.clear_poison();
    assert_eq!(*poisoned.lock().unwrap(), 1);
}

#[test]
fn a_condvar_wakes_its_waiter_and_times_out_without_one() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let other = pair.clone();
    let setter = thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        *other.0.lock().unwrap() = true;
        other.1.notify_one();
    });
    let ready = pair.1.wait_while(pair.0.lock().unwrap(), |ready| !*ready).unwrap();
    assert!(*ready);
    drop(ready);
    setter.join().unwrap();
    let began = Instant::now();
    let (_guard, result) = pair.1.wait_timeout(pair.0.lock().unwrap(), Duration::from_millis(40)).unwrap();
    assert!(result.timed_out() && began.elapsed() >= Duration::from_millis(40));
}

#[test]
fn a_deadlock_stops_both_threads_once_it_lasts_the_timeout() {
    deadlock_timeout(Duration::from_millis(300));
    let (a, b) = (Mutex::named("account a", 0), Mutex::named("account b", 0));
    let both_hold = Barrier::new(2);
    let began = Instant::now();
    let outcomes: Vec<bool> = thread::scope(|s| {
        let first = s.spawn(|| {
            let _a = a.lock().unwrap();
            both_hold.wait();
            let _b = b.lock().unwrap();
        });
        let second = s.spawn(|| {
            let _b = b.lock().unwrap();
            both_hold.wait();
            let _a = a.lock().unwrap();
        });
        [first.join(), second.join()].into_iter().map(|outcome| outcome.is_err_and(|payload| payload.is::<Deadlocked>())).collect()
    });
    assert_eq!(outcomes, [true, true], "both threads were stopped as deadlocked");
    assert!(began.elapsed() >= Duration::from_millis(300));
    assert!(!a.is_poisoned() && !b.is_poisoned(), "a stop by the tracker does not poison the locks");
    assert!(a.try_lock().is_ok() && b.try_lock().is_ok(), "both locks were let go");
}

#[test]
fn untracked_locks_cost_about_what_std_s_do() {
    // Not a timing assertion: the same work runs through all three.
    let (tracked, untracked, std_lock) = (Mutex::new(0u64), Mutex::untracked(0u64), std::sync::Mutex::new(0u64));
    for _ in 0..1000 {
        *tracked.lock().unwrap() += 1;
        *untracked.lock().unwrap() += 1;
        *std_lock.lock().unwrap() += 1;
    }
    assert_eq!((*tracked.lock().unwrap(), *untracked.lock().unwrap(), *std_lock.lock().unwrap()), (1000, 1000, 1000));
}
