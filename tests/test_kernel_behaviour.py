"""Behaviour of the rustpar kernel, observed through a real jupyter_client.

Most tests share one warm kernel (fixture ``kc``); tests that crash or
interrupt the evaluator share a second one (``rough``), and tests that count
executions or restart the kernel get a kernel of their own.
"""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

import pytest
from jupyter_client.session import Session

import helpers
from helpers import (
    CELL_TIMEOUT,
    FIRST_CELL_TIMEOUT,
    assert_error,
    assert_ok,
    collect_iopub,
    describe,
    get_replies,
    get_reply,
    is_idle,
    messages,
    only,
    request,
    result_text,
    run,
    start_kernel,
    stop_kernel,
    stream_text,
    strip_ansi,
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


def history(kc, **kw) -> list:
    kw.setdefault("raw", True)
    kw.setdefault("output", False)
    if kw.get("hist_access_type") == "search":
        # Spelled out here so that these tests check what they are about;
        # test_history_search_with_only_a_pattern checks the optional fields.
        kw.setdefault("unique", False)
        kw.setdefault("n", 1000)
    msg_id = kc.history(**kw)
    reply = get_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["history"]


def execute_count(kc) -> int:
    """Runs an ordinary cell and returns its execution count."""
    reply, msgs = run(kc, "0")
    assert_ok(reply, msgs)
    return reply["content"]["execution_count"]


# --------------------------------------------------------------------------
# Execution counts, silent, store_history, user_expressions
# --------------------------------------------------------------------------


def test_execution_count_starts_at_1_and_increments(fresh_kernel):
    _, kc = fresh_kernel  # warmed up with a silent cell, which must not count
    counts = []
    for code in ["1", 'println!("two");', 'panic!("three")', "4"]:
        reply, msgs = run(kc, code)
        count = reply["content"]["execution_count"]
        counts.append(count)
        inputs = only(msgs, "execute_input")
        assert len(inputs) == 1, describe(reply, msgs)
        assert inputs[0]["content"]["execution_count"] == count
        assert inputs[0]["content"]["code"] == code
        for result in only(msgs, "execute_result"):
            assert result["content"]["execution_count"] == count
    assert counts == [1, 2, 3, 4]


def test_silent_produces_no_output_and_does_not_count(kc):
    before = execute_count(kc)
    reply, msgs = run(kc, 'println!("should not be seen"); 5', silent=True)
    assert_ok(reply, msgs)
    assert [m["msg_type"] for m in msgs] == ["status", "status"], describe(reply, msgs)
    assert execute_count(kc) == before + 1


def test_silent_code_still_runs(kc):
    name = unique("silent")
    reply, msgs = run(kc, f"let {name} = 11;", silent=True)
    assert_ok(reply, msgs)
    reply, msgs = run(kc, f"{name} * 2")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "22"


def test_store_history_false(kc):
    before = execute_count(kc)
    hidden = unique("hidden")
    shown = unique("shown")
    reply, msgs = run(kc, f"let {hidden} = 1;", store_history=False)
    assert_ok(reply, msgs)
    reply, msgs = run(kc, f"let {shown} = 2;")
    assert_ok(reply, msgs)
    assert reply["content"]["execution_count"] == before + 1, "store_history=False must not advance the count"
    assert history(kc, hist_access_type="search", pattern=f"*{hidden}*") == []
    found = history(kc, hist_access_type="search", pattern=f"*{shown}*")
    assert [h[2] for h in found] == [f"let {shown} = 2;"]
    # The hidden cell did run: its variable exists.
    reply, msgs = run(kc, f"{hidden} + {shown}")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "3"


def test_user_expressions(kc):
    msg_id = kc.execute(
        "let ue_base = 20;",
        user_expressions={"double": "ue_base * 2", "text": '"a".repeat(3)', "bad": "no_such_variable_here + 1"},
        allow_stdin=False,
    )
    reply = get_reply(kc, msg_id, timeout=CELL_TIMEOUT)
    collect_iopub(kc, msg_id)
    content = reply["content"]
    assert content["status"] == "ok", content
    ue = content["user_expressions"]
    assert set(ue) == {"double", "text", "bad"}, ue
    assert ue["double"]["status"] == "ok", ue["double"]
    assert ue["double"]["data"]["text/plain"] == "40"
    assert ue["text"]["status"] == "ok", ue["text"]
    assert ue["text"]["data"]["text/plain"] == '"aaa"'
    assert ue["bad"]["status"] == "error", ue["bad"]
    assert ue["bad"]["ename"], ue["bad"]


# --------------------------------------------------------------------------
# Errors and stop_on_error
# --------------------------------------------------------------------------


def test_stop_on_error_aborts_queued_cells(kc):
    marker = unique("queued")
    ids = [
        kc.execute('panic!("the first cell fails")', allow_stdin=False),
        kc.execute(f"let {marker} = 1;", allow_stdin=False),
        kc.execute(f'println!("{marker}");', allow_stdin=False),
    ]
    replies = get_replies(kc, ids, timeout=CELL_TIMEOUT)
    statuses = [replies[i]["content"]["status"] for i in ids]
    assert statuses == ["error", "aborted", "aborted"], statuses
    for i in ids:
        collect_iopub(kc, i)
    # The aborted cells did not run, and the kernel carries on normally.
    reply, msgs = run(kc, marker)
    assert_error(reply, msgs, "CompileError")
    reply, msgs = run(kc, "1+1")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "2"


def test_stop_on_error_false_does_not_abort(kc):
    marker = unique("kept")
    ids = [
        kc.execute('panic!("fails, but the queue goes on")', stop_on_error=False, allow_stdin=False),
        kc.execute(f"let {marker} = 5;", allow_stdin=False),
        kc.execute(f"{marker} + 1", allow_stdin=False),
    ]
    replies = get_replies(kc, ids, timeout=CELL_TIMEOUT)
    statuses = [replies[i]["content"]["status"] for i in ids]
    assert statuses == ["error", "ok", "ok"], statuses
    msgs = collect_iopub(kc, ids[2])
    assert result_text(msgs) == "6"


def test_compile_error(kc):
    code = 'let fine = 1;\nlet bad: i32 = "not a number";\nfine'
    reply, msgs = run(kc, code)
    content = assert_error(reply, msgs, "CompileError")
    traceback = strip_ansi("\n".join(content["traceback"]))
    assert 'let bad: i32 = "not a number";' in traceback, traceback
    assert "mismatched types" in traceback + content["evalue"], traceback
    assert not only(msgs, "execute_result")
    # The same error reaches iopub.
    error = only(msgs, "error")[0]["content"]
    assert error["evalue"] == content["evalue"]


def test_panic_keeps_earlier_variables(kc):
    name = unique("before_panic")
    assert_ok(*run(kc, f"let {name} = 7;"))
    reply, msgs = run(kc, 'let v: Vec<i32> = Vec::new();\nif v.is_empty() { panic!("the list is empty"); }')
    content = assert_error(reply, msgs, "Panic")
    assert "the list is empty" in content["evalue"], describe(reply, msgs)
    assert "at line 2 of the cell:" in "\n".join(content["traceback"]), content["traceback"]
    reply, msgs = run(kc, name)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "7"


def test_panic_in_a_spawned_thread_joined_by_the_cell(kc):
    reply, msgs = run(
        kc,
        'let h = std::thread::spawn(|| -> i32 { panic!("worker failed") });\n'
        'h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))',
    )
    content = assert_error(reply, msgs, "Panic")
    assert "worker failed" in content["evalue"] + "\n".join(content["traceback"]), describe(reply, msgs)


def test_a_panic_points_at_the_cell_line_or_at_the_earlier_cell(kc):
    name = unique("scaled")
    assert_ok(*run(kc, f"fn {name}(x: u8) -> u8 {{\n    x * 200\n}}"))
    reply, msgs = run(kc, f"let small: u8 = 1;\nlet values = vec![small, 2];\n{name}(values[1])")
    traceback = "\n".join(assert_error(reply, msgs, "Panic")["traceback"])
    assert "in code from an earlier cell:\n      x * 200" in traceback, traceback
    reply, msgs = run(kc, "let values = vec![1, 2];\nlet index = 7;\n\nvalues[index]")
    traceback = "\n".join(assert_error(reply, msgs, "Panic")["traceback"])
    assert "at line 4 of the cell:\n      values[index]" in traceback, traceback


def test_question_mark_error(kc):
    reply, msgs = run(kc, 'let n: i32 = "abc".parse()?;\nn')
    content = assert_error(reply, msgs, "Error")
    assert "invalid digit" in content["evalue"] + strip_ansi("\n".join(content["traceback"])), describe(reply, msgs)


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


def test_streams_arrive_before_idle_and_in_order(kc):
    code = (
        'for i in 0..5 { println!("line {i}"); }\n'
        'eprintln!("to stderr");\n'
        'std::thread::spawn(|| println!("from a thread")).join().unwrap();'
    )
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    out = stream_text(msgs, "stdout")
    expected = "".join(f"line {i}\n" for i in range(5)) + "from a thread\n"
    assert out == expected, describe(reply, msgs)
    assert stream_text(msgs, "stderr") == "to stderr\n", describe(reply, msgs)
    assert msgs[-1]["msg_type"] == "status"


def test_print_without_newline_arrives_with_its_cell(fresh_kernel):
    # A kernel of its own: if the text is held back, it would otherwise show
    # up in some later test's cell.
    _, kc = fresh_kernel
    reply, msgs = run(kc, 'print!("no newline at the end");')
    assert_ok(reply, msgs)
    assert stream_text(msgs, "stdout") == "no newline at the end", describe(reply, msgs)
    reply, msgs = run(kc, 'println!("next cell");')
    assert stream_text(msgs, "stdout") == "next cell\n", describe(reply, msgs)


def test_result_comes_after_output(kc):
    reply, msgs = run(kc, 'println!("first");\nvec![1, 2, 3]')
    assert_ok(reply, msgs)
    kinds = [m["msg_type"] for m in msgs if m["msg_type"] in ("stream", "execute_result")]
    assert kinds == ["stream", "execute_result"], describe(reply, msgs)
    assert result_text(msgs) == "[1, 2, 3]"


def test_variables_persist(kc):
    assert_ok(*run(kc, "let x = 5;"))
    reply, msgs = run(kc, "x + 1")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "6"


def test_several_displays_arrive_in_order(kc):
    fmt = helpers.need(helpers.PRELUDE_HTML_DISPLAY_FMT, "an HTML display with given content")
    code = "\n".join(fmt.format(html=f"<p>part {i}</p>") for i in range(3))
    reply, msgs = run(kc, 'println!("before");\n' + code + '\nprintln!("after");')
    assert_ok(reply, msgs)
    displays = only(msgs, "display_data")
    assert [d["content"]["data"].get("text/html") for d in displays] == [f"<p>part {i}</p>" for i in range(3)]
    kinds = [m["msg_type"] for m in msgs if m["msg_type"] in ("stream", "display_data")]
    assert kinds == ["stream"] + ["display_data"] * 3 + ["stream"], describe(reply, msgs)


def test_update_display_data(kc):
    code = helpers.need(helpers.PRELUDE_DISPLAY_AND_UPDATE, "a display updated by id")
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    displays = only(msgs, "display_data")
    updates = only(msgs, "update_display_data")
    assert displays and updates, describe(reply, msgs)
    display_id = displays[0]["content"]["transient"]["display_id"]
    assert display_id
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)


def test_clear_output(kc):
    clear = helpers.need(helpers.PRELUDE_CLEAR_OUTPUT, "clear_output")
    reply, msgs = run(kc, 'println!("soon gone");\n' + clear + '\nprintln!("stays");')
    assert_ok(reply, msgs)
    kinds = [m["msg_type"] for m in msgs if m["msg_type"] in ("stream", "clear_output")]
    assert kinds == ["stream", "clear_output", "stream"], describe(reply, msgs)


# --------------------------------------------------------------------------
# Metadata, :timing
# --------------------------------------------------------------------------


def _assert_timings(reply):
    meta = reply.get("metadata", {}).get("rustpar")
    assert isinstance(meta, dict), f"execute_reply metadata: {reply.get('metadata')}"
    for key in ("compile_ms", "run_ms"):
        assert isinstance(meta.get(key), (int, float)), meta
        assert meta[key] >= 0, meta


def test_reply_metadata_has_timings(kc):
    reply, msgs = run(kc, "let t = 2 + 2;\nt")
    assert_ok(reply, msgs)
    _assert_timings(reply)
    reply, msgs = run(kc, 'panic!("timed too")')
    assert reply["content"]["status"] == "error"
    _assert_timings(reply)


def test_timing_magic_toggles_a_timing_line(kc):
    try:
        reply, msgs = run(kc, ":timing")
        assert_ok(reply, msgs)
        assert "Timing is on" in stream_text(msgs), describe(reply, msgs)
        reply, msgs = run(kc, "let timed = 1 + 1;\ntimed")
        assert_ok(reply, msgs)
        assert result_text(msgs) == "2"
        out = stream_text(msgs)
        assert "compiled in" in out and "ran in" in out, describe(reply, msgs)
    finally:
        reply, msgs = run(kc, ":timing")
    assert "Timing is off" in stream_text(msgs), describe(reply, msgs)
    reply, msgs = run(kc, "1 + 1")
    assert_ok(reply, msgs)
    assert "compiled in" not in stream_text(msgs), describe(reply, msgs)


def test_magic_and_code_in_one_cell(kc):
    try:
        reply, msgs = run(kc, ':timing\nprintln!("with timing");')
        assert_ok(reply, msgs)
        out = stream_text(msgs)
        assert "Timing is on" in out and "with timing" in out and "compiled in" in out, describe(reply, msgs)
    finally:
        run(kc, ":timing")


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
    check = helpers.need(helpers.PRELUDE_CHECK_INTERRUPT, "a cooperative interrupt check")
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


# --------------------------------------------------------------------------
# stdin
# --------------------------------------------------------------------------

READ_LINE = (
    "let mut answer = String::new();\n"
    "std::io::stdin().read_line(&mut answer).unwrap();\n"
    'println!("got: {}", answer.trim());'
)


@pytest.mark.timeout(180)
def test_stdin_allowed(kc):
    msg_id = kc.execute(READ_LINE, allow_stdin=True)
    request_msg = kc.get_stdin_msg(timeout=CELL_TIMEOUT)
    assert request_msg["msg_type"] == "input_request"
    assert request_msg["parent_header"]["msg_id"] == msg_id
    assert "prompt" in request_msg["content"] and "password" in request_msg["content"]
    kc.input("hello")
    reply = get_reply(kc, msg_id, timeout=CELL_TIMEOUT)
    msgs = collect_iopub(kc, msg_id)
    assert_ok(reply, msgs)
    assert "got: hello" in stream_text(msgs, "stdout"), describe(reply, msgs)
    reply, msgs = run(kc, 'answer.trim() == "hello"')
    assert_ok(reply, msgs)
    assert result_text(msgs) == "true"


@pytest.mark.timeout(180)
def test_stdin_refused_fails_fast(kc):
    msg_id = kc.execute(READ_LINE, allow_stdin=False)
    start = time.monotonic()
    reply = get_reply(kc, msg_id, timeout=CELL_TIMEOUT)
    elapsed = time.monotonic() - start
    msgs = collect_iopub(kc, msg_id)
    with pytest.raises(Empty):
        kc.get_stdin_msg(timeout=0.5)
    said = stream_text(msgs, "stderr")
    if reply["content"]["status"] == "error":
        said += reply["content"]["evalue"] + strip_ansi("\n".join(reply["content"]["traceback"]))
    # An error reply or a message on stderr (or both) will do; it must say why.
    assert "input" in said.lower(), f"no message about input: {describe(reply, msgs)}"
    assert elapsed < 60, f"took {elapsed:.1f} s"
    # And the kernel carries on.
    reply, msgs = run(kc, "1+1")
    assert result_text(msgs) == "2"


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


# --------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_history_survives_a_restart(fresh_kernel):
    km, kc = fresh_kernel
    marker = unique("hist")
    code = f"let {marker} = 1;"
    assert_ok(*run(kc, code))
    found = history(kc, hist_access_type="search", pattern=f"*{marker}*")
    assert [h[2] for h in found] == [code]
    tail = history(kc, hist_access_type="tail", n=1)
    assert tail[-1][2] == code
    session_before = found[0][0]

    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=120)

    found = history(kc, hist_access_type="search", pattern=f"*{marker}*")
    assert [h[2] for h in found] == [code], found
    ranged = history(kc, hist_access_type="range", session=found[0][0], start=found[0][1], stop=found[0][1] + 1)
    assert [h[2] for h in ranged] == [code]
    # The new session numbers its cells anew, after the old one.
    assert_ok(*run(kc, "1+1", timeout=helpers.FIRST_CELL_TIMEOUT))
    tail = history(kc, hist_access_type="tail", n=1)
    assert tail[-1][2] == "1+1"
    assert tail[-1][0] > session_before
    assert tail[-1][1] == 1


def test_history_search_with_only_a_pattern(kc):
    # The messaging spec makes `unique` (default False) and `n` (default: all)
    # optional in a search; jupyter_client's kc.history() sends neither.
    marker = unique("search")
    code = f"let {marker} = 1;"
    assert_ok(*run(kc, code))
    msg_id = kc.history(hist_access_type="search", pattern=f"*{marker}*", raw=True, output=False)
    reply = get_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert [h[2] for h in reply["content"]["history"]] == [code]


def test_history_with_output(kc):
    assert_ok(*run(kc, "20 + 22"))
    tail = history(kc, hist_access_type="tail", n=1, output=True)
    session, line, (source, output) = tail[-1]
    assert source == "20 + 22"
    assert output == "42"


# --------------------------------------------------------------------------
# is_complete, completion, inspection
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code,status",
    [
        ("let x = 1;", "complete"),
        ("x + 1", "complete"),
        ("fn f() -> i32 {\n    1\n}", "complete"),
        ("fn f() {", "incomplete"),
        ("for i in 0..3 {\n    println!(\"{i}\");", "incomplete"),
        ("let v = vec![\n    1,", "incomplete"),
        ("let x = );", "invalid"),
        ("fn f() { } }", "invalid"),
    ],
)
def test_is_complete(kc, code, status):
    msg_id = kc.is_complete(code)
    reply = get_reply(kc, msg_id)
    assert reply["content"]["status"] == status, reply["content"]
    if status == "incomplete":
        assert isinstance(reply["content"].get("indent"), str), reply["content"]


def test_complete_a_std_path(kc):
    code = "use std::collections::HashM"
    msg_id = kc.complete(code, len(code))
    reply = get_reply(kc, msg_id, timeout=60)
    content = reply["content"]
    assert content["status"] == "ok"
    start, end = content["cursor_start"], content["cursor_end"]
    assert 0 <= start <= end == len(code)
    completed = [code[:start] + m for m in content["matches"]]
    assert "use std::collections::HashMap" in completed, content


def test_complete_a_variable(kc):
    assert_ok(*run(kc, "let my_long_variable_name = 1;"))
    code = "my_long_var"
    msg_id = kc.complete(code, len(code))
    reply = get_reply(kc, msg_id, timeout=60)
    content = reply["content"]
    completed = [code[: content["cursor_start"]] + m for m in content["matches"]]
    assert "my_long_variable_name" in completed, content


def test_inspect(kc):
    msg_id = kc.inspect("Vec", 3)
    reply = get_reply(kc, msg_id, timeout=60)
    content = reply["content"]
    assert content["status"] == "ok"
    assert content["found"] is True, content
    assert "Vec" in content["data"]["text/plain"], content
    msg_id = kc.inspect("qqq_no_such_thing", 5)
    content = get_reply(kc, msg_id, timeout=60)["content"]
    assert content["status"] == "ok"
    assert content["found"] is False, content


def test_without_std_sources_rustc_names_the_types():
    """Without the rust-src component rust-analyzer cannot name `Vec<i32>`;
    rustc names it, and the variables persist as usual."""
    km, kc = start_kernel(env={"RUST_SRC_PATH": "/nonexistent/rust-src"})
    try:
        assert_ok(*run(kc, "let v = vec![1, 2, 3];\nlet half = 0.5;", timeout=FIRST_CELL_TIMEOUT))
        reply, msgs = run(kc, 'let total: i32 = v.iter().sum();\nformat!("{} {}", total, half * 2.0)')
        assert_ok(reply, msgs)
        assert result_text(msgs) == '"6 1"', describe(reply, msgs)
        # rustc shortens paths (`HashMap`, never imported here) and elides long
        # names; its import suggestion and its full name give the type.
        assert_ok(*run(kc, "let m = std::collections::HashMap::<u8, u8>::new();\nlet grid = random_array((3, 4), 1);"))
        reply, msgs = run(kc, "(m.len(), grid.dim())")
        assert result_text(msgs) == "(0, (3, 4))", describe(reply, msgs)
        # Where rustc suggests no path, the student gets its name for the type.
        reply, msgs = run(kc, "let colors = vec![rustpar::plotters::style::RGBColor(1, 2, 3)];")
        error = assert_error(reply, msgs, "EvaluatorError")
        assert "explicit type" in error["evalue"] and "Vec<RGBColor>" in error["evalue"], error
        # A mistake of the cell's own is reported as rustc's error, at its line.
        reply, msgs = run(kc, 'let w = vec![1];\nlet x: u8 = "no";')
        error = assert_error(reply, msgs, "CompileError")
        assert "cell:2:" in strip_ansi("\n".join(error["traceback"])), error
    finally:
        stop_kernel(km, kc)


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
    before = set(glob.glob("/tmp/rustpar-session-*"))
    parent = subprocess.Popen([sys.executable, "-c", client], stdout=subprocess.PIPE, text=True)
    try:
        kernel_pid = int(parent.stdout.readline())
        session = set(glob.glob("/tmp/rustpar-session-*")) - before
        assert len(session) == 1, session
    finally:
        parent.kill()
        parent.wait()
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{kernel_pid}") and time.time() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{kernel_pid}"), "the kernel outlived its client"
    assert not any(os.path.exists(folder) for folder in session), "the session folder was left behind"
