"""State that is one per session, although every cell links its own copy of
the prelude: display ids, rayon's pools and their panics."""

from __future__ import annotations

import pytest

from helpers import assert_error, assert_ok, only, result_text, run, strip_ansi

pytestmark = pytest.mark.timeout(300)


def test_two_progress_bars_in_two_cells_keep_their_own_outputs(kc):
    ids = []
    for _ in range(2):
        code = "let bar = progress(3);\nfor _ in 0..3 { bar.inc(); sleep(std::time::Duration::from_millis(30)); }\nbar.finish();"
        reply, msgs = run(kc, code)
        assert_ok(reply, msgs)
        shown = only(msgs, "display_data")
        assert len(shown) == 1, f"one bar per cell: {shown}"
        bar = shown[0]["content"]["transient"]["display_id"]
        updates = {m["content"]["transient"]["display_id"] for m in only(msgs, "update_display_data")}
        assert updates <= {bar}, f"a cell's updates go to its own bar: {updates} vs {bar}"
        ids.append(bar)
    assert ids[0] != ids[1], f"the second cell's bar took the first one's id: {ids}"


def test_display_ids_count_on_from_cell_to_cell(kc):
    seen = set()
    for _ in range(3):
        reply, msgs = run(kc, "DisplayHandle::new().id().to_string()")
        assert_ok(reply, msgs)
        seen.add(result_text(msgs))
    assert len(seen) == 3, f"display ids repeat across cells: {seen}"


def test_a_panic_in_rayon_spawn_fails_the_cell_and_keeps_the_session(kc):
    assert_ok(*run(kc, "let survivor = 41;"))
    reply, msgs = run(kc, 'rayon::spawn(|| panic!("the task broke"));\nsleep(std::time::Duration::from_millis(300));\nlet made_here = 1;')
    error = assert_error(reply, msgs, "Panic")
    assert error["evalue"] == "the task broke", error
    traceback = strip_ansi("\n".join(error["traceback"]))
    assert "at line 1 of the cell" in traceback, traceback
    assert "rayon::spawn" in traceback, traceback
    # The process lived on: the earlier variable and the cell's own are there.
    reply, msgs = run(kc, "survivor + made_here")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "42"


def test_a_panic_in_a_spawned_task_explains_the_cell_that_waited_for_it(kc):
    assert_ok(*run(kc, "let before_task = 7;"))
    code = (
        "let (done, result) = bounded::<u32>(1);\n"
        'rayon::spawn(move || { let _sender = done; panic!("no result today") });\n'
        'let got = result.recv().expect("a result");'
    )
    error = assert_error(*run(kc, code), "Panic")
    assert error["evalue"] == "no result today", error
    assert "at line 2 of the cell" in strip_ansi("\n".join(error["traceback"])), error
    reply, msgs = run(kc, "before_task")
    assert result_text(msgs) == "7"


@pytest.mark.parametrize(
    "code, message",
    [
        ('rayon::scope(|s| s.spawn(|_| panic!("in a scope")));', "in a scope"),
        ('let (_, r) = rayon::join(|| 1, || -> i32 { panic!("in a join") }); r', "in a join"),
        ('(0..100u32).into_par_iter().for_each(|i| if i == 50 { panic!("item 50") });', "item 50"),
        ('pool(2).spawn(|| panic!("in an own pool")); sleep(std::time::Duration::from_millis(300));', "in an own pool"),
    ],
    ids=["scope", "join", "par_iter", "own_pool"],
)
def test_panics_on_rayons_threads_are_reported_at_the_cells_line(kc, code, message):
    assert_ok(*run(kc, "let still_here = 3;"))
    error = assert_error(*run(kc, code), "Panic")
    assert error["evalue"] == message, error
    assert "at line 1 of the cell" in strip_ansi("\n".join(error["traceback"])), error
    reply, msgs = run(kc, "still_here")
    assert result_text(msgs) == "3"
