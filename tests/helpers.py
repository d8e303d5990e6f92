"""Helpers for tests that drive a real rustpar kernel through jupyter_client.

The client itself (starting a kernel, run(), reading replies) is the shared
module python/rustpar_client.py; this file adds what only tests need:

  start_kernel()          -> (km, kc), ready to execute (a silent 1+1 has run)
  assert_ok / assert_error  the outcome of run(), with a readable account
  get_replies, wait_for_stdout, unique, the prelude snippets
"""

from __future__ import annotations

import time
import uuid

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from rustpar_client import (  # noqa: F401 - re-exported for the tests
    CELL_TIMEOUT,
    FIRST_CELL_TIMEOUT,
    REQUEST_TIMEOUT,
    Kernel,
    channel_getter,
    collect_iopub,
    describe,
    get_reply,
    is_idle,
    messages,
    only,
    request,
    result_text,
    run,
    stream_text,
    strip_ansi,
)


def start_kernel(env: dict[str, str] | None = None, warm: bool = True) -> tuple[KernelManager, BlockingKernelClient]:
    """Starts a rustpar kernel and a blocking client with all channels.

    With ``warm``, evaluates a silent ``1+1`` first so that the first cell of
    a test does not pay for the cold start (and execution counts stay at 0).
    """
    kernel = Kernel.start(env)
    try:
        if warm:
            reply, _ = run(kernel.client, "1+1", silent=True, timeout=FIRST_CELL_TIMEOUT)
            assert reply["content"]["status"] == "ok", f"warm-up cell failed: {reply['content']}"
    except BaseException:
        kernel.stop()
        raise
    return kernel.manager, kernel.client


def stop_kernel(km: KernelManager, kc: BlockingKernelClient) -> None:
    Kernel(km, kc).stop()


def assert_ok(reply: dict, msgs: list[dict]) -> None:
    assert reply["content"]["status"] == "ok", describe(reply, msgs)


def assert_error(reply: dict, msgs: list[dict], ename: str) -> dict:
    c = reply["content"]
    assert c["status"] == "error", describe(reply, msgs)
    assert c["ename"] == ename, describe(reply, msgs)
    errors = only(msgs, "error")
    assert len(errors) == 1, f"expected one iopub error message\n{describe(reply, msgs)}"
    assert errors[0]["content"]["ename"] == ename
    return c


def unique(prefix: str = "m") -> str:
    """A fresh identifier, usable as a Rust variable name."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------
# Rust snippets that use the rustpar prelude (prelude/src), which every
# session has in scope through `use rustpar::prelude::*;`.
# --------------------------------------------------------------------------

#: A statement that emits one text/html display_data right away.
PRELUDE_HTML_DISPLAY: str = 'html("<b>hello from rustpar</b>");'
#: Format string for a statement emitting text/html ``{html}`` (no quotes in it).
PRELUDE_HTML_DISPLAY_FMT: str = 'html("{html}");'
#: A statement that clears the cell's output (clear_output).
PRELUDE_CLEAR_OUTPUT: str = "clear_output(false);"
#: A statement, inside a loop, that stops the cell cooperatively when interrupted.
PRELUDE_CHECK_INTERRUPT: str = "check_interrupt();"
#: Statements creating a display with an id and then updating it (update_display_data).
PRELUDE_DISPLAY_AND_UPDATE: str = (
    "let status = DisplayHandle::new();\n"
    'status.markdown("step 1 of 2");\n'
    'status.markdown("step 2 of 2");'
)


def get_replies(kc: BlockingKernelClient, ids: list[str], timeout: float, channel: str = "shell") -> dict[str, dict]:
    """Waits for the replies to all of ``ids`` (in any order) on one channel.

    Each reply gets an extra key ``_received`` (time.monotonic() at arrival).
    """
    wanted = set(ids)
    got: dict[str, dict] = {}
    for msg in messages(channel_getter(kc, channel), timeout):
        parent = msg["parent_header"].get("msg_id")
        if parent in wanted:
            msg["_received"] = time.monotonic()
            got[parent] = msg
            if set(got) == wanted:
                return got
    raise TimeoutError(f"no {channel} reply to {sorted(wanted - set(got))} within {timeout} s")


def wait_for_stdout(kc: BlockingKernelClient, msg_id: str, text: str, timeout: float = CELL_TIMEOUT) -> list[dict]:
    """Reads iopub until request ``msg_id`` printed ``text``; returns the messages read for it."""
    msgs: list[dict] = []
    for msg in messages(kc.get_iopub_msg, timeout, parent=msg_id):
        msgs.append(msg)
        if is_idle(msg):
            raise AssertionError(f"the cell ended before printing {text!r}: {msgs}")
        if text in stream_text(msgs, "stdout"):
            return msgs
    raise TimeoutError(f"{text!r} not printed within {timeout} s; got {[m['msg_type'] for m in msgs]}")


def history(kc: BlockingKernelClient, **kw) -> list:
    """The history reply's entries (raw input, no output, unless told otherwise)."""
    kw.setdefault("raw", True)
    kw.setdefault("output", False)
    if kw.get("hist_access_type") == "search":
        # Spelled out here so that tests check what they are about; one test
        # checks the optional fields (test_history_search_with_only_a_pattern).
        kw.setdefault("unique", False)
        kw.setdefault("n", 1000)
    reply = get_reply(kc, kc.history(**kw))
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["history"]
