"""Where a warm `1+1` spends its time, part by part (issue "Kernel": warm `1+1`).

    .venv/bin/python bench/warm_cell.py [--repeats N]

A kernel runs `1+1` under the linker it uses (the system's) and under evcxr's
default when mold is installed (`mold -run cargo ...`), alternating, in the same
session: that pair is the benchmark's baseline and ratio. Then the cell's crate,
in the kernel's own build folder, is built by hand the way evcxr builds it:

- cargo with nothing to build: cargo's fixed cost on every cell;
- cargo building the cell: what evcxr waits for;
- rustc alone on the cell, with the arguments cargo gives it (compile and link).

What is left of the kernel's figure is evcxr's own work (rust-analyzer reading
the cell, writing the crate, loading the library) and the Jupyter round trip.
Every figure is a median over N runs.

Last, a warm cell that uses rayon, ndarray and a plot (a new seed each time,
so that it is built again), and the course's Monte Carlo π timed inside a
cell, under the kernel's flags for a cell's crate and under the same flags
with rustc's local ThinLTO (its default at opt-level 3, which the kernel
turns off), in alternating blocks of cells in the same session; the ratios
are against ThinLTO.
"""

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import time

from python_vs_rust import RUST_RUNS, RUST_WORK, TIMED, WARM_UP_S
from rustpar_client import Kernel, describe, result_text, run, run_timed, session_folder_of
from start_up import FIRST_CELL

# The kernel's rustc flags for a cell's crate (`CELL_RUSTFLAGS` in
# kernel/src/evaluator/mod.rs), and the same with rustc's local ThinLTO.
KERNEL_CELL_FLAGS = "-Ctarget-cpu=native -Clto=off"
CELL_FLAGS = {"the kernel's (no ThinLTO)": KERNEL_CELL_FLAGS, "with local ThinLTO": "-Ctarget-cpu=native"}


def start_kernel():
    # No spare session: one warming beside the measurements would share the cores.
    kernel = Kernel.start({"RUSTPAR_SPARE": "0"})
    return kernel.manager, kernel.client


def run_cell(client, code):
    """Seconds from sending the cell to its execute_reply."""
    seconds, reply, msgs = run_timed(client, code, timeout=600)
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"the cell {code!r} failed:\n{describe(reply, msgs)}")
    return seconds


def evcxr_environment(kernel_pid):
    """The environment evcxr gives cargo for a cell of the kernel's checked
    profile: the kernel's binary wraps rustc to add the cell's flags."""
    rustc = subprocess.run(["rustup", "which", "rustc"], capture_output=True, text=True).stdout.strip() or shutil.which("rustc")
    return {
        **os.environ,
        "CARGO_TARGET_DIR": "target",
        "CARGO_BUILD_BUILD_DIR": "target",
        "RUSTC": rustc,
        "RUSTFLAGS": "-Cprefer-dynamic",
        "CARGO_PROFILE_DEV_DEBUG_ASSERTIONS": "false",
        "CARGO_PROFILE_DEV_OVERFLOW_CHECKS": "true",
        "RUSTC_WRAPPER": os.readlink(f"/proc/{kernel_pid}/exe"),
        "EVCXR_RUSTC_WRAPPER": "1",
        "EVCXR_CELL_RUSTFLAGS": KERNEL_CELL_FLAGS,
    }


def host_target():
    text = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout
    return re.search(r"^host: (\S+)", text, re.M).group(1)


def timed(command, directory, environment, before=None):
    if before:
        before()
    began = time.perf_counter()
    subprocess.run(command, cwd=directory, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def measure_kernel(client, repeats):
    linkers = ["system", "mold"] if shutil.which("mold") else ["system"]
    seconds = {linker: [] for linker in linkers}
    count = 0
    for _ in range(repeats):
        for linker in linkers:
            run_cell(client, f":linker {linker}")
            count += 1
            seconds[linker].append(run_cell(client, f"{count}+1"))
    run_cell(client, ":linker system")
    return {linker: statistics.median(values) for linker, values in seconds.items()}


def measure_builds(kernel_pid, repeats):
    directory = session_folder_of(kernel_pid)
    environment = evcxr_environment(kernel_pid)
    cargo = ["cargo", "build", "--target", host_target(), "--message-format=json"]
    source = os.path.join(directory, "src", "lib.rs")
    original = open(source).read()
    edits = itertools.count(1000)

    def edit_cell():
        # Each cell's code is a function with a new name: rename it, as evcxr does.
        with open(source, "w") as file:
            file.write(re.sub(r"run_user_code_\d+", f"run_user_code_{next(edits)}", original))

    try:
        edit_cell()
        verbose = subprocess.run(["cargo", "build", "-v", *cargo[2:]], cwd=directory, env=environment, capture_output=True, text=True)
        running = [line for line in verbose.stderr.splitlines() if "Running `" in line and "--crate-name ctx" in line]
        rustc = shlex.split(running[-1].split("Running `", 1)[1].rstrip("`"))
        return {
            "cargo with nothing to build": statistics.median(timed(cargo, directory, environment) for _ in range(repeats)),
            "cargo building the cell": statistics.median(timed(cargo, directory, environment, edit_cell) for _ in range(repeats)),
            "rustc alone on the cell (compile and link)": statistics.median(timed(rustc, directory, environment, edit_cell) for _ in range(repeats)),
        }
    finally:
        with open(source, "w") as file:
            file.write(original)


def measure_thin_lto(client, repeats):
    """{flags: (median seconds of the prelude cell, median seconds of π's work)}."""
    pi_items, pi_work = RUST_WORK["pi"]
    run_cell(client, pi_items)
    seeds = itertools.count(100)
    cell, pi = ({name: [] for name in CELL_FLAGS} for _ in range(2))
    for _ in range(3):
        for name, flags in CELL_FLAGS.items():
            run_cell(client, f":build_env EVCXR_CELL_RUSTFLAGS={flags}")
            # New flags start rustc's incremental cache afresh: one cell fills it.
            run_cell(client, FIRST_CELL.replace("7)", f"{next(seeds)})"))
            for _ in range(max(1, repeats // 3)):
                cell[name].append(run_cell(client, FIRST_CELL.replace("7)", f"{next(seeds)})")))
            reply, msgs = run(client, TIMED.format(runs=RUST_RUNS, work=pi_work, warm_up=WARM_UP_S), timeout=600)
            pi[name].extend(json.loads(result_text(msgs).strip('"')))
    run_cell(client, f":build_env EVCXR_CELL_RUSTFLAGS={KERNEL_CELL_FLAGS}")
    return {name: (statistics.median(cell[name]), statistics.median(pi[name])) for name in CELL_FLAGS}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    manager, client = start_kernel()
    try:
        run_cell(client, "1+1")  # the first cell pays for the start
        kernel = measure_kernel(client, args.repeats)
        builds = measure_builds(manager.provisioner.process.pid, args.repeats)
        lto = measure_thin_lto(client, args.repeats)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

    print(f"{'part of a warm 1+1':46} {'median':>8}")
    print(f"{'the whole cell, in the kernel':46} {kernel['system'] * 1000:6.0f}ms")
    if "mold" in kernel:
        ratio = kernel["system"] / kernel["mold"]
        print(f"{'  with evcxr default (mold -run cargo)':46} {kernel['mold'] * 1000:6.0f}ms   (system linker: {ratio:.2f}x of it)")
    for name, seconds in builds.items():
        print(f"{name:46} {seconds * 1000:6.0f}ms")
    rest = kernel["system"] - builds["cargo building the cell"]
    print(f"{'evcxr and the Jupyter round trip (the rest)':46} {rest * 1000:6.0f}ms")
    print()
    print(f"{'cell flags':28} {'rayon, ndarray, plot cell':>26} {'Monte Carlo π (run)':>26}")
    base_cell, base_pi = lto["with local ThinLTO"]
    for name, (cell, pi) in lto.items():
        print(f"{name:28} {cell * 1000:9.0f}ms ({cell / base_cell:.2f}x)      {pi * 1000:9.2f}ms ({pi / base_pi:.2f}x)")


if __name__ == "__main__":
    main()
