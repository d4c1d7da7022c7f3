"""GPU detection and per-worker assignment."""

from __future__ import annotations

import os

__all__ = ["worker_device"]


def worker_device() -> str:
    """``cuda:0`` when this process was given a GPU, else ``cpu``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible and visible not in ("-1", "none") and os.environ.get("GRD_GPU"):
        return "cuda:0"
    return "cpu"
