"""Every course notebook runs top to bottom in a fresh rustpar kernel.

One test per notebooks/*.ipynb, through the same runner as scripts/course.sh
(scripts/run_notebooks.py); a failing cell fails the test unless the cell is
tagged "raises-exception". Executed copies land in build/notebooks/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from run_notebooks import course_notebooks, run_notebook  # noqa: E402


@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", course_notebooks(), ids=lambda path: path.stem)
def test_notebook_runs(path: Path) -> None:
    result = run_notebook(path)
    assert result.ok, f"{path.name} failed after {result.seconds:.1f} s:\n{result.error}"
