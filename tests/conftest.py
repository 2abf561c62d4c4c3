"""Shared test settings."""

import os

# Figures are drawn off-screen in tests, whatever display the machine has.
os.environ["MPLBACKEND"] = "Agg"
