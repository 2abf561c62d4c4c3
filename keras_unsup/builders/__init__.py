"""Functional-API builders that return keras.Model objects (no training logic)."""
