"""Where runs go: the tracking URI, the experiment name, the store's lock file.

Pure logic (no pytest, no mlflow).  Which URI and experiment a session uses is
resolved once, with every other setting, in :mod:`pytest_grd.settings`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

__all__ = [
    "TrackingSettings",
    "TrackingUnavailable",
    "check_reachable",
    "sqlite_path",
    "lock_path",
    "is_http",
    "redact_uri",
]


class TrackingUnavailable(RuntimeError):
    """The store cannot be used at session start (one line, names the URI)."""


@dataclass(frozen=True)
class TrackingSettings:
    """Resolved once per process: where runs go and under which experiment.

    ``source`` says where the URI came from (for error messages).
    """

    uri: str
    source: str
    experiment: str
    env_allowlist: tuple[str, ...] = ()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths against the
    current directory, as SQLAlchemy reads them); ``None`` for other stores
    and in-memory databases."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    if not raw or raw == ":memory:":
        return None
    return Path(os.path.abspath(raw))


def lock_path(uri: str) -> Path:
    """The file that serializes store preparation between processes: next to
    a SQLite database (so every process that can write the database can take
    it), else in the temp dir, keyed by the URI."""
    db = sqlite_path(uri)
    if db is not None:
        return db.with_name(db.name + ".grd-lock")
    digest = hashlib.sha1(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pytest-grd-{digest}.lock"


def is_http(uri: str) -> bool:
    """A tracking server (``http://`` / ``https://``) rather than a database."""
    return uri.startswith(("http://", "https://"))


def redact_uri(uri: str) -> str:
    """The URI without a password (``user:secret@host`` -> ``user:***@host``)
    for messages and tags."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    netloc, slash, path = rest.partition("/")
    userinfo, _, host = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{path}"


def health_request(uri: str) -> urllib.request.Request:
    """The server's ``/health`` request: credentials in the URI
    (``http://user:secret@host``, which MLflow's requests-based client sends
    as basic auth) become an ``Authorization`` header, as urllib does not read
    them from the URL itself."""
    parts = urllib.parse.urlsplit(uri.rstrip("/"))
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path + "/health", "", ""))
    request = urllib.request.Request(url)
    if parts.username is not None:
        user = unquote(parts.username)
        secret = unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    return request


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Raise :class:`TrackingUnavailable` when ``uri`` is a tracking server
    that does not answer (checked before mlflow is even imported)."""
    if not is_http(uri):
        return
    try:
        with urllib.request.urlopen(health_request(uri), timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # something answers; MLflow's own calls will say what is wrong
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(
            f"grd: MLflow tracking server {redact_uri(uri)} is unreachable ({reason}); "
            "start it, pass another --grd-tracking-uri, or use --grd-no-tracking"
        ) from None
