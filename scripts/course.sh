#!/usr/bin/env bash
# scripts/course.sh: install everything, then execute every notebooks/*.ipynb
# with the rustpar kernel (scripts/run_notebooks.py).  Executed notebooks
# (.ipynb) and their HTML renderings go to build/notebooks/.  Fails if any cell
# of any notebook fails (cells tagged "raises-exception" may fail on purpose).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "==> install.sh"
bash "$ROOT/install.sh"

# One runner for the course and for CI (tests/test_notebooks.py imports it): it
# prints each notebook's time and the course's total.
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/run_notebooks.py" --out "$ROOT/build/notebooks"
