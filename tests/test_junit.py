"""JUnit XML: each case carries its verdict, reason, hypothesis and run id."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

EXPERIMENTS = """
import pytest

@pytest.mark.hypothesis("hyp_ok", claim="works")
@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_ok(lr):
    pass

@pytest.mark.hypothesis("hyp_bad", claim="two is three")
def test_bad():
    assert 2 == 3, "two is not three"

@pytest.mark.hypothesis("hyp_setup", claim="broken fixture")
def test_setup(missing_fixture):
    pass

def test_plain():
    pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_junit_properties(pytester: pytest.Pytester, xdist: bool) -> None:
    pytester.makepyfile(test_exp=EXPERIMENTS)
    args = ["--grd-no-tracking", "-p", "no:cacheprovider", "--junitxml=junit.xml"]
    result = pytester.runpytest_subprocess(*args, *(["-n", "2"] if xdist else []))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    root = ET.parse(pytester.path / "junit.xml").getroot()
    props: dict[str, dict[str, list[str]]] = {}
    for case in root.iter("testcase"):
        found: dict[str, list[str]] = {}
        for prop in case.iter("property"):
            found.setdefault(prop.attrib["name"], []).append(prop.attrib["value"])
        props[case.attrib["name"]] = found
    assert set(props) == {
        "test_ok[0.1]",
        "test_ok[0.01]",
        "hyp_ok",  # the roll-up of hyp_ok's two cases: a testcase of its own
        "test_bad",
        "test_setup",
        "test_plain",
    }
    assert props["hyp_ok"]["grd.verdict"] == ["VALIDATED"]
    assert props["hyp_ok"]["grd.cases"] == ["2"]
    assert props["test_ok[0.1]"] == {
        "grd.hypothesis": ["hyp_ok"],
        "grd.verdict": ["VALIDATED"],
        "grd.reason": [""],
        "grd.run_id": [""],
    }
    assert props["test_bad"]["grd.verdict"] == ["REJECTED"]
    assert props["test_bad"]["grd.reason"] == ["two is not three"]
    assert props["test_setup"]["grd.verdict"] == ["INCONCLUSIVE"]
    assert props["test_setup"]["grd.reason"][0].startswith("setup error: ")
    assert props["test_plain"] == {}
