"""Fixtures: real rustpar kernels started through jupyter_client (see helpers.py)."""

from __future__ import annotations

import pytest

from helpers import start_kernel, stop_kernel


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
