"""Sweeps: seeds, GPUs and xdist workers."""
