"""The kernel on a busy machine: ordinary cells must stay ordinary.

Classrooms run many kernels on few cores, and parallel notebooks load every
core on purpose. Here two busy-looping processes per core keep the CPUs loaded while a
kernel runs plain cells that never read input; every one must succeed, keep
the session's variables, and reply in time.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import describe, result_text, run

CELLS = 120


@pytest.fixture
def cpu_load():
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))
    ]
    yield
    for burner in burners:
        burner.kill()
    for burner in burners:
        burner.wait()


@pytest.mark.timeout(900)
def test_plain_cells_under_cpu_load(fresh_kernel, cpu_load):
    _, kc = fresh_kernel
    problems = []
    for i in range(CELLS):
        if i % 3 == 0:
            code, expected = f"let load_{i} = {i};", None
        elif i % 3 == 1:
            code, expected = f"load_{i - 1} + 1", str(i)
        else:
            code, expected = f'println!("line {i}");\n6*7', "42"
        try:
            reply, msgs = run(kc, code, timeout=120)
        except TimeoutError as e:
            problems.append(f"cell {i} {code!r}: {e}")
            break
        if reply["content"]["status"] != "ok" or (expected is not None and result_text(msgs) != expected):
            problems.append(f"cell {i} {code!r}: {describe(reply, msgs)}")
    assert not problems, f"{len(problems)} of {CELLS} plain cells went wrong under load:\n" + "\n".join(problems)
