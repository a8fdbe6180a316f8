"""What a change fixed and what it broke: the test images one run gets right and the other wrong."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FixedAndBroken:
    """Indices into the test set: `fixed` (before wrong, after right) and `broken` (before right, after wrong)."""

    fixed: np.ndarray
    broken: np.ndarray

    @property
    def net(self) -> int:
        """Images gained minus images lost: the accuracy difference in images."""
        return int(len(self.fixed) - len(self.broken))


def fixed_and_broken(y_true: np.ndarray, pred_before: np.ndarray, pred_after: np.ndarray) -> FixedAndBroken:
    """Compare two runs' predicted classes on the same labelled images (ValueError if the lengths differ)."""
    y_true, pred_before, pred_after = (np.asarray(v).reshape(-1) for v in (y_true, pred_before, pred_after))
    if not len(y_true) == len(pred_before) == len(pred_after):
        raise ValueError(f"lengths differ: {len(y_true)} labels, {len(pred_before)} and {len(pred_after)} predictions")
    right_before, right_after = pred_before == y_true, pred_after == y_true
    return FixedAndBroken(np.flatnonzero(~right_before & right_after), np.flatnonzero(right_before & ~right_after))
