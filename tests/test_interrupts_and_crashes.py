"""Interrupts (on control and shell) and crashes of the cell process: the kernel
recovers, and says which variables survived. These tests share one kernel,
``rough``, apart from the kernel the other tests share."""

from __future__ import annotations

import time

import pytest

import helpers
from helpers import (
    CELL_TIMEOUT,
    assert_error,
    assert_ok,
    collect_iopub,
    get_replies,
    get_reply,
    request,
    result_text,
    run,
    start_kernel,
    stop_kernel,
    unique,
    wait_for_stdout,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def rough():
    """A kernel for tests that crash or interrupt its evaluator: (km, kc)."""
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


# --------------------------------------------------------------------------
# Interrupts
# --------------------------------------------------------------------------


def _start_cell(kc, code: str) -> tuple[str, list[dict]]:
    """Starts ``code`` (which prints "started" first) and waits until it runs."""
    msg_id = kc.execute('println!("started");\n' + code, allow_stdin=False)
    msgs = wait_for_stdout(kc, msg_id, "started", timeout=CELL_TIMEOUT)
    time.sleep(0.5)  # let it get into its loop
    return msg_id, msgs


def _cooperative_loop() -> str:
    check = helpers.PRELUDE_CHECK_INTERRUPT
    return f"loop {{\n    {check}\n    std::thread::sleep(std::time::Duration::from_millis(1));\n}}"


@pytest.mark.timeout(240)
def test_interrupt_on_control_stops_a_cooperative_loop_and_keeps_variables(rough):
    _, kc = rough
    loop = _cooperative_loop()
    assert_ok(*run(kc, "let keep = vec![1, 2, 3];"))
    msg_id, _ = _start_cell(kc, loop)
    sent = time.monotonic()
    interrupt = request(kc, "interrupt_request", channel="control")
    assert interrupt["content"]["status"] == "ok", interrupt["content"]
    reply = get_reply(kc, msg_id, timeout=30)
    elapsed = time.monotonic() - sent
    msgs = collect_iopub(kc, msg_id)
    assert_error(reply, msgs, "Interrupted")
    assert elapsed < 5, f"the cell took {elapsed:.1f} s to stop"
    reply, msgs = run(kc, "keep.len()")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "3"


@pytest.mark.timeout(240)
def test_interrupt_on_shell_stops_a_cooperative_loop_and_keeps_variables(rough):
    _, kc = rough
    loop = _cooperative_loop()
    assert_ok(*run(kc, "let keep_shell = vec![1, 2, 3];"))
    msg_id, _ = _start_cell(kc, loop)
    msg = kc.session.msg("interrupt_request", {})
    kc.shell_channel.send(msg)
    replies = get_replies(kc, [msg_id, msg["header"]["msg_id"]], timeout=30)
    assert replies[msg["header"]["msg_id"]]["content"]["status"] == "ok"
    msgs = collect_iopub(kc, msg_id)
    assert_error(replies[msg_id], msgs, "Interrupted")
    reply, msgs = run(kc, "keep_shell.len()")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "3"


@pytest.mark.timeout(240)
def test_interrupt_stops_an_endless_loop(rough):
    km, kc = rough
    lost = unique("lost")
    assert_ok(*run(kc, f"let {lost} = vec![1, 2, 3];"))
    msg_id, _ = _start_cell(kc, "loop {}")
    sent = time.monotonic()
    km.interrupt_kernel()  # what JupyterLab's stop button does (interrupt_mode "message")
    reply = get_reply(kc, msg_id, timeout=60)
    elapsed = time.monotonic() - sent
    msgs = collect_iopub(kc, msg_id)
    content = assert_error(reply, msgs, "Interrupted")
    assert lost in content["evalue"], f"the lost variable is not named: {content['evalue']!r}"
    assert elapsed < 10, f"the reply came {elapsed:.1f} s after the interrupt"
    reply, msgs = run(kc, "1+1")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "2"


@pytest.mark.timeout(120)
def test_interrupt_while_idle_is_harmless(rough):
    km, kc = rough
    name = unique("idle")
    assert_ok(*run(kc, f"let {name} = 40;"))
    reply = request(kc, "interrupt_request", channel="control")
    assert reply["content"]["status"] == "ok", reply["content"]
    km.interrupt_kernel()
    time.sleep(1)
    reply, msgs = run(kc, f"{name} + 2")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "42"


# --------------------------------------------------------------------------
# Crashes
# --------------------------------------------------------------------------

CRASHES = {
    "abort": "std::process::abort();",
    "exit": "std::process::exit(3);",
    "null_pointer_write": (
        "let p: *mut i32 = std::hint::black_box(std::ptr::null_mut());\nunsafe { p.write_volatile(1) };"
    ),
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", sorted(CRASHES))
def test_crash_is_reported_and_the_kernel_recovers(rough, how):
    km, kc = rough
    reply, msgs = run(kc, CRASHES[how], timeout=CELL_TIMEOUT)
    assert_error(reply, msgs, "EvaluatorCrashed")
    assert km.is_alive()
    reply, msgs = run(kc, "1+1", timeout=CELL_TIMEOUT)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "2"
    reply, msgs = run(kc, "let after_crash = 3;\nafter_crash * 2")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "6"
