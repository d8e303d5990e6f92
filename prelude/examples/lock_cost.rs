//! What the lock tracker costs: nanoseconds per uncontended lock and unlock
//! of std's `Mutex`, the prelude's tracked `Mutex` and an untracked one, and
//! of two locks taken one inside the other (where the tracker notes orders),
//! measured in the same run, with the ratio to std's.
//!
//! `cargo run --release --example lock_cost -p rustpar` (goal: tracked ≤ 2× std).

use rustpar::prelude::Mutex;
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 5;
const PER_ROUND: u64 = 5_000_000;

/// The best of ROUNDS runs of PER_ROUND calls, in ns per call.
fn ns_per_call(mut call: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let began = Instant::now();
            for _ in 0..PER_ROUND {
                call();
            }
            began.elapsed().as_secs_f64() * 1e9 / PER_ROUND as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let plain = std::sync::Mutex::new(0u64);
    let tracked = Mutex::new(0u64);
    let untracked = Mutex::untracked(0u64);
    let (outer_std, inner_std) = (std::sync::Mutex::new(0u64), std::sync::Mutex::new(0u64));
    let (outer, inner) = (Mutex::new(0u64), Mutex::new(0u64));
    let single = [
        ("std::sync::Mutex", ns_per_call(|| *black_box(&plain).lock().unwrap() += 1)),
        ("prelude Mutex, tracked", ns_per_call(|| *black_box(&tracked).lock().unwrap() += 1)),
        ("prelude Mutex::untracked", ns_per_call(|| *black_box(&untracked).lock().unwrap() += 1)),
    ];
    let nested = [
        (
            "std::sync::Mutex, two nested",
            ns_per_call(|| {
                let _outer = black_box(&outer_std).lock().unwrap();
                *black_box(&inner_std).lock().unwrap() += 1;
            }),
        ),
        (
            "prelude Mutex, two nested, tracked",
            ns_per_call(|| {
                let _outer = black_box(&outer).lock().unwrap();
                *black_box(&inner).lock().unwrap() += 1;
            }),
        ),
    ];
    println!("uncontended lock + unlock, one thread, best of {ROUNDS} runs of {PER_ROUND} (ns per lock and unlock)");
    println!("{:40} {:>8} {:>8}", "lock", "ns", "ratio");
    for (rows, base) in [(&single[..], single[0].1), (&nested[..], nested[0].1)] {
        for (name, ns) in rows {
            println!("{name:40} {ns:8.1} {:8.2}", ns / base);
        }
    }
}
