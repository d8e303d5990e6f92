"""History (across restarts), is_complete, completion and inspection, and the
types of variables when the standard library's sources are missing."""

from __future__ import annotations

import os
import tempfile

import pytest

import helpers
from helpers import (
    history,
    FIRST_CELL_TIMEOUT,
    assert_error,
    assert_ok,
    describe,
    get_reply,
    result_text,
    run,
    start_kernel,
    stop_kernel,
    strip_ansi,
    unique,
)

pytestmark = pytest.mark.timeout(300)


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


NALGEBRA_CELL = """:dep nalgebra = { version = "0.34.2", default-features = false, features = ["std"] }
use nalgebra::DMatrix;
let design = DMatrix::from_element(2, 3, 1.0);
let column = design.column(0).into_owned();"""


def kernel_debug_log(cells: list[tuple[str, str | None]]) -> str:
    """Runs `cells` (code, expected result) in a new kernel without spares
    and returns its debug log."""
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryFile(mode="w+") as log:
        km = KernelManager(kernel_name="rustpar")
        km.start_kernel(stderr=log, env={**os.environ, "RUSTPAR_SPARE": "0", "RUSTPAR_LOG": "rustpar_kernel=debug"})
        kc = km.client()
        kc.start_channels()
        try:
            for code, expected in cells:
                reply, msgs = run(kc, code, timeout=FIRST_CELL_TIMEOUT)
                assert_ok(reply, msgs)
                if expected is not None:
                    assert result_text(msgs) == expected, describe(reply, msgs)
        finally:
            stop_kernel(km, kc)
        log.seek(0)
        return strip_ansi(log.read())


def test_a_cold_session_types_a_dep_crates_values_without_rust_analyzer():
    """rustc names `design` a `Matrix<f64, Dyn, Dyn, VecStorage<...>>` and
    suggests no import for a crate that `:dep` added: the kernel finds the
    names at the crate's root, so a cold first cell does not wait for
    rust-analyzer (notebook 10's first cell took 19 s that way, 6 s now)."""
    said = kernel_debug_log([(NALGEBRA_CELL, None), ("(design.ncols(), column.len())", "(3, 2)")])
    named = [line for line in said.splitlines() if "types named by rustc" in line]
    assert named and '("design", "Matrix<f64, Dyn, Dyn,' in named[0], said[-3000:]
    assert "the types rustc named do not compile" not in said, said[-3000:]


def test_a_cold_session_types_the_values_of_a_crate_the_kernel_added():
    """`linalg` (rustpar-linalg, added by the kernel when a cell names it) is
    imported under another name: rustc calls its factorisation `Cholesky`,
    which the kernel finds at the added crate's root (notebook 06's
    Cholesky cell waited 10 s for rust-analyzer without)."""
    cell = "let factors = linalg::Cholesky::new(&array![[4.0, 2.0], [2.0, 3.0]]).unwrap();\nlet x = factors.solve_vector(&array![2.0, 1.0]);"
    said = kernel_debug_log([("1 + 1", "2"), (cell, None), ("format!(\"{:.2} {:.2}\", x[0], x[1])", '"0.50 0.00"')])
    named = [line for line in said.splitlines() if "types named by rustc" in line]
    assert named and '("factors", "Cholesky")' in named[-1], said[-3000:]
    assert "the types rustc named do not compile" not in said, said[-3000:]


def test_a_cold_sessions_first_cells_keep_their_variables_while_rust_analyzer_warms_up():
    """Cells that come before rust-analyzer has warmed up have their types
    named by rustc, all in one check; the variables persist as usual, `mut`
    and shadowing included, and a completion meanwhile is answered."""
    km, kc = start_kernel(warm=False)
    try:
        cell = "let v = vec![1.0, 2.0];\nlet grid = random_array((2, 2), 1);\nlet mut count = 0usize;\nlet s = 1;\nlet s = s as f64 * 1.5;\nlet (mut m, c) = (0.5, 'x');"
        assert_ok(*run(kc, cell, timeout=FIRST_CELL_TIMEOUT))
        reply, msgs = run(kc, "count += v.len();\nm += 1.0;\n(count, grid.dim(), s, m, c)")
        assert_ok(reply, msgs)
        assert result_text(msgs) == "(2, (2, 2), 1.5, 1.5, 'x')", describe(reply, msgs)
        code = "let more = random_arr"
        content = get_reply(kc, kc.complete(code, len(code)), timeout=60)["content"]
        completed = [code[: content["cursor_start"]] + m for m in content["matches"]]
        assert any(line.startswith("let more = random_array(") for line in completed), content
        # A closure has no type rustc can write: rust-analyzer says so.
        reply, msgs = run(kc, "let add = |x: i32| x + 1;")
        error = assert_error(reply, msgs, "EvaluatorError")
        assert "closure" in error["evalue"], error
        reply, msgs = run(kc, "count")
        assert result_text(msgs) == "2", describe(reply, msgs)
    finally:
        stop_kernel(km, kc)
