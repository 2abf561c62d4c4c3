"""Shared test settings."""

import os

# Figures are drawn off-screen in tests, whatever display the machine has.
os.environ["MPLBACKEND"] = "Agg"


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    # Tests that check a callback closes its figures must not see ones an earlier test left.
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
