"""Executes course notebooks with the rustpar kernel and saves them with HTML copies.

    .venv/bin/python scripts/run_notebooks.py [NOTEBOOK ...] [--out build/notebooks]

With no notebook named, runs every notebooks/*.ipynb in order. For each one it
writes the executed notebook (NAME.ipynb) and an HTML rendering with the plots
(NAME.html) to the output folder, and prints how long it took; at the end it
prints the total, which is the course's benchmark figure. It exits non-zero if
any cell failed (cells tagged "raises-exception" may fail on purpose).

scripts/course.sh calls this script; tests/test_notebooks.py imports
`run_notebook` from it, so CI and the course command run notebooks the same way.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "notebooks"
KERNEL_NAME = "rustpar"
# A cold first cell may build the prelude (minutes); a course cell takes seconds.
CELL_TIMEOUT = 600


@dataclass
class Result:
    name: str
    seconds: float
    error: str | None  # None when every cell ran as it should

    @property
    def ok(self) -> bool:
        return self.error is None


def course_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def run_notebook(path: Path, out_dir: Path = DEFAULT_OUT, timeout: int = CELL_TIMEOUT) -> Result:
    """Executes one notebook in a fresh rustpar kernel; writes NAME.ipynb and
    NAME.html (executed so far, even when a cell failed) to `out_dir`."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as failure:
        error = str(failure)
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return Result(path.stem, seconds, error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all of notebooks/)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where executed notebooks and HTML go")
    args = parser.parse_args()
    paths = args.notebooks or course_notebooks()
    if not paths:
        print("run_notebooks: no notebooks to run")
        return 0
    results = []
    for path in paths:
        print(f"==> {path.name}", flush=True)
        result = run_notebook(path.resolve(), args.out)
        results.append(result)
        status = "ok" if result.ok else "FAILED"
        print(f"    {status} in {result.seconds:.1f} s -> {args.out / path.stem}.{{ipynb,html}}", flush=True)
        if not result.ok:
            print(result.error, file=sys.stderr)
    total = sum(r.seconds for r in results)
    print("\nnotebook                              seconds")
    for r in results:
        print(f"{r.name:<36} {r.seconds:8.1f}{'' if r.ok else '  FAILED'}")
    print(f"{'total':<36} {total:8.1f}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"run_notebooks: {len(failed)} of {len(results)} notebooks FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"run_notebooks: all {len(results)} notebooks ran in {total:.1f} s; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
