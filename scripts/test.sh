#!/usr/bin/env bash
# scripts/test.sh: install everything, then run all tests:
#   1. install.sh --with-mpich --with-browser (system packages, .venv, kernel build, kernelspec, warm-up)
#   2. cargo fmt --check and cargo clippy (-D warnings) (the code's habits)
#   3. cargo test --release --locked --workspace   (unit, protocol-core and doc tests)
#   4. pytest tests/                                 (the kernel through Jupyter)
# Extra arguments are passed to pytest, e.g. `bash scripts/test.sh -k interrupt`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
export CARGO_TARGET_DIR="$TARGET"

echo "==> install.sh --with-mpich --with-browser"
# MPICH too, so that the tests run :mpi cells under both MPIs; chromium and
# Playwright for the JupyterLab tests (tests/browser/).
bash "$ROOT/install.sh" --with-mpich --with-browser

echo
echo "==> cargo fmt --check; cargo clippy -- -D warnings"
style_rc=0
for tool in rustfmt clippy; do
    if ! cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "test.sh: cargo ${tool/rustfmt/fmt} is missing; add it with: rustup component add $tool" >&2
        style_rc=1
    fi
done
if [[ $style_rc -eq 0 ]]; then
    cargo fmt --all --check || style_rc=$?
    cargo clippy --release --locked --workspace --all-targets -- -D warnings || style_rc=$?
fi

echo
echo "==> cargo test --release --locked --workspace"
cargo_rc=0
cargo test --release --locked --workspace || cargo_rc=$?

echo
echo "==> pytest tests/"
pytest_rc=0
# Per-test timeouts live in tests/pytest.ini (and pytest.mark.timeout).
"$ROOT/.venv/bin/python" -m pytest "$ROOT/tests" -v "$@" || pytest_rc=$?

echo
if [[ $style_rc -eq 0 && $cargo_rc -eq 0 && $pytest_rc -eq 0 ]]; then
    echo "test.sh: all checks passed (fmt, clippy, cargo test and pytest)"
    exit 0
fi
echo "test.sh: FAILED (fmt/clippy exit $style_rc, cargo test exit $cargo_rc, pytest exit $pytest_rc)" >&2
exit 1
