"""GPU cells through a real kernel.

On a machine without a GPU (CI, this project's development machines) a GPU
call fails cleanly: the cell's error is named ``GpuError`` and says that no
CUDA driver or device was found, the kernel keeps answering and the session's
variables survive. On a machine with a GPU the same cells compute and their
results are checked instead.
"""

from __future__ import annotations

import pytest

from helpers import assert_error, assert_ok, result_text, run, stream_text, strip_ansi


@pytest.fixture(scope="module")
def has_gpu(kc) -> bool:
    reply, msgs = run(kc, "gpu_available()")
    assert_ok(reply, msgs)
    return result_text(msgs) == "true"


def test_gpu_available_answers_without_failing(kc, has_gpu):
    reply, msgs = run(kc, 'if gpu_available() { println!("GPU: {}", gpu_info()?); } else { println!("no GPU here"); }')
    assert_ok(reply, msgs)
    assert ("GPU: " if has_gpu else "no GPU here") in stream_text(msgs)


def test_a_gpu_call_returned_through_question_mark_is_a_gpu_error(kc, has_gpu):
    reply, msgs = run(kc, "let kept = 41 + 1;")
    assert_ok(reply, msgs)
    code = "let x = GpuArray::from_slice(&[1.0f32, 2.0, 3.0])?;\nlet total = x.sum()?;\ntotal"
    reply, msgs = run(kc, code)
    if has_gpu:
        assert_ok(reply, msgs)
        assert result_text(msgs) == "6"
    else:
        error = assert_error(reply, msgs, "GpuError")
        evalue = error["evalue"]
        assert "No CUDA driver was found" in evalue or "found no GPU device" in evalue, evalue
        assert "gpu_available()" in evalue, evalue
        assert not evalue.startswith("GpuError"), "the name is the ename, not part of the message"
    reply, msgs = run(kc, "kept")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "42"


def test_unwrap_on_a_gpu_call_panics_with_a_readable_message(kc, has_gpu):
    if has_gpu:
        pytest.skip("this machine has a GPU: unwrap succeeds")
    reply, msgs = run(kc, "let info = gpu_info().unwrap();")
    error = assert_error(reply, msgs, "Panic")
    assert "GpuError: " in error["evalue"], error["evalue"]
    assert "CUDA" in error["evalue"], error["evalue"]
    reply, msgs = run(kc, "kept * 2")
    assert_ok(reply, msgs)
    assert result_text(msgs) == "84"


def test_a_cuda_compile_error_names_the_line_on_a_gpu(kc, has_gpu):
    if not has_gpu:
        pytest.skip("no GPU here: NVRTC never runs")
    reply, msgs = run(kc, 'let k = RawKernel::new(r#"extern "C" __global__ void k() { oops; }"#, "k")?;')
    error = assert_error(reply, msgs, "GpuError")
    assert "did not compile" in error["evalue"], error["evalue"]
    assert "oops" in strip_ansi("\n".join(error["traceback"]))
