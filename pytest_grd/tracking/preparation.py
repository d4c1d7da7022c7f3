"""Preparing a store: quiet schema creation, and a read-only look at whether
a SQLite store already exists (the lock is :func:`.registry.locked`).

Standard library only (no MLflow import).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

__all__ = ["initialized", "quiet_store_setup"]


@contextlib.contextmanager
def quiet_store_setup() -> Iterator[None]:
    """MLflow and alembic log every table they create or migrate at INFO on
    a new store; that is the tool's business, not the researcher's."""
    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def initialized(db: Path) -> bool:
    """Whether a SQLite file already holds an MLflow schema (read-only peek
    with the standard library: no engine, no migration)."""
    if not db.is_file() or db.stat().st_size == 0:
        return False
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            names = {
                row[0] for row in conn.execute("select name from sqlite_master where type='table'")
            }
    except sqlite3.Error:
        return False
    return {"alembic_version", "experiments", "runs"} <= names
