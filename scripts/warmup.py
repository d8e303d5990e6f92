#!/usr/bin/env python3
"""Warm up the rustpar kernel: start it, evaluate ``1+1``, shut it down.

The first cell a fresh machine evaluates pays for compiling the notebook's
support crates; doing it once here (from install.sh) makes the first cell of
a real notebook fast.  Exits non-zero, with a message, when the kernel does
not start or does not answer ``2``.
"""

from __future__ import annotations

import argparse
import sys
import time

from rustpar_client import Kernel, describe, result_text, run, stream_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", default="rustpar", help="kernelspec name (default: rustpar)")
    parser.add_argument("--code", default="1+1", help="code to evaluate (default: 1+1)")
    parser.add_argument("--expect", default="2", help="expected text/plain result (default: 2; empty: the cell only has to succeed)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the result")
    args = parser.parse_args()

    began = time.monotonic()
    try:
        # No spare session left behind by an installer (see the kernel's `spare` module).
        kernel = Kernel.start({"RUSTPAR_SPARE": "0"}, kernel_name=args.kernel)
    except Exception as error:  # noqa: BLE001 - report anything that stops the start
        print(f"warmup: kernel {args.kernel!r} did not start: {error}", file=sys.stderr)
        return 1
    try:
        ready = time.monotonic()
        try:
            reply, msgs = run(kernel.client, args.code, timeout=args.timeout, store_history=False)
        except TimeoutError as error:
            print(f"warmup: the kernel seems stuck: {error}", file=sys.stderr)
            return 1
        sys.stderr.write(stream_text(msgs, "stderr"))
        result = result_text(msgs)
        if reply["content"]["status"] != "ok" or (args.expect and result != args.expect):
            print(f"warmup: {args.code!r} did not give {args.expect!r}:\n{describe(reply, msgs)}", file=sys.stderr)
            return 1
        print(
            f"warmup: {args.code.splitlines()[0]} -> {result or 'ok'} (kernel start {ready - began:.1f} s, "
            f"first cell {time.monotonic() - ready:.1f} s)"
        )
        return 0
    finally:
        kernel.stop()


if __name__ == "__main__":
    sys.exit(main())
