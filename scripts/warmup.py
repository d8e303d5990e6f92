#!/usr/bin/env python3
"""Warm up the rustpar kernel: start it, evaluate ``1+1``, shut it down.

The first cell a fresh machine evaluates pays for compiling the notebook's
support crates; doing it once here (from install.sh) makes the first cell of
a real notebook fast.  Exits non-zero, with a message, when the kernel does
not start or does not answer ``2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from queue import Empty

from jupyter_client.manager import KernelManager


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="rustpar", help="kernelspec name (default: rustpar)")
    parser.add_argument("--code", default="1+1", help="code to evaluate (default: 1+1)")
    parser.add_argument("--expect", default="2", help="expected text/plain result (default: 2; empty: the cell only has to succeed)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the result")
    args = parser.parse_args()

    km = KernelManager(kernel_name=args.kernel)
    t0 = time.monotonic()
    try:
        # No spare session left behind by an installer (see the kernel's `spare` module).
        km.start_kernel(env={**os.environ, "RUSTPAR_SPARE": "0"})
    except Exception as e:  # noqa: BLE001 - report anything that stops the start
        print(f"warmup: could not start kernel {args.kernel!r}: {e}", file=sys.stderr)
        return 1
    kc = km.client()
    kc.start_channels()
    try:
        try:
            kc.wait_for_ready(timeout=120)
        except RuntimeError as e:
            print(f"warmup: kernel did not become ready: {e}", file=sys.stderr)
            return 1
        t_ready = time.monotonic()
        msg_id = kc.execute(args.code, store_history=False, allow_stdin=False)
        result = None
        errors: list[str] = []
        deadline = time.monotonic() + args.timeout
        reply = None
        while time.monotonic() < deadline:
            try:
                reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                break
            if reply["parent_header"].get("msg_id") == msg_id:
                break
            reply = None
        if reply is None:
            seen = []
            while True:
                try:
                    msg = kc.get_iopub_msg(timeout=0.5)
                except Empty:
                    break
                if msg["parent_header"].get("msg_id") == msg_id:
                    seen.append(msg["msg_type"])
            print(
                f"warmup: no execute_reply within {args.timeout:.0f} s "
                f"(iopub for the cell: {', '.join(seen) or 'nothing'}); the kernel seems stuck",
                file=sys.stderr,
            )
            return 1
        # Drain iopub up to the idle status for our request.
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=10)
            except Empty:
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "execute_result":
                result = msg["content"]["data"].get("text/plain")
            elif kind == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif kind == "stream":
                sys.stderr.write(msg["content"]["text"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        t_done = time.monotonic()
        status = reply["content"].get("status")
        if status != "ok" or (args.expect and result != args.expect):
            detail = "; ".join(errors) or f"status={status!r}, result={result!r}"
            print(f"warmup: {args.code!r} did not give {args.expect!r}: {detail}", file=sys.stderr)
            return 1
        print(
            f"warmup: {args.code.splitlines()[0]} -> {result or 'ok'} (kernel start {t_ready - t0:.1f} s, "
            f"first cell {t_done - t_ready:.1f} s)"
        )
        return 0
    finally:
        kc.stop_channels()
        try:
            km.shutdown_kernel(now=False)
        except Exception:  # noqa: BLE001
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.exit(main())
