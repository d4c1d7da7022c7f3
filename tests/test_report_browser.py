"""The HTML report in a real headless Chromium: what a person sees, and that
user text cannot run as script."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

# In-process pytester runs restore sys.modules afterwards, and numpy (which
# the report's plots import) cannot be loaded twice in one process: load it
# before any inner session does.
import matplotlib.figure  # noqa: F401
import pytest
from matplotlib.image import imread

PAYLOAD = (
    "<script>document.title='pwned';"
    "document.body.insertAdjacentHTML('beforeend','<p id=injected>ran</p>')</script>"
)

EXPERIMENTS = f"""
import pytest

@pytest.mark.hypothesis("hyp_xss", claim={PAYLOAD!r}, seeds=2)
@pytest.mark.parametrize("tag", ["<img src=x onerror=alert(1)>", "plain"])
def test_xss(tag, grd_seed, grd_run):
    grd_run.log_metric("acc", 0.9 + grd_seed / 100)
    assert tag == "plain", "reason <i>with markup</i>"
"""


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions under test must not append to the CI job's own summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: the CI setup (.ci/run) must install it")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _browse(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


class _Text(HTMLParser):
    """Visible text, and the elements in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "title", "script", "head"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "script", "head"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def test_report_in_a_real_browser(pytester: pytest.Pytester, tmp_path: Path) -> None:
    _chromium()
    pytester.makepyfile(test_exp=EXPERIMENTS)
    pytester.runpytest("--grd-no-tracking", "-p", "no:cacheprovider", "--grd-report=out")
    page = (pytester.path / "out" / "report.html").as_uri()

    dom = _browse(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page).stdout
    parsed = _Text()
    parsed.feed(dom)
    text = " ".join(" ".join(parsed.text).split())
    # The injected script did not run: the title is ours, nothing was added.
    assert "<title>pytest-grd report</title>" in dom
    assert 'id="injected"' not in dom and ">ran</p>" not in dom
    assert [t for t, _ in parsed.tags if t in ("script", "img") and _.get("src") == "x"] == []
    assert not any(tag == "script" for tag, _ in parsed.tags)
    # ... and a person reads the claim, parameter, metric and reason as text.
    assert PAYLOAD in text
    assert "<img src=x onerror=alert(1)>" in text
    assert "reason <i>with markup</i>" in text
    assert "1 hypothesis: 0 VALIDATED 1 REJECTED 0 INCONCLUSIVE" in text  # the verdict counts
    # The summary row on top: id, verdict, claim, then the metric's mean ± sd (n).
    assert f"hyp_xss REJECTED {PAYLOAD} acc 0.9050 ± 0.0058 (n = 4)" in text
    assert text.index("hyp_xss REJECTED") < text.index("date ")  # before the session table

    # Phone and laptop widths: the page renders (a screenshot with content).
    for width in (390, 1280):
        shot = tmp_path / f"shot-{width}.png"
        _browse(tmp_path, f"--window-size={width},900", f"--screenshot={shot}", page)
        pixels = imread(shot)
        assert pixels.shape[1] == width
        dark = (pixels[..., :3].mean(axis=2) < 0.5).mean()
        assert dark > 0.01, f"the page at {width}px looks blank"
