"""Prints the kernel's headline latencies, next to ipykernel's in the same run.

    .venv/bin/python bench/kernel_latency.py [--repeats N]

Figures (issue "Kernel"): start -> kernel_info_reply, a warm `1+1`, and an
interrupt of a running cell -> its execute_reply. Each is the median of N runs;
ipykernel (installed with JupyterLab) is the baseline, run the same way.
"""

import argparse
import os
import statistics
import time

from jupyter_client import KernelManager
from rustpar_client import collect_iopub, get_reply, run_timed

CASES = {
    "rustpar": {"warm": "1+1", "busy": "loop { check_interrupt(); }", "plain_busy": "loop {}"},
    "python3": {"warm": "1+1", "busy": "while True: pass", "plain_busy": None},
}


def start(kernel_name):
    began = time.perf_counter()
    manager = KernelManager(kernel_name=kernel_name)
    # No spare session: one starting beside the ipykernel baseline would slow it.
    manager.start_kernel(env={**os.environ, "RUSTPAR_SPARE": "0"})
    client = manager.client()
    client.start_channels()
    get_reply(client, client.kernel_info(), timeout=60)
    seconds = time.perf_counter() - began
    # iopub may not be subscribed yet: a fast kernel's idle would be missed.
    client.wait_for_ready(timeout=60)
    return manager, client, seconds


def interrupted(client, manager, code, after):
    """Seconds from an interrupt, `after` seconds into the cell, to its execute_reply."""
    msg_id = client.execute(code)
    time.sleep(after)
    began = time.perf_counter()
    manager.interrupt_kernel()
    get_reply(client, msg_id, timeout=600)
    elapsed = time.perf_counter() - began
    collect_iopub(client, msg_id)  # the next measurement starts once the cell is idle
    return elapsed


def measure(kernel_name, repeats):
    cases = CASES[kernel_name]
    starts, warm, interrupt, plain_interrupt = [], [], [], []
    for _ in range(repeats):
        manager, client, seconds = start(kernel_name)
        starts.append(seconds)
        run_timed(client, cases["warm"], timeout=600)  # the first cell pays for start-up
        warm.extend(run_timed(client, cases["warm"])[0] for _ in range(5))
        interrupt.append(interrupted(client, manager, cases["busy"], after=1.0))
        if cases["plain_busy"]:
            plain_interrupt.append(interrupted(client, manager, cases["plain_busy"], after=1.0))
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {
        "start -> kernel_info_reply": statistics.median(starts),
        "warm 1+1": statistics.median(warm),
        "interrupt -> execute_reply": statistics.median(interrupt),
        "interrupt of `loop {}` -> execute_reply": statistics.median(plain_interrupt) if plain_interrupt else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ours = measure("rustpar", args.repeats)
    baseline = measure("python3", args.repeats)
    print(f"{'figure':42} {'rustpar':>10} {'ipykernel':>10} {'ratio':>7}")
    for name, value in ours.items():
        if value is None:
            continue
        base = baseline.get(name)
        ratio = f"{value / base:7.2f}" if base else "      -"
        base_text = f"{base * 1000:8.0f}ms" if base else "         -"
        print(f"{name:42} {value * 1000:8.0f}ms {base_text} {ratio}")


if __name__ == "__main__":
    main()
