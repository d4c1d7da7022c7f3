"""Notebooks as hypotheses."""
