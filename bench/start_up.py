"""Prints the start-up figures (issue "Start-up without a tax"), spares off and on side by side.

    .venv/bin/python bench/start_up.py [--repeats N]

Each figure is the median of N runs (4 by default) on this machine, with
nothing else running beside it but what the figure names; the spares-off and
spares-on kernels take turns to go first from one run to the next:

- start -> kernel_info_reply, timed as JupyterLab and VS Code time it: the
  process is launched, one kernel_info request is sent at once and waits in
  its socket, and the clock stops at its reply. Cold (spares off), claiming
  a ready spare, claiming a spare still warming up, and after a restart (from
  the restart request, so the old kernel's shutdown counts), also one sent
  as soon as the kernel answers, while its session still starts;
- start -> result of a first cell: `1+1`, and a first prelude cell (rayon,
  ndarray and a plot), cold, from a spare (ready or warming up), and cold
  beside a spare whose session has not started (it is left for the next
  kernel);
- a warm `1+1` (10 cells in each run), spares off, and spares on while the
  kernel's spare starts beside it (each cell stops it, so the two should be
  equal), both 3 s after the kernel's first cell;
- a cell's 2-thread speedup on a CPU-bound loop, spares off and with a
  spare starting (it must not take the second core);
- evcxr_jupyter 0.22 (kernelspec `rust`) started the same way, when it is
  installed (`cargo install evcxr_jupyter --version 0.22.0 --locked &&
  evcxr_jupyter --install`); it has no prelude.

The ratios are against the cold, spares-off rustpar kernel run in the same
script, or for warm cells and speedups, against spares off.
"""

import argparse
import glob
import os
import statistics
import tempfile
import time

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from core_meter import SPEEDUP_CELL  # one and two threads on one loop; the cell's value is the speedup
from rustpar_client import Kernel, describe, get_reply, result_text, run

FIRST_CELL = """use rayon::prelude::*;
let a = random_array((200, 200), 7);
let total: f64 = a.as_slice().unwrap().par_iter().sum();
Plot::new("row sums").line("sum", &(0..200).map(|i| i as f64).collect::<Vec<_>>(), &a.sum_axis(Axis(1)).to_vec()).show();
total > 0.0"""



WARM_CELLS = 10
# Warm cells start this long after the kernel's first cell, spares on or off
# (and evcxr_jupyter's, alike):
# the kernel's own rust-analyzer warm-up, which works in every quiet moment,
# has then gone as far in both (warm cells ran ~7 % slower 2.5 s after the
# first cell than right after it, spares off).
SETTLE_S = 3.0


def value(kernel, code):
    """(seconds to the execute_reply, the result's text)."""
    began = time.perf_counter()
    reply, msgs = run(kernel.client, code, timeout=600)
    seconds = time.perf_counter() - began
    assert reply["content"]["status"] == "ok", describe(reply, msgs)
    return seconds, result_text(msgs)


def first_reply(kernel, began):
    get_reply(kernel.client, kernel.client.kernel_info(), timeout=600)
    return time.perf_counter() - began


def started(env, code=None, kernel_name="rustpar"):
    """(seconds to kernel_info_reply, seconds to the result of `code`, kernel)."""
    began = time.perf_counter()
    kernel = Kernel.launch(env, kernel_name)
    info = first_reply(kernel, began)
    if code is not None:
        value(kernel, code)
    return info, time.perf_counter() - began, kernel


def restarted(kernel):
    """Seconds from a restart request to the new kernel's kernel_info_reply."""
    began = time.perf_counter()
    kernel.manager.restart_kernel(now=False)
    return first_reply(kernel, began)


def warm(kernel):
    return [value(kernel, "1+1")[0] for _ in range(WARM_CELLS)]


def speedup(kernel):
    return float(value(kernel, SPEEDUP_CELL)[1])


def offer(folder, state):
    return any(open(path).read().startswith(f"{state} ") for path in glob.glob(os.path.join(folder, "*.offer")))


def wait_for(condition, what, timeout=600):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def has_kernel(name):
    try:
        KernelSpecManager().get_kernel_spec(name)
        return True
    except NoSuchKernel:
        return False


def measure(repeats, folder, with_evcxr):
    off = {"RUSTPAR_SPARE": "0", "RUSTPAR_SPARE_DIR": folder}
    on = {"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": folder, "RUSTPAR_SPARE_GRACE": "30"}
    rows = {}

    def add(name, values):
        rows.setdefault(name, []).extend(values if isinstance(values, list) else [values])

    def spares_off():
        info, first, kernel = started(off, "1+1")
        add("info cold", info)
        add("1+1 cold", first)
        time.sleep(SETTLE_S)
        add("warm off", warm(kernel))
        add("speedup off", speedup(kernel))
        add("info restart off", restarted(kernel))
        kernel.stop(now=True)
        _, first, kernel = started(off, FIRST_CELL)
        add("cell cold", first)
        kernel.stop(now=True)
        # A restart as soon as the kernel answers, while its session starts.
        _, _, kernel = started(off)
        add("info restart starting", restarted(kernel))
        kernel.stop(now=True)

    def spares_on():
        # The first kernel of the slot starts cold and leaves a spare after its first cell.
        _, _, owner = started(on, "1+1")
        first_ended = time.perf_counter()
        wait_for(lambda: offer(folder, "warming"), "a starting spare")
        time.sleep(max(0.0, SETTLE_S - (time.perf_counter() - first_ended)))
        add("warm on", warm(owner))
        # Each cell stops the spare, so it is still starting; a sample taken after it is ready is left out.
        if offer(folder, "warming"):
            add("speedup on", speedup(owner))
        still_starting = offer(folder, "warming")
        info, first, second = started(on, FIRST_CELL)
        if still_starting:
            add("info starting", info)
            add("cell starting", first)
        # The second kernel's spare, left to finish.
        wait_for(lambda: offer(folder, "ready"), "a ready spare")
        info, first, third = started(on, FIRST_CELL)
        add("info ready", info)
        add("cell ready", first)
        wait_for(lambda: offer(folder, "ready"), "a ready spare")
        add("info restart on", restarted(third))
        for kernel in (owner, second, third):
            kernel.stop(now=True)
        wait_for(lambda: not glob.glob(os.path.join(folder, "*.sock")), "the last spare to leave", timeout=120)
        # A spare whose session has not started is left alone: the kernel starts cold beside it.
        _, _, owner = started(on, "1+1")
        wait_for(lambda: any(offer(folder, state) for state in ("waiting", "starting", "warming")), "a spare")
        unstarted = not offer(folder, "warming")
        _, first, second = started(on, FIRST_CELL)
        if unstarted:
            add("cell unstarted", first)
        for kernel in (owner, second):
            kernel.stop(now=True)
        wait_for(lambda: not glob.glob(os.path.join(folder, "*.sock")), "the last spare to leave", timeout=120)

    for repeat in range(repeats):
        # The order alternates: this machine drifts by ~10 % within a minute,
        # which one side would otherwise always get.
        for block in (spares_off, spares_on) if repeat % 2 == 0 else (spares_on, spares_off):
            block()
        if with_evcxr:
            info, first, peer = started({}, "1+1", kernel_name="rust")
            add("evcxr info", info)
            add("evcxr 1+1", first)
            time.sleep(SETTLE_S)
            add("evcxr warm", warm(peer))
            peer.stop(now=True)
    return {name: statistics.median(values) for name, values in rows.items()}


FIGURES = [
    # (label, figure, baseline, unit)
    ("start -> kernel_info_reply, cold (spares off)", "info cold", "info cold", "s"),
    ("start -> kernel_info_reply, claiming a ready spare", "info ready", "info cold", "s"),
    ("start -> kernel_info_reply, claiming a spare warming up", "info starting", "info cold", "s"),
    ("restart -> kernel_info_reply, spares off", "info restart off", "info cold", "s"),
    ("restart -> kernel_info_reply, spares off, session starting", "info restart starting", "info cold", "s"),
    ("restart -> kernel_info_reply, claiming a ready spare", "info restart on", "info cold", "s"),
    ("evcxr_jupyter: start -> kernel_info_reply", "evcxr info", "info cold", "s"),
    ("start -> first 1+1, cold (spares off)", "1+1 cold", "1+1 cold", "s"),
    ("evcxr_jupyter: start -> first 1+1", "evcxr 1+1", "1+1 cold", "s"),
    ("start -> first prelude cell, cold (spares off)", "cell cold", "cell cold", "s"),
    ("start -> first prelude cell, from a ready spare", "cell ready", "cell cold", "s"),
    ("start -> first prelude cell, from a spare warming up", "cell starting", "cell cold", "s"),
    ("start -> first prelude cell, cold beside an unstarted spare", "cell unstarted", "cell cold", "s"),
    ("warm 1+1, spares off", "warm off", "warm off", "s"),
    ("warm 1+1, spares on, a spare starting beside it", "warm on", "warm off", "s"),
    ("evcxr_jupyter: warm 1+1", "evcxr warm", "warm off", "s"),
    ("2-thread speedup of a cell, spares off", "speedup off", "speedup off", "x"),
    ("2-thread speedup of a cell, a spare starting beside it", "speedup on", "speedup off", "x"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    with_evcxr = has_kernel("rust")
    with tempfile.TemporaryDirectory() as folder:
        figures = measure(args.repeats, os.path.join(folder, "spares"), with_evcxr)
    print(f"start-up figures, median of {args.repeats} runs; ratios against the first figure of each group, spares off")
    print(f"{'figure':62} {'value':>8} {'ratio':>7}")
    for label, name, base, unit in FIGURES:
        if name in figures:
            print(f"{label:62} {figures[name]:7.3f}{unit} {figures[name] / figures[base]:7.2f}")
    if not with_evcxr:
        print("evcxr_jupyter is not installed, so its figures are missing: "
              "cargo install evcxr_jupyter --version 0.22.0 --locked && evcxr_jupyter --install")


if __name__ == "__main__":
    main()
