"""Outputs of cells (streams, results, displays) and the timings in reply metadata."""

from __future__ import annotations

import pytest

import helpers
from helpers import (
    assert_ok,
    describe,
    only,
    result_text,
    run,
    stream_text,
)

pytestmark = pytest.mark.timeout(300)


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
    fmt = helpers.PRELUDE_HTML_DISPLAY_FMT
    code = "\n".join(fmt.format(html=f"<p>part {i}</p>") for i in range(3))
    reply, msgs = run(kc, 'println!("before");\n' + code + '\nprintln!("after");')
    assert_ok(reply, msgs)
    displays = only(msgs, "display_data")
    assert [d["content"]["data"].get("text/html") for d in displays] == [f"<p>part {i}</p>" for i in range(3)]
    kinds = [m["msg_type"] for m in msgs if m["msg_type"] in ("stream", "display_data")]
    assert kinds == ["stream"] + ["display_data"] * 3 + ["stream"], describe(reply, msgs)


def test_update_display_data(kc):
    code = helpers.PRELUDE_DISPLAY_AND_UPDATE
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    displays = only(msgs, "display_data")
    updates = only(msgs, "update_display_data")
    assert displays and updates, describe(reply, msgs)
    display_id = displays[0]["content"]["transient"]["display_id"]
    assert display_id
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)


def test_clear_output(kc):
    clear = helpers.PRELUDE_CLEAR_OUTPUT
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
