"""Notebooks as hypotheses, end to end: real pytest sessions (pytester) that
execute real notebooks, jupytext ``.py`` and ``.ipynb``, in a real Jupyter kernel.

Each kernel start costs about a second, so the notebooks that run are few and
each run checks several things at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jupytext  # noqa: F401  (imported before in-process runs: pytester keeps them loaded)
import nbformat  # noqa: F401
import papermill  # noqa: F401
import pytest

from tests.conftest import RecordSink


def percent_notebook(grd: str, *cells: str) -> str:
    """A jupytext percent-format notebook; ``grd`` is the YAML body under ``grd:``."""
    meta = "\n".join(f"#     {line}" for line in grd.strip().splitlines())
    header = (
        "# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n"
        "#       extension: .py\n#       format_name: percent\n"
        "#   kernelspec:\n#     display_name: Python 3\n#     language: python\n"
        f"#     name: python3\n#   grd:\n{meta}\n# ---\n"
    )
    return header + "".join(f"\n# %%{cell}\n" for cell in cells)


def ipynb_notebook(grd: dict[str, Any], *cells: str | tuple[str, list[str]]) -> str:
    """An nbformat-4 notebook; a cell given as (source, tags) carries tags."""
    out = []
    for index, cell in enumerate(cells):
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        out.append(
            {
                "id": f"cell-{index}",
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": tags},
                "outputs": [],
                "source": source,
            }
        )
    nb = {
        "cells": out,
        "metadata": {
            "grd": grd,
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1)


# A jupytext notebook named like a test module: it must never be imported.
TRAIN_PY = percent_notebook(
    """
hypothesis: hyp_nb_py
claim: a large enough learning rate reaches the target
parameters:
  lr: [0.5, 0.01]
""",
    " [markdown]\n# Train a toy model.",
    ' tags=["parameters"]\nlr = 0.1',
    "\nimport pathlib\nfrom pytest_grd.notebook import log_metric\n"
    'data = pathlib.Path("data.txt").read_text()  # the notebook\'s folder is the cwd\n'
    "acc = min(1.0, lr * 2)\n"
    'log_metric("acc", acc / 2, step=0)\nlog_metric("acc", acc, step=1)\n'
    'print(f"seed={grd_seed} run={grd_run_id!r} data={data}")',
    '\nassert acc > 0.5, f"accuracy {acc} below 0.5"',
)

ERROR_IPYNB = ipynb_notebook(
    {"hypothesis": "hyp_nb_ipynb", "claim": "errors are inconclusive", "seeds": 1},
    ("grd_seed = -1", ["parameters"]),
    'from pytest_grd.notebook import log_metric\nlog_metric("seed_seen", grd_seed)',
    "def f():\n    return 1 / 0\n\nvalue = f()\nprint('never')",
)


def _failure_reports(out: str) -> str:
    """The FAILURES section without the captured output blocks (the kernel's
    own stderr is pytest's to show, not part of the report we render)."""
    section = out.split("= FAILURES =", 1)[1]
    for end in ("= warnings summary =", "= grd verdicts ="):
        section = section.split(end, 1)[0]
    kept, skipping = [], False
    for line in section.splitlines():
        if line.startswith("-") and " Captured " in line:
            skipping = True
        elif line.startswith("_"):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def _by_name(sink: RecordSink) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in sink.records()}


def test_collection_naming_and_selection(pytester: pytest.Pytester) -> None:
    nb = percent_notebook(
        "hypothesis: hyp_collect\nparameters:\n  lr: [0.1, 0.01]\n  opt: adam\nseeds: 2",
        ' tags=["parameters"]\nlr = 1.0\nopt = "sgd"',
        '\nraise RuntimeError("a notebook must never be imported as a test module")',
    )
    pytester.makefile(".py", test_nb_collect=nb)
    pytester.makefile(".ipynb", other=ipynb_notebook({"hypothesis": "hyp_other"}, "x = 1"))
    # Left alone: a plain module, a jupytext notebook without grd metadata, a
    # notebook without grd metadata.
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makefile(".py", plain_nb="# ---\n# jupyter:\n#   kernelspec:\n#     name: x\n# ---\n")
    pytester.makefile(".ipynb", plain=json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    result = pytester.runpytest("--grd-no-tracking", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "other.ipynb::hyp_other",
            "test_nb_collect.py::hyp_collect[lr=0.1-opt=adam-seed0]",
            "test_nb_collect.py::hyp_collect[lr=0.1-opt=adam-seed1]",
            "test_nb_collect.py::hyp_collect[lr=0.01-opt=adam-seed0]",
            "test_nb_collect.py::hyp_collect[lr=0.01-opt=adam-seed1]",
            "test_plain.py::test_plain",
            "6 tests collected*",
        ]
    )
    assert result.ret == 0
    assert "never be imported" not in result.stdout.str()
    # -k selects by hypothesis id; --grd-seeds and ini grd_seed_base reshape the seeds.
    selected = pytester.runpytest("--grd-no-tracking", "--collect-only", "-q", "-k", "hyp_other")
    selected.stdout.fnmatch_lines(["other.ipynb::hyp_other", "1/6 tests collected (5 deselected)*"])
    pytester.makeini("[pytest]\ngrd_seed_base = 7\n")
    seeds = pytester.runpytest(
        "--grd-no-tracking", "--collect-only", "-q", "--grd-seeds", "3", "test_nb_collect.py"
    )
    seeds.stdout.fnmatch_lines(
        [
            "test_nb_collect.py::hyp_collect[lr=0.1-opt=adam-seed7]",
            "test_nb_collect.py::hyp_collect[lr=0.1-opt=adam-seed9]",
            "6 tests collected*",
        ]
    )


def test_verdicts_metrics_and_executed_notebook(
    pytester: pytest.Pytester, sink: RecordSink
) -> None:
    sub = pytester.mkdir("sub")
    (sub / "test_train.py").write_text(TRAIN_PY)
    (sub / "data.txt").write_text("local")
    (sub / "errors.ipynb").write_text(ERROR_IPYNB)
    before = {p.name: p.read_bytes() for p in sub.iterdir()}
    result = pytester.runpytest("--grd-no-tracking", "-v", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        [
            "sub/errors.ipynb::hyp_nb_ipynb[[]seed0[]] INCONCLUSIVE*",
            "sub/test_train.py::hyp_nb_py[[]lr=0.5[]] VALIDATED*",
            "sub/test_train.py::hyp_nb_py[[]lr=0.01[]] REJECTED*",
            # hyp_nb_py has two cases: its roll-up is a result of its own.
            "sub/test_train.py::hyp_nb_py REJECTED*",
        ]
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ hyp_nb_py _*",
            "REJECTED: hyp_nb_py - a large enough learning rate reaches the target",
            "reason: 1 of 2 case(s) rejected; first: hyp_nb_py[[]lr=0.01[]]: cell 3 *",
        ]
    )
    out = result.stdout.str()
    # The failure reports name the cell, show its source around the failing
    # line and the kernel's traceback, not papermill's wrapper.
    result.stdout.fnmatch_lines(
        [
            "*_ hyp_nb_py[[]lr=0.01[]] _*",
            'REJECTED: cell 3 `assert acc > 0.5, f"accuracy {acc} below 0.5"`: '
            "accuracy 0.02 below 0.5",
            "notebook cell 3 (In [[]*[]]), line 1:",
            "  -> 1 | assert acc > 0.5, *",
            "kernel traceback:",
            "*AssertionError: accuracy 0.02 below 0.5",
            "executed notebook: *hyp_nb_py[[]lr=0.01[]].ipynb",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "INCONCLUSIVE: error in cell 2 `def f():`: ZeroDivisionError: division by zero",
            "notebook cell 2 (In [[]*[]]), line 4:",
            "     1 | def f():",
            "  -> 4 | value = f()",
            "     5 | print('never')",
            "*ZeroDivisionError: division by zero",
        ]
    )
    failures = _failure_reports(out)
    assert "PapermillExecutionError" not in failures and "site-packages" not in failures

    records = _by_name(sink)
    ok, rejected = records["hyp_nb_py[lr=0.5]"], records["hyp_nb_py[lr=0.01]"]
    error = records["hyp_nb_ipynb[seed=0]"]
    assert (ok["verdict"], rejected["verdict"], error["verdict"]) == (
        "VALIDATED",
        "REJECTED",
        "INCONCLUSIVE",
    )
    assert ok["kind"] == "notebook" and ok["params"] == {"lr": 0.5} and ok["seed"] is None
    assert ok["claim"] == "a large enough learning rate reaches the target"
    assert rejected["reason"].startswith("cell 3 `assert acc > 0.5")
    assert error["reason"] == "error in cell 2 `def f():`: ZeroDivisionError: division by zero"
    # Metrics logged in the kernel reach the record, also from a failing notebook.
    assert ok["metrics"] == {"acc": 1.0} and rejected["metrics"] == {"acc": 0.02}
    assert error["seed"] == 0 and error["metrics"] == {"seed_seen": 0.0}
    # The executed notebook is written with outputs, registered, and the
    # source notebooks are untouched.
    executed = Path(ok["extra"]["executed_notebook"])
    assert executed.is_file() and executed.parent == pytester.path / ".grd" / "notebooks"
    assert any(executed.name in a for a in ok["artifacts"])
    cells = json.loads(executed.read_text())["cells"]
    printed = "".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"]
    )
    assert "seed=0 run=None data=local" in printed
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)
    assert {p.name: p.read_bytes() for p in sub.iterdir()} == before


NASTY = [
    '"; open("PWNED", "w").write("1"); x = "',
    "'''; open('PWNED', 'w'); '''",
    "line1\nopen('PWNED', 'w')\n",
    "ends with a backslash \\",
    "\\\"; open('PWNED', 'w'); #",
    "{grd_seed} %s $HOME \t é ✓",
]


def test_parameter_values_are_injected_as_data(pytester: pytest.Pytester, sink: RecordSink) -> None:
    expected = {"s": NASTY[0], "many": NASTY, "mapping": {NASTY[1]: NASTY[2]}}
    (pytester.path / "expected.json").write_text(json.dumps(expected))
    nb = ipynb_notebook(
        {
            "hypothesis": "hyp_inject",
            "parameters": {k: [v] for k, v in expected.items()},
        },
        ('s = ""\nmany = []\nmapping = {}', ["parameters"]),
        "import json, pathlib\n"
        'expected = json.loads(pathlib.Path("expected.json").read_text())\n'
        'assert not pathlib.Path("PWNED").exists(), "a parameter value ran as code"\n'
        'assert {"s": s, "many": many, "mapping": mapping} == expected, "values changed"',
    )
    pytester.makefile(".ipynb", inject=nb)
    result = pytester.runpytest("--grd-no-tracking")
    result.assert_outcomes(passed=1)
    [record] = sink.records()
    assert record["verdict"] == "VALIDATED"
    assert record["nodeid"] == "inject.ipynb::hyp_inject[s=s0-many=many0-mapping=mapping0]"
    assert not (pytester.path / "PWNED").exists()


def test_runtime_bad_input_is_inconclusive_in_one_line(
    pytester: pytest.Pytester, sink: RecordSink
) -> None:
    pytester.makefile(
        ".py",
        noparams=percent_notebook("hypothesis: hyp_noparams\nparameters:\n  lr: [0.1]", "\nx = 1"),
        slow=percent_notebook("hypothesis: hyp_slow\ntimeout: 1", "\nimport time\ntime.sleep(60)"),
        dies=percent_notebook("hypothesis: hyp_dies", "\nimport os\nos._exit(3)"),
    )
    pytester.makefile(
        ".ipynb", nokernel=ipynb_notebook({"hypothesis": "hyp_nokernel", "kernel": "nope"}, "x=1")
    )
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly")
    result.assert_outcomes(failed=4)
    reasons = {r["hypothesis"]: r["reason"] for r in sink.records()}
    assert all(r["verdict"] == "INCONCLUSIVE" for r in sink.records())
    assert reasons["hyp_noparams"] == (
        "noparams.py declares parameters (lr) but no cell is tagged 'parameters' "
        "to inject them after"
    )
    assert reasons["hyp_nokernel"].startswith("Jupyter kernel 'nope' not found (available: python3")
    assert reasons["hyp_slow"].startswith("cell 0 `import time` timed out after 1 s")
    assert reasons["hyp_dies"] == "kernel died while running cell 0 `import os`"
    # One line each, no traceback from inside the plugin or papermill.
    failures = _failure_reports(result.stdout.str())
    for section in failures.split("\n_____")[1:]:
        assert section.split("\n")[1].startswith("INCONCLUSIVE: "), section
        assert len(section.strip().splitlines()) <= 12, section
    for word in ("papermill/", "nbclient/", "pytest_grd/", "jupyter_client/", "Traceback"):
        assert word not in failures


def test_collection_errors_name_the_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".ipynb", bad_json='{\n "metadata": {"grd": {"hypothesis": "h1"}},\n "cells": [,]\n}'
    )
    pytester.makefile(
        ".py",
        bad_header="# ---\n# jupyter:\n#   grd:\n#     hypothesis: [oops\n# ---\n",
        bad_key=percent_notebook("hypothesis: h2\nseed: 3", "\nx = 1"),
        bad_value=percent_notebook("hypothesis: h3\nparameters:\n  day: [2024-01-01]", "\nx=1"),
        bad_id=percent_notebook("hypothesis: 3rd", "\nx = 1"),
    )
    pytester.makepyfile(
        test_dup="import pytest\n\n@pytest.mark.hypothesis('hyp_dup')\ndef test_f():\n    pass\n"
    )
    pytester.makefile(".py", zz_dup=percent_notebook("hypothesis: hyp_dup", "\nx = 1"))
    result = pytester.runpytest("--grd-no-tracking", "--collect-only", "-q")
    result.stdout.fnmatch_lines_random(
        [
            "*bad_json.ipynb:3: malformed notebook JSON: Expecting value",
            "*bad_header.py:4: malformed jupytext header: *",
            "*bad_key.py:11: grd metadata has unknown key(s) seed; known: hypothesis, *",
            "*bad_value.py:11: grd parameter 'day' has a value that is not plain data: *",
            "*bad_id.py:11: hypothesis id '3rd' is not valid*",
            "*zz_dup.py:11: duplicate hypothesis id 'hyp_dup': declared at *test_dup.py:* "
            "and at *zz_dup.py:11",
        ]
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the run
    assert "Traceback" not in result.stdout.str()


def test_bad_timeout_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngrd_notebook_timeout = soon\n")
    result = pytester.runpytest("--grd-no-tracking")
    result.stderr.fnmatch_lines(
        ["ERROR: ini grd_notebook_timeout must be a number of seconds > 0*"]
    )
    result = pytester.runpytest("--grd-no-tracking", "--grd-notebook-timeout", "0")
    result.stderr.fnmatch_lines(["ERROR: --grd-notebook-timeout must be a number of seconds > 0*"])


@pytest.mark.slow
def test_xdist_two_workers(pytester: pytest.Pytester, sink: RecordSink) -> None:
    sub = pytester.mkdir("sub")
    (sub / "test_train.py").write_text(TRAIN_PY.replace("[0.5, 0.01]", "[0.5, 0.9]"))
    (sub / "data.txt").write_text("local")
    (sub / "errors.ipynb").write_text(ERROR_IPYNB)
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-n", "2", "-rA")
    # Three cases and hyp_nb_py's roll-up (two cases); hyp_nb_ipynb has one case.
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["VALIDATED sub/test_train.py::hyp_nb_py"])
    assert "sub/errors.ipynb::hyp_nb_ipynb " not in result.stdout.str()
    records = _by_name(sink)
    assert {n: r["verdict"] for n, r in records.items()} == {
        "hyp_nb_py[lr=0.5]": "VALIDATED",
        "hyp_nb_py[lr=0.9]": "VALIDATED",
        "hyp_nb_ipynb[seed=0]": "INCONCLUSIVE",
    }
    assert {r["worker"] for r in records.values()} <= {"gw0", "gw1"}
    assert records["hyp_nb_py[lr=0.9]"]["metrics"] == {"acc": 1.0}
    assert records["hyp_nb_ipynb[seed=0]"]["reason"].startswith("error in cell 2 `def f():`")


def test_metrics_and_executed_notebook_reach_mlflow(
    pytester: pytest.Pytester, sink: RecordSink
) -> None:
    from mlflow.tracking import MlflowClient  # before the run, like the imports above

    (pytester.path / "test_train.py").write_text(TRAIN_PY.replace("[0.5, 0.01]", "[0.5]"))
    (pytester.path / "data.txt").write_text("local")
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    result = pytester.runpytest("--grd-tracking-uri", uri)
    result.assert_outcomes(passed=1)
    [record] = sink.records()
    assert record["verdict"] == "VALIDATED" and record["run_id"]
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(record["run_id"])
    assert run.data.metrics["acc"] == 1.0
    history = client.get_metric_history(record["run_id"], "acc")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.5), (1, 1.0)]
    artifacts = [a.path for a in client.list_artifacts(record["run_id"])]
    assert "hyp_nb_py[lr=0.5].ipynb" in artifacts
    # The notebook saw its own run id.
    executed = Path(record["extra"]["executed_notebook"]).read_text()
    assert f"run='{record['run_id']}'" in executed
