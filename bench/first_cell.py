"""Prints the prelude's headline figures (issue "Parallel prelude").

    .venv/bin/python bench/first_cell.py [--repeats N]

- kernel start -> result of a first cell that uses rayon and ndarray and draws
  a plot (the prelude is precompiled; nothing is built for the session):
  cold, with spares off, and when the kernel takes over the spare session
  that the kernel before it left (a restart, or a second notebook);
- a warm trivial cell with the prelude loaded, next to the same cell in a
  session without the prelude (RUSTPAR_PRELUDE pointed at nothing), in the
  same run, so the ratio shows what the prelude costs every cell.
"""

import argparse
import glob
import os
import json
import statistics
import subprocess
import tempfile
import time

import rustpar_client
from jupyter_client.kernelspec import KernelSpecManager

FIRST_CELL = """use rayon::prelude::*;
let a = random_array((200, 200), 7);
let total: f64 = a.as_slice().unwrap().par_iter().sum();
Plot::new("row sums").line("sum", &(0..200).map(|i| i as f64).collect::<Vec<_>>(), &a.sum_axis(Axis(1)).to_vec()).show();
total > 0.0"""


def run(client, code):
    reply, msgs = rustpar_client.run(client, code, timeout=600)
    assert reply["content"]["status"] == "ok", rustpar_client.describe(reply, msgs)


def without_prelude(folder):
    """A kernelspec for the same kernel whose sessions find no prelude."""
    kernel = json.load(open(KernelSpecManager().get_kernel_spec("rustpar").resource_dir + "/kernel.json"))["argv"][0]
    subprocess.run([kernel, "install", "--prefix", folder, "--prelude", "/nonexistent"], check=True, capture_output=True)
    return KernelSpecManager(kernel_dirs=[folder + "/share/jupyter/kernels"])


def session(specs=None, **env):
    kernel = rustpar_client.Kernel.start(env, **({"kernel_spec_manager": specs} if specs else {}))
    return kernel.manager, kernel.client


def first_cell(**env):
    """Seconds from kernel start to the first cell's result; the kernel, still running."""
    began = time.perf_counter()
    manager, client = session(**env)
    run(client, FIRST_CELL)
    return time.perf_counter() - began, manager, client


def spare_ready(folder, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(open(offer).read().startswith("ready ") for offer in glob.glob(os.path.join(folder, "*.offer"))):
            return
        time.sleep(0.2)
    raise SystemExit("no spare session became ready")


def measure(repeats, plain_specs, spares):
    cold, from_spare, warm, plain = [], [], [], []
    for _ in range(repeats):
        seconds, manager, client = first_cell(RUSTPAR_SPARE="0")
        cold.append(seconds)
        for _ in range(5):
            began = time.perf_counter()
            run(client, "1+1")
            warm.append(time.perf_counter() - began)
        manager.shutdown_kernel(now=True)
        manager, client = session(plain_specs, RUSTPAR_SPARE="0")
        run(client, "1+1")
        for _ in range(5):
            began = time.perf_counter()
            run(client, "1+1")
            plain.append(time.perf_counter() - began)
        manager.shutdown_kernel(now=True)
    # The first kernel of the slot starts cold and leaves the first spare;
    # the last spare leaves a second after the last kernel.
    spare_env = {"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": spares, "RUSTPAR_SPARE_GRACE": "1"}
    _, manager, _ = first_cell(**spare_env)
    for _ in range(repeats):
        spare_ready(spares)
        manager.shutdown_kernel(now=True)
        seconds, manager, _ = first_cell(**spare_env)
        from_spare.append(seconds)
    manager.shutdown_kernel(now=True)
    return [statistics.median(times) for times in (cold, from_spare, warm, plain)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    with tempfile.TemporaryDirectory() as folder:
        cold, from_spare, warm, plain = measure(parser.parse_args().repeats, without_prelude(folder), os.path.join(folder, "spares"))
    print(f"kernel start -> first rayon+ndarray+plot cell, cold:       {cold:6.2f} s")
    print(f"kernel start -> first rayon+ndarray+plot cell, from spare: {from_spare:6.2f} s  (ratio {from_spare / cold:.2f})")
    print(f"warm 1+1 with the prelude:    {warm * 1000:6.0f} ms")
    print(f"warm 1+1 without the prelude: {plain * 1000:6.0f} ms  (ratio {warm / plain:.2f})")


if __name__ == "__main__":
    main()
