"""Keras callbacks that draw and export what a model learns."""
