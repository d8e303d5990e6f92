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
"""

import argparse
import itertools
import os
import re
import shlex
import shutil
import statistics
import subprocess
import time

from rustpar_client import Kernel, describe, run_timed


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


def session_dir(kernel_pid):
    """The kernel's build folder: the one whose owner file the kernel holds open."""
    for fd in os.listdir(f"/proc/{kernel_pid}/fd"):
        target = os.readlink(f"/proc/{kernel_pid}/fd/{fd}")
        if os.path.basename(target) == ".rustpar-owner":
            return os.path.dirname(target)
    raise SystemExit("could not find the kernel's build folder")


def evcxr_environment():
    """The environment evcxr gives cargo for a cell."""
    rustc = subprocess.run(["rustup", "which", "rustc"], capture_output=True, text=True).stdout.strip() or shutil.which("rustc")
    return {**os.environ, "CARGO_TARGET_DIR": "target", "CARGO_BUILD_BUILD_DIR": "target", "RUSTC": rustc, "RUSTFLAGS": "-Cprefer-dynamic"}


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


def measure_builds(directory, repeats):
    environment = evcxr_environment()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    manager, client = start_kernel()
    try:
        run_cell(client, "1+1")  # the first cell pays for the start
        kernel = measure_kernel(client, args.repeats)
        builds = measure_builds(session_dir(manager.provisioner.process.pid), args.repeats)
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


if __name__ == "__main__":
    main()
