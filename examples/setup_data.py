"""Materialize the examples' DVC-tracked dataset from scikit-learn, offline.

``examples/`` is a DVC project (``dvc init --subdir``) inside the pytest-grd
git repository.  Its dataset, ``data/breast_cancer.csv``, is tracked by the
committed ``data/breast_cancer.csv.dvc`` and has two versions, two git
commits of that file:

* ``v1``: the first 400 patients (the first collection batch);
* ``v2``: all 569 patients (the second batch added).

A project would keep the bytes in a DVC remote and ``dvc pull`` them.  The
examples must run in a fresh clone with no network, so instead this module
rebuilds both versions from the copy of the Wisconsin Diagnostic Breast
Cancer data that ships with scikit-learn: the bytes are deterministic, so their
md5 is the one the committed ``.dvc`` files record (checked; a mismatch is an
error, never silently other data).  It puts both versions in the DVC cache and
the working tree's version in ``data/``.  ``examples/conftest.py`` calls
:func:`ensure` once per session, on the xdist controller before any worker
starts; ``python examples/setup_data.py`` does the same by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
TARGET = "data/breast_cancer.csv"
#: Rows of each version: v1 is the first collection batch, v2 all of it.
VERSIONS = {"v1": 400, "v2": 569}


class DataSetupError(RuntimeError):
    """The dataset cannot be rebuilt as the committed ``.dvc`` file records it."""


def column_name(feature: str) -> str:
    """scikit-learn's ``"mean radius"`` as a column name: ``mean_radius``."""
    return re.sub(r"\W+", "_", feature.strip()).lower()


def csv_bytes(version: str) -> bytes:
    """The CSV of one version: 30 features, then ``benign`` (1) / malignant (0)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=column_name).rename(columns={"target": "benign"})
    rows = frame.iloc[: VERSIONS[version]]
    return rows.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _recorded_md5(dvc_file: Path) -> str:
    match = re.search(r"md5:\s*([0-9a-f]{32})", dvc_file.read_text(encoding="utf-8"))
    if match is None:
        raise DataSetupError(f"{dvc_file}: no md5 recorded")
    return match.group(1)


def _cache_path(root: Path, md5: str) -> Path:
    # DVC 3's local cache layout (``dvc cache dir``, default .dvc/cache).
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _write_readonly(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)


def ensure(root: Path = EXAMPLES) -> dict[str, str]:
    """Put both versions in the DVC cache and the working tree's version in
    ``data/``; returns ``{version: md5}``.  Cheap when already done."""
    dvc_file = root / (TARGET + ".dvc")
    if not dvc_file.is_file():
        raise DataSetupError(f"{dvc_file} is missing: examples/ is not a complete checkout")
    wanted = _recorded_md5(dvc_file)
    workspace = root / TARGET
    digests: dict[str, str] = {}
    for version in VERSIONS:
        data = csv_bytes(version)
        md5 = hashlib.md5(data).hexdigest()
        digests[version] = md5
        blob = _cache_path(root, md5)
        if not blob.is_file():
            _write_readonly(blob, data)
        if md5 == wanted and not (
            workspace.is_file() and hashlib.md5(workspace.read_bytes()).hexdigest() == md5
        ):
            workspace.parent.mkdir(parents=True, exist_ok=True)
            workspace.write_bytes(data)
    if wanted not in digests.values():
        raise DataSetupError(
            f"{dvc_file} records md5 {wanted}, but the versions rebuilt from scikit-learn "
            f"have {', '.join(f'{v}={m}' for v, m in digests.items())}"
        )
    return digests


if __name__ == "__main__":
    try:
        for version, md5 in ensure().items():
            print(f"{TARGET} {version}: md5 {md5} in the DVC cache")
    except DataSetupError as exc:
        print(f"setup_data: error: {exc}", file=sys.stderr)
        sys.exit(1)
