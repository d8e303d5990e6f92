#!/usr/bin/env bash
# scripts/course.sh: install everything, then execute every notebooks/*.ipynb
# with the rustpar kernel.  Executed notebooks (.ipynb) and their HTML renderings
# go to build/notebooks/.  Fails if any cell of any notebook fails (cells tagged
# "raises-exception" may fail on purpose).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "==> install.sh"
bash "$ROOT/install.sh"

shopt -s nullglob
notebooks=("$ROOT"/notebooks/*.ipynb)
if [[ ${#notebooks[@]} -eq 0 ]]; then
    echo
    echo "course.sh: no notebooks in notebooks/ yet; nothing to run"
    exit 0
fi

OUT="$ROOT/build/notebooks"
mkdir -p "$OUT"
JUPYTER="$ROOT/.venv/bin/jupyter"
CELL_TIMEOUT="${RUSTPAR_CELL_TIMEOUT:-600}"

failed=()
for nb in "${notebooks[@]}"; do
    name="$(basename "$nb" .ipynb)"
    echo
    echo "==> $name.ipynb"
    start=$SECONDS
    if "$JUPYTER" nbconvert --to notebook --execute \
            --ExecutePreprocessor.kernel_name=rustpar \
            --ExecutePreprocessor.timeout="$CELL_TIMEOUT" \
            --output-dir "$OUT" --output "$name.ipynb" "$nb" \
        && "$JUPYTER" nbconvert --to html --output-dir "$OUT" --output "$name.html" \
            "$OUT/$name.ipynb"; then
        echo "    ok ($((SECONDS - start)) s): build/notebooks/$name.ipynb, build/notebooks/$name.html"
    else
        echo "    FAILED ($((SECONDS - start)) s): $name.ipynb" >&2
        failed+=("$name.ipynb")
    fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "course.sh: ${#failed[@]} of ${#notebooks[@]} notebooks FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "course.sh: all ${#notebooks[@]} notebooks ran; outputs in build/notebooks/"
