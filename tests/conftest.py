"""Fixtures: real rustpar kernels started through jupyter_client (see helpers.py)."""

from __future__ import annotations

import os
import tempfile

import pytest

from helpers import start_kernel, stop_kernel

# Keep the test kernels' input history out of the user's own history
# (~/.local/share/rustpar/history.jsonl): every kernel started by this test
# run, through any client, inherits this environment variable.
# Kernels leave a spare session behind for the next one (see the kernel's
# `spare` module); test kernels start with many environments, and spares
# warming beside them would only slow the suite. test_spare.py turns them on.
os.environ["RUSTPAR_SPARE"] = "0"

if "RUSTPAR_HISTORY" not in os.environ:
    _history_dir = tempfile.mkdtemp(prefix="rustpar-test-history-")
    os.environ["RUSTPAR_HISTORY"] = os.path.join(_history_dir, "history.jsonl")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel():
    """One warm kernel shared by the tests of a module: (km, kc)."""
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


@pytest.fixture(scope="module")
def kc(kernel):
    """The blocking client of the module's shared kernel."""
    return kernel[1]


@pytest.fixture
def fresh_kernel():
    """A kernel of the test's own, for tests that crash, restart or count."""
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)
