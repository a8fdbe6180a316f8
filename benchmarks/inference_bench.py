"""Inference latency: one uploaded photo to top-3, the whole test set, and Keras' model.predict for contrast."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .stats import median, percentile


@dataclass
class LatencySample:
    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(self.seconds, 50) * 1000.0

    @property
    def p99_ms(self) -> float:
        return percentile(self.seconds, 99) * 1000.0

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000.0 if self.seconds else float("nan")


@dataclass
class InferenceResult:
    model_source: str
    image_bytes: int
    image_size: tuple[int, int]
    upload: LatencySample  # bytes -> top-3 via Predictor.classify_bytes
    preprocess: LatencySample  # preprocess_upload alone
    forward: LatencySample  # Predictor.predict of one 28x28 image
    keras_predict: LatencySample  # model.predict of one image
    test_set_seconds: list[float]
    test_set_images: int
    test_set_accuracy: float
    upload_true_label: int
    upload_top3: list[tuple[int, str, float]]
    # Issue #14: a phone-sized photo's latency and the photo-like set's accuracy (None when not run).
    large_upload: LatencySample | None = None  # 4000x3000 JPEG bytes -> top-3
    large_upload_bytes: int = 0
    photo_set: Any = None  # fmnist_core.photoset.PhotoSetScore on the photo-like set
    clean_set: Any = None  # the same test images as clean product photos (make_user_jpeg)

    @property
    def test_set_median_seconds(self) -> float:
        return median(self.test_set_seconds)


def make_user_jpeg(image: np.ndarray, side: int = 600, quality: int = 90) -> bytes:
    """A photo-like upload from a test image: dark garment on a light background, upscaled, JPEG in memory."""
    from PIL import Image

    picture = Image.fromarray(255 - np.asarray(image, dtype=np.uint8), mode="L").convert("RGB")
    picture = picture.resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


LARGE_PHOTO_SIZE = (4000, 3000)
PHOTO_SET_COUNT = 1500  # 500 photos swing by +-1.5 points from one seed to the next
PHOTO_SET_SEED = 0


def make_large_photo_jpeg(image: np.ndarray, seed: int = 0, quality: int = 85) -> bytes:
    """A phone-sized (4000x3000) photo-like JPEG of a test image: a photo-set rendering, upscaled, with grain."""
    from PIL import Image, ImageOps

    from fmnist_core.photoset import render_photo

    rng = np.random.default_rng(seed)
    data, _ = render_photo(image, rng)
    with Image.open(io.BytesIO(data)) as small:
        upright = ImageOps.exif_transpose(small).convert("RGB")
    big = np.asarray(upright.resize(LARGE_PHOTO_SIZE, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.normal(0.0, 2.0, big.shape[:2])[..., None]  # sensor grain: phone JPEGs are not smooth
    pixels = np.clip(big + np.round(grain), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def score_photo_sets(classify: Callable[[bytes], np.ndarray], dataset, count: int = PHOTO_SET_COUNT,
                     seed: int = PHOTO_SET_SEED):
    """(photo-like set score, clean product-photo score) on the same test images, both via the upload path."""
    from fmnist_core.photoset import generate_photos, score_photoset

    samples = list(generate_photos(dataset.x_test, dataset.y_test, count, seed))
    photos = score_photoset(((s.data, s.label) for s in samples), classify)
    clean = score_photoset(
        ((make_user_jpeg(dataset.x_test[s.test_index]), s.label) for s in samples), classify
    )
    return photos, clean


def photo_lines(inf: InferenceResult) -> list[str]:
    """Report lines for issue #14's figures (nothing when they were not measured)."""
    lines = []
    if inf.large_upload is not None:
        w, h = LARGE_PHOTO_SIZE
        lines.append(
            f"{w}x{h} photo-like JPEG ({inf.large_upload_bytes:,} bytes) -> top-3: "
            f"p50 {inf.large_upload.p50_ms:.1f} ms, "
            f"p99 {inf.large_upload.p99_ms:.1f} ms over {len(inf.large_upload.seconds)} calls (target p50 <= 20 ms)"
        )
    if inf.photo_set is not None:
        lines.append(f"photo-like set (python -m fmnist_core photoset, seed {PHOTO_SET_SEED}): "
                     f"{inf.photo_set.describe()}")
    if inf.clean_set is not None:
        lines.append(f"same test images as clean product photos: {inf.clean_set.describe()}")
    return lines


def load_inference_model(fallback=None, log: Callable[[str], None] = print) -> tuple[Any, str]:
    """The shipped default run's model when there is one, else `fallback` (the model trained just now)."""
    from fmnist_core.errors import FmnistError
    from fmnist_core.runs import RunStore

    store = RunStore()
    try:
        model = store.load_model("default")
        return model, f"run 'default' ({store.run_path('default')})"
    except FmnistError as exc:
        log(f"[inference] no usable 'default' run ({exc}); using the model trained in this benchmark")
    if fallback is not None:
        return fallback, "the default recipe's model trained in this benchmark"
    from fmnist_core.config import PRESETS
    from fmnist_core.models import build_model

    log("[inference] no trained model either: timing an untrained default-architecture model")
    return build_model(PRESETS["default"].architecture), "an untrained model (timings only; accuracy meaningless)"


def _time_calls(fn: Callable[[], Any], count: int, label: str) -> LatencySample:
    sample = LatencySample(label)
    for _ in range(count):
        start = time.perf_counter()
        fn()
        sample.seconds.append(time.perf_counter() - start)
    return sample


def _time_uploads(predictor, data: bytes, count: int, label: str, warmups: int = 0) -> LatencySample:
    """Bytes -> top-3 through predictor.classify_bytes, the upload path users take: `warmups` untimed
    calls first (results unused), then `count` timed ones."""
    for _ in range(warmups):
        _ = predictor.classify_bytes(data).top3
    return _time_calls(lambda: predictor.classify_bytes(data).top3, count, label)


def run_inference(
    model,
    model_source: str,
    dataset,
    *,
    upload_calls: int = 200,
    keras_calls: int = 20,
    test_set_repeats: int = 3,
    photo_count: int = PHOTO_SET_COUNT,
    log: Callable[[str], None] = print,
) -> InferenceResult:
    from fmnist_core.inference import Predictor
    from fmnist_core.preprocess import preprocess_upload

    index = 0
    data = make_user_jpeg(dataset.x_test[index])
    predictor = Predictor(model)
    predictor.warm_up()
    log(f"[inference] model: {model_source}; upload: {len(data)} byte 600x600 JPEG; {upload_calls} calls")
    upload = _time_uploads(predictor, data, upload_calls, "upload -> top-3", warmups=5)
    preprocess = _time_calls(lambda: preprocess_upload(data), upload_calls, "preprocess only")
    one = preprocess_upload(data).model_input
    forward = _time_calls(lambda: predictor.predict(one), upload_calls, "forward only")
    batch = one[np.newaxis]
    for _ in range(2):
        model.predict(batch, verbose=0)
    keras_predict = _time_calls(lambda: model.predict(batch, verbose=0), keras_calls, "model.predict")

    predictor.predict_many(dataset.x_test)  # warm the batch shapes
    test_seconds = []
    probabilities = None
    for _ in range(test_set_repeats):
        start = time.perf_counter()
        probabilities = predictor.predict_many(dataset.x_test)
        test_seconds.append(time.perf_counter() - start)
    accuracy = float((probabilities.argmax(axis=1) == dataset.y_test).mean())
    top3 = predictor.classify_bytes(data).top3

    large = make_large_photo_jpeg(dataset.x_test[index])
    log(f"[inference] {LARGE_PHOTO_SIZE[0]}x{LARGE_PHOTO_SIZE[1]} JPEG: {len(large)} bytes; {upload_calls} calls")
    large_upload = _time_uploads(predictor, large, upload_calls, "4000x3000 -> top-3", warmups=3)
    photo_set = clean_set = None
    if photo_count:
        log(f"[inference] photo-like set: {photo_count} photos and the same images as clean product photos")
        photo_set, clean_set = score_photo_sets(
            lambda d: predictor.classify_bytes(d).probabilities, dataset, photo_count
        )
        log(f"[inference] photo set {photo_set.describe()}; clean {clean_set.accuracy:.2%}")
    return InferenceResult(
        model_source=model_source,
        image_bytes=len(data),
        image_size=(600, 600),
        upload=upload,
        preprocess=preprocess,
        forward=forward,
        keras_predict=keras_predict,
        test_set_seconds=test_seconds,
        test_set_images=len(dataset.y_test),
        test_set_accuracy=accuracy,
        upload_true_label=int(dataset.y_test[index]),
        upload_top3=top3,
        large_upload=large_upload,
        large_upload_bytes=len(large),
        photo_set=photo_set,
        clean_set=clean_set,
    )


# ---------------------------------------------------------------- LiteRT (issue 17 item 3; export engineer)
@dataclass
class LiteRTInferenceResult:
    """The LiteRT path as the CLI and the Classify page use it, beside Keras on the same images."""

    backend: str  # what load_predictor chose: "litert" or "keras" (the fallback)
    cold_predict_seconds: list[float]  # `python -m fmnist_core predict default IMAGE`, fresh process, wall
    cold_predict_imports_tensorflow: bool
    cold_predict_cpu_seconds: list[float]  # user + system CPU of those processes: what load cannot inflate
    upload: LatencySample  # same 600x600 JPEG bytes -> top-3 as InferenceResult.upload
    upload_small: LatencySample  # a 28x28 PNG (a Fashion-MNIST-sized image) bytes -> top-3
    forward: LatencySample  # one 28x28 image through the interpreter
    test_set_seconds: list[float]
    test_set_cpu_seconds: list[float]  # process CPU time (all threads) of each pass
    test_set_images: int
    test_set_accuracy: float
    agreement_with_keras: float | None  # fraction of test predictions equal to the Keras model's
    # The 4000x3000 photo of InferenceResult.large_upload on this path, the one the app and the CLI take:
    # there the Keras call of each upload wakes TensorFlow's thread pools, which then compete with the
    # next decode (31.3 ms p50 there against 16.4 ms standalone, same machine, same hour).
    large_upload: LatencySample | None = None

    @property
    def test_set_median_seconds(self) -> float:
        return median(self.test_set_seconds)


def measure_cold_predict(image_path: str, repeats: int = 3) -> tuple[list[float], bool, list[float]]:
    """Wall seconds of fresh `predict default IMAGE` processes, whether any imported TensorFlow, and
    their CPU seconds (on shared cores the wall time mostly measures the others' load)."""
    import os
    import resource
    import subprocess
    import sys

    from . import PROJECT_DIR

    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    seconds, imported_tf, cpu = [], False, []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        command = [sys.executable, "-X", "importtime", "-m", "fmnist_core", "predict", "default", image_path]
        proc = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
        seconds.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise RuntimeError(f"predict failed: {proc.stderr[-500:]}")
        imported_tf = imported_tf or any(line.rsplit("|", 1)[-1].strip().startswith(("tensorflow", "keras"))
                                         for line in proc.stderr.splitlines() if line.startswith("import time:"))
    return seconds, imported_tf, cpu


def run_litert_inference(dataset, *, keras_probabilities: np.ndarray | None = None, upload_calls: int = 200,
                         test_set_repeats: int = 3, cold_repeats: int = 3,
                         log: Callable[[str], None] = print) -> LiteRTInferenceResult:
    """Time the shipped default run through fmnist_core.inference.load_predictor (LiteRT when it can)."""
    import tempfile

    from PIL import Image

    from fmnist_core.inference import load_predictor
    from fmnist_core.preprocess import preprocess_upload
    from fmnist_core.runs import RunStore

    data = make_user_jpeg(dataset.x_test[0])
    with tempfile.TemporaryDirectory() as folder:
        image_path = f"{folder}/image.png"
        Image.fromarray(dataset.x_test[0], mode="L").save(image_path)
        cold, imported_tf, cold_cpu = measure_cold_predict(image_path, cold_repeats)
    log(f"[litert] cold predict: {', '.join(f'{s:.2f}' for s in cold)} s wall, "
        f"{', '.join(f'{s:.2f}' for s in cold_cpu)} s CPU; imports TensorFlow: {imported_tf}")
    predictor = load_predictor(RunStore(), "default", export_missing=False)
    predictor.warm_up()
    upload = _time_uploads(predictor, data, upload_calls, "litert upload -> top-3", warmups=5)
    small = io.BytesIO()
    Image.fromarray(dataset.x_test[0], mode="L").save(small, format="PNG")
    upload_small = _time_uploads(predictor, small.getvalue(), upload_calls, "litert 28x28 PNG")
    one = preprocess_upload(data).model_input
    forward = _time_calls(lambda: predictor.predict(one), upload_calls, "litert forward only")
    large = make_large_photo_jpeg(dataset.x_test[0])
    large_upload = _time_uploads(predictor, large, max(1, upload_calls // 4), "litert 4000x3000 -> top-3",
                                 warmups=3)
    predictor.predict_many(dataset.x_test)  # warm the batch shapes
    seconds, cpu_seconds, probabilities = [], [], None
    for _ in range(test_set_repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        probabilities = predictor.predict_many(dataset.x_test)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    agreement = None
    if keras_probabilities is not None:
        agreement = float(np.mean(probabilities.argmax(1) == np.asarray(keras_probabilities).argmax(1)))
    return LiteRTInferenceResult(
        backend=predictor.backend_name, cold_predict_seconds=cold, cold_predict_imports_tensorflow=imported_tf,
        cold_predict_cpu_seconds=cold_cpu,
        upload=upload, upload_small=upload_small, forward=forward, test_set_seconds=seconds,
        test_set_cpu_seconds=cpu_seconds, test_set_images=len(dataset.y_test),
        test_set_accuracy=float(np.mean(probabilities.argmax(1) == dataset.y_test)), agreement_with_keras=agreement,
        large_upload=large_upload,
    )


def litert_report_lines(result: LiteRTInferenceResult) -> list[str]:
    """Markdown rows for RESULTS.md: each issue-17 item-3 target beside what was measured."""
    agree = f"{result.agreement_with_keras:.2%}" if result.agreement_with_keras is not None else "not measured"
    cold = median(result.cold_predict_seconds)
    return [
        f"| LiteRT inference (backend: {result.backend}) | target | measured |",
        "|---|---|---|",
        f"| cold `predict default IMAGE`, median of {len(result.cold_predict_seconds)} | <= 1.5 s | "
        f"{cold:.2f} s wall, {median(result.cold_predict_cpu_seconds):.2f} s CPU "
        f"(TensorFlow imported: {'yes' if result.cold_predict_imports_tensorflow else 'no'}) |",
        f"| 600x600 JPEG bytes -> top-3, warm p50 / p99 | <= 2 ms p50 | {result.upload.p50_ms:.2f} / "
        f"{result.upload.p99_ms:.2f} ms |",
        f"| 28x28 PNG bytes -> top-3, warm p50 / p99 | <= 2 ms p50 | {result.upload_small.p50_ms:.2f} / "
        f"{result.upload_small.p99_ms:.2f} ms |",
        f"| of which the interpreter, 1 image, p50 | | {result.forward.p50_ms:.2f} ms |",
        *([f"| {LARGE_PHOTO_SIZE[0]}x{LARGE_PHOTO_SIZE[1]} photo-like JPEG bytes -> top-3, warm p50 / p99 | "
           f"<= 20 ms p50 (#14) | {result.large_upload.p50_ms:.2f} / {result.large_upload.p99_ms:.2f} ms |"]
          if result.large_upload is not None else []),
        f"| {result.test_set_images:,} test images, median of {len(result.test_set_seconds)} | <= 1 s | "
        f"{result.test_set_median_seconds:.2f} s wall, {median(result.test_set_cpu_seconds):.2f} s CPU "
        f"(accuracy {result.test_set_accuracy:.2%}) |",
        f"| agreement with the Keras model on the test set | >= 99.9% | {agree} |",
    ]
