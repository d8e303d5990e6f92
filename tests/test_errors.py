"""What a student reads when a cell fails to compile, panics or returns an error."""

from __future__ import annotations

import subprocess

import pytest

from helpers import (
    CELL_TIMEOUT,
    assert_error,
    assert_ok,
    collect_iopub,
    describe,
    get_replies,
    only,
    result_text,
    run,
    strip_ansi,
    unique,
)

pytestmark = pytest.mark.timeout(300)


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


def test_time_passes_on_a_stable_compiler_is_refused_and_the_session_goes_on(kc):
    # On a stable rustc, evcxr's `:time_passes` would make every later cell fail to build.
    version = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout
    if "nightly" in version:
        pytest.skip("a nightly rustc accepts :time_passes")
    name = unique("kept")
    assert_ok(*run(kc, f"let {name} = 41;"))
    reply, msgs = run(kc, ":time_passes")
    content = assert_error(reply, msgs, "EvaluatorError")
    assert "nightly" in content["evalue"] and ":timing" in content["evalue"], content["evalue"]
    reply, msgs = run(kc, f"{name} + 1")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "42"


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
