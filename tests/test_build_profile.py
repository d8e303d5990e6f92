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


# Whether the cell was compiled with the vector instructions this processor has (x86-64), or "other".
NATIVE = (
    '#[cfg(target_arch = "x86_64")] let native = cfg!(target_feature = "avx2") == std::arch::is_x86_feature_detected!("avx2") '
    '&& cfg!(target_feature = "avx512f") == std::arch::is_x86_feature_detected!("avx512f");\n'
    '#[cfg(not(target_arch = "x86_64"))] let native = "other";\n'
    "native"
)


def test_cells_are_compiled_for_this_machines_processor_under_both_profiles(kc):
    """A cell runs where it is compiled, so it uses the processor's vector
    instructions (numba does the same), whatever the profile."""
    for profile in ("off", "on"):
        assert_ok(*run(kc, f":release {profile}"))
        reply, msgs = run(kc, NATIVE)
        assert_ok(reply, msgs)
        if result_text(msgs) == '"other"':
            pytest.skip("not an x86-64 processor")
        assert result_text(msgs) == "true", f":release {profile}: the cell was not compiled for this processor"
    assert_ok(*run(kc, ":release off"))
