"""The core meter (`:cores`): what the cores did while a cell ran, sampled by
the kernel from /proc, shown live under the cell when asked for and always in
the execute_reply's metadata."""

from __future__ import annotations

import os

import pytest

from helpers import assert_ok, only, run, stream_text

pytestmark = pytest.mark.timeout(300)

# Two threads each spinning on the CPU for about a second.
TWO_SPINNING_THREADS = """fn spin(until: std::time::Instant) -> u64 { let mut x = 1u64; while std::time::Instant::now() < until { x = x.wrapping_mul(6364136223846793005).wrapping_add(1); } x }
let until = std::time::Instant::now() + std::time::Duration::from_millis(1200);
std::thread::scope(|s| { let other = s.spawn(|| std::hint::black_box(spin(until))); std::hint::black_box(spin(until)); other.join().unwrap(); });"""


def meter_outputs(msgs: list[dict]) -> tuple[list[dict], list[dict]]:
    shown = [m for m in only(msgs, "display_data") if m["content"]["transient"].get("display_id", "").startswith("rustpar-cores-")]
    updates = only(msgs, "update_display_data")
    return shown, updates


def test_the_meter_is_off_by_default_and_its_figures_are_in_the_metadata(kc):
    reply, msgs = run(kc, TWO_SPINNING_THREADS)
    assert_ok(reply, msgs)
    assert meter_outputs(msgs) == ([], []), "no display unless :cores asks for it"
    figures = reply["metadata"]["rustpar"]
    cores = os.cpu_count() or 1
    assert figures["cpu_ms"] > 1000, figures
    assert 1.0 <= figures["cores_used"] <= cores + 0.2, f"two spinning threads on {cores} cores: {figures}"
    assert figures["other_cpu_ms"] >= 0


def test_cores_shows_live_bars_that_end_as_the_runs_figures(kc):
    reply, msgs = run(kc, ":cores\n" + TWO_SPINNING_THREADS)
    assert_ok(reply, msgs)
    shown, updates = meter_outputs(msgs)
    assert len(shown) == 1, f"one display, updated in place: {shown}"
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert len(updates) >= 3, "about four updates a second while the cell runs"
    assert all(m["content"]["transient"]["display_id"] == display_id for m in updates)
    final = updates[-1]["content"]["data"]
    assert final["image/svg+xml"].startswith("<svg"), final
    text = final["text/plain"]
    assert "cores on average" in text and "it ran" in text, text
    assert "core 0:" in text

    # `:cores` was for that cell only.
    reply, msgs = run(kc, "1 + 1")
    assert_ok(reply, msgs)
    assert meter_outputs(msgs) == ([], [])


def test_cores_on_and_off_switch_it_for_every_cell(kc):
    reply, msgs = run(kc, ":cores on")
    assert_ok(reply, msgs)
    assert "on" in stream_text(msgs)
    for _ in range(2):
        reply, msgs = run(kc, "std::thread::sleep(std::time::Duration::from_millis(300));")
        assert_ok(reply, msgs)
        shown, updates = meter_outputs(msgs)
        assert len(shown) == 1 and updates, msgs
        assert "no other process" in updates[-1]["content"]["data"]["text/plain"] or "other processes" in updates[-1]["content"]["data"]["text/plain"]
    reply, msgs = run(kc, ":cores off")
    assert_ok(reply, msgs)
    reply, msgs = run(kc, "1 + 1")
    assert meter_outputs(msgs) == ([], [])


def test_timing_names_the_cores_used(kc):
    assert_ok(*run(kc, ":timing"))
    try:
        reply, msgs = run(kc, TWO_SPINNING_THREADS)
        assert_ok(reply, msgs)
        assert "cores" in stream_text(msgs), stream_text(msgs)
    finally:
        assert_ok(*run(kc, ":timing"))
