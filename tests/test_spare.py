"""Spare sessions: a kernel started after another one takes over the session
the first left waiting, and nothing of either is left behind."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from helpers import FIRST_CELL_TIMEOUT, assert_error, assert_ok, get_reply, result_text, run, start_kernel, stop_kernel, stream_text
from rustpar_client import session_folder_of


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


def spares_of(folder: str) -> dict[int, str]:
    """The spare processes whose spares folder is `folder`, and their states
    (`T` when stopped)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline").read()
            environ = open(f"/proc/{pid}/environ").read().split("\0")
            state = open(f"/proc/{pid}/stat").read().split(") ")[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if cmdline.endswith("\0spare\0") and f"RUSTPAR_SPARE_DIR={folder}" in environ and state != "Z":
            found[int(pid)] = state
    return found


def offer_says(folder: str, state: str) -> bool:
    return any(open(path).read().startswith(f"{state} ") for path in glob.glob(os.path.join(folder, "*.offer")))


def states_while(kc, code: str, folder: str) -> list[tuple[bool, dict[int, str]]]:
    """Runs `code` on `kc`, noting every 0.2 s whether a spare was starting
    and the states of the spare processes, until the cell's reply."""
    msg_id = kc.execute(code)
    states = []
    for _ in range(150):
        states.append((offer_says(folder, "warming"), spares_of(folder)))
        try:
            if get_reply(kc, msg_id, timeout=0.2):
                return states
        except TimeoutError:
            pass
    raise AssertionError(f"the cell did not end: {states[-3:]}")


def spares_env(folder: str, **more: str) -> dict[str, str]:
    return {"RUSTPAR_SPARE": "1", "RUSTPAR_SPARE_DIR": folder, **more}


def new_folder() -> str:
    return os.path.join(tempfile.mkdtemp(prefix="rustpar-spares-test-"), "spares")


def test_a_starting_spare_is_stopped_while_any_kernels_cell_runs():
    """A spare at work beside a running cell would skew its timings: a cell of
    any kernel, even one whose own spares are off, stops it."""
    folder = new_folder()
    owner = start_kernel(env=spares_env(folder))
    bystander = start_kernel(env={"RUSTPAR_SPARE": "0", "RUSTPAR_SPARE_DIR": folder})
    try:
        wait_until(lambda: offer_says(folder, "warming") and spares_of(folder), 60, "the kernel to start a spare")
        states = states_while(bystander[1], "std::thread::sleep(std::time::Duration::from_secs(3));", folder)
        assert any(warming and "T" in spares.values() for warming, spares in states), f"the starting spare ran beside the cell: {states}"
        # Cells run back to back (a notebook run top to bottom) never meet a
        # working spare: it stays stopped between them, and goes on only once
        # the machine's cells have been quiet for a second.
        for _ in range(3):
            assert_ok(*run(bystander[1], "1 + 1"))
            if offer_says(folder, "warming"):
                assert set(spares_of(folder).values()) == {"T"}, f"the spare went on between two cells: {spares_of(folder)}"
        wait_until(lambda: "T" not in spares_of(folder).values(), 10, "the spare to go on after the cells")
    finally:
        stop_kernel(*bystander)
        stop_kernel(*owner)


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(") ", 1)[1].split()[0]


def test_a_spare_whose_cargo_holds_the_package_cache_is_left_running_while_a_cell_runs():
    """Stopped, a spare's cargo would keep its lock on cargo's package cache,
    and the cell's own cargo (a cold session's start, a `:dep`) would wait for
    it while the cell keeps the spare stopped: such a spare is left running.
    A cargo that builds holds only a shared lock, which no other cargo waits
    for, and is stopped like any spare. Three stand-in spares, each leading
    its own process group: programs named cargo with cargo's lock file
    `.package-cache` open, with `.package-cache-mutate` open, and a plain one."""
    folder = new_folder()
    km, kc = start_kernel(env={"RUSTPAR_SPARE": "0", "RUSTPAR_SPARE_DIR": folder})
    tools = tempfile.mkdtemp(prefix="rustpar-fake-cargo-")
    cargo = os.path.join(tools, "cargo")
    os.symlink(shutil.which("sleep"), cargo)

    def cargo_holding(lock_file: str) -> subprocess.Popen:
        with open(os.path.join(tools, lock_file), "w") as lock:
            return subprocess.Popen([cargo, "60"], start_new_session=True, pass_fds=[lock.fileno()])

    spares = {
        "holding-the-cache": cargo_holding(".package-cache"),
        "building": cargo_holding(".package-cache-mutate"),
        "without-cargo": subprocess.Popen(["sleep", "60"], start_new_session=True),
    }
    try:
        for name, spare in spares.items():
            with open(os.path.join(folder, f"{name}.offer"), "w") as offer:
                offer.write(f"starting {spare.pid}\n")
        msg_id = kc.execute("std::thread::sleep(std::time::Duration::from_secs(3));")
        wait_until(lambda: process_state(spares["without-cargo"].pid) == "T", 30, "the spare without cargo to be stopped")
        time.sleep(0.5)  # the kernel stops each spare and wakes it again at once if its cargo holds the cache
        assert process_state(spares["without-cargo"].pid) == "T", "the cell still runs"
        assert process_state(spares["building"].pid) == "T", "a building cargo was left running"
        assert process_state(spares["holding-the-cache"].pid) != "T", "the spare holding cargo's package cache was stopped"
        assert_ok(get_reply(kc, msg_id, timeout=60), [])
    finally:
        for spare in spares.values():
            os.killpg(spare.pid, signal.SIGKILL)
            spare.wait()
        stop_kernel(km, kc)


def test_a_kernel_claims_a_spare_still_warming_up_even_a_stopped_one():
    """A spare whose session has started is claimed while rust-analyzer still
    warms up in it: kernel_info is answered at once, by the spare, and the
    first cell runs in its session."""
    folder = new_folder()
    first = start_kernel(env=spares_env(folder))
    second = None
    try:
        wait_until(lambda: offer_says(folder, "warming") and spares_of(folder), 60, "the kernel to start a spare")
        # While the first kernel's cell runs, the spare is stopped, still warming up.
        msg_id = first[1].execute("std::thread::sleep(std::time::Duration::from_secs(20));")
        wait_until(lambda: "T" in spares_of(folder).values(), 15, "the spare to be stopped")
        [spare] = spares_of(folder)
        second = start_kernel(env=spares_env(folder), warm=False)
        with pytest.raises(TimeoutError):
            get_reply(first[1], msg_id, timeout=0.1)  # kernel_info came while the spare was stopped, still warming up
        assert not offer_says(folder, "warming"), "the claimed spare still offers itself"
        reply, msgs = run(second[1], "1 + 1", timeout=FIRST_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        assert evaluator_of(second[1])[0] == spare, "the kernel did not take over the spare warming up"
        get_reply(first[1], msg_id, timeout=60)
    finally:
        for kernel in (second, first):
            if kernel:
                stop_kernel(*kernel)


def test_no_spare_is_left_soon_after_the_last_kernel_ends():
    """A spare still starting leaves 5 s after the last kernel of its slot."""
    folder = new_folder()
    km, kc = start_kernel(env=spares_env(folder))
    try:
        wait_until(lambda: spares_of(folder), 60, "the kernel to start a spare")
    finally:
        stop_kernel(km, kc)
    wait_until(lambda: not spares_of(folder), 30, "the spare to leave")


def test_a_restart_claims_the_ready_spare_and_answers_at_once():
    """Jupyter's restart starts a new kernel in the same slot: it takes over
    the spare the old kernel left, answers kernel_info, and runs cells."""
    folder = new_folder()
    km, kc = start_kernel(env=spares_env(folder))
    try:
        wait_until(lambda: offer_says(folder, "ready") and spares_of(folder), 240, "a ready spare")
        [spare] = spares_of(folder)
        km.restart_kernel(now=False)
        reply = get_reply(kc, kc.kernel_info(), timeout=10)
        assert reply["content"]["implementation"] == "rustpar"
        # As JupyterLab does after a restart: nudge until iopub is connected again
        # (what a new kernel publishes before the client's subscription arrives is lost).
        kc.wait_for_ready(timeout=60)
        assert_ok(*run(kc, "1 + 1", timeout=FIRST_CELL_TIMEOUT))
        assert evaluator_of(kc)[0] == spare, "the restarted kernel did not take over the ready spare"
    finally:
        stop_kernel(km, kc)


def test_a_ready_spare_has_built_a_first_cell_and_kept_nothing_of_it():
    """A spare builds a typical first cell before it is offered as ready, so
    that rustc reuses that build for the first cell of the notebook that
    claims it; the notebook sees nothing of it: no variable, no output, and
    its first cell is number 1."""
    folder = new_folder()
    owner = start_kernel(env=spares_env(folder))
    second = None
    try:
        wait_until(lambda: offer_says(folder, "ready") and spares_of(folder), 240, "a ready spare")
        [spare] = spares_of(folder)
        # The crate evcxr built last, before any kernel claimed the spare.
        with open(os.path.join(session_folder_of(spare), "src", "lib.rs")) as built:
            assert 'Plot::new("warm-up")' in built.read(), "the spare did not build a first cell ahead"
        second = start_kernel(env=spares_env(folder), warm=False)
        reply, msgs = run(second[1], "let rows = 2;\nrows", timeout=FIRST_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        assert evaluator_of(second[1])[0] == spare, "the kernel did not take over the ready spare"
        assert reply["content"]["execution_count"] == 1
        assert [msg["msg_type"] for msg in msgs if msg["msg_type"] in ("display_data", "stream")] == []
        reply, msgs = run(second[1], ":vars")
        assert_ok(reply, msgs)
        shown = stream_text(msgs) + str([msg["content"].get("data") for msg in msgs])
        assert "rows" in shown and "grid" not in shown and "total" not in shown, shown
    finally:
        for kernel in (owner, second):
            if kernel:
                stop_kernel(*kernel)


def warm_up_cpu_seconds(kernel_pid: int) -> float:
    """CPU time of the kernel's rust-analyzer warm-up thread so far."""
    for task in glob.glob(f"/proc/{kernel_pid}/task/*"):
        try:
            if open(os.path.join(task, "comm")).read().strip() != "rustpar-warm-up":
                continue
            fields = open(os.path.join(task, "stat")).read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise AssertionError(f"kernel {kernel_pid} has no warm-up thread")


def test_a_kernels_warm_up_works_only_while_no_kernels_cell_runs():
    """rust-analyzer warms up in the background while the machine is quiet,
    and keeps still while a cell of any kernel runs, as a spare does."""
    folder = new_folder()
    env = {"RUSTPAR_SPARE": "0", "RUSTPAR_SPARE_DIR": folder}
    other = start_kernel(env=env)
    kernel = start_kernel(env=env)
    try:
        kernel_pid = evaluator_of(kernel[1])[0]
        wait_until(lambda: warm_up_cpu_seconds(kernel_pid) > 0.3, 60, "the warm-up to work while the machine is quiet")
        msg_id = other[1].execute("std::thread::sleep(std::time::Duration::from_secs(4));")
        time.sleep(1.0)
        before = warm_up_cpu_seconds(kernel_pid)
        time.sleep(2.0)
        during = warm_up_cpu_seconds(kernel_pid) - before
        assert during < 0.05, f"the warm-up took {during:.2f} s of CPU while another kernel's cell ran"
        assert_ok(get_reply(other[1], msg_id, timeout=60), [])
        # The machine is quiet again: the warm-up goes on.
        wait_until(lambda: warm_up_cpu_seconds(kernel_pid) > before + 0.2, 60, "the warm-up to go on after the cell")
    finally:
        stop_kernel(*kernel)
        stop_kernel(*other)
