"""Test-set evaluation: probabilities, confusion matrix, per-class metrics, and the errors to look at."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .constants import CLASS_NAMES, NUM_CLASSES


@dataclass(frozen=True)
class EvaluationResult:
    probabilities: np.ndarray  # float32 (N, 10)
    y_true: np.ndarray  # int64 (N,)

    @property
    def y_pred(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.y_pred == self.y_true

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self.y_true) else 0.0

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the true class (no label smoothing), comparable across runs."""
        picked = self.probabilities[np.arange(len(self.y_true)), self.y_true]
        return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()) if len(self.y_true) else 0.0

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.y_true, self.y_pred)

    def per_class(self) -> dict[str, np.ndarray]:
        return per_class_metrics(self.confusion)

    def summary(self) -> dict[str, Any]:
        """JSON-ready test metrics for run.json and metrics.json."""
        per_class = self.per_class()
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "count": int(len(self.y_true)),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": {
                name: {key: float(values[i]) for key, values in per_class.items()}
                for i, name in enumerate(CLASS_NAMES)
            },
        }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    flat = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(np.float64)}


def top_k(probabilities: np.ndarray, k: int = 3) -> list[tuple[int, str, float]]:
    """The k most likely classes of one probability vector, most likely first."""
    probabilities = np.asarray(probabilities).reshape(-1)
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(i), CLASS_NAMES[int(i)], float(probabilities[i])) for i in order]


def select_examples(
    result: EvaluationResult,
    *,
    true_classes: list[int] | None = None,
    predicted_classes: list[int] | None = None,
    misclassified_only: bool = False,
    sort: str = "confidence_desc",
) -> np.ndarray:
    """Indices of test images matching the filters, sorted by the model's confidence."""
    mask = np.ones(len(result.y_true), dtype=bool)
    if true_classes:
        mask &= np.isin(result.y_true, true_classes)
    if predicted_classes:
        mask &= np.isin(result.y_pred, predicted_classes)
    if misclassified_only:
        mask &= ~result.correct
    indices = np.flatnonzero(mask)
    if sort == "index":
        return indices
    confidence = result.confidence[indices]
    if sort == "confidence_desc":
        return indices[np.argsort(-confidence, kind="stable")]
    if sort == "confidence_asc":
        return indices[np.argsort(confidence, kind="stable")]
    raise ValueError(f"unknown sort {sort!r}")


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities for uint8 or float images, in large batches without Keras' predict overhead."""
    from .data import normalize

    x = normalize(images)
    outputs = [np.asarray(model.predict_on_batch(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    if not outputs:
        return np.zeros((0, NUM_CLASSES), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32)


def evaluate_model(model, images: np.ndarray, labels: np.ndarray) -> EvaluationResult:
    return EvaluationResult(predict_probabilities(model, images), np.asarray(labels, dtype=np.int64))


def test_data_fingerprint(md5: dict[str, str]) -> str:
    """The identity of the test set in a predictions-cache key: the MD5s of its files, in name order."""
    return ",".join(f"{name}={md5[name]}" for name in sorted(md5) if name.startswith("t10k"))


def predictions_cache_key(run, data_fingerprint: str, count: int) -> str:
    """The one key of a run's cached test predictions (predictions.npz): its model's checksum, the test
    data's fingerprint, how many images, and the precision they were computed in. The CLI's `evaluate`
    and the app both reach the cache through `cached_predictions`, so they never overwrite each other."""
    return f"{run.record.model_sha256 or ''}:{data_fingerprint}:{count}:float32"


def _read_cache(path, key: str, count: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) == key and stored["probabilities"].shape == (count, NUM_CLASSES):
                return stored["probabilities"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        pass  # a damaged cache is simply recomputed
    return None


def _write_cache(path, key: str, probabilities: np.ndarray) -> None:
    import io

    from .runs import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, key=np.array(key), probabilities=probabilities)
    # A read-only run folder (the shipped default) still evaluates, just uncached.
    with contextlib.suppress(OSError):
        atomic_write_bytes(path, buffer.getvalue())


def cached_predictions(run, store, dataset) -> EvaluationResult:
    """A run's test-set predictions from a fresh float32 evaluation of its saved model, cached beside the
    model (predictions.npz) and recomputed only when the model or the test data changed.

    The accuracy of this result is the run's recorded test accuracy (training records the same float32
    evaluation of the file it saved), so every page and command shows one number.
    """
    return evaluate_run(run, lambda: store.load_model(run.run_id, float32=True), dataset.x_test, dataset.y_test,
                        data_md5=test_data_fingerprint(dataset.source.md5))


def evaluate_run(run, model_loader, images: np.ndarray, labels: np.ndarray, data_md5: str = "") -> EvaluationResult:
    """A run's test predictions with a caller-given model loader and data identity, cached beside the model
    under predictions_cache_key. Pages and commands call cached_predictions, which fixes both."""
    from .runs import PREDICTIONS_FILE

    labels = np.asarray(labels, dtype=np.int64)
    key = predictions_cache_key(run, data_md5, len(labels))
    cache = run.path / PREDICTIONS_FILE
    cached = _read_cache(cache, key, len(labels))
    if cached is not None:
        return EvaluationResult(cached, labels)
    result = evaluate_model(model_loader(), images, labels)
    _write_cache(cache, key, result.probabilities)
    return result
