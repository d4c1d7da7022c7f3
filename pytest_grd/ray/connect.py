"""Joining (or starting) the Ray cluster of ``--grd-ray``, with one-line errors.

Imports Ray inside :func:`connect` only: a missing extra, a malformed or
unreachable address are :class:`RayUnavailable` with a message a researcher
can act on, never a traceback.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cluster", "RayUnavailable", "connect", "worker_environment"]

#: Seconds to wait for the head's port before calling the address unreachable.
REACH_TIMEOUT_S = 5.0
#: Variables that describe this machine or this process, not the experiment:
#: never copied to workers (a node has its own PATH, GPUs, Ray and xdist state).
_HOST_ONLY = frozenset(
    {"PATH", "HOME", "PWD", "OLDPWD", "SHELL", "USER", "LOGNAME", "HOSTNAME", "TERM",
     "DISPLAY", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV", "_", "SHLVL", "TMPDIR"}
)  # fmt: skip
_HOST_PREFIXES = ("RAY_", "PYTEST_XDIST_", "PYTEST_CURRENT_TEST", "SSH_", "XDG_", "LD_", "GRD_GPU")


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster cannot be reached."""


@dataclass(frozen=True)
class Cluster:
    """The cluster this session runs on, as it was when it joined."""

    address: str
    nodes: tuple[Mapping[str, float], ...]
    totals: Mapping[str, float] = field(default_factory=dict)
    started_here: bool = False

    def describe(self) -> str:
        """``grd: ray cluster at ADDR: 2 node(s), 2 CPU, 0 GPU (head_node=1, ...)``."""
        cpus, gpus = self.totals.get("CPU", 0.0), self.totals.get("GPU", 0.0)
        custom = sorted(
            f"{k}={v:g}"
            for k, v in self.totals.items()
            if k not in ("CPU", "GPU", "memory", "object_store_memory")
            and not k.startswith("node:")
            and not k.startswith("accelerator_type:")
        )
        where = "a local cluster started for this session" if self.started_here else self.address
        extra = f" ({', '.join(custom)})" if custom else ""
        return (
            f"grd: ray cluster at {where}: {len(self.nodes)} node(s), "
            f"{cpus:g} CPU, {gpus:g} GPU{extra}"
        )


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The controller's variables that workers get (as xdist's local workers
    inherit them), less those that belong to this host."""
    return {
        k: v for k, v in environ.items() if k not in _HOST_ONLY and not k.startswith(_HOST_PREFIXES)
    }


def _check_reachable(address: str) -> None:
    """Fail fast on a malformed or dead ``host:port`` (Ray itself retries
    for a minute before it gives up)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailable(
            f"--grd-ray={address}: not a Ray address (HOST:PORT, ray://HOST:PORT or auto)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailable(f"--grd-ray={address}: cannot reach the Ray cluster ({exc})") from None


def connect(address: str, environ: Mapping[str, str] | None = None) -> Cluster:
    """Join the cluster at ``address`` (``auto``: ``RAY_ADDRESS``, else the
    one ``ray start`` left on this machine; ``""``: start a local one)."""
    env = os.environ if environ is None else environ
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "--grd-ray needs Ray, which is not installed: pip install 'pytest-grd[ray]'"
        ) from None
    target = address or "local"
    if address == "auto" and env.get("RAY_ADDRESS"):
        _check_reachable(env["RAY_ADDRESS"])
    elif address not in ("", "auto"):
        _check_reachable(address)
    options: dict[str, Any] = {
        "address": target,
        "log_to_driver": False,  # workers' own pytest output is not the session's
        "logging_level": logging.WARNING,
        "runtime_env": {"env_vars": worker_environment(env)},
    }
    if target == "local":
        options["include_dashboard"] = False
    try:
        ray.init(**options)
        nodes = tuple(dict(n["Resources"]) for n in ray.nodes() if n.get("Alive"))
        totals = dict(ray.cluster_resources())
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RayUnavailable(f"--grd-ray={address or '(local)'}: {first}") from None
    shown = address if address not in ("", "auto") else _gcs_address(ray)
    return Cluster(address=shown, nodes=nodes, totals=totals, started_here=target == "local")


def _gcs_address(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # the address is only for the header line
        return "auto"


def disconnect() -> None:
    """Leave the cluster (and stop the one started for this session)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
