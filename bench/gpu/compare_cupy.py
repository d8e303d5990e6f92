"""rustpar's GpuArray against CuPy on the same GPU: 4096x4096 sgemm (TFLOP/s)
and host<->device copies of 256 MiB from pageable memory (GB/s).

Run from the repository root on a machine with an NVIDIA GPU and CuPy:

    python3 bench/gpu/compare_cupy.py            # prints, and writes results.md
    python3 bench/gpu/compare_cupy.py --no-write # prints only

It builds and runs `cargo run --release --example gpu_bench -p rustpar-gpu`
(gpu/examples/gpu_bench.rs), then measures CuPy the same way (median
wall-clock time between two device synchronisations, after a warm-up), and
prints each figure with the ratio rustpar / CuPy. The goal for sgemm is a
ratio of at least 0.95. Without a GPU it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

N = 4096
MATMULS_PER_REPETITION = 10
REPETITIONS = 5
COPY_BYTES = 256 << 20
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def cuda_library_path() -> str:
    """LD_LIBRARY_PATH plus the lib folders of NVIDIA's Python wheels (cuBLAS,
    cuRAND, NVRTC), which CuPy may use instead of a system CUDA toolkit."""
    folders = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    try:
        import nvidia  # type: ignore[import-not-found]

        for base in nvidia.__path__:
            folders += [str(lib) for lib in sorted(pathlib.Path(base).glob("*/lib")) if lib.is_dir()]
    except ImportError:
        pass
    return ":".join(folders)


def rustpar_figures() -> dict:
    env = dict(os.environ, LD_LIBRARY_PATH=cuda_library_path())
    command = ["cargo", "run", "--quiet", "--release", "--example", "gpu_bench", "-p", "rustpar-gpu"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    print(done.stdout, end="")
    if done.returncode != 0:
        sys.exit(f"the rustpar benchmark failed (exit {done.returncode}); see above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_seconds(cp, work) -> float:
    work()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(REPETITIONS):
        cp.cuda.Device().synchronize()
        start = time.perf_counter()
        work()
        cp.cuda.Device().synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cupy_figures() -> dict:
    import cupy as cp
    import numpy as np

    rng = cp.random.default_rng()
    a = rng.random((N, N), dtype=cp.float32)
    b = rng.random((N, N), dtype=cp.float32)

    def matmuls():
        for _ in range(MATMULS_PER_REPETITION):
            cp.matmul(a, b)

    seconds = median_seconds(cp, matmuls) / MATMULS_PER_REPETITION
    host = (np.arange(COPY_BYTES // 4) % 1000).astype(np.float32) + 0.5
    h2d = COPY_BYTES / median_seconds(cp, lambda: cp.asarray(host)) / 1e9
    device = cp.asarray(host)
    d2h = COPY_BYTES / median_seconds(cp, lambda: cp.asnumpy(device)) / 1e9
    return {"sgemm_tflops": 2 * N**3 / seconds / 1e12, "h2d_gbps": h2d, "d2h_gbps": d2h, "cupy": cp.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true", help="do not write bench/gpu/results.md")
    args = parser.parse_args()
    try:
        import cupy as cp

        cp.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 - any failure means: no GPU to measure
        print(f"No GPU or no CuPy here ({error}); nothing measured.")
        sys.exit(2)

    ours = rustpar_figures()
    theirs = cupy_figures()
    rows = [
        ("sgemm 4096x4096 (TFLOP/s)", "sgemm_tflops"),
        ("host -> device, 256 MiB (GB/s)", "h2d_gbps"),
        ("device -> host, 256 MiB (GB/s)", "d2h_gbps"),
    ]
    lines = [
        f"# GPU benchmark: rustpar GpuArray vs CuPy {theirs['cupy']}",
        "",
        f"Measured on {ours['gpu']} on {datetime.date.today().isoformat()} by `python3 bench/gpu/compare_cupy.py`.",
        "",
        "| figure | rustpar | CuPy | rustpar / CuPy |",
        "|---|---|---|---|",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {ours[key]:.2f} | {theirs[key]:.2f} | {ours[key] / theirs[key]:.3f} |")
    ratio = ours["sgemm_tflops"] / theirs["sgemm_tflops"]
    lines += ["", f"sgemm goal (rustpar >= 0.95 x CuPy): {'met' if ratio >= 0.95 else 'NOT met'} ({ratio:.3f})."]
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_write:
        (HERE / "results.md").write_text(report)
        print(f"written to {HERE / 'results.md'}")


if __name__ == "__main__":
    main()
