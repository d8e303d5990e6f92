"""The course's Python examples against their Rust counterparts, in one run
on one machine (issue "The Rust side at the hardware's speed").

    .venv/bin/pip install -r bench/requirements.txt   # NumPy, SciPy and numba
    .venv/bin/python bench/python_vs_rust.py [--repeats N]

Run it on a quiet machine: nothing else running, no spare or other kernel
beside it. Each Python variant runs in this process (with a process pool
where the course uses processes); a variant whose package is missing is
skipped, with the line that installs it. Each Rust counterpart runs as a
notebook cell would, in one rustpar kernel (spares off): once with the
cells' default build profile (checked: opt-level 3 with overflow checks) and
once after `:release on` (as `cargo build --release`), both for this
machine's processor (`-Ctarget-cpu=native`, as numba compiles); the prelude and its
dependencies build as for a release either way. Every figure is a median after half a
second of warm-up: of N runs for Python, of 11 for Rust (its runs take
milliseconds). Each work is timed in Python, then in the cell under each
profile, before the next work: this machine's speed drifts by 10 % and more
within minutes, and each ratio compares figures taken side by side. A ratio
is Python's time over Rust's: above 1, Rust is faster.

The work, as in the course (../shared/course/, lecture 003 and its labs):
- two CPU-bound loops of 10 million `total += i * i`: CPython in 2 processes
  against 2 Rust threads (the Rust loop is notebook 01's: it reads its
  counter through `black_box`, so that the compiler cannot replace the loop
  by a formula);
- fib(30) four times: CPython in 4 processes against 4 Rust threads, and
  once on one core: the ratio of one core, which neither side's parallelism
  changes, so that no build of fib exceeds it;
- Monte Carlo π with 10 million samples: numba's `prange` against rayon;
- 1000 x 1000 and 2000 x 2000 f64 matrix products: NumPy's `a @ b` against
  ndarray's `a.dot(&b)` (both in OpenBLAS on every core);
- notebook 06's factorisations: a Cholesky factorisation of a 400 x 400
  matrix and its solve for 200 right-hand sides (SciPy's `cho_factor` and
  `cho_solve`, LAPACK in OpenBLAS), and the eigenvalues of 48 symmetric
  60 x 60 matrices (NumPy's `eigvalsh`), against `linalg` (faer) and, in the
  same kernel, nalgebra; then the eigenvalues in parallel, as the course's
  parameter study runs them: a pool of 2 processes (`Pool.map`) against
  rayon's `par_iter`;
- the 2-thread parallel efficiency of the Rust loops (1 thread against 2, on
  loops of 100 million, long enough to time).

The loops and fib are also built by rustc as a program of their own, with
the flags of each cell profile, and timed the same way in the same run: the
machine's own speed and 2-thread efficiency, against which a cell's are
judged (on a virtual machine whose two cores share one physical core, no
kernel can reach an efficiency the program does not).

Last, the machine's bounds, from one more program built by rustc (release,
for this processor) in the same run:
- its peak rate of fused multiply-adds, on one core and on all (12
  independent chains of the widest FMA instructions it has): no library's
  matrix product can run faster, so each product's GFLOP/s is printed as a
  share of it, NumPy's and Rust's;
- fib(30) four times on 4 threads as the scheduler places them, and with the
  threads pinned in turn to each core the process may use: what the
  operating system's placement of 4 short threads on fewer cores costs, which
  no cell can change (and which CPython's long-lived pool processes escape).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from rustpar_client import Kernel, describe, result_text, run

INSTALL = ".venv/bin/pip install -r bench/requirements.txt"
LOOP_N = 10_000_000
FIB_N = 30
SAMPLES = 10_000_000
# Each Rust figure takes milliseconds: its median is over more runs than Python's.
RUST_RUNS = 11


# ----- Python, as the course writes it -----

def cpu_intensive_work(n: int = LOOP_N) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


# Every figure is measured after its work has run for this long: imports, JIT
# compilation, a pool's workers, page faults, and a processor that raises its
# clock (and powers its wide vector units) only under sustained load.
WARM_UP_S = 0.5


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    warm_up = time.perf_counter()
    while True:
        work()
        if time.perf_counter() - warm_up > WARM_UP_S:
            break
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def numba_pi() -> Callable[[], float] | None:
    try:
        import numba
        import numpy as np
    except ImportError:
        return None

    @numba.jit(nopython=True, parallel=True)
    def monte_carlo_pi_parallel(n_samples):
        inside = 0
        for _ in numba.prange(n_samples):
            x = np.random.random()
            y = np.random.random()
            if x * x + y * y <= 1.0:
                inside += 1
        return 4.0 * inside / n_samples

    return lambda: monte_carlo_pi_parallel(SAMPLES)


def numpy_product(n: int) -> Callable[[], object] | None:
    try:
        import numpy as np
    except ImportError:
        return None
    rng = np.random.default_rng(4)
    a, b = rng.random((n, n)), rng.random((n, n))
    return lambda: a @ b


def guyan_system(np):
    """Notebook 06's K_ss (banded, symmetric positive definite) and a K_sm."""
    n = 400
    k_ss = sum(value * np.eye(n, k=k) for k, value in ((0, 10.0), (1, -2.0), (-1, -2.0), (2, -1.0), (-2, -1.0)))
    return k_ss, np.random.default_rng(11).random((n, 200))


def scipy_cholesky_solve() -> Callable[[], object] | None:
    try:
        import numpy as np
        from scipy.linalg import cho_factor, cho_solve
    except ImportError:
        return None
    k_ss, k_sm = guyan_system(np)
    return lambda: cho_solve(cho_factor(k_ss, lower=True), k_sm)


def numpy_eigenvalues() -> Callable[[], object] | None:
    try:
        import numpy as np
    except ImportError:
        return None
    matrices = symmetric_matrices(np)
    return lambda: [np.linalg.eigvalsh(m) for m in matrices]


def symmetric_matrices(np) -> list:
    rng = np.random.default_rng(6)
    return [a + a.T for a in (rng.random((60, 60)) for _ in range(48))]


def eigenvalues_of(matrix):
    import numpy as np

    return np.linalg.eigvalsh(matrix)


def numpy_parallel_eigenvalues(pool) -> Callable[[], object] | None:
    try:
        import numpy as np
    except ImportError:
        return None
    matrices = symmetric_matrices(np)
    return lambda: pool.map(eigenvalues_of, matrices)


def python_work(pools: contextlib.ExitStack) -> dict[str, tuple[str, Callable[[], object] | None]]:
    """The Python side of each work: (how it runs, the work, or None when its package is missing)."""
    two, four = pools.enter_context(multiprocessing.Pool(2)), pools.enter_context(multiprocessing.Pool(4))
    cholesky, eigenvalues = scipy_cholesky_solve(), numpy_eigenvalues()
    return {
        "loops": ("CPython, 2 processes", lambda: two.map(cpu_intensive_work, [LOOP_N, LOOP_N])),
        "fib": ("CPython, 4 processes", lambda: four.map(fib, [FIB_N] * 4)),
        "fib, one thread": ("CPython, one process", lambda: fib(FIB_N)),
        "pi": ("numba prange", numba_pi()),
        "product 1000": ("NumPy a @ b", numpy_product(1000)),
        "product 2000": ("NumPy a @ b", numpy_product(2000)),
        "cholesky": ("SciPy cho_factor/solve", cholesky),
        "cholesky, nalgebra": ("SciPy cho_factor/solve", cholesky),
        "eigenvalues": ("NumPy eigvalsh", eigenvalues),
        "eigenvalues, nalgebra": ("NumPy eigvalsh", eigenvalues),
        "eigenvalues, parallel": ("NumPy eigvalsh, Pool(2)", numpy_parallel_eigenvalues(two)),
    }


# ----- Rust, as a cell writes it: each cell times its own work -----

TIMED = """let warm_up = std::time::Instant::now();
while warm_up.elapsed().as_secs_f64() < {warm_up} {{
    std::hint::black_box({work});
}}
let times: Vec<f64> = (0..{runs}).map(|_| {{
    let clock = std::time::Instant::now();
    std::hint::black_box({work});
    clock.elapsed().as_secs_f64()
}}).collect();
format!("{{:?}}", times)"""

# The line that adds nalgebra, as the prelude's Cargo.toml lists it (built ahead).
NALGEBRA = ':dep nalgebra = { version = "0.34.2", default-features = false, features = ["std"] }'
RUST_WORK = {
    "loops": (
        # As notebook 01 writes it, kept out of line: the one-thread and the two-thread runs then execute the same machine
        # code. Inlined, each call site got a copy of its own, and in release builds the copies' speeds differed by up to
        # 1.3x (two calls in sequence 87.8 ms against twice one call's 33.1), which the efficiency then measured (59-132 %).
        "#[inline(never)]\nfn cpu_intensive_work(n: u64) -> u64 { (0..n).map(|i| std::hint::black_box(i) * i).fold(0, u64::wrapping_add) }",
        "std::thread::scope(|s| { let other = s.spawn(|| cpu_intensive_work(%d)); (cpu_intensive_work(%d), other.join().unwrap()) })" % (LOOP_N, LOOP_N),
    ),
    # The parallel efficiency, on loops ten times longer: tens of milliseconds.
    "long loops, 2 threads": (
        None,
        "std::thread::scope(|s| { let other = s.spawn(|| cpu_intensive_work(%d)); (cpu_intensive_work(%d), other.join().unwrap()) })" % (10 * LOOP_N, 10 * LOOP_N),
    ),
    "long loops, one thread": (None, "(cpu_intensive_work(%d), cpu_intensive_work(%d))" % (10 * LOOP_N, 10 * LOOP_N)),
    "fib": (
        "fn fib(n: u32) -> u64 { if n < 2 { n as u64 } else { fib(n - 1) + fib(n - 2) } }",
        "std::thread::scope(|s| { let threads: Vec<_> = (0..4).map(|_| s.spawn(|| fib(%d))).collect(); threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>() })" % FIB_N,
    ),
    # What one core does, without threads or processes: the machine's own ratio, which no build of fib exceeds.
    "fib, one thread": (None, "fib(%d)" % FIB_N),
    "pi": (
        """fn hits_in_chunk(chunk: u64, samples: u64) -> u64 {
    let mut rng = SeededRng::new(1_000 + chunk);
    (0..samples).filter(|_| { let (x, y) = (rng.f64(), rng.f64()); x * x + y * y <= 1.0 }).count() as u64
}""",
        "4.0 * (0..64u64).into_par_iter().map(|chunk| hits_in_chunk(chunk, %d / 64)).sum::<u64>() as f64 / %d as f64" % (SAMPLES, SAMPLES),
    ),
    "product 1000": ("let (pa, pb) = (random_array((1000, 1000), 4), random_array((1000, 1000), 5));", "pa.dot(&pb)"),
    "product 2000": ("let (qa, qb) = (random_array((2000, 2000), 4), random_array((2000, 2000), 5));", "qa.dot(&qb)"),
    "cholesky": (
        "let k_ss = Array2::from_shape_fn((400, 400), |(i, j)| match i.abs_diff(j) { 0 => 10.0, 1 => -2.0, 2 => -1.0, _ => 0.0 });\n"
        "let k_sm = random_array((400, 200), 11);",
        "linalg::Cholesky::new(&k_ss).unwrap().solve(&k_sm)",
    ),
    "cholesky, nalgebra": (
        NALGEBRA + "\nlet (nk_ss, nk_sm) = (nalgebra::DMatrix::from_fn(400, 400, |i, j| k_ss[[i, j]]), nalgebra::DMatrix::from_fn(400, 200, |i, j| k_sm[[i, j]]));",
        "nk_ss.clone().cholesky().unwrap().solve(&nk_sm)",
    ),
    "eigenvalues": (
        "let symmetric: Vec<Array2<f64>> = (0..48).map(|d| { let a = random_array((60, 60), d); &a + &a.t() }).collect();",
        "symmetric.iter().map(|m| linalg::eigvalsh(m).unwrap()).collect::<Vec<_>>()",
    ),
    "eigenvalues, parallel": (None, "symmetric.par_iter().map(|m| linalg::eigvalsh(m).unwrap()).collect::<Vec<_>>()"),
    "eigenvalues, nalgebra": (
        NALGEBRA + "\nlet nsymmetric: Vec<nalgebra::DMatrix<f64>> = symmetric.iter().map(|m| nalgebra::DMatrix::from_fn(60, 60, |i, j| m[[i, j]])).collect();",
        "nsymmetric.iter().map(|m| nalgebra::SymmetricEigen::new(m.clone()).eigenvalues).collect::<Vec<_>>()",
    ),
}


# The work that needs no prelude, also built as a program of its own: what
# this machine gives the same code without a notebook (its 2-thread
# efficiency in particular, which no kernel can raise).
PROGRAM_WORK = ["loops", "long loops, 2 threads", "long loops, one thread", "fib", "fib, one thread"]
# rustc's flags for the cells' two profiles (see HOW_IT_WORKS.md, "Start-up").
PROGRAM_PROFILES = {
    "checked": ["-C", "opt-level=3", "-C", "overflow-checks=on", "-C", "target-cpu=native"],
    "release": ["-C", "opt-level=3", "-C", "target-cpu=native"],
    # The checked profile as the cells were built until 2026-12-06, for what opt-level 3 and this processor's instructions gained.
    "checked at opt-level 2": ["-C", "opt-level=2", "-C", "overflow-checks=on"],
}


@dataclass
class RustFigure:
    seconds: float
    profile: str


def figures(kernel: Kernel, python: dict[str, tuple[str, Callable[[], object] | None]], repeats: int):
    """Each work timed in Python, then in a cell under the checked profile,
    then under the release one (where the kernel has `:release`): side by
    side, so that a drift of the machine does not fall on one side.
    Returns ({work: (Python variant, seconds or None)}, {profile: {work: RustFigure}})."""
    python_seconds: dict[str, tuple[str, float | None]] = {}
    rust: dict[str, dict[str, RustFigure]] = {"checked": {}}
    reply, _ = run(kernel.client, ":release off")
    profiles = ["checked", "release"] if reply["content"]["status"] == "ok" else ["checked"]
    if len(profiles) == 1:
        print("(this kernel has no `:release`: its cells are measured with their one profile only)")
    for name, (setup, work) in RUST_WORK.items():
        if name in python:
            variant, python_side = python[name]
            python_seconds[name] = (variant, median_seconds(python_side, repeats) if python_side else None)
        if setup:
            reply, msgs = run(kernel.client, setup, timeout=600)
            assert reply["content"]["status"] == "ok", describe(reply, msgs)
        for profile in profiles:
            if len(profiles) > 1:
                run(kernel.client, ":release on" if profile == "release" else ":release off")
            reply, msgs = run(kernel.client, TIMED.format(runs=RUST_RUNS, work=work, warm_up=WARM_UP_S), timeout=600)
            assert reply["content"]["status"] == "ok", describe(reply, msgs)
            times = json.loads(result_text(msgs).strip('"'))
            rust.setdefault(profile, {})[name] = RustFigure(statistics.median(times), reply["metadata"]["rustpar"].get("profile", "?"))
    return python_seconds, rust


def program_output(source: str, profile: str) -> str:
    """What `source`, built by rustc with the flags of `profile` and run, prints."""
    with tempfile.TemporaryDirectory() as folder:
        path, program = os.path.join(folder, "work.rs"), os.path.join(folder, "work")
        with open(path, "w") as file:
            file.write(source)
        subprocess.run(["rustc", "--edition", "2024", *PROGRAM_PROFILES[profile], "-o", program, path], check=True)
        return subprocess.run([program], check=True, capture_output=True, text=True).stdout


def timed_lines(works: list[str]) -> str:
    """Rust statements that time each work as a cell does and print its times, a line each."""
    return "\n".join("println!(\"{}\", { %s });" % TIMED.format(runs=RUST_RUNS, work=work, warm_up=WARM_UP_S) for work in works)


def program_figures(profile: str) -> dict[str, RustFigure]:
    """The PROGRAM_WORK timed as the cells time it, in one program built by rustc."""
    items = "\n".join(dict.fromkeys(RUST_WORK[name][0] for name in PROGRAM_WORK if RUST_WORK[name][0]))
    timed = timed_lines([RUST_WORK[name][1] for name in PROGRAM_WORK])
    lines = program_output(f"{items}\nfn main() {{\n{timed}\n}}\n", profile).splitlines()
    return {name: RustFigure(statistics.median(json.loads(line)), profile) for name, line in zip(PROGRAM_WORK, lines)}


# The machine's bounds (see the docstring), as a program beside the cells' `fib`:
# prints the FMA figures as one JSON object, then the times of the 4 threads
# placed by the scheduler and pinned, a line each.
BOUNDS_PROGRAM = r"""
use std::time::Instant;

// 12 independent chains of fused multiply-adds: enough to keep every FMA unit
// busy through the instruction's latency.
macro_rules! fma_chains {
    ($name:ident, $feature:literal, $lanes:literal, $set1:ident, $fmadd:ident, $store:ident) => {
        #[target_feature(enable = $feature)]
        fn $name(rounds: u64) -> f64 {
            use std::arch::x86_64::*;
            let mut chains = [$set1(0.5); 12];
            let (x, y) = ($set1(0.999_999_9), $set1(1e-9));
            for _ in 0..rounds { for c in chains.iter_mut() { *c = $fmadd(*c, x, y); } }
            let mut lanes = [0.0f64; $lanes];
            chains.iter().map(|c| { unsafe { $store(lanes.as_mut_ptr(), *c) }; lanes.iter().sum::<f64>() }).sum()
        }
    };
}
#[cfg(target_arch = "x86_64")]
fma_chains!(fma_512, "avx512f", 8, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd);
#[cfg(target_arch = "x86_64")]
fma_chains!(fma_256, "avx2,fma", 4, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd);

/// The GFLOP/s of `threads` threads running FMA chains, or 0 where the processor has no FMA.
fn fma_gflops(threads: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        let (lanes, chains): (f64, fn(u64) -> f64) = if is_x86_feature_detected!("avx512f") {
            (8.0, |r| unsafe { fma_512(r) })
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            (4.0, |r| unsafe { fma_256(r) })
        } else {
            return 0.0;
        };
        let rounds = 40_000_000;
        let run = || {
            let began = Instant::now();
            std::thread::scope(|s| for _ in 0..threads { s.spawn(|| std::hint::black_box(chains(std::hint::black_box(rounds)))); });
            threads as f64 * rounds as f64 * 12.0 * lanes * 2.0 / began.elapsed().as_secs_f64() / 1e9
        };
        run();
        (0..5).map(|_| run()).fold(0.0, f64::max)
    }
    #[cfg(not(target_arch = "x86_64"))]
    { let _ = threads; 0.0 }
}

#[repr(C)]
struct CpuSet { bits: [u64; 16] }
unsafe extern "C" {
    fn sched_getaffinity(pid: i32, size: usize, set: *mut CpuSet) -> i32;
    fn sched_setaffinity(pid: i32, size: usize, set: *const CpuSet) -> i32;
}

/// The processors this process may run on.
fn allowed_cpus() -> Vec<usize> {
    let mut set = CpuSet { bits: [0; 16] };
    unsafe { sched_getaffinity(0, size_of::<CpuSet>(), &mut set) };
    (0..1024).filter(|cpu| set.bits[cpu / 64] >> (cpu % 64) & 1 == 1).collect()
}

/// fib(30) on 4 threads, each pinned in turn to one of `cpus` when given.
fn four_fibs(cpus: Option<&[usize]>) -> u64 {
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..4).map(|k| {
            let cpu = cpus.map(|cpus| cpus[k % cpus.len()]);
            s.spawn(move || {
                if let Some(cpu) = cpu {
                    let mut set = CpuSet { bits: [0; 16] };
                    set.bits[cpu / 64] |= 1 << (cpu % 64);
                    unsafe { sched_setaffinity(0, size_of::<CpuSet>(), &set) };
                }
                fib(30)
            })
        }).collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    })
}

fn main() {
    let cpus = allowed_cpus();
    println!("{{\"fma_one_core\": {}, \"fma_all_cores\": {}, \"cores\": {}}}", fma_gflops(1), fma_gflops(cpus.len()), cpus.len());
"""


def machine_bounds() -> dict:
    """BOUNDS_PROGRAM built with the cells' release flags and run: the FMA figures, and the
    median seconds of the 4 threads placed by the scheduler (`fib_free`) and pinned (`fib_pinned`)."""
    timed = timed_lines(["four_fibs(None)", "four_fibs(Some(&cpus))"])
    fma, free, pinned = program_output(f"{RUST_WORK['fib'][0]}\n{BOUNDS_PROGRAM}{timed}\n}}\n", "release").splitlines()
    return json.loads(fma) | {"fib_free": statistics.median(json.loads(free)), "fib_pinned": statistics.median(json.loads(pinned))}


def efficiency(figures: dict[str, RustFigure]) -> float:
    return figures["long loops, one thread"].seconds / figures["long loops, 2 threads"].seconds / 2


def print_bounds(bounds: dict, python: dict[str, tuple[str, float | None]], rust: dict[str, dict[str, RustFigure]]):
    """What the machine allows the products and the 4-thread fib, beside what they got in this run."""
    cores, peak = bounds["cores"], bounds["fma_all_cores"]
    print("The machine's bounds, from a program built by rustc (release, for this processor) in this run:")
    if peak:
        print(f"  peak of fused multiply-adds: {bounds['fma_one_core']:.1f} GFLOP/s on one core, {peak:.1f} on all {cores}")
        for key, n in (("product 1000", 1000), ("product 2000", 2000)):
            rates = {"NumPy": python[key][1]} | {f"Rust {profile}": figures[key].seconds for profile, figures in rust.items()}
            shares = {side: 2 * n**3 / seconds / 1e9 / peak for side, seconds in rates.items() if seconds}
            print(f"  {n}² product: " + ", ".join(f"{side} {share * peak:.1f} GFLOP/s ({100 * share:.0f} % of the peak)" for side, share in shares.items()))
            if max(shares.values()) > 1.02:
                print("    implausible: above the peak; the peak's own run was slowed (another program, or this machine's host): rerun on a quiet machine")
            elif min(shares.values()) > 0.8:
                print("    every side runs near the peak, which no library exceeds: a ratio near 1 is the most either side can reach here")
    else:
        print("  peak of fused multiply-adds: not measured (this processor has no FMA instructions, or is not x86-64)")
    free, pinned = bounds["fib_free"], bounds["fib_pinned"]
    cpython = python["fib"][1]
    against = f"; CPython's 4 processes over the pinned program: {cpython / pinned:.1f}×" if cpython else ""
    print(f"  fib(30) four times on 4 threads: {1e3 * free:.2f} ms as the scheduler places them, {1e3 * pinned:.2f} ms pinned in turn to the "
          f"{cores} cores ({free / pinned:.2f}× as long unpinned){against}")
    if free / pinned > 1.2:
        print("    the operating system placed the 4 short threads unevenly on the cores (a 4-thread cell pays the same; "
              "CPython's pool processes run long enough to be spread out)")
    with contextlib.suppress(OSError), open("/proc/cmdline") as cmdline:
        if "sched_vcpu_pack" in cmdline.read():
            print("    this machine's Linux packs runnable threads onto fewer virtual CPUs (sched_vcpu_pack in /proc/cmdline)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kernel", default="rustpar", help="the kernelspec to run the Rust side in (default: rustpar)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    # The pools' processes are forked before the kernel's client opens its sockets.
    with contextlib.ExitStack() as pools:
        work = python_work(pools)
        kernel = Kernel.start({"RUSTPAR_SPARE": "0"}, kernel_name=args.kernel)
        try:
            python, rust = figures(kernel, work, args.repeats)
        finally:
            kernel.stop()

    rows = [
        ("two CPU-bound loops of 10M, 2 threads", "loops", "≥ 50×"),
        ("fib(30) four times, 4 threads", "fib", "≥ 50×"),
        ("fib(30) once, one thread: a core's bound", "fib, one thread", "none"),
        ("Monte Carlo π, 10M samples, rayon", "pi", "≥ 2×"),
        ("1000×1000 f64 product, ndarray dot", "product 1000", "≥ 1×"),
        ("2000×2000 f64 product, ndarray dot", "product 2000", "≥ 1×"),
        ("Cholesky 400², 200 right-hand sides, linalg", "cholesky", "≥ 1×"),
        ("  the same with nalgebra", "cholesky, nalgebra", "none"),
        ("eigenvalues of 48 symmetric 60², linalg", "eigenvalues", "≥ 1×"),
        ("  the same with nalgebra", "eigenvalues, nalgebra", "none"),
        ("the same 48 in parallel, par_iter, linalg", "eigenvalues, parallel", "none"),
    ]
    print(f"Python against Rust, {cores} cores, one run: medians after a warm-up, of {args.repeats} runs (Python) and {RUST_RUNS} (Rust); ratio: Python's time / Rust's")
    header = f"{'work':40} {'Python':22} {'Python s':>9} {'Rust checked s':>11} {'ratio':>8} {'Rust release s':>15} {'ratio':>8}  goal"
    print(header)
    def cells(seconds: float | None, figure: RustFigure | None) -> str:
        if figure is None:
            return f"{'-':>11} {'':>8}"
        ratio = f"{seconds / figure.seconds:7.2f}×" if seconds is not None else f"{'':>8}"
        return f"{figure.seconds:11.4f} {ratio}"

    for label, key, goal in rows:
        variant, seconds = python[key]
        checked, release = rust["checked"][key], rust.get("release", {}).get(key)
        python_cell = f"{seconds:9.4f}" if seconds is not None else f"{'skipped':>9}"
        missing = f"  ({variant} needs its package: {INSTALL})" if seconds is None else ""
        print(f"{label:40} {variant:22} {python_cell} {cells(seconds, checked)}    {cells(seconds, release)}  {goal}{missing}")
    programs = {profile: program_figures(profile) for profile in [*rust, "checked at opt-level 2"]}
    print("The same Rust built by rustc as a program of its own (no kernel), in this run; ratio: the cell's time / the program's")
    for key in ("loops", "fib", "fib, one thread"):
        print(f"{key:40} " + "    ".join(
            f"{profile} {programs[profile][key].seconds:.4f} s, cell {rust[profile][key].seconds / programs[profile][key].seconds:.2f}×" for profile in rust))
    before = programs["checked at opt-level 2"]
    print("The checked profile at opt-level 2 for any x86-64 (the cells' until 2026-12-06), as a program: " + ", ".join(
        f"{key} {before[key].seconds:.4f} s ({before[key].seconds / programs['checked'][key].seconds:.2f}× today's)" for key in ("loops", "fib")))
    for profile in rust:
        in_cell, as_program = efficiency(rust[profile]), efficiency(programs[profile])
        print(f"2-thread parallel efficiency of the Rust loops (100M each), {profile} profile: "
              f"{100 * in_cell:.0f} % in a cell, {100 * as_program:.0f} % as a program (goal ≥ 90 %)")
        if max(in_cell, as_program) > 1.05:
            print("  implausible: two threads cannot do better than twice one thread; something else slowed the "
                  "one-thread run (another program, or the host of this virtual machine): rerun on a quiet machine")
        elif abs(in_cell - as_program) > 0.15:
            print("  the cell and the program, timed a minute apart, disagree: the machine's 2-thread speed changed in "
                  "between (on a virtual machine, its host may slow 2-thread runs for seconds at a time, and not 1-thread "
                  "ones): rerun to see which figure holds")
    print_bounds(machine_bounds(), python, rust)
    print("Build profile of each Rust figure: " + ", ".join(sorted({f"{p} ({figure.profile})" for p, figures in rust.items() for figure in figures.values()})))
    if "release" in rust:
        print("How much faster each Rust figure ran with the cells' release profile: " + ", ".join(
            f"{key} {rust['checked'][key].seconds / rust['release'][key].seconds:.2f}×" for key in RUST_WORK))


if __name__ == "__main__":
    main()
