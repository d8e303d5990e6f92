"""Crates the kernel adds the first time a cell names them (the GPU crate,
`linalg` and tokio, listed under `[package.metadata.rustpar.on-demand]` in the prelude's
Cargo.toml): a notebook uses them with no `:dep` line, a session that never
names them does not have them (they would slow its start), and adding one
keeps the session's variables."""

from __future__ import annotations

import pytest

from helpers import assert_ok, result_text, run, stream_text

pytestmark = pytest.mark.timeout(300)


def deps(kc) -> str:
    reply, msgs = run(kc, ":show_deps")
    assert_ok(reply, msgs)
    return stream_text(msgs) + (result_text(msgs) or "")


def test_a_crate_comes_with_the_first_cell_that_names_it(fresh_kernel):
    _, kc = fresh_kernel
    reply, msgs = run(kc, "let kept = vec![1, 2, 3];\nkept.len()")
    assert_ok(reply, msgs)
    before = deps(kc)
    assert "rustpar" in before, before
    assert "tokio" not in before and "rustpar-gpu" not in before, f"a session starts without them: {before}"

    code = """let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
runtime.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await; kept.len() * 2 })"""
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert result_text(msgs) == "6", "tokio works with no :dep line, and `kept` survived its addition"
    assert stream_text(msgs, "stderr") == "", "adding it says nothing"

    reply, msgs = run(kc, "gpu_available() || kept.len() == 3")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "true"
    after = deps(kc)
    assert "tokio" in after and "rustpar-gpu" in after, after


def test_arrays_made_before_linalg_or_nalgebra_is_added_survive_it(fresh_kernel):
    """faer, under `linalg`, and nalgebra share crates with ndarray: had
    they turned on features the prelude's build lacks, adding one would have
    built ndarray again, and the cell process would have taken the session's
    arrays for another type and dropped them."""
    _, kc = fresh_kernel
    assert_ok(*run(kc, "let stiffness = array![[4.0, 2.0], [2.0, 3.0]];\nstiffness.sum()"))
    assert "rustpar-linalg" not in deps(kc)
    reply, msgs = run(kc, "let x = linalg::Cholesky::new(&stiffness).unwrap().solve_vector(&array![2.0, 1.0]);\nformat!(\"{:.2} {:.2}\", x[0], x[1])")
    assert_ok(reply, msgs)
    assert result_text(msgs) == '"0.50 0.00"'
    assert stream_text(msgs, "stderr") == "", "adding linalg says nothing, and loses no variable"
    reply, msgs = run(kc, ':dep nalgebra = { version = "0.34.2", default-features = false, features = ["std"] }\nnalgebra::DMatrix::<f64>::identity(2, 2).trace() + stiffness.sum()')
    assert_ok(reply, msgs)
    assert result_text(msgs) == "13.0"
    assert stream_text(msgs, "stderr") == "", "adding nalgebra loses no variable either"
