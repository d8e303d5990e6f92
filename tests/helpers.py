"""Helpers for driving a real rustpar kernel through jupyter_client.

The kernel is started from its installed kernelspec ("rustpar"), exactly as
JupyterLab or nbconvert would start it; install.sh installs that kernelspec
into .venv (and for the user).

Helpers:
  start_kernel()          -> (km, kc), ready to execute
  run(kc, code, **kw)     -> (reply, iopub messages of that request up to idle)
  stream_text(msgs, name) -> all text of one stream
  only(msgs, msg_type)    -> the messages of one type
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from queue import Empty
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

KERNEL_NAME = "rustpar"

# A cold first cell compiles the notebook support crates: be generous.
FIRST_CELL_TIMEOUT = 300
# Any later cell.
CELL_TIMEOUT = 120
# Requests that do not run code (kernel_info, is_complete, history, ...).
REQUEST_TIMEOUT = 30

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def start_kernel(env: dict[str, str] | None = None, warm: bool = True) -> tuple[KernelManager, BlockingKernelClient]:
    """Starts a rustpar kernel and a blocking client with all channels.

    With ``warm``, evaluates a silent ``1+1`` first so that the first cell of
    a test does not pay for the cold start (and execution counts stay at 0).
    """
    km = KernelManager(kernel_name=KERNEL_NAME)
    kwargs: dict[str, Any] = {}
    if env is not None:
        import os

        full_env = dict(os.environ)
        full_env.update(env)
        kwargs["env"] = full_env
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        if warm:
            reply, _ = run(kc, "1+1", silent=True, timeout=FIRST_CELL_TIMEOUT)
            assert reply["content"]["status"] == "ok", f"warm-up cell failed: {reply['content']}"
    except BaseException:
        stop_kernel(km, kc)
        raise
    return km, kc


def stop_kernel(km: KernelManager, kc: BlockingKernelClient) -> None:
    try:
        kc.stop_channels()
    finally:
        if km.has_kernel:
            try:
                km.shutdown_kernel(now=False)
            except Exception:  # noqa: BLE001 - a kernel that will not stop nicely is killed
                km.shutdown_kernel(now=True)


def messages(get: Callable[..., dict], timeout: float, parent: str | None = None) -> Iterator[dict]:
    """The messages ``get`` (a channel's get_*_msg) receives within ``timeout``
    seconds, as they come; only the children of request ``parent`` when given."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = get(timeout=left)
        except Empty:
            return
        if parent is None or msg["parent_header"].get("msg_id") == parent:
            yield msg


def _getter(kc: BlockingKernelClient, channel: str) -> Callable[..., dict]:
    return {"shell": kc.get_shell_msg, "control": kc.get_control_msg}[channel]


def is_idle(msg: dict) -> bool:
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


def get_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = REQUEST_TIMEOUT, channel: str = "shell") -> dict:
    """Waits for the reply to ``msg_id`` on ``channel``, skipping other replies."""
    for msg in messages(_getter(kc, channel), timeout, parent=msg_id):
        return msg
    raise TimeoutError(f"no {channel} reply to {msg_id} within {timeout} s")


def collect_iopub(kc: BlockingKernelClient, msg_id: str, timeout: float = REQUEST_TIMEOUT) -> list[dict]:
    """The iopub messages of request ``msg_id``, up to and including its idle status."""
    msgs = []
    for msg in messages(kc.get_iopub_msg, timeout, parent=msg_id):
        msgs.append(msg)
        if is_idle(msg):
            return msgs
    raise TimeoutError(f"no idle status for {msg_id} within {timeout} s; got {[m['msg_type'] for m in msgs]}")


def run(
    kc: BlockingKernelClient,
    code: str,
    timeout: float = CELL_TIMEOUT,
    **kw: Any,
) -> tuple[dict, list[dict]]:
    """Executes ``code`` and returns (execute_reply, iopub messages up to idle).

    Keyword arguments go to ``kc.execute`` (silent, store_history,
    user_expressions, allow_stdin, stop_on_error). ``allow_stdin`` defaults to
    False here so that a cell reading input can never hang a test.
    """
    kw.setdefault("allow_stdin", False)
    msg_id = kc.execute(code, **kw)
    try:
        reply = get_reply(kc, msg_id, timeout=timeout)
    except TimeoutError as e:
        seen = []
        try:
            seen = collect_iopub(kc, msg_id, timeout=1)
        except TimeoutError:
            pass
        while True:  # what did the cell publish before it went quiet?
            try:
                msg = kc.get_iopub_msg(timeout=0.2)
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                seen.append(msg)
        kinds = ", ".join(m["msg_type"] for m in seen) or "nothing"
        raise TimeoutError(f"{e}; the cell {code!r} published: {kinds}") from None
    msgs = collect_iopub(kc, msg_id, timeout=REQUEST_TIMEOUT)
    return reply, msgs


def only(msgs: list[dict], msg_type: str) -> list[dict]:
    return [m for m in msgs if m["msg_type"] == msg_type]


def stream_text(msgs: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def result_text(msgs: list[dict]) -> str | None:
    results = only(msgs, "execute_result")
    assert len(results) <= 1, f"more than one execute_result: {results}"
    return results[0]["content"]["data"].get("text/plain") if results else None


def describe(reply: dict, msgs: list[dict]) -> str:
    """A readable account of a request's outcome, for assertion messages."""
    c = reply["content"]
    lines = [f"status={c.get('status')!r}"]
    if c.get("status") == "error":
        lines.append(f"ename={c.get('ename')!r} evalue={c.get('evalue')!r}")
        lines.append(strip_ansi("\n".join(c.get("traceback", []))))
    for m in msgs:
        if m["msg_type"] == "stream":
            lines.append(f"[{m['content']['name']}] {m['content']['text']!r}")
        elif m["msg_type"] in ("execute_result", "display_data", "update_display_data"):
            lines.append(f"[{m['msg_type']}] {m['content'].get('data')!r}")
        elif m["msg_type"] == "error":
            lines.append(f"[error] {m['content'].get('ename')}: {m['content'].get('evalue')}")
    return "\n".join(lines)


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
PRELUDE_HTML_DISPLAY: str | None = 'html("<b>hello from rustpar</b>");'
#: Format string for a statement emitting text/html ``{html}`` (no quotes in it).
PRELUDE_HTML_DISPLAY_FMT: str | None = 'html("{html}");'
#: A statement that clears the cell's output (clear_output).
PRELUDE_CLEAR_OUTPUT: str | None = "clear_output(false);"
#: A statement, inside a loop, that stops the cell cooperatively when interrupted.
PRELUDE_CHECK_INTERRUPT: str | None = "check_interrupt();"
#: Statements creating a display with an id and then updating it (update_display_data).
PRELUDE_DISPLAY_AND_UPDATE: str | None = (
    "let status = DisplayHandle::new();\n"
    'status.markdown("step 1 of 2");\n'
    'status.markdown("step 2 of 2");'
)


def need(snippet: str | None, what: str) -> str:
    """The snippet, or skip the test while the prelude API is not known yet."""
    import pytest

    if snippet is None:
        pytest.skip(f"TODO(prelude): no Rust snippet yet for {what}")
    return snippet


def get_replies(kc: BlockingKernelClient, ids: list[str], timeout: float, channel: str = "shell") -> dict[str, dict]:
    """Waits for the replies to all of ``ids`` (in any order) on one channel.

    Each reply gets an extra key ``_received`` (time.monotonic() at arrival).
    """
    wanted = set(ids)
    got: dict[str, dict] = {}
    for msg in messages(_getter(kc, channel), timeout):
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


def request(kc: BlockingKernelClient, msg_type: str, content: dict | None = None, channel: str = "shell",
            timeout: float = REQUEST_TIMEOUT) -> dict:
    """Sends one request on ``channel`` with the client's session and returns its reply."""
    msg = kc.session.msg(msg_type, content or {})
    getattr(kc, f"{channel}_channel").send(msg)
    return get_reply(kc, msg["header"]["msg_id"], timeout=timeout, channel=channel)
