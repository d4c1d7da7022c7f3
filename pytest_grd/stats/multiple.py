"""Multiple-comparison corrections across the hypotheses of one session.

Holm-Bonferroni (default) controls the chance of any false VALIDATED among
the hypotheses decided together; Benjamini-Hochberg controls the expected
share of false ones among those VALIDATED (more power, weaker promise).
The adjusted p-values come from statsmodels' ``multipletests``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CORRECTIONS", "CorrectionError", "adjust", "check_correction"]

#: Correction names a session accepts (ini ``grd_correction``) -> statsmodels method.
CORRECTIONS: dict[str, str | None] = {"holm": "holm", "bh": "fdr_bh", "none": None}


class CorrectionError(ValueError):
    """An unknown correction name."""


def check_correction(name: str) -> str:
    """The normalized correction name, or :class:`CorrectionError`."""
    key = (name or "holm").strip().lower()
    if key not in CORRECTIONS:
        raise CorrectionError(
            f"grd_correction must be one of {', '.join(CORRECTIONS)}, got {name!r}"
        )
    return key


def adjust(pvalues: Sequence[float], method: str = "holm", family_size: int = 0) -> list[float]:
    """Adjusted p-values, in the order given (``none`` returns them unchanged).

    ``family_size`` larger than ``len(pvalues)``: the family's other members
    did not run here and count as p = 1, which can only raise the adjusted
    values (both corrections are monotone in every p-value), so a subset of a
    family is never corrected less than the whole."""
    key = check_correction(method)
    statsmodels_method = CORRECTIONS[key]
    if not pvalues or statsmodels_method is None:
        return [float(p) for p in pvalues]
    from statsmodels.stats.multitest import multipletests

    padded = list(pvalues) + [1.0] * max(0, family_size - len(pvalues))
    # The adjusted values do not depend on alpha; each hypothesis compares
    # against its own alpha afterwards.
    _reject, adjusted, _sidak, _bonf = multipletests(padded, method=statsmodels_method)
    return [min(1.0, float(p)) for p in adjusted[: len(pvalues)]]
