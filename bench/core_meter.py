"""What the core meter costs a cell (issue "Seeing parallelism"): a 2-thread
speedup with `:cores` on against the same cell with it off.

    .venv/bin/python bench/core_meter.py [--repeats N]

One kernel (spares off, so that nothing starts beside the cells) runs the
same CPU-bound cell N times with the meter shown and N times without,
alternating. The cell times one thread, then two, on the same loop and
returns the speedup; the meter samples /proc four times a second and updates
its display while the cell runs. Printed: the median speedup of each, their
ratio (goal: within 2 %), and the median of the cells' own run time.
"""

import argparse
import statistics

from rustpar_client import Kernel, describe, result_text, run

# x * (x | 1) is not a linear recurrence, so the compiler cannot vectorise the
# loop away: each run takes about half a second on one core.
SPEEDUP_CELL = """fn spin(n: u64) -> u64 { let mut x = 3u64; for i in 0..n { x = x.wrapping_mul(x | 1).wrapping_add(i); } x }
let n = 300_000_000;
let clock = std::time::Instant::now();
std::hint::black_box(spin(n)); std::hint::black_box(spin(n));
let one = clock.elapsed().as_secs_f64();
let clock = std::time::Instant::now();
std::thread::scope(|s| { let other = s.spawn(|| std::hint::black_box(spin(n))); std::hint::black_box(spin(n)); other.join().unwrap(); });
one / clock.elapsed().as_secs_f64()"""


def speedup(client, meter_line):
    reply, msgs = run(client, meter_line + SPEEDUP_CELL, timeout=600)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    return float(result_text(msgs)), reply["metadata"]["rustpar"]["run_ms"] / 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    kernel = Kernel.start({"RUSTPAR_SPARE": "0"})
    try:
        speedup(kernel.client, "")  # compiles the cell's code once
        off, on, runs = [], [], []
        for _ in range(args.repeats):
            value, ran = speedup(kernel.client, "")
            off.append(value)
            value, ran = speedup(kernel.client, ":cores\n")
            on.append(value)
            runs.append(ran)
    finally:
        kernel.stop()
    base, metered = statistics.median(off), statistics.median(on)
    print(f"2-thread speedup, median of {args.repeats}, one kernel, spares off, nothing else running")
    print(f"{'figure':40} {'value':>8} {'ratio':>7}")
    print(f"{'core meter off':40} {base:7.3f}x {1:7.2f}")
    print(f"{'core meter on (:cores, live display)':40} {metered:7.3f}x {metered / base:7.3f}")
    print(f"(each metered cell ran {statistics.median(runs):.2f} s, sampled about four times a second)")


if __name__ == "__main__":
    main()
