"""Convert a Keras model to LiteRT (.tflite), so inference can run without TensorFlow's start-up.

The conversion itself needs TensorFlow (imported inside the functions); reading the result needs only
the small ai-edge-litert runtime (see litert_runtime.py). Models trained with mixed precision hold
bfloat16 layers, which LiteRT's built-in kernels cannot run (the converter would emit "Flex" ops the
runtime does not have), so the converted graph is always a float32 copy with the same weights.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .constants import INPUT_SHAPE
from .litert_runtime import (
    LITERT_ERROR_KEY,
    LITERT_FAILED_SOURCE_KEY,
    LITERT_FILE,
    LITERT_SHA_KEY,
    LITERT_SOURCE_KEY,
)
from .runs import atomic_write_bytes


def _float32_config(node: Any) -> Any:
    """The same config with every mixed-precision dtype policy replaced by plain float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and isinstance(node.get("config"), dict):
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {key: ("float32" if key == "dtype" and value in ("bfloat16", "float16") else _float32_config(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_float32_config(item) for item in node]
    return node


def float32_copy(model):
    """A float32 copy of a (possibly mixed-precision) Keras model with the same weights."""
    import keras

    from . import mirror, schedules  # noqa: F401 - register the custom layers a model may name

    config = keras.saving.serialize_keras_object(model)
    copy = keras.saving.deserialize_keras_object(_float32_config(config))
    copy.set_weights(model.get_weights())
    return copy


def convert_to_litert(model, representative: np.ndarray | None = None) -> bytes:
    """LiteRT flatbuffer of the model's inference pass.

    Float32 by default; int8 weights and activations (float32 input and output) when a representative
    batch of float32 (N,28,28,1) images is given. Only LiteRT's built-in ops are allowed, so a model the
    small runtime could not run fails here, loudly, instead of later at inference.

    The float32 copy every saved run gets is converted straight from its traced graph (_convert_direct:
    0.44-0.64 s with its check against 1.7-2.5 s for Keras' exporter on the 2-core EPYC, 2026-12-07,
    docs/compute.md),
    and checked against the Keras model before it is returned; int8 goes through Keras' own exporter."""
    model32 = float32_copy(model)
    if representative is None:
        content = _convert_direct(model32)
        if content is not None:
            return content
    return _convert_with_keras(model32, representative)


def _convert_with_keras(model32, representative: np.ndarray | None) -> bytes:
    """Keras' exporter (model.export(format="litert")): a SavedModel written, read back and converted."""
    import tensorflow as tf

    options: dict[str, Any] = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if representative is not None:
        samples = np.asarray(representative, np.float32)

        def calibration() -> Iterable[list[np.ndarray]]:
            for i in range(len(samples)):
                yield [samples[i : i + 1]]

        options = {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": calibration,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        }
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "model.tflite")
        model32.export(target, format="litert", verbose=False, **options)
        return Path(target).read_bytes()


#: Largest difference in any probability allowed between the direct conversion and Keras on the probe images
#: (both compute in float32; measured differences are below 1e-7).
DIRECT_CONVERSION_TOLERANCE = 1e-4


def _convert_direct(model32) -> bytes | None:
    """The converter run on the traced inference function, frozen in memory: no SavedModel on disk.

    Keras' exporter (and the converter's default for a concrete function with its model) first writes a
    SavedModel and reads it back, most of the time a save takes. ``experimental_lower_to_saved_model``
    (a public attribute of TensorFlow's converter, TF 2.21) turns that step off. Because it is
    experimental, the result is trusted only after it predicts like the Keras model on a few probe images
    in the LiteRT runtime; None (use Keras' exporter) otherwise, or when that runtime is not installed."""
    import tensorflow as tf

    from .litert_runtime import LiteRTModel, runtime_available

    if not runtime_available():
        return None
    serve = tf.function(lambda images: model32(images, training=False),
                        input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)])
    try:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model32)
        converter.experimental_lower_to_saved_model = False
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        content = converter.convert()
        probe = np.random.default_rng(0).random((4, *INPUT_SHAPE), dtype=np.float32)
        expected = np.asarray(serve(probe), np.float32)
        got = LiteRTModel(content).predict(probe)
    except Exception:  # noqa: BLE001 - any failure of the shortcut just means the exporter's longer way
        return None
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0.0, atol=DIRECT_CONVERSION_TOLERANCE):
        return None
    return content


def export_litert(model, path: Path, representative: np.ndarray | None = None) -> str:
    """Write the model's LiteRT file atomically (temporary file, fsync, rename) and return its SHA-256."""
    path = Path(path)
    data = convert_to_litert(model, representative)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def export_run_litert(model, run_path: Path, model_sha256: str | None) -> dict[str, str]:
    """The run.json entries for the run's LiteRT copy, written beside model.keras when a model is saved.

    Never fails the save: a model the converter cannot handle keeps Keras as its only runtime, and
    the reason is recorded (callers do ``run.meta.update(export_run_litert(...))``)."""
    try:
        checksum = export_litert(model, Path(run_path) / LITERT_FILE)
    except Exception as exc:  # noqa: BLE001 - any converter failure just means "no LiteRT copy"
        return {LITERT_ERROR_KEY: f"{type(exc).__name__}: {str(exc)[:300]}",
                LITERT_FAILED_SOURCE_KEY: model_sha256 or ""}
    return {LITERT_SHA_KEY: checksum, LITERT_SOURCE_KEY: model_sha256 or ""}
