"""Build profiles: cells build with overflow checks (and without debug
assertions) until `:release on`, which builds them as `cargo build --release`
does; the execute_reply's metadata and `:timing` name every cell's profile."""

from __future__ import annotations

import pytest

from helpers import assert_error, assert_ok, result_text, run, stream_text

pytestmark = pytest.mark.timeout(300)

# 255u8 + 1, with the 255 hidden from the compiler so that the check happens at run time.
OVERFLOW = "std::hint::black_box(255u8) + 1"
CHECKS = 'format!("{} {}", cfg!(debug_assertions), std::hint::black_box(u64::MAX).checked_add(0).is_some())'


def test_cells_build_with_overflow_checks_and_without_debug_assertions_by_default(kc):
    reply, msgs = run(kc, CHECKS)
    assert_ok(reply, msgs)
    assert result_text(msgs) == '"false true"'
    assert reply["metadata"]["rustpar"]["profile"] == "checked"
    reply, msgs = run(kc, OVERFLOW)
    error = assert_error(reply, msgs, "Panic")
    assert "overflow" in error["evalue"], error


def test_release_on_builds_the_cells_like_cargo_build_release_and_off_brings_the_checks_back(kc):
    reply, msgs = run(kc, ":release on")
    assert_ok(reply, msgs)
    assert "cargo build --release" in stream_text(msgs), stream_text(msgs)
    try:
        reply, msgs = run(kc, f":timing\n{CHECKS}")
        assert_ok(reply, msgs)
        assert result_text(msgs) == '"false true"', "no debug assertions under the release profile"
        assert reply["metadata"]["rustpar"]["profile"] == "release"
        assert "release profile (opt-level 3, no checks)" in stream_text(msgs), stream_text(msgs)
        reply, msgs = run(kc, OVERFLOW)
        assert_ok(reply, msgs)
        assert result_text(msgs) == "0", "an overflow wraps around without checks"
        reply, msgs = run(kc, ":release")
        assert "like `cargo build --release`" in stream_text(msgs), stream_text(msgs)
    finally:
        run(kc, ":timing")
        reply, msgs = run(kc, ":release off")
        assert_ok(reply, msgs)
    reply, msgs = run(kc, OVERFLOW)
    assert_error(reply, msgs, "Panic")
    assert reply["metadata"]["rustpar"]["profile"] == "checked"
