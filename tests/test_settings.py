"""Settings resolved once: order of sources, one-line errors naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_grd.settings import (
    IniSource,
    SettingError,
    resolve_correction,
    resolve_experiment,
    resolve_tracking_uri,
    resolve_writer_idle,
)


def test_tracking_uri_order_option_ini_environment_default(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "http://env:5000"}
    assert resolve_tracking_uri("http://opt", "http://ini", env, tmp_path) == (
        "http://opt",
        "--grd-tracking-uri",
    )
    assert resolve_tracking_uri(None, "http://ini", env, tmp_path)[1] == "ini grd_tracking_uri"
    assert resolve_tracking_uri(None, "", env, tmp_path)[1] == "MLFLOW_TRACKING_URI"
    assert resolve_tracking_uri(None, "", {}, tmp_path) == (
        f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}",
        "default",
    )


def test_relative_sqlite_in_the_ini_is_the_projects_file(tmp_path: Path) -> None:
    uri, _ = resolve_tracking_uri(None, "sqlite:///store/runs.db", {}, tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'store' / 'runs.db').resolve().as_posix()}"


def test_correction_is_checked_once_with_its_source() -> None:
    assert resolve_correction("") == "holm"
    assert resolve_correction(" BH ") == "bh"
    with pytest.raises(SettingError, match=r"ini grd_correction must be one of holm, bh, none"):
        resolve_correction("bonferoni")


def test_writer_idle_order_environment_ini_default() -> None:
    assert resolve_writer_idle(None, "", nested=False) == 300.0
    assert resolve_writer_idle(None, "", nested=True) == 0.0  # pytester, a tool's tests
    assert resolve_writer_idle(None, "30", nested=True) == 30.0  # said, so kept
    assert resolve_writer_idle("5", "30", nested=False) == 5.0
    assert resolve_writer_idle("0", "", nested=False) == 0.0
    with pytest.raises(SettingError, match=r"ini grd_writer_idle must be .* >= 0, got 'soon'"):
        resolve_writer_idle(None, "soon", nested=False)
    with pytest.raises(SettingError, match=r"GRD_WRITER_IDLE must be .* >= 0, got '-1'"):
        resolve_writer_idle("-1", "", nested=False)


def test_cli_reads_the_same_resolvers(tmp_path: Path) -> None:
    from pytest_grd.cli.project import Project

    project = Project(root=tmp_path, ini={"grd_tracking_uri": "sqlite:///x.db"})
    assert project.tracking_uri() == resolve_tracking_uri(None, "sqlite:///x.db", {}, tmp_path)[0]
    assert project.experiment == resolve_experiment("", tmp_path)
    assert IniSource({"grd_scale": "smoke"}).ini("grd_scale") == "smoke"
    assert IniSource({}).option("grd_scale") is None


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--grd-seeds", "0"], "", "ERROR: --grd-seeds must be 1 or more, got 0"),
        ([], "grd_seed_base = ten", "ERROR: ini grd_seed_base must be an integer, got 'ten'"),
        (
            [],
            "grd_correction = bonferoni",
            "ERROR: ini grd_correction must be one of holm, bh, none, got 'bonferoni'",
        ),
        (
            ["--grd-scale", "smok"],
            "grd_scales = smoke full",
            "ERROR: --grd-scale: unknown scale 'smok'; this project declares smoke, full "
            "(ini grd_scales)",
        ),
        (
            [],
            "grd_scales = smoke full\ngrd_scale = huge",
            "ERROR: ini grd_scale: unknown scale 'huge'*",
        ),
        (
            ["--grd-notebook-timeout", "-1"],
            "",
            "ERROR: --grd-notebook-timeout must be a number of seconds > 0, got -1.0",
        ),
        (
            ["--grd-workers-per-gpu", "0"],
            "",
            "ERROR: --grd-workers-per-gpu must be 1 or more, got 0",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_source(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makeini("[pytest]\n" + ini + "\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_declared_scale_is_accepted_and_exposed(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngrd_scales = smoke full\n")
    pytester.makepyfile("def test_scale(grd_scale):\n    assert grd_scale == 'smoke'\n")
    result = pytester.runpytest("--grd-scale", "smoke", "--grd-no-tracking")
    result.assert_outcomes(passed=1)


def test_a_conftest_answers_the_case_verdict_first(
    pytester: pytest.Pytester,
) -> None:
    # pytest_grd_case_verdict is firstresult: a conftest overrides the default.
    pytester.makeconftest(
        """
from pytest_grd.verdict import CaseVerdict, Verdict

def pytest_grd_case_verdict(item, case, outcome):
    if outcome.exc_type == "TimeoutError":
        return CaseVerdict(Verdict.INCONCLUSIVE, "timed out: rerun on a bigger GPU", True)
"""
    )
    pytester.makepyfile(
        """
import pytest

@pytest.mark.hypothesis("hyp_slow", claim="fast enough")
def test_slow():
    raise TimeoutError("took too long")

@pytest.mark.hypothesis("hyp_wrong", claim="two is three")
def test_wrong():
    assert 2 == 3
"""
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(
        [
            "hyp_slow*INCONCLUSIVE*",
            "*reason: timed out: rerun on a bigger GPU",
            "hyp_wrong*REJECTED*",
        ]
    )
