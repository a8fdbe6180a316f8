"""Are the heatmaps faithful? Three checks from the literature, on models whose answer is known.

1. Location: a tiny model trained on synthetic images whose class depends only on the top-left
   quadrant (the other three hold random noise) must be explained mostly by that quadrant.
2. Model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", 2018): maps of the
   shipped model and of the same architecture with re-initialised weights must differ
   (mean Spearman rank correlation below 0.5).
3. Deletion: blanking the 10% of pixels a method ranks highest must lower the explained class's
   probability much more than blanking a random 10% (on 200 real test images, shipped model).
"""

from __future__ import annotations

import numpy as np
import pytest

from fmnist_core.constants import PRETRAINED_DIR
from fmnist_core.explain.attribution import Attributor, Method
from fmnist_core.explain.checks import (
    average_ranks,
    blank_random,
    blank_top,
    deletion_check,
    rank_correlation,
    reinitialised,
)

QUADRANT = (slice(0, 14), slice(0, 14))


def _bars(rng, vertical: bool) -> np.ndarray:
    quadrant = np.zeros((14, 14), np.float32)
    for k in rng.choice(12, 3, replace=False) + 1:
        if vertical:
            quadrant[1:13, k] = 1.0
        else:
            quadrant[k, 1:13] = 1.0
    return quadrant


def quadrant_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 1: vertical bars in the top-left quadrant, class 0: horizontal; elsewhere noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.random((n, 28, 28, 1)).astype(np.float32) * 0.6
    for i, label in enumerate(labels):
        images[i, :14, :14, 0] = _bars(rng, bool(label))
    return images, labels


@pytest.fixture(scope="module")
def quadrant_model():
    import keras

    keras.utils.set_random_seed(0)
    x, y = quadrant_images(3000, 0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        # L1 keeps the weights on the uninformative quadrants near zero, as a well-trained model's would be
        keras.layers.Dense(2, activation="softmax", kernel_regularizer=keras.regularizers.l1(1e-3)),
    ], name="quadrant")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def shipped_model():
    from fmnist_core.runs import RunStore

    return RunStore("/nonexistent-runs", pretrained_dir=PRETRAINED_DIR).load_model("default")


@pytest.fixture(scope="module")
def shipped_images(real_dataset):
    from fmnist_core.data import normalize

    return normalize(real_dataset.x_test[:200])


@pytest.mark.slow
@pytest.mark.parametrize("method", [Method.GRADCAM, Method.SALIENCY, Method.OCCLUSION])
def test_heat_is_in_the_quadrant_that_decides(quadrant_model, method):
    x, y = quadrant_images(64, 1)
    accuracy = float((quadrant_model.predict(x, verbose=0).argmax(1) == y).mean())
    assert accuracy > 0.95, "the tiny model must have learned the task for the check to mean anything"
    maps = Attributor(quadrant_model).heatmaps(x, method, y)
    share = maps[:, QUADRANT[0], QUADRANT[1]].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    # The quadrant is a quarter of the image: a method that ignored location would give ~0.25.
    assert share.mean() > 0.6, f"{method.value}: only {share.mean():.2f} of the heat is in the deciding quadrant"
    assert np.median(share) > 0.6


@pytest.mark.slow
@pytest.mark.parametrize("method", list(Method))
def test_maps_change_when_the_weights_are_randomised(shipped_model, shipped_images, method):
    import keras

    keras.utils.set_random_seed(3)
    images = shipped_images[:20]
    trained = Attributor(shipped_model)
    classes = trained.predict(images).argmax(1)
    random = Attributor(reinitialised(shipped_model))
    a = trained.heatmaps(images, method, classes)
    b = random.heatmaps(images, method, classes)
    rhos = np.array([rank_correlation(a[i], b[i]) for i in range(len(images))])
    assert np.isfinite(rhos).all()
    assert rhos.mean() < 0.5, (
        f"{method.value}: maps of a random model agree with the trained one (rho {rhos.mean():.2f})")
    # ...and the check can fail: the same model's maps agree with themselves perfectly.
    assert rank_correlation(a[0], trained.heatmaps(images[:1], method, classes[:1])[0]) > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("method", list(Method))
def test_deleting_top_pixels_hurts_more_than_random(shipped_model, shipped_images, method):
    att = Attributor(shipped_model)
    classes = att.predict(shipped_images).argmax(1)
    maps = att.heatmaps(shipped_images, method, classes)
    result = deletion_check(att.predict, shipped_images, classes, maps, method=method.value, fraction=0.1)
    print(f"deletion {method.value}: {result.as_dict()}")
    assert result.drop_top > 2.0 * result.drop_random, result.as_dict()
    assert result.drop_top - result.drop_random > 0.15, result.as_dict()


def test_blanking_helpers():
    images = np.ones((2, 28, 28, 1), np.float32)
    heat = np.zeros((2, 28, 28), np.float32)
    heat[0, 0, :10] = 1.0
    heat[1, 5, 5] = 1.0
    out = blank_top(images, heat, 10 / 784)
    assert out[0, 0, :10].sum() == 0 and out[0].sum() == 784 - 10
    assert out[1, 5, 5] == 0 and out[1].sum() == 784 - 10
    rand = blank_random(images, 0.1, seed=1)
    assert (rand.reshape(2, -1) == 0).sum(axis=1).tolist() == [78, 78]
    assert images.min() == 1.0  # the inputs are untouched


def test_rank_correlation():
    a = np.arange(10.0)
    assert rank_correlation(a, a * 3 + 1) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.zeros(10)) == 0.0
    np.testing.assert_allclose(average_ranks(np.array([3.0, 1.0, 1.0, 2.0])), [3.0, 0.5, 0.5, 2.0])
