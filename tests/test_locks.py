"""The prelude's locks through a real kernel: std-style code compiles
unchanged, a deadlock stops the cell with an error that names the threads,
the locks and the lines (after `:deadlock-timeout`, or at once on interrupt),
and two code paths that take locks in opposite orders are warned about."""

from __future__ import annotations

import time

import pytest

from helpers import assert_error, assert_ok, get_reply, only, request, result_text, run, stream_text

pytestmark = pytest.mark.timeout(300)

DEADLOCK = """let a = Mutex::named("account a", 100);
let b = Mutex::named("account b", 100);
let both_hold_one = Barrier::new(2);
thread::scope(|s| {
    s.spawn(|| { let _first = a.lock().unwrap(); both_hold_one.wait(); let _second = b.lock().unwrap(); });
    s.spawn(|| { let _first = b.lock().unwrap(); both_hold_one.wait(); let _second = a.lock().unwrap(); });
});"""


def lock_warnings(msgs: list[dict]) -> list[str]:
    texts = [m["content"]["data"].get("text/plain", "") for m in only(msgs, "display_data")]
    return [text for text in texts if "opposite orders" in text]


def test_std_style_code_compiles_and_runs_unchanged(kc):
    code = """use std::sync::PoisonError;
fn add_one(mut guard: MutexGuard<'_, Vec<i32>>) { guard.push(1); }
let shared = Arc::new(Mutex::new(Vec::new()));
let handles: Vec<_> = (0..4).map(|_| { let shared = Arc::clone(&shared); thread::spawn(move || add_one(shared.lock().unwrap())) }).collect();
for handle in handles { handle.join().unwrap(); }
let pair = Arc::new((Mutex::new(0), Condvar::new()));
let other = Arc::clone(&pair);
thread::spawn(move || { *other.0.lock().unwrap() = 7; other.1.notify_one(); });
let value = { let mut value = pair.0.lock().unwrap(); while *value == 0 { value = pair.1.wait(value).unwrap(); } *value };
let table = RwLock::new(3);
let total = *table.read().unwrap() + value + shared.lock().unwrap_or_else(PoisonError::into_inner).len() as i32;
total"""
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "14"


def test_mixing_std_guards_with_the_preludes_locks_says_how_to_fix_it(kc):
    code = "let m = Mutex::new(1);\nlet g: std::sync::MutexGuard<'_, i32> = m.lock().unwrap();"
    reply, msgs = run(kc, code)
    error = assert_error(reply, msgs, "CompileError")
    assert "name the guard without `std::sync::`" in "".join(error["traceback"])


def test_a_deadlock_names_both_threads_locks_and_lines_and_keeps_the_variables(kc):
    assert_ok(*run(kc, "let kept_before = 41 + 1;"))
    reply, msgs = run(kc, ":deadlock-timeout 1s")
    assert_ok(reply, msgs)
    assert "1.0 s" in stream_text(msgs)
    began = time.monotonic()
    reply, msgs = run(kc, DEADLOCK, timeout=60)
    error = assert_error(reply, msgs, "Deadlock")
    assert time.monotonic() - began < 20
    text = error["evalue"]
    for part in ["thread 1", "thread 2", "`account a`", "`account b`", "let _second = b.lock().unwrap();", "let _second = a.lock().unwrap();"]:
        assert part in text, f"{part!r} missing from: {text}"
    drawings = [m for m in only(msgs, "display_data") if "image/svg+xml" in m["content"]["data"]]
    assert drawings and "waits for account b" in drawings[0]["content"]["data"]["image/svg+xml"]
    reply, msgs = run(kc, "kept_before")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "42", "the session kept its variables"


def test_an_interrupt_reports_the_deadlock_at_once(kc):
    assert_ok(*run(kc, ":deadlock-timeout 60s"))
    msg_id = kc.execute(DEADLOCK)
    time.sleep(3)
    request(kc, "interrupt_request", channel="control")
    reply = get_reply(kc, msg_id, timeout=20)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Deadlock", reply["content"]
    assert_ok(*run(kc, ":deadlock-timeout 10s"))


def test_opposite_orders_are_warned_about_without_a_hang_and_one_order_is_not(kc):
    consistent = """let c = Mutex::named("ledger c", 0);
let d = Mutex::named("ledger d", 0);
for _ in 0..2 { let _c = c.lock().unwrap(); *d.lock().unwrap() += 1; }
*d.lock().unwrap()"""
    reply, msgs = run(kc, consistent)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "2"
    assert lock_warnings(msgs) == []

    opposite = """let e = Mutex::named("ledger e", 0);
let f = Mutex::named("ledger f", 0);
thread::scope(|s| {
    s.spawn(|| { let _e = e.lock().unwrap(); *f.lock().unwrap() += 1; }).join().unwrap();
    s.spawn(|| { let _f = f.lock().unwrap(); *e.lock().unwrap() += 1; }).join().unwrap();
});
*e.lock().unwrap() + *f.lock().unwrap()"""
    reply, msgs = run(kc, opposite)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "2"
    [warning] = lock_warnings(msgs)
    assert "`ledger e`" in warning and "`ledger f`" in warning, warning
    assert "*f.lock().unwrap() += 1;" in warning or "let _e = e.lock().unwrap();" in warning, warning


def test_a_lock_made_in_one_cell_is_the_same_lock_in_later_cells(kc):
    """The tracker is one per session: orders taken in two later cells, each
    compiled with its own copy of the prelude, meet on the same two locks."""
    assert_ok(*run(kc, 'let ledger_g = Mutex::named("ledger g", 0);\nlet ledger_h = Mutex::named("ledger h", 0);'))
    reply, msgs = run(kc, "{ let _g = ledger_g.lock().unwrap(); *ledger_h.lock().unwrap() += 1; }")
    assert_ok(reply, msgs)
    assert lock_warnings(msgs) == []
    reply, msgs = run(kc, "{ let _h = ledger_h.lock().unwrap(); *ledger_g.lock().unwrap() += 1; }")
    assert_ok(reply, msgs)
    [warning] = lock_warnings(msgs)
    assert "`ledger g`" in warning and "`ledger h`" in warning, warning
