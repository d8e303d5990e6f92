"""A small Jupyter client for rustpar kernels, shared by tests/, scripts/ and bench/.

It starts the kernel from its installed kernelspec ("rustpar"), as JupyterLab
and nbconvert do, and reads replies and iopub messages the way every caller
here needs them: by request, up to a deadline.

    kernel = Kernel.start()
    reply, msgs = run(kernel.client, "1+1")
    result_text(msgs)        # "2"
    kernel.stop()

install.sh puts this folder on the path of the virtual environment (.venv).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def session_folder_of(pid: int) -> str:
    """The session folder (evcxr's build folder) of kernel or spare process
    `pid`: the one whose owner file it holds open."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if os.path.basename(target) == ".rustpar-owner":
            return os.path.dirname(target)
    raise LookupError(f"process {pid} holds no session folder")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


@dataclass
class Kernel:
    """A started kernel and a blocking client with all channels open."""

    manager: KernelManager
    client: BlockingKernelClient

    @classmethod
    def start(cls, env: dict[str, str] | None = None, kernel_name: str = KERNEL_NAME, ready_timeout: float = 120,
              **manager_options: Any) -> Kernel:
        """Starts a kernel with ``env`` added to this process's environment and
        waits for its kernel_info reply. ``manager_options`` go to KernelManager
        (e.g. ``kernel_spec_manager``)."""
        kernel = cls.launch(env, kernel_name, **manager_options)
        client = kernel.client
        try:
            client.wait_for_ready(timeout=ready_timeout)
        except BaseException:
            kernel.stop()
            raise
        return kernel

    @classmethod
    def launch(cls, env: dict[str, str] | None = None, kernel_name: str = KERNEL_NAME, **manager_options: Any) -> Kernel:
        """Starts a kernel as [start] does, without waiting for it: a client's
        first request waits in its socket until the kernel listens."""
        manager = KernelManager(kernel_name=kernel_name, **manager_options)
        manager.start_kernel(env={**os.environ, **(env or {})})
        client = manager.client()
        client.start_channels()
        return cls(manager, client)

    def stop(self, now: bool = False) -> None:
        """Shuts the kernel down (killing it if it will not stop nicely)."""
        try:
            self.client.stop_channels()
        finally:
            if self.manager.has_kernel:
                try:
                    self.manager.shutdown_kernel(now=now)
                except Exception:  # noqa: BLE001 - a kernel that will not stop nicely is killed
                    self.manager.shutdown_kernel(now=True)


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


def channel_getter(kc: BlockingKernelClient, channel: str) -> Callable[..., dict]:
    return {"shell": kc.get_shell_msg, "control": kc.get_control_msg, "iopub": kc.get_iopub_msg}[channel]


def is_idle(msg: dict) -> bool:
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


def get_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = REQUEST_TIMEOUT, channel: str = "shell") -> dict:
    """Waits for the reply to ``msg_id`` on ``channel``, skipping other replies."""
    for msg in messages(channel_getter(kc, channel), timeout, parent=msg_id):
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


def run(kc: BlockingKernelClient, code: str, timeout: float = CELL_TIMEOUT, **kw: Any) -> tuple[dict, list[dict]]:
    """Executes ``code`` and returns (execute_reply, iopub messages up to idle).

    Keyword arguments go to ``kc.execute`` (silent, store_history,
    user_expressions, allow_stdin, stop_on_error). ``allow_stdin`` defaults to
    False here so that a cell reading input can never hang its caller.
    """
    _, reply, msgs = run_timed(kc, code, timeout, **kw)
    return reply, msgs


def run_timed(kc: BlockingKernelClient, code: str, timeout: float = CELL_TIMEOUT, **kw: Any) -> tuple[float, dict, list[dict]]:
    """As [run], with the seconds from sending the cell to its execute_reply first."""
    kw.setdefault("allow_stdin", False)
    began = time.perf_counter()
    msg_id = kc.execute(code, **kw)
    try:
        reply = get_reply(kc, msg_id, timeout=timeout)
    except TimeoutError as error:
        # What did the cell publish before it went quiet?
        seen = [msg["msg_type"] for msg in messages(kc.get_iopub_msg, 1, parent=msg_id)]
        raise TimeoutError(f"{error}; the cell {code!r} published: {', '.join(seen) or 'nothing'}") from None
    seconds = time.perf_counter() - began
    return seconds, reply, collect_iopub(kc, msg_id, timeout=REQUEST_TIMEOUT)


def request(kc: BlockingKernelClient, msg_type: str, content: dict | None = None, channel: str = "shell",
            timeout: float = REQUEST_TIMEOUT) -> dict:
    """Sends one request on ``channel`` with the client's session and returns its reply."""
    msg = kc.session.msg(msg_type, content or {})
    getattr(kc, f"{channel}_channel").send(msg)
    return get_reply(kc, msg["header"]["msg_id"], timeout=timeout, channel=channel)


def only(msgs: list[dict], msg_type: str) -> list[dict]:
    return [m for m in msgs if m["msg_type"] == msg_type]


def stream_text(msgs: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def result_text(msgs: list[dict]) -> str | None:
    results = only(msgs, "execute_result")
    assert len(results) <= 1, f"more than one execute_result: {results}"
    return results[0]["content"]["data"].get("text/plain") if results else None


def describe(reply: dict, msgs: list[dict]) -> str:
    """A readable account of a request's outcome, for error messages."""
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
