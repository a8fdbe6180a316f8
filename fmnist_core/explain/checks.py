"""Faithfulness checks for heatmaps: deletion (Samek et al.) and model randomisation (Adebayo et al. 2018).

* Deletion: blanking the pixels a method ranks highest should hurt the explained class far more
  than blanking as many random pixels, if the map points at what the model uses.
* Randomisation: a map from a model with re-initialised weights should look different (low rank
  correlation); if it does not, the method shows the image, not the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeletionResult:
    method: str
    images: int
    fraction: float
    mean_probability: float  # the explained class's probability on the intact images
    drop_top: float  # mean probability drop after blanking the top-ranked pixels
    drop_random: float  # ... after blanking as many random pixels

    @property
    def ratio(self) -> float:
        return self.drop_top / self.drop_random if self.drop_random > 0 else float("inf")

    def as_dict(self) -> dict:
        return {"method": self.method, "images": self.images, "fraction": self.fraction,
                "mean_probability": self.mean_probability, "drop_top": self.drop_top,
                "drop_random": self.drop_random}


def blank_top(images: np.ndarray, heatmaps: np.ndarray, fraction: float) -> np.ndarray:
    """Copies of images (N,28,28,1) with each map's top `fraction` of pixels set to 0 (black)."""
    x = np.array(images, np.float32, copy=True)
    n = len(x)
    k = max(1, int(round(fraction * heatmaps[0].size)))
    flat = x.reshape(n, -1)
    order = np.argsort(-heatmaps.reshape(n, -1), axis=1, kind="stable")[:, :k]
    np.put_along_axis(flat, order, 0.0, axis=1)
    return flat.reshape(x.shape)


def blank_random(images: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    x = np.array(images, np.float32, copy=True)
    n = len(x)
    rng = np.random.default_rng(seed)
    size = int(np.prod(x.shape[1:]))
    k = max(1, int(round(fraction * size)))
    flat = x.reshape(n, -1)
    picks = np.stack([rng.choice(size, k, replace=False) for _ in range(n)])
    np.put_along_axis(flat, picks, 0.0, axis=1)
    return flat.reshape(x.shape)


def deletion_check(predict, images: np.ndarray, classes: np.ndarray, heatmaps: np.ndarray, *,
                   method: str, fraction: float = 0.1, seed: int = 0) -> DeletionResult:
    """predict(images)->(N,10); images (N,28,28,1) in [0,1]; heatmaps (N,28,28) for `classes`."""
    rows = np.arange(len(images))
    classes = np.asarray(classes, int)
    base = predict(images)[rows, classes]
    top = predict(blank_top(images, heatmaps, fraction))[rows, classes]
    rand = predict(blank_random(images, fraction, seed))[rows, classes]
    return DeletionResult(method, len(images), fraction, float(base.mean()), float((base - top).mean()),
                          float((base - rand).mean()))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties sharing their mean rank (as Spearman's rho needs)."""
    v = np.asarray(values, np.float64).ravel()
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), np.float64)
    ranks[order] = np.arange(len(v), dtype=np.float64)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps; 0 when either is constant (no ranking to agree with)."""
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def reinitialised(model):
    """The same architecture with fresh random weights (a clone; the original is untouched)."""
    import keras

    return keras.models.clone_model(model)
