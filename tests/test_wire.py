"""The wire protocol: signatures, malformed and unknown messages, kernel_info, comms."""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

import pytest
from jupyter_client.session import Session

from helpers import (
    assert_ok,
    get_reply,
    is_idle,
    messages,
    only,
    request,
    result_text,
    run,
    unique,
)

pytestmark = pytest.mark.timeout(300)


# --------------------------------------------------------------------------
# Robustness of the wire protocol
# --------------------------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("key", [b"not-the-right-key", b""], ids=["wrong_key", "unsigned"])
def test_badly_signed_message_is_not_executed(kernel, key):
    km, kc = kernel
    witness = Path("/tmp") / f"rustpar-hmac-{unique('w')}"
    assert not witness.exists()
    bad = Session(key=key, signature_scheme=km.session.signature_scheme, username="intruder")
    sock = km.connect_shell()
    try:
        msg = bad.msg(
            "execute_request",
            {
                "code": f'std::fs::write("{witness}", "pwned").unwrap();',
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        bad.send(sock, msg)
        bad_id = msg["header"]["msg_id"]
        # Anything published for that request within a few seconds?
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                m = kc.get_iopub_msg(timeout=0.5)
            except Empty:
                continue
            if m["parent_header"].get("msg_id") == bad_id:
                seen.append(m["msg_type"])
        assert seen == [], f"the kernel reacted to a badly signed request: {seen}"
        assert not sock.poll(100), "the kernel replied to a badly signed request"
    finally:
        sock.close(linger=0)
    # A good cell queued after it runs (so a bad one would have run by now).
    reply, msgs = run(kc, 'println!("still here");')
    assert_ok(reply, msgs)
    assert not witness.exists(), "the badly signed cell was executed"
    assert request(kc, "kernel_info_request")["content"]["status"] == "ok"


@pytest.mark.timeout(120)
def test_malformed_messages_do_not_kill_the_kernel(kernel):
    km, kc = kernel
    session = km.session

    def signed(*parts: bytes) -> list[bytes]:
        return [b"<IDS|MSG>", session.sign(list(parts)), *parts]

    header = session.pack(session.msg_header("kernel_info_request"))
    frames_list = [
        [b"garbage"],
        [b"<IDS|MSG>"],
        [b"<IDS|MSG>", b"", b"{}"],
        signed(b"{not json", b"{}", b"{}", b"{}"),
        signed(b"{}", b"{}", b"{}", b"{}"),
        signed(b"[1, 2, 3]", b"{}", b"{}", b"{}"),
        signed(b"\xff\xfe\xfd", b"{}", b"{}", b"{}"),
        signed(header, b"{}", b"{}", b"not json either"),
        signed(header),
    ]
    for channel in ("shell", "control"):
        sock = getattr(km, f"connect_{channel}")()
        try:
            for frames in frames_list:
                sock.send_multipart(frames)
            time.sleep(1)
        finally:
            sock.close(linger=0)
        assert km.is_alive(), f"the kernel died after malformed messages on {channel}"
    reply = request(kc, "kernel_info_request")
    assert reply["content"]["status"] == "ok"
    reply = request(kc, "kernel_info_request", channel="control")
    assert reply["content"]["status"] == "ok"
    reply, msgs = run(kc, "1+1")
    assert result_text(msgs) == "2"


@pytest.mark.timeout(60)
def test_unknown_message_type(kernel):
    km, kc = kernel
    msg = kc.session.msg("no_such_request", {"x": 1})
    kc.shell_channel.send(msg)
    try:
        reply = get_reply(kc, msg["header"]["msg_id"], timeout=3)
    except TimeoutError:
        reply = None  # ignored: fine
    if reply is not None:
        assert reply["content"].get("status") == "error", reply
    assert km.is_alive()
    assert request(kc, "kernel_info_request")["content"]["status"] == "ok"


# --------------------------------------------------------------------------
# kernel_info, comms
# --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["shell", "control"])
def test_kernel_info(kc, channel):
    reply = request(kc, "kernel_info_request", channel=channel)
    content = reply["content"]
    assert content["status"] == "ok"
    major, minor = (int(p) for p in content["protocol_version"].split(".")[:2])
    assert (major, minor) >= (5, 3), content["protocol_version"]
    info = content["language_info"]
    assert info["name"] == "rust"
    assert info["file_extension"] == ".rs"
    assert content["implementation"]
    assert "banner" in content


def test_comm_info(kc):
    reply = request(kc, "comm_info_request", {})
    assert reply["content"]["status"] == "ok"
    assert isinstance(reply["content"]["comms"], dict)
    reply = request(kc, "comm_info_request", {"target_name": "jupyter.widget"})
    assert reply["content"]["status"] == "ok"
    assert isinstance(reply["content"]["comms"], dict)


def _iopub_for(kc, msg_id: str, seconds: float) -> list[dict]:
    """The iopub messages of ``msg_id`` up to its idle status, or all within ``seconds``."""
    msgs = []
    for msg in messages(kc.get_iopub_msg, seconds, parent=msg_id):
        msgs.append(msg)
        if is_idle(msg):
            break
    return msgs


def test_comm_open_to_an_unknown_target_is_closed(kernel):
    km, kc = kernel
    comm_id = unique("comm")
    msg = kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "rustpar.test.no_such_target", "data": {}})
    kc.shell_channel.send(msg)
    msgs = _iopub_for(kc, msg["header"]["msg_id"], 5)
    closes = only(msgs, "comm_close")
    assert [c["content"]["comm_id"] for c in closes] == [comm_id], [m["msg_type"] for m in msgs]
    reply = request(kc, "comm_info_request", {})
    assert comm_id not in reply["content"]["comms"]
    assert km.is_alive()


def test_comm_messages_are_handled_between_busy_and_idle(kernel):
    # The messaging spec: the kernel publishes busy when it starts handling a
    # message on shell and idle when done; comm messages are no exception.
    km, kc = kernel
    comm_id = unique("comm")
    for msg_type, content in [
        ("comm_open", {"comm_id": comm_id, "target_name": "rustpar.test.no_such_target", "data": {}}),
        ("comm_msg", {"comm_id": comm_id, "data": {"hello": 1}}),
        ("comm_close", {"comm_id": comm_id, "data": {}}),
    ]:
        msg = kc.session.msg(msg_type, content)
        kc.shell_channel.send(msg)
        msgs = _iopub_for(kc, msg["header"]["msg_id"], 5)
        states = [m["content"]["execution_state"] for m in msgs if m["msg_type"] == "status"]
        assert states == ["busy", "idle"], f"{msg_type}: {[m['msg_type'] for m in msgs]}"
    assert km.is_alive()
    assert request(kc, "kernel_info_request")["content"]["status"] == "ok"
