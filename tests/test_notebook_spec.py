"""Notebook hypotheses, pure logic: sniffing, metadata, case expansion,
failure rendering and the metrics side channel (no kernel, no pytester)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_grd.notebook import log_metric
from pytest_grd.notebook.execute import (
    CellFailure,
    CellRejected,
    _failing_line,
    _injected_index,
    _source_index,
    render_failure,
    strip_ansi,
)
from pytest_grd.notebook.metrics import METRICS_ENV, read_metrics
from pytest_grd.notebook.spec import (
    NotebookError,
    NotebookSpec,
    expand_cases,
    parse_grd_metadata,
    sniff,
)

HEADER = """# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   grd:
#     hypothesis: hyp_003
#     claim: small lr wins
#     parameters:
#       lr: [0.1, 0.01]
#     seeds: 2
# ---

# %% tags=["parameters"]
lr = 0.5
"""


def test_sniff_percent_py_header(tmp_path: Path) -> None:
    path = tmp_path / "nb.py"
    path.write_text(HEADER)
    spec = sniff(path)
    assert spec == NotebookSpec(
        hypothesis="hyp_003",
        claim="small lr wins",
        parameters={"lr": [0.1, 0.01]},
        seeds=2,
        line=7,
        format="py",
    )


def test_sniff_leaves_other_files_alone(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("# ---\nimport os\n")
    other_nb = tmp_path / "other.py"
    other_nb.write_text("# ---\n# jupyter:\n#   kernelspec:\n#     name: python3\n# ---\n")
    ipynb = tmp_path / "x.ipynb"
    ipynb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    broken_unrelated = tmp_path / "broken.ipynb"
    broken_unrelated.write_text("{not json")
    for path in (plain, other_nb, ipynb, broken_unrelated):
        assert sniff(path) is None, path


def test_sniff_ipynb_and_jupytext_pair(tmp_path: Path) -> None:
    nb = {
        "cells": [],
        "metadata": {"grd": {"hypothesis": "hyp_9"}, "jupytext": {"formats": "ipynb,py:percent"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "pair.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    spec = sniff(path)
    assert spec is not None and spec.hypothesis == "hyp_9" and spec.format == "ipynb"
    assert spec.line == 4  # the line of "grd" in the JSON text
    # With its .py twin present, the text file is the hypothesis.
    (tmp_path / "pair.py").write_text(HEADER)
    assert sniff(path) is None


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("# ---\n# jupyter:\n#   grd:\n#     hypothesis: [unclosed\n# ---\n", "malformed", 4),
        ("# ---\n# jupyter:\n#   grd:\n#     hypothesis: h\n", "not closed", 1),
        ("# ---\n# grd:\n#   hypothesis: h\n# ---\n", "under 'jupyter:'", 2),
        ("# ---\n# jupyter:\n#   grd:\n#     hypothesis: h\n#     sedes: 3\n# ---\n", "sedes", 3),
    ],
)
def test_sniff_py_errors_name_the_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    path = tmp_path / "nb.py"
    path.write_text(text)
    with pytest.raises(NotebookError, match=message) as info:
        sniff(path)
    assert info.value.line == line


def test_sniff_malformed_ipynb_json(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text('{\n "metadata": {"grd": {"hypothesis": "h"}},\n "cells": [,]\n}')
    with pytest.raises(NotebookError, match="malformed notebook JSON") as info:
        sniff(path)
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({}, "needs 'hypothesis"),
        ({"hypothesis": "h", "seeds": 0}, "seeds must be a positive integer"),
        ({"hypothesis": "h", "seeds": True}, "seeds must be a positive integer"),
        ({"hypothesis": "h", "timeout": -1}, "timeout must be a number"),
        ({"hypothesis": "h", "parameters": {"grd_seed": [1]}}, "reserved"),
        ({"hypothesis": "h", "parameters": {"class": [1]}}, "not a Python identifier"),
        ({"hypothesis": "h", "parameters": {"x": []}}, "has no values"),
        ({"hypothesis": "h", "parameters": {"x": [float("nan")]}}, "not plain data"),
        ({"hypothesis": "h", "parameters": [1, 2]}, "must map names"),
        ({"hypothesis": "h", "kernel": 3}, "kernel must be"),
        ("hyp", "must be a mapping"),
    ],
)
def test_metadata_validation(meta: object, message: str) -> None:
    with pytest.raises(NotebookError, match=message):
        parse_grd_metadata(meta, line=12)


def test_expand_cases_names_params_and_seeds() -> None:
    spec = parse_grd_metadata(
        {"hypothesis": "h", "parameters": {"lr": [0.1, 0.01], "opt": "adam"}, "seeds": 2}
    )
    cases = expand_cases(spec, seed_base=10)
    assert [c.id for c in cases] == [
        "lr=0.1-opt=adam-seed10",
        "lr=0.1-opt=adam-seed11",
        "lr=0.01-opt=adam-seed10",
        "lr=0.01-opt=adam-seed11",
    ]
    assert cases[2].params == {"lr": 0.01, "opt": "adam"} and cases[2].seed == 10
    # --grd-seeds wins over the metadata.
    assert len(expand_cases(spec, seeds_override=3)) == 6
    # No seeds, no parameters: one case with an empty id.
    only = expand_cases(parse_grd_metadata({"hypothesis": "h"}))
    assert [(c.id, c.params, c.seed) for c in only] == [("", {}, None)]


def test_unshowable_values_are_named_by_position() -> None:
    spec = parse_grd_metadata({"hypothesis": "h", "parameters": {"s": ['a"; x', "ok", [1, 2]]}})
    assert [c.id for c in expand_cases(spec)] == ["s=s0", "s=ok", "s=s2"]


def test_failure_mapping_and_rendering() -> None:
    # papermill's executed index counts its injected cell right after "parameters".
    nb = SimpleNamespace(
        cells=[{"metadata": {"tags": ["parameters"]}}, {"metadata": {}}, {"metadata": {}}]
    )
    injected = _injected_index(nb)
    assert injected == 1
    assert _source_index(3, injected) == 2 and _source_index(0, injected) == 0
    tb = [
        "\x1b[31m----\x1b[39m",
        "\x1b[36mCell\x1b[39m \x1b[32mIn[4]\x1b[39m\x1b[32m, line 3\x1b[39m\n  1 x = 1",
        "\x1b[31mAssertionError\x1b[39m: acc too low",
    ]
    assert _failing_line(tb, 4) == 3
    failure = CellFailure(
        index=2,
        source="x = 1\ny = 2\nassert x > y, 'acc too low'\nz = 3",
        ename="AssertionError",
        evalue="acc too low",
        traceback=[strip_ansi(t) for t in tb],
        execution_count=4,
        line=3,
    )
    exc = CellRejected(failure)
    assert str(exc) == "cell 2 `x = 1`: acc too low"
    text = render_failure("REJECTED", exc.reason, failure, None)
    assert "notebook cell 2 (In [4]), line 3:" in text
    assert "  -> 3 | assert x > y, 'acc too low'" in text
    assert "AssertionError: acc too low" in text
    assert "\x1b" not in text and "Papermill" not in text


def test_log_metric_side_channel_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv(METRICS_ENV, str(path))
    log_metric("acc", 0.5, step=1)
    log_metric("acc", 0.75)
    log_metric("loss", float("nan"))
    with path.open("a") as fh:
        fh.write('{"key": "half"\n')  # a line cut short by a dying kernel
    points, bad = read_metrics(path)
    assert [(p.key, p.value, p.step) for p in points[:2]] == [("acc", 0.5, 1), ("acc", 0.75, None)]
    assert points[2].key == "loss" and points[2].value != points[2].value  # NaN survives
    assert bad == 1
    with pytest.raises(ValueError):
        log_metric("acc", "not a number")  # type: ignore[arg-type]


def test_log_metric_outside_pytest_grd_prints_and_warns_once() -> None:
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from pytest_grd.notebook import log_metric\n"
        "log_metric('acc', 0.93); log_metric('acc', 0.94, step=2)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != METRICS_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.splitlines() == ["acc = 0.93", "acc = 0.94 (step 2)"]
    assert done.stderr.count("not running under pytest-grd") == 1


def test_imports_stay_cheap() -> None:
    code = (
        "import sys, pytest_grd.plugin, pytest_grd.notebook.plugin, pytest_grd.notebook\n"
        "heavy = [m for m in ('papermill', 'jupytext', 'nbformat', 'nbclient', 'yaml', "
        "'jupyter_client', 'mlflow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
