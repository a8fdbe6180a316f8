"""fmnist_core.evaluation on hand-made arrays with known answers, and the predictions cache."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist_core.constants import CLASS_NAMES, NUM_CLASSES
from fmnist_core.evaluation import (
    EvaluationResult,
    confusion_matrix,
    evaluate_run,
    per_class_metrics,
    select_examples,
    top_k,
)
from fmnist_core.runs import PREDICTIONS_FILE, RunInfo


def one_hot_like(predicted: list[int], confidence: list[float]) -> np.ndarray:
    """Probability rows whose argmax is `predicted` with the given top probability."""
    probs = np.zeros((len(predicted), NUM_CLASSES), np.float32)
    for i, (cls, conf) in enumerate(zip(predicted, confidence)):
        probs[i] = (1.0 - conf) / (NUM_CLASSES - 1)
        probs[i, cls] = conf
    return probs


# y_true: 0 0 0 1 1 2 ; y_pred: 0 0 1 1 2 2
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])
CONF = [0.9, 0.6, 0.7, 0.95, 0.5, 0.8]


@pytest.fixture
def result() -> EvaluationResult:
    return EvaluationResult(one_hot_like(list(Y_PRED), CONF), Y_TRUE.astype(np.int64))


def test_confusion_matrix_known_answer():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES)
    assert cm[:3, :3].tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]  # rows true, columns predicted
    assert cm.sum() == 6 and cm[3:].sum() == 0 and cm[:, 3:].sum() == 0


def test_per_class_metrics_known_answer():
    m = per_class_metrics(confusion_matrix(Y_TRUE, Y_PRED))
    # class 0: tp 2, predicted 2, actual 3 -> p 1, r 2/3, f1 0.8
    # class 1: tp 1, predicted 2, actual 2 -> p 1/2, r 1/2, f1 1/2
    # class 2: tp 1, predicted 2, actual 1 -> p 1/2, r 1, f1 2/3
    np.testing.assert_allclose(m["precision"][:3], [1, 0.5, 0.5])
    np.testing.assert_allclose(m["recall"][:3], [2 / 3, 0.5, 1])
    np.testing.assert_allclose(m["f1"][:3], [0.8, 0.5, 2 / 3])
    np.testing.assert_array_equal(m["support"][:3], [3, 2, 1])
    # Classes never seen nor predicted get 0, not NaN.
    for key in ("precision", "recall", "f1", "support"):
        assert np.all(m[key][3:] == 0) and not np.isnan(m[key]).any()


def test_result_properties_and_summary(result):
    np.testing.assert_array_equal(result.y_pred, Y_PRED)
    np.testing.assert_allclose(result.confidence, CONF, rtol=1e-6)
    assert result.accuracy == pytest.approx(4 / 6)
    # Cross-entropy of the true class: the correct rows give their confidence, the wrong ones
    # the spread-out (1 - conf) / 9.
    picked = [0.9, 0.6, 0.3 / 9, 0.95, 0.5 / 9, 0.8]
    assert result.loss == pytest.approx(-np.mean(np.log(picked)), rel=1e-5)
    summary = result.summary()
    assert summary["count"] == 6 and summary["accuracy"] == pytest.approx(4 / 6)
    assert list(summary["per_class"]) == list(CLASS_NAMES)
    assert summary["per_class"][CLASS_NAMES[0]]["f1"] == pytest.approx(0.8)
    assert summary["confusion_matrix"][0][:3] == [2, 1, 0]
    empty = EvaluationResult(np.zeros((0, NUM_CLASSES), np.float32), np.zeros(0, np.int64))
    assert empty.accuracy == 0.0 and empty.loss == 0.0


def test_top_k():
    probs = np.array([0.05, 0.5, 0.0, 0.2, 0.25, 0, 0, 0, 0, 0])
    assert top_k(probs, 3) == [(1, "Trouser", 0.5), (4, "Coat", 0.25), (3, "Dress", 0.2)]
    assert [i for i, _, _ in top_k(probs, 10)][:5] == [1, 4, 3, 0, 2]
    assert top_k(probs.reshape(1, -1), 1) == [(1, "Trouser", 0.5)]
    ties = np.full(NUM_CLASSES, 0.1)
    assert [i for i, _, _ in top_k(ties, 3)] == [0, 1, 2]  # stable for ties


def test_select_examples_filters(result):
    assert select_examples(result, sort="index").tolist() == [0, 1, 2, 3, 4, 5]
    assert select_examples(result, true_classes=[0], sort="index").tolist() == [0, 1, 2]
    assert select_examples(result, predicted_classes=[2], sort="index").tolist() == [4, 5]
    assert select_examples(result, misclassified_only=True, sort="index").tolist() == [2, 4]
    assert select_examples(result, true_classes=[0, 1], predicted_classes=[1], sort="index").tolist() == [2, 3]
    assert select_examples(result, true_classes=[1], misclassified_only=True, sort="index").tolist() == [4]
    assert select_examples(result, true_classes=[9]).tolist() == []
    # An empty list means "no filter", like an empty multiselect in the app.
    assert select_examples(result, true_classes=[], predicted_classes=[], sort="index").tolist() == list(range(6))


def test_select_examples_sort_orders(result):
    assert select_examples(result).tolist() == [3, 0, 5, 2, 1, 4]  # confidence_desc is the default
    assert select_examples(result, sort="confidence_asc").tolist() == [4, 1, 2, 5, 0, 3]
    # The most confidently wrong first: the errors worth looking at.
    assert select_examples(result, misclassified_only=True, sort="confidence_desc").tolist() == [2, 4]
    with pytest.raises(ValueError):
        select_examples(result, sort="random")


# ------------------------------------------------------------------ evaluate_run's cache
class FakeModel:
    """Stands in for a Keras model: predict_on_batch returns fixed probabilities per image."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities
        self.seen = 0

    def predict_on_batch(self, x):
        batch = self.probabilities[self.seen : self.seen + len(x)]
        self.seen += len(x)
        return batch


class CountingLoader:
    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return FakeModel(self.probabilities)


def test_evaluate_run_caches_and_recomputes_on_model_change(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500  # more than one predict batch of 1000
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, n)
    probs = rng.dirichlet(np.ones(NUM_CLASSES), n).astype(np.float32)
    run = RunInfo("r1", tmp_path, {"model_sha256": "a" * 64})
    loader = CountingLoader(probs)

    first = evaluate_run(run, loader, images, labels, data_md5="d1")
    assert loader.calls == 1 and (tmp_path / PREDICTIONS_FILE).is_file()
    np.testing.assert_allclose(first.probabilities, probs)
    assert first.accuracy == pytest.approx(float((probs.argmax(1) == labels).mean()))

    second = evaluate_run(run, loader, images, labels, data_md5="d1")
    assert loader.calls == 1  # served from predictions.npz, the model is not loaded
    np.testing.assert_array_equal(second.probabilities, first.probabilities)
    np.testing.assert_array_equal(second.y_true, labels)

    new_probs = np.roll(probs, 1, axis=1)
    run.meta["model_sha256"] = "b" * 64  # the model was retrained / replaced
    loader.probabilities = new_probs
    third = evaluate_run(run, loader, images, labels, data_md5="d1")
    assert loader.calls == 2
    np.testing.assert_allclose(third.probabilities, new_probs)

    evaluate_run(run, loader, images, labels, data_md5="d2")  # other test data: recomputed too
    assert loader.calls == 3
    evaluate_run(run, loader, images[:100], labels[:100], data_md5="d2")  # other size
    assert loader.calls == 4


def test_evaluate_run_recomputes_a_damaged_cache(tmp_path):
    probs = np.full((10, NUM_CLASSES), 0.1, np.float32)
    labels = np.zeros(10, np.int64)
    run = RunInfo("r1", tmp_path, {"model_sha256": "c" * 64})
    loader = CountingLoader(probs)
    (tmp_path / PREDICTIONS_FILE).write_bytes(b"garbage, not an npz")
    evaluate_run(run, loader, np.zeros((10, 28, 28), np.uint8), labels)
    assert loader.calls == 1
    evaluate_run(run, loader, np.zeros((10, 28, 28), np.uint8), labels)
    assert loader.calls == 1  # and the rewritten cache is used next time


def test_evaluate_run_on_the_trained_run_matches_its_metrics(trained_run_copy, real_dataset):
    store, run_id = trained_run_copy
    run = store.get(run_id)
    calls = []

    def real_loader():
        calls.append(1)
        return store.load_model(run_id)

    md5 = real_dataset.source.md5["t10k-images-idx3-ubyte.gz"]
    result = evaluate_run(run, real_loader, real_dataset.x_test, real_dataset.y_test, md5)
    assert result.accuracy == pytest.approx(run.test_accuracy, abs=1e-4)
    assert result.summary()["accuracy"] == pytest.approx(run.metrics()["accuracy"], abs=1e-4)
    evaluate_run(run, real_loader, real_dataset.x_test, real_dataset.y_test, md5)
    assert len(calls) == 1


# ------------------------------------------------------------------ one key, one number (issue 11 items 2, 7)
def test_predictions_cache_key_depends_on_model_data_size_only(tmp_path):
    from fmnist_core.evaluation import predictions_cache_key, test_data_fingerprint

    run = RunInfo("r1", tmp_path, {"model_sha256": "a" * 64})
    md5 = {"t10k-images-idx3-ubyte.gz": "i", "t10k-labels-idx1-ubyte.gz": "l", "train-images-idx3-ubyte.gz": "x"}
    fingerprint = test_data_fingerprint(md5)
    assert fingerprint == test_data_fingerprint(dict(reversed(list(md5.items()))))  # order-free
    assert "train-" not in fingerprint and fingerprint.count("=") == 2  # only the test set's files
    key = predictions_cache_key(run, fingerprint, 10_000)
    assert key != predictions_cache_key(run, test_data_fingerprint({**md5, "t10k-labels-idx1-ubyte.gz": "L"}), 10_000)
    assert key != predictions_cache_key(run, fingerprint, 100)
    other = RunInfo("r1", tmp_path, {"model_sha256": "b" * 64})
    assert key != predictions_cache_key(other, fingerprint, 10_000)


def test_cached_predictions_are_written_by_training_and_match_the_recorded_score(trained_run_copy, real_dataset,
                                                                                 monkeypatch):
    """The run's recorded test accuracy is the accuracy of its cached float32 predictions, and the cache
    written at the end of training serves `evaluate` and the app without loading the model."""
    from fmnist_core.evaluation import cached_predictions

    store, run_id = trained_run_copy
    run = store.get(run_id)
    loads = []
    real_load = store.load_model
    monkeypatch.setattr(store, "load_model", lambda *a, **k: loads.append(k) or real_load(*a, **k))
    result = cached_predictions(run, store, real_dataset)
    assert loads == []  # served from the predictions.npz that training wrote
    assert result.accuracy == run.test_accuracy == run.metrics()["accuracy"]
    (run.path / PREDICTIONS_FILE).unlink()
    fresh = cached_predictions(run, store, real_dataset)
    assert loads == [{"float32": True}] and fresh.accuracy == run.test_accuracy
    np.testing.assert_allclose(fresh.probabilities, result.probabilities, rtol=1e-5, atol=1e-6)
