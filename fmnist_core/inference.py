"""Fast, thread-safe classification with a loaded model: no per-call Keras predict() overhead."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .constants import INPUT_SHAPE
from .evaluation import top_k
from .preprocess import PreprocessResult, preprocess_canvas, preprocess_upload


@dataclass(frozen=True)
class Classification:
    preprocessed: PreprocessResult
    probabilities: np.ndarray  # float32 (10,)

    @property
    def top3(self) -> list[tuple[int, str, float]]:
        return top_k(self.probabilities, 3)

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.probabilities))


class Predictor:
    """Wraps a model in one traced tf.function; safe to share between threads and sessions."""

    def __init__(self, model) -> None:
        import tensorflow as tf  # noqa: PLC0415

        self.model = model
        spec = tf.TensorSpec(shape=(None, *INPUT_SHAPE), dtype=tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        self._warm_lock = threading.Lock()
        self._warm = False

    def warm_up(self) -> None:
        with self._warm_lock:
            if not self._warm:
                self.predict(np.zeros((1, *INPUT_SHAPE), np.float32))
                self._warm = True

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for float32 (N,28,28,1) images in [0,1]."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[np.newaxis]
        return np.asarray(self._forward(x), dtype=np.float32)

    def predict_many(self, images: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        from .data import normalize  # noqa: PLC0415

        x = normalize(images)
        return np.concatenate([self.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def classify_bytes(self, data: bytes) -> Classification:
        pre = preprocess_upload(data)
        return Classification(pre, self.predict(pre.model_input)[0])

    def classify_canvas(self, rgba: np.ndarray) -> Classification:
        pre = preprocess_canvas(rgba)
        return Classification(pre, self.predict(pre.model_input)[0])
