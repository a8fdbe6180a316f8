"""Fast, thread-safe classification with a run's model: LiteRT when it has a .tflite, else Keras."""

from __future__ import annotations

import threading
from collections.abc import Callable
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


class KerasBackend:
    """A Keras model in one traced tf.function: no per-call Keras predict() overhead."""

    name = "keras"
    batch_size = 2000  # images per call in predict_many

    def __init__(self, model) -> None:
        import tensorflow as tf

        self.model = model
        spec = tf.TensorSpec(shape=(None, *INPUT_SHAPE), dtype=tf.float32)
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(images), dtype=np.float32)


class LiteRTBackend:
    """The run's LiteRT copy in the ai-edge-litert runtime: no TensorFlow import at all."""

    name = "litert"
    batch_size = 500  # smaller batches keep the interpreter's activations in cache

    def __init__(self, litert_model) -> None:
        self.litert_model = litert_model

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.litert_model.predict(images)


class Predictor:
    """Classifies images with a run's model; safe to share between threads and sessions.

    Built from a Keras model (``Predictor(model)``) or by ``load_predictor``, which picks the LiteRT
    runtime when the run has a verified .tflite and Keras otherwise. ``model`` is always the Keras
    model (loaded on first use when the LiteRT backend serves predictions), for code that needs Keras."""

    def __init__(self, model=None, *, backend=None, keras_loader: Callable[[], object] | None = None) -> None:
        if backend is None:
            if model is None:
                raise ValueError("Predictor needs a Keras model or a backend")
            backend = KerasBackend(model)
        self.backend = backend
        self._model = model
        self._keras_loader = keras_loader
        self._warm_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._warm = False

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def model(self):
        with self._model_lock:
            if self._model is None:
                if self._keras_loader is None:
                    raise ValueError("this predictor has no Keras model")
                self._model = self._keras_loader()
            return self._model

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
        return self.backend.predict(x)

    def predict_many(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        from .data import normalize

        x = normalize(images)
        batch_size = batch_size or self.backend.batch_size
        return np.concatenate([self.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def classify_bytes(self, data: bytes) -> Classification:
        pre = preprocess_upload(data)
        return Classification(pre, self.predict(pre.model_input)[0])

    def classify_canvas(self, rgba: np.ndarray) -> Classification:
        pre = preprocess_canvas(rgba)
        return Classification(pre, self.predict(pre.model_input)[0])


def load_predictor(store, run_id: str, *, prefer_litert: bool = True, export_missing: bool = True) -> Predictor:
    """A run's predictor: LiteRT when the run has (or, with export_missing, gets) a verified .tflite and
    the runtime is installed, else its verified Keras model. Both paths check the recorded checksum."""
    from .litert_runtime import ensure_run_litert, load_run_litert, runtime_available

    def keras_model():
        return store.load_model(run_id)

    if prefer_litert and runtime_available():
        litert_model = load_run_litert(store, run_id)
        if litert_model is None and export_missing and ensure_run_litert(store, run_id):
            litert_model = load_run_litert(store, run_id)
        if litert_model is not None:
            return Predictor(backend=LiteRTBackend(litert_model), keras_loader=keras_model)
    return Predictor(keras_model())
