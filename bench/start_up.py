"""Prints the start-up figures (issue "Start-up without a tax"), spares off and on side by side.

    .venv/bin/python bench/start_up.py [--repeats N]

Each figure is the median of N runs on this machine, with nothing else
running beside it but what the figure names:

- start -> kernel_info_reply: cold (spares off), claiming a ready spare, and
  claiming a spare still starting (a restart or a second notebook soon after
  the first cell: a restart starts a new kernel process the same way);
- start -> result of a first prelude cell (rayon, ndarray and a plot) the
  same three ways;
- a warm `1+1`, spares off, and spares on while the kernel's spare starts
  beside it (each cell stops it, so the two should be equal).

The ratios are against the cold, spares-off kernel run in the same script.
"""

import argparse
import glob
import os
import statistics
import tempfile
import time

from rustpar_client import Kernel, describe, get_reply, run_timed

FIRST_CELL = """use rayon::prelude::*;
let a = random_array((200, 200), 7);
let total: f64 = a.as_slice().unwrap().par_iter().sum();
Plot::new("row sums").line("sum", &(0..200).map(|i| i as f64).collect::<Vec<_>>(), &a.sum_axis(Axis(1)).to_vec()).show();
total > 0.0"""


def cell(client, code):
    seconds, reply, msgs = run_timed(client, code, timeout=600)
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    return seconds


def started(env, code=None):
    """(seconds to kernel_info_reply, seconds to the result of `code`, kernel)."""
    began = time.perf_counter()
    kernel = Kernel.start(env, ready_timeout=600)
    # wait_for_ready has had its kernel_info reply; time one more, as a client's first request.
    get_reply(kernel.client, kernel.client.kernel_info(), timeout=600)
    info = time.perf_counter() - began
    if code is not None:
        cell(kernel.client, code)
    return info, time.perf_counter() - began, kernel


def offer(folder, state):
    return any(open(path).read().startswith(f"{state} ") for path in glob.glob(os.path.join(folder, "*.offer")))


def wait_for(condition, what, timeout=600):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def measure(repeats, folder):
    off = {"RUSTPAR_SPARE": "0", "RUSTPAR_SPARE_DIR": folder}
    on = {"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": folder, "RUSTPAR_SPARE_GRACE": "30"}
    rows = {name: [] for name in ("info cold", "info ready", "info starting", "cell cold", "cell ready", "cell starting", "warm off", "warm on")}
    for _ in range(repeats):
        info, first, kernel = started(off, FIRST_CELL)
        rows["info cold"].append(info)
        rows["cell cold"].append(first)
        rows["warm off"].extend(cell(kernel.client, "1+1") for _ in range(5))
        kernel.stop(now=True)
        # The first kernel of the slot starts cold and leaves a spare after its first cell.
        _, _, owner = started(on, "1+1")
        wait_for(lambda: offer(folder, "warming"), "a starting spare")
        rows["warm on"].extend(cell(owner.client, "1+1") for _ in range(5))
        info, first, second = started(on, FIRST_CELL)
        rows["info starting"].append(info)
        rows["cell starting"].append(first)
        # The second kernel's spare, left to finish.
        wait_for(lambda: offer(folder, "ready"), "a ready spare")
        info, first, third = started(on, FIRST_CELL)
        rows["info ready"].append(info)
        rows["cell ready"].append(first)
        for kernel in (owner, second, third):
            kernel.stop(now=True)
        wait_for(lambda: not glob.glob(os.path.join(folder, "*.sock")), "the last spare to leave", timeout=120)
    return {name: statistics.median(values) for name, values in rows.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(args.repeats, os.path.join(folder, "spares"))
    print(f"start-up figures, median of {args.repeats} runs; ratios against the cold kernel with spares off")
    print(f"{'figure':52} {'seconds':>8} {'ratio':>7}")
    for label, name, base in [
        ("start -> kernel_info_reply, cold (spares off)", "info cold", "info cold"),
        ("start -> kernel_info_reply, claiming a ready spare", "info ready", "info cold"),
        ("start -> kernel_info_reply, claiming a starting spare", "info starting", "info cold"),
        ("start -> first prelude cell, cold (spares off)", "cell cold", "cell cold"),
        ("start -> first prelude cell, from a ready spare", "cell ready", "cell cold"),
        ("start -> first prelude cell, from a starting spare", "cell starting", "cell cold"),
        ("warm 1+1, spares off", "warm off", "warm off"),
        ("warm 1+1, spares on, a spare starting beside it", "warm on", "warm off"),
    ]:
        print(f"{label:52} {figures[name]:8.3f} {figures[name] / figures[base]:7.2f}")


if __name__ == "__main__":
    main()
