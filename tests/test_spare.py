"""Spare sessions: a kernel started after another one takes over the session
the first left waiting, and nothing of either is left behind."""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
import time

from helpers import FIRST_CELL_TIMEOUT, assert_error, assert_ok, result_text, run, start_kernel, stop_kernel


def waiting_spares(folder: str) -> list[str]:
    """The slots in `folder` whose spare still holds its place."""
    held = []
    for offer in glob.glob(os.path.join(folder, "*.offer")):
        with open(offer, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(offer)
    return held


def wait_until(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")  # a zombie has ended
    except FileNotFoundError:
        return True


def evaluator_of(kc) -> tuple[int, str]:
    """The process that serves the kernel's cells, and its session folder."""
    reply, msgs = run(kc, 'format!("{} {}", std::os::unix::process::parent_id(), std::env::var("EVCXR_TMPDIR").unwrap())')
    assert_ok(reply, msgs)
    pid, folder = result_text(msgs).strip('"').split(" ", 1)
    return int(pid), folder


def test_a_kernel_takes_over_the_spare_another_left_and_both_end_cleanly():
    folder = os.path.join(tempfile.mkdtemp(prefix="rustpar-spares-test-"), "spares")
    env = {"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": folder, "RUSTPAR_SPARE_GRACE": "2"}
    first = start_kernel(env=env)
    second = other = None
    try:
        assert_ok(*run(first[1], "let secret = 41;"))
        offer = wait_until(lambda: [path for path in glob.glob(os.path.join(folder, "*.offer")) if open(path).read().startswith("ready ")], 240, "a spare")
        second = start_kernel(env=env, warm=False)
        km, kc = second
        reply, msgs = run(kc, "1 + 1", timeout=FIRST_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        assert reply["content"]["execution_count"] == 1, "a spare's session is a fresh one"
        evaluator, session = evaluator_of(kc)
        assert evaluator != km.provisioner.pid, "the kernel started a session of its own instead of taking over the spare"
        assert_error(*run(kc, "secret"), "CompileError")
        # A kernel with another environment has another slot: it starts its own session.
        other = start_kernel(env={**env, "RUSTPAR_TEST_SLOT": "other"})
        assert evaluator_of(other[1])[0] == other[0].provisioner.pid
        # Jupyter killing the process it started ends the spare that stands behind it.
        km.shutdown_kernel(now=True)
        wait_until(lambda: process_gone(evaluator), 20, "the spare to end with its stand-in")
        wait_until(lambda: not os.path.exists(session), 20, "the spare's session folder to go")
    finally:
        for kernel in (first, second, other):
            if kernel:
                stop_kernel(*kernel)
    # Spares leave once no kernel of their slot lives.
    wait_until(lambda: not waiting_spares(folder), 60, f"the spares to leave: {offer}")


def test_a_spare_that_is_starting_is_stopped_while_cells_run():
    """A spare at work beside a running cell would skew its timings."""
    folder = os.path.join(tempfile.mkdtemp(prefix="rustpar-spares-test-"), "spares")
    km, kc = start_kernel(env={"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": folder, "RUSTPAR_SPARE_GRACE": "2"})
    try:
        def spare_state():
            for pid in os.listdir("/proc"):
                try:
                    cmdline = open(f"/proc/{pid}/cmdline").read()
                    fields = open(f"/proc/{pid}/stat").read().split(") ")[1].split()
                except (FileNotFoundError, ProcessLookupError, NotADirectoryError, IndexError):
                    continue
                if cmdline.endswith("\0spare\0") and int(fields[1]) == km.provisioner.pid:
                    return fields[0]
            return None

        wait_until(spare_state, 60, "the kernel to start a spare")
        msg_id = kc.execute("std::thread::sleep(std::time::Duration::from_secs(3));")
        states = []
        deadline = time.time() + 30
        while time.time() < deadline:
            offer = glob.glob(os.path.join(folder, "*.offer"))
            warming = bool(offer) and open(offer[0]).read().startswith("warming ")
            states.append((warming, spare_state()))
            try:
                reply = kc.get_shell_msg(timeout=0.2)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            except Exception:  # noqa: BLE001 - no reply yet
                pass
        assert (True, "T") in states, f"the starting spare was not stopped while the cell ran: {states}"
        wait_until(lambda: spare_state() not in ("T", None), 10, "the spare to go on after the cell")
    finally:
        stop_kernel(km, kc)
    wait_until(lambda: not waiting_spares(folder), 120, "the spare to leave")
