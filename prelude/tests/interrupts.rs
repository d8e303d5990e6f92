//! The prelude's waits and loops stop when the cell is interrupted.
//!
//! The cell process publishes the address of the session's state (with its
//! interrupt flag) in an environment variable; this test does the same with a
//! state of its own, raises the flag while
//! each helper runs, and checks that the helper stops soon with the
//! `Interrupted` payload (which keeps the session's variables).

use rustpar::cancel::Interrupted;
use rustpar::prelude::*;
use rustpar_wire::{SESSION_STATE_ENV, SessionState};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

static STATE: SessionState = SessionState::new();
static FLAG: &std::sync::atomic::AtomicBool = &STATE.interrupt;

/// Runs `f`, raising the flag after 200 ms; returns how long `f` took to stop.
fn interrupted_after(what: &str, f: impl FnOnce()) -> Duration {
    FLAG.store(false, Ordering::SeqCst);
    let start = Instant::now();
    let raiser = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(200));
        FLAG.store(true, Ordering::SeqCst);
    });
    let outcome = catch_unwind(AssertUnwindSafe(f));
    let took = start.elapsed();
    raiser.join().unwrap();
    FLAG.store(false, Ordering::SeqCst);
    let payload = outcome.expect_err(&format!("{what} should stop when interrupted"));
    assert!(payload.is::<Interrupted>(), "{what} stopped with another panic than Interrupted");
    assert!(took < Duration::from_secs(3), "{what} took {took:?} to stop");
    took
}

#[test]
fn every_helper_stops_when_interrupted() {
    // SAFETY: set before any other thread of this test process reads it.
    unsafe { std::env::set_var(SESSION_STATE_ENV, STATE.address()) };
    assert!(!interrupted());

    interrupted_after("an interruptible parallel loop", || {
        (0..u64::MAX).into_par_iter().interruptible().for_each(|_| {});
    });
    interrupted_after("an interruptible indexed parallel loop", || {
        let _: u64 = (0..u32::MAX).into_par_iter().interruptible().map(|x| x as u64 / 2).sum();
    });
    interrupted_after("a progress bar in an interruptible parallel loop", || {
        let bar = progress(0);
        (0..u64::MAX).into_par_iter().interruptible().for_each(|_| bar.inc());
    });
    interrupted_after("the parallel .progress() adaptor", || {
        (0..u64::MAX).into_par_iter().progress().for_each(|_| {});
    });
    interrupted_after("the .progress() iterator", || for _ in (0..u64::MAX).progress() {});
    interrupted_after("a pipeline with an endless producer", || {
        pipeline(1, 0u64.., 2, |x| x, |results| results.for_each(|_| sleep(Duration::from_millis(10))))
    });
    interrupted_after("recv_checked on a silent channel", || {
        let (_tx, rx) = bounded::<i32>(0);
        let _ = rx.recv_checked();
    });
    interrupted_after("send_checked on a full channel", || {
        let (tx, _rx) = bounded::<i32>(0);
        let _ = tx.send_checked(1);
    });
    interrupted_after("a semaphore with no permit", || {
        let s = Semaphore::new(0);
        let _permit = s.acquire();
    });
    interrupted_after("timeit of an endless loop", || {
        timeit("endless", || {
            loop {
                check_interrupt();
            }
        });
    });
    interrupted_after("scaling of a slow workload", || {
        scaling(2, || sleep(Duration::from_millis(50)));
    });
    interrupted_after("a race demo", || {
        race_demo(2, u64::MAX);
    });
}
