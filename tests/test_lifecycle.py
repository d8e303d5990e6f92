"""How a kernel ends and what it writes to the log Jupyter shows."""

from __future__ import annotations

import os
import tempfile
import time

import pytest

from helpers import FIRST_CELL_TIMEOUT, REQUEST_TIMEOUT, get_reply, run, start_kernel, stop_kernel, wait_for_stdout
from rustpar_client import session_folder_of

pytestmark = pytest.mark.timeout(300)


def process_gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ")[-1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("restart", [False, True], ids=["shutdown", "restart"])
def test_a_shutdown_is_answered_at_once_while_a_cell_runs(restart):
    km, kc = start_kernel()
    try:
        # A cell that ignores interrupts: only ending its process stops it.
        cell = kc.execute('println!("sleeping");\nstd::thread::sleep(std::time::Duration::from_secs(40));')
        wait_for_stdout(kc, cell, "sleeping")
        pid = km.provisioner.pid
        asked = time.monotonic()
        msg = kc.session.msg("shutdown_request", {"restart": restart})
        kc.control_channel.send(msg)
        reply = get_reply(kc, msg["header"]["msg_id"], timeout=REQUEST_TIMEOUT, channel="control")
        answered = time.monotonic() - asked
        assert reply["content"] == {"status": "ok", "restart": restart}, reply["content"]
        assert answered < 2, f"the shutdown_reply came {answered:.1f} s after the request"
        assert process_gone(pid, within=5 - answered), "the kernel process outlived its shutdown by 5 s"
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def processes_holding(folder: str) -> list[int]:
    """The processes that have a file under `folder` open, or run in it."""
    holding = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            places = [os.readlink(f"/proc/{pid}/cwd")] + [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(place == folder or place.startswith(folder + "/") for place in places):
            holding.append(int(pid))
    return holding


def test_a_restart_while_the_session_starts_ends_it_and_leaves_nothing_behind():
    """A restart right after kernel_info does not wait for the session to
    finish starting: the old kernel ends at once, its cell process with it,
    the next kernel sweeps its folder, and runs cells."""
    km, kc = start_kernel(env={"RUSTPAR_SPARE": "0"}, warm=False)
    try:
        pid = km.provisioner.pid
        folder = session_folder_of(pid)
        km.restart_kernel(now=False)
        assert process_gone(pid, within=5), "the old kernel outlived its restart by 5 s"
        kc.wait_for_ready(timeout=60)
        reply, _ = run(kc, "1+1", timeout=FIRST_CELL_TIMEOUT)
        assert reply["content"]["status"] == "ok", reply["content"]
        deadline = time.monotonic() + 30
        while (os.path.exists(folder) or processes_holding(folder)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not processes_holding(folder), "a process of the old session outlived it"
        assert not os.path.exists(folder), "the old session's folder was left behind"
    finally:
        stop_kernel(km, kc)


def test_a_flood_of_malformed_frames_writes_a_few_log_lines():
    with tempfile.TemporaryFile(mode="w+") as log:
        from jupyter_client.manager import KernelManager

        km = KernelManager(kernel_name="rustpar")
        km.start_kernel(stderr=log, env={**os.environ, "RUSTPAR_LOG": "warn"})
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            sock = km.connect_shell()
            try:
                for _ in range(2000):
                    sock.send_multipart([b"garbage"])
            finally:
                sock.close(linger=1000)
            # The kernel read them all once a request sent after them is answered.
            reply, _ = run(kc, "1+1", timeout=300)
            assert reply["content"]["status"] == "ok"
        finally:
            stop_kernel(km, kc)
        log.seek(0)
        lines = [line for line in log.read().splitlines() if "shell" in line]
    assert 4 <= len(lines) <= 10, f"{len(lines)} log lines for 2000 bad frames:\n" + "\n".join(lines[:20])
    assert any("1000" in line for line in lines), lines


def test_a_kernel_whose_client_was_killed_shuts_down_and_cleans_up():
    """As ipykernel does: a kernel outliving its client (JPY_PARENT_PID) ends,
    and takes its session folder with it."""
    import glob
    import os
    import subprocess
    import sys

    client = (
        "import jupyter_client, time\n"
        "km = jupyter_client.KernelManager(kernel_name='rustpar'); km.start_kernel()\n"
        "kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=120)\n"
        "kc.execute_interactive('1+1', timeout=300, output_hook=lambda message: None)\n"
        "print(km.provisioner.pid, flush=True); time.sleep(600)\n"
    )
    before = set(glob.glob("/tmp/rustpar-sessions/rustpar-session-*"))
    parent = subprocess.Popen([sys.executable, "-c", client], stdout=subprocess.PIPE, text=True)
    try:
        kernel_pid = int(parent.stdout.readline())
        session = set(glob.glob("/tmp/rustpar-sessions/rustpar-session-*")) - before
        assert len(session) == 1, session
    finally:
        parent.kill()
        parent.wait()
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{kernel_pid}") and time.time() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{kernel_pid}"), "the kernel outlived its client"
    assert not any(os.path.exists(folder) for folder in session), "the session folder was left behind"
