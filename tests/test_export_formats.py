"""`export RUN --format ...`: each format loads in its own runtime (Keras, LiteRT, ONNX Runtime,
TensorFlow) and agrees with the run's Keras model on the test set; each README's snippet runs and
classifies an image; int8 reports its test accuracy beside the float model's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmnist_core.constants import CLASS_NAMES, DEFAULT_RUN_ID
from fmnist_core.export_formats import FILE_NAMES, ExportFormat, export_run, readme_snippet
from fmnist_core.runs import RunStore

REPO_DIR = Path(__file__).resolve().parents[1]
TEST_IMAGES = 10_000


def _predict_exported(fmt: ExportFormat, path: Path, x: np.ndarray) -> np.ndarray:
    """Probabilities from the exported file, in that format's own runtime."""
    if fmt is ExportFormat.KERAS:
        import keras

        return np.asarray(keras.saving.load_model(path, compile=False).predict(x, batch_size=1000, verbose=0))
    if fmt in (ExportFormat.LITERT, ExportFormat.LITERT_INT8):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    if fmt is ExportFormat.ONNX:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # keep it referenced: its endpoint uses its variables
    return np.concatenate([np.asarray(loaded.serve(tf.constant(x[i : i + 1000]))) for i in range(0, len(x), 1000)])


@pytest.fixture(scope="module")
def keras_reference(real_dataset):
    store = RunStore(Path(os.environ["FMNIST_RUNS_DIR"]))
    x = (real_dataset.x_test[:TEST_IMAGES, ..., None] / 255.0).astype(np.float32)
    # Exports compute in float32: compare with the float32 evaluation of the saved model (the figure of record).
    return store, x, store.load_model(DEFAULT_RUN_ID, float32=True).predict(x, batch_size=1000, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(ExportFormat), ids=lambda f: f.value)
def test_each_format_agrees_with_keras_in_its_own_runtime(fmt, keras_reference, real_dataset, tmp_path):
    store, x, expected = keras_reference
    result = export_run(store, DEFAULT_RUN_ID, fmt, tmp_path / fmt.value, dataset=real_dataset)
    assert result.path == tmp_path / fmt.value / FILE_NAMES[fmt] and result.path.exists()
    got = _predict_exported(fmt, result.path, x)
    agreement = float(np.mean(got.argmax(1) == expected.argmax(1)))
    print(f"{fmt.value}: {agreement:.4%} of {len(x):,} test predictions agree with Keras")
    if fmt is ExportFormat.LITERT_INT8:
        assert agreement >= 0.99
        accuracy = float(np.mean(got.argmax(1) == real_dataset.y_test))
        assert result.test_accuracy == pytest.approx(accuracy, abs=1e-9)
        assert result.float_test_accuracy is not None and abs(result.test_accuracy - result.float_test_accuracy) < 0.01
        assert f"{result.test_accuracy:.2%}" in result.readme.read_text()
    else:
        assert agreement >= 0.999
    assert json.loads((tmp_path / fmt.value / "export.json").read_text())["format"] == fmt.value

    # The README's snippet, run as a user would, in the export folder: it names the right garment.
    index = int(np.flatnonzero(real_dataset.y_test == 1)[0])  # a trouser: unmistakable
    Image.fromarray(real_dataset.x_test[index], mode="L").save(tmp_path / fmt.value / "image.png")
    code = re.search(r"```python\n(.*?)```", result.readme.read_text(), re.S).group(1)
    assert code == readme_snippet(fmt) and len(code.splitlines()) <= 12
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / fmt.value, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith(CLASS_NAMES[1] + " ")


def test_export_cli_errors_are_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR), "TF_CPP_MIN_LOG_LEVEL": "2"}
    missing = subprocess.run([sys.executable, "-m", "fmnist_core", "export", "no-such-run", "--format", "litert",
                              "--out", str(tmp_path / "x")], cwd=REPO_DIR, env=env, capture_output=True, text=True,
                             timeout=300)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "error: no saved run 'no-such-run'" in missing.stderr
    bad = subprocess.run([sys.executable, "-m", "fmnist_core", "export", DEFAULT_RUN_ID, "--format", "pickle",
                          "--out", str(tmp_path / "x")], cwd=REPO_DIR, env=env, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "invalid choice: 'pickle'" in bad.stderr
    assert not (tmp_path / "x").exists()
