"""Models a user can take away: one saved run written as Keras, LiteRT, int8 LiteRT, ONNX or a
TensorFlow SavedModel, each with a README that loads it and classifies one image.

Every format is written from the run's checksum-verified model (runs.RunStore.load_model) as a
float32 copy, so the file runs on any CPU and in runtimes without bfloat16 kernels. TensorFlow and the
converters are imported inside the functions: this module imports fast.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from .constants import CLASS_NAMES, INPUT_SHAPE
from .errors import ConfigError
from .runs import RunStore

CALIBRATION_IMAGES = 500  # training images that fix the int8 ranges (first ones of a seeded shuffle)
CALIBRATION_SEED = 0


class ExportFormat(StrEnum):
    KERAS = "keras"
    LITERT = "litert"
    LITERT_INT8 = "litert-int8"
    ONNX = "onnx"
    SAVED_MODEL = "saved_model"


FILE_NAMES: dict[ExportFormat, str] = {
    ExportFormat.KERAS: "model.keras",
    ExportFormat.LITERT: "model.tflite",
    ExportFormat.LITERT_INT8: "model_int8.tflite",
    ExportFormat.ONNX: "model.onnx",
    ExportFormat.SAVED_MODEL: "saved_model",
}


@dataclass
class ExportResult:
    """What was written, where, and (for int8) the accuracy bought or lost."""

    run_id: str
    format: ExportFormat
    path: Path
    readme: Path
    notes: list[str] = field(default_factory=list)
    test_accuracy: float | None = None  # of the exported file, when it was measured (int8)
    float_test_accuracy: float | None = None  # of the float model on the same images

    def summary(self) -> dict:
        data = asdict(self)
        return {**data, "format": self.format.value, "path": str(self.path), "readme": str(self.readme)}


_PREPROCESS = f"""\
Input: float32 array of shape (N, {INPUT_SHAPE[0]}, {INPUT_SHAPE[1]}, {INPUT_SHAPE[2]}), grey levels scaled to [0, 1],
the garment LIGHT on a DARK background like Fashion-MNIST (invert a photo of a garment on white:
`1 - x`), centred and filling most of the square. Output: 10 softmax probabilities in this order:
{", ".join(f"{i} {name}" for i, name in enumerate(CLASS_NAMES))}."""

_LOAD_IMAGE = f"""\
import numpy as np
from PIL import Image
CLASSES = {list(CLASS_NAMES)!r}
x = np.asarray(Image.open("image.png").convert("L").resize((28, 28)), np.float32)[None, :, :, None] / 255.0"""

_SNIPPETS: dict[ExportFormat, tuple[str, str]] = {
    ExportFormat.KERAS: ("pip install keras tensorflow-cpu  # the versions in run.json", """\
import keras{mirror}
model = keras.saving.load_model("model.keras", compile=False)
p = np.asarray(model.predict(x, verbose=0))[0]"""),
    ExportFormat.LITERT: ("pip install ai-edge-litert", """\
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path="model.tflite"); it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], x); it.invoke()
p = it.get_tensor(it.get_output_details()[0]["index"])[0]"""),
    ExportFormat.LITERT_INT8: ("pip install ai-edge-litert", """\
from ai_edge_litert.interpreter import Interpreter  # int8 inside, float32 in and out
it = Interpreter(model_path="model_int8.tflite"); it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], x); it.invoke()
p = it.get_tensor(it.get_output_details()[0]["index"])[0]"""),
    ExportFormat.ONNX: ("pip install onnxruntime", """\
import onnxruntime as ort
session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
p = session.run(None, {session.get_inputs()[0].name: x})[0][0]"""),
    ExportFormat.SAVED_MODEL: ("pip install tensorflow-cpu", """\
import tensorflow as tf
model = tf.saved_model.load("saved_model")
p = np.asarray(model.serve(tf.constant(x)))[0]"""),
}


_MIRROR_IMPORT = "\nimport fmnist_core.mirror  # registers the mirror-averaging layer this model uses"


def readme_snippet(fmt: ExportFormat, mirror: bool = False) -> str:
    """The ~10 lines that load this format and classify image.png, as Python."""
    body = _SNIPPETS[fmt][1].replace("{mirror}", _MIRROR_IMPORT if mirror else "")
    return f"{_LOAD_IMAGE}\n{body}\nprint(CLASSES[int(p.argmax())], f\"{{p.max():.1%}}\")\n"


def readme_text(result: ExportResult, mirror: bool = False) -> str:
    install, _ = _SNIPPETS[result.format]
    lines = [
        f"# Fashion-MNIST classifier: run `{result.run_id}` as {result.format.value}",
        "",
        f"File: `{result.path.name}`. {_PREPROCESS}",
        "",
        f"```\n{install}\n```",
        "",
        "```python",
        readme_snippet(result.format, mirror).rstrip(),
        "```",
    ]
    if result.test_accuracy is not None:
        lines += ["", f"Test accuracy (10,000 Fashion-MNIST test images): {result.test_accuracy:.2%} for this file, "
                      f"{result.float_test_accuracy:.2%} for the float32 model."]
    lines += [f"\n{note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def parse_format(name: str) -> ExportFormat:
    try:
        return ExportFormat(name)
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise ConfigError(f"unknown export format {name!r}: use one of {known}") from None


def calibration_images(x_train: np.ndarray, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """A seeded random sample of training images, float32 (count,28,28,1): the int8 value ranges."""
    from .data import normalize

    order = np.random.default_rng(CALIBRATION_SEED).permutation(len(x_train))[:count]
    return normalize(x_train[np.sort(order)])


def litert_accuracy(content: bytes, x_test: np.ndarray, y_test: np.ndarray) -> tuple[float, np.ndarray]:
    """Test accuracy of a LiteRT flatbuffer and its probabilities, run by the LiteRT runtime."""
    from .data import normalize
    from .litert_runtime import LiteRTModel

    runtime = LiteRTModel(content)
    x = normalize(x_test)
    probs = np.concatenate([runtime.predict(x[i : i + 500]) for i in range(0, len(x), 500)])
    return float(np.mean(probs.argmax(1) == y_test)), probs


def _run_litert_bytes(store: RunStore, run_id: str) -> bytes | None:
    """The run's own checksum-verified .tflite, when it has an up-to-date one (no conversion needed)."""
    from .litert_runtime import load_run_litert

    runtime = load_run_litert(store, run_id)
    return runtime.content if runtime is not None else None


def export_run(store: RunStore, run_id: str, fmt: ExportFormat, out_dir: Path, dataset=None) -> ExportResult:
    """Write one run in one format into out_dir (created), with README.md; returns what was written."""
    run = store.get(run_id)  # an unknown id fails here, before TensorFlow is imported
    from .export import convert_to_litert, float32_copy  # imports TensorFlow

    model = store.load_model(run_id)  # checksum-verified, safe mode
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / FILE_NAMES[fmt]
    result = ExportResult(run_id, fmt, target, out_dir / "README.md")
    mirror = bool(run.config.get("mirror_averaging"))
    if fmt is ExportFormat.KERAS:
        float32_copy(model).save(target)  # no optimizer state, no training schedule: inference only
    elif fmt is ExportFormat.LITERT:
        target.write_bytes(_run_litert_bytes(store, run_id) or convert_to_litert(model))
    elif fmt is ExportFormat.LITERT_INT8:
        if dataset is None:
            from .data import load_dataset

            dataset = load_dataset()
        content = convert_to_litert(model, calibration_images(dataset.x_train))
        target.write_bytes(content)
        result.test_accuracy, _ = litert_accuracy(content, dataset.x_test, dataset.y_test)
        result.float_test_accuracy, _ = litert_accuracy(convert_to_litert(model), dataset.x_test, dataset.y_test)
        result.notes.append(f"Quantised to int8 with {CALIBRATION_IMAGES} training images as the representative set.")
    else:
        model32 = float32_copy(model)
        model32(np.zeros((1, *INPUT_SHAPE), np.float32))  # the exporters need a model that has been called
        if target.exists() and target.is_dir():
            shutil.rmtree(target)
        if fmt is ExportFormat.ONNX:
            model32.export(str(target), format="onnx", verbose=False)
        else:
            model32.export(str(target), format="tf_saved_model", verbose=False)
    result.readme.write_text(readme_text(result, mirror))
    (out_dir / "export.json").write_text(json.dumps(result.summary(), indent=2))
    return result
