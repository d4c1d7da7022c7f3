"""Assertions on samples, inside a test::

    import pytest_grd as grd

    grd.assert_greater(new_scores, baseline_scores, min_effect=0.01)
    grd.assert_less(latencies_ms, 120.0)            # one sample vs a threshold
    result = grd.compare(new_scores, baseline_scores)  # decide without raising

A VALIDATED decision returns the :class:`StatsResult` and writes its
statistics into the running case's record; REJECTED raises
:class:`pytest_grd.Rejected` (an ``AssertionError``) and INCONCLUSIVE raises
:class:`pytest_grd.Inconclusive`, both carrying ``.stats``.  numpy and scipy
load on the first call, not on import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..case import current_case
from ..outcomes import Inconclusive, Rejected
from ..verdict import Verdict

if TYPE_CHECKING:
    from .result import StatsResult

__all__ = ["StatsResult", "assert_greater", "assert_less", "compare"]

Samples = Sequence[float] | Any


def compare(
    new: Samples,
    baseline: Samples | float,
    *,
    alternative: str = "greater",
    min_effect: float = 0.0,
    alpha: float = 0.05,
    test: str = "welch",
    metric: str | None = None,
) -> StatsResult:
    """Decide "mean(new) is greater (``alternative="less"``: less) than
    ``baseline`` by more than ``min_effect``" at ``alpha`` and return the
    :class:`StatsResult` without raising.

    ``baseline`` is a sample (per-seed or per-fold scores of the baseline) or
    a number (a fixed threshold: one-sample test).  ``test`` is ``welch``
    (default), ``mannwhitney``, ``permutation`` or ``bootstrap_bca``.
    """
    from .engine import analyse

    return analyse(
        new,
        baseline,
        alternative=alternative,
        min_effect=min_effect,
        alpha=alpha,
        test=test,
        metric=metric,
    )


def _enforce(result: StatsResult) -> StatsResult:
    __tracebackhide__ = True
    stats = result.to_dict()
    if result.verdict == Verdict.REJECTED.value:
        raise Rejected(result.reason, stats=stats)
    if result.verdict == Verdict.INCONCLUSIVE.value:
        raise Inconclusive(result.reason, stats=stats)
    case = current_case()
    if case is not None:
        case.record.stats = stats
    return result


def assert_greater(
    new: Samples,
    baseline: Samples | float,
    *,
    min_effect: float = 0.0,
    alpha: float = 0.05,
    test: str = "welch",
    metric: str | None = None,
) -> StatsResult:
    """Assert that ``new`` is greater than ``baseline`` (samples or a number)
    by more than ``min_effect``: returns the :class:`StatsResult` when
    VALIDATED, raises :class:`~pytest_grd.Rejected` when the evidence excludes
    the claim and :class:`~pytest_grd.Inconclusive` when it cannot decide."""
    __tracebackhide__ = True
    return _enforce(
        compare(
            new,
            baseline,
            alternative="greater",
            min_effect=min_effect,
            alpha=alpha,
            test=test,
            metric=metric,
        )
    )


def assert_less(
    new: Samples,
    baseline: Samples | float,
    *,
    min_effect: float = 0.0,
    alpha: float = 0.05,
    test: str = "welch",
    metric: str | None = None,
) -> StatsResult:
    """Assert that ``new`` is less than ``baseline`` (samples or a number) by
    more than ``min_effect`` (losses, error rates, latencies); same outcomes
    as :func:`assert_greater`."""
    __tracebackhide__ = True
    return _enforce(
        compare(
            new,
            baseline,
            alternative="less",
            min_effect=min_effect,
            alpha=alpha,
            test=test,
            metric=metric,
        )
    )


def __getattr__(name: str) -> Any:
    # ``StatsResult`` lives in a numpy-importing module; load it on demand.
    if name == "StatsResult":
        from .result import StatsResult as cls

        globals()["StatsResult"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
