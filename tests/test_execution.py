"""Running cells: execution counts, silent and store_history, user_expressions
and stdin, observed through a real jupyter_client."""

from __future__ import annotations

import time
from queue import Empty

import pytest

from helpers import (
    history,
    CELL_TIMEOUT,
    assert_ok,
    collect_iopub,
    describe,
    get_reply,
    only,
    result_text,
    run,
    stream_text,
    strip_ansi,
    unique,
)

pytestmark = pytest.mark.timeout(300)


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


def test_cells_without_a_let_of_their_own_keep_the_sessions_variables(kc):
    # Such cells skip rust-analyzer (third_party/README.md): what they use,
    # move or define must still be tracked as before.
    assert_ok(*run(kc, "let kept = vec![1, 2, 3];"))
    assert_ok(*run(kc, "fn doubled(v: &[i32]) -> Vec<i32> { v.iter().map(|x| x * 2).collect() }"))
    reply, msgs = run(kc, "{ let inner = doubled(&kept); println!(\"{inner:?}\"); }")
    assert_ok(reply, msgs)
    assert "[2, 4, 6]" in stream_text(msgs, "stdout")
    reply, msgs = run(kc, "let more = doubled(&kept);\nmore.len() + kept.len()")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "6"
    assert_ok(*run(kc, "drop(kept);"))
    reply, msgs = run(kc, "kept.len()")
    assert reply["content"]["status"] == "error", "a variable the last cell moved is gone"
    reply, msgs = run(kc, "more.iter().sum::<i32>()")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "12"
