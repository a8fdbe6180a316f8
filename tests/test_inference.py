"""fmnist_core.inference.Predictor: same answers as Keras, and safe under concurrent use
(8 threads sharing one Predictor, as Streamlit sessions do)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from fmnist_core.data import normalize
from fmnist_core.errors import ImageError
from fmnist_core.inference import Classification, Predictor

THREADS = 8
PER_THREAD = 500
PNG_EVERY = 10  # every 10th classification goes through PNG bytes and preprocessing


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor(trained_model) -> Predictor:
    p = Predictor(trained_model)
    p.warm_up()
    return p


def test_predictor_matches_keras_predict(predictor, trained_model, real_dataset):
    x = normalize(real_dataset.x_test[:256])
    expected = trained_model.predict(x, verbose=0)
    np.testing.assert_allclose(predictor.predict(x), expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(x[0]), expected[:1], atol=1e-5)  # one (28,28,1) image
    many = predictor.predict_many(real_dataset.x_test[:256], batch_size=100)  # uint8, several batches
    assert many.shape == (256, 10) and many.dtype == np.float32
    np.testing.assert_allclose(many, expected, atol=1e-5)
    np.testing.assert_allclose(many.sum(axis=1), 1.0, rtol=1e-5)


def test_classify_bytes_and_canvas(predictor, real_dataset):
    image = real_dataset.x_test[0]
    result = predictor.classify_bytes(png_bytes(image))
    assert isinstance(result, Classification)
    assert result.probabilities.shape == (10,)
    assert result.predicted_class == result.top3[0][0]
    assert [p for _, _, p in result.top3] == sorted((p for _, _, p in result.top3), reverse=True)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[60:220, 100:180] = (255, 255, 255, 255)  # a white block drawn on the black canvas
    assert predictor.classify_canvas(rgba).probabilities.shape == (10,)
    with pytest.raises(ImageError):
        predictor.classify_bytes(b"definitely not an image")


def test_one_predictor_shared_by_8_threads(predictor, real_dataset):
    """8 threads x 500 classifications on one Predictor: no errors, and answers identical to a
    serial run (same probabilities to 1e-6, same predicted class)."""
    count = PER_THREAD
    images = real_dataset.x_test[:count]
    singles = normalize(images)
    pngs = {i: png_bytes(images[i]) for i in range(0, count, PNG_EVERY)}

    def classify(i: int) -> np.ndarray:
        if i in pngs:
            return predictor.classify_bytes(pngs[i]).probabilities
        return predictor.predict(singles[i])[0]

    serial = np.stack([classify(i) for i in range(count)])
    # The PNG round trip goes through the same preprocessing, so those answers are real ones too.
    assert (serial.argmax(1) == real_dataset.y_test[:count]).mean() > 0.5

    results = np.full((THREADS, count, 10), np.nan, np.float32)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        try:
            start.wait()
            order = np.random.default_rng(t).permutation(count)  # each thread its own order
            for i in order:
                results[t, i] = classify(int(i))
        except BaseException as exc:  # noqa: BLE001 - collected and reported
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert errors == []
    assert not np.isnan(results).any()
    for t in range(THREADS):
        np.testing.assert_allclose(results[t], serial, atol=1e-6, err_msg=f"thread {t}")
        np.testing.assert_array_equal(results[t].argmax(1), serial.argmax(1))
