"""Run a saved model's LiteRT copy with the small ai-edge-litert runtime: no TensorFlow, no Keras.

Importing TensorFlow costs seconds (6 s of an 8.8 s `predict` on a slow laptop); this runtime
imports in about 0.3 s. A run's .tflite is read only by run id and only after its SHA-256 matches
the one recorded in run.json, exactly like model.keras (runs.load_verified_model).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .constants import INPUT_SHAPE
from .errors import ModelIntegrityError
from .runs import RunInfo, RunStore, sha256_file

LITERT_FILE = "model.tflite"
LITERT_SHA_KEY = "litert_sha256"
LITERT_SOURCE_KEY = "litert_source_sha256"  # the model.keras checksum the .tflite was converted from
LITERT_ERROR_KEY = "litert_error"  # why the converter refused the model (Keras serves it)
LITERT_FAILED_SOURCE_KEY = "litert_failed_source_sha256"  # ...and which model.keras: not retried


def runtime_available() -> bool:
    """Whether the ai-edge-litert package is installed (it is optional: Keras is the fallback)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def _threads() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(4, os.cpu_count() or 1))


_banner_lock = threading.Lock()
_banner_shown = False


@contextlib.contextmanager
def _banner_silenced() -> Iterator[None]:
    """Hide the runtime's one-per-process "INFO: Created TensorFlow Lite XNNPACK delegate" line.

    It is written by native code straight to file descriptor 2 on the first allocate_tensors() of
    the process (no log-level setting reaches it), and would be the only stderr line of a good
    `predict`. Only that first allocation, a few milliseconds, is silenced."""
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            yield
            return
        _banner_shown = True
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
                try:
                    yield
                finally:
                    os.dup2(saved, 2)
        finally:
            os.close(saved)


class LiteRTModel:
    """A LiteRT flatbuffer behind two interpreters: batch 1 (one user image: single-threaded, no
    resizing) and a batch interpreter for many images. Each has a lock: interpreters are not thread-safe."""

    def __init__(self, content: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.content = content
        self._single = Interpreter(model_content=content, num_threads=1)
        self._batch = Interpreter(model_content=content, num_threads=_threads())
        with _banner_silenced():
            self._single.allocate_tensors()
            self._batch.allocate_tensors()
        self._batch_size = 1
        # Tensor indices never change (resizing keeps them): looked up once, not per call (10 us of a
        # 0.3 ms invoke, in issue 17's 2 ms budget for one upload).
        self._ports = {id(self._single): self._io(self._single), id(self._batch): self._io(self._batch)}
        self._single_lock = threading.Lock()
        self._batch_lock = threading.Lock()

    @staticmethod
    def _io(interpreter) -> tuple[int, int]:
        return interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def _run(self, interpreter, x: np.ndarray) -> np.ndarray:
        inp, out = self._ports[id(interpreter)]
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out), dtype=np.float32)  # a copy: the buffer is reused

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for float32 (N,28,28,1) images in [0,1]."""
        x = np.ascontiguousarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[np.newaxis]
        if len(x) == 1:
            with self._single_lock:
                return self._run(self._single, x)
        with self._batch_lock:
            if len(x) != self._batch_size:
                self._batch.resize_tensor_input(self._io(self._batch)[0], (len(x), *INPUT_SHAPE))
                self._batch.allocate_tensors()
                self._batch_size = len(x)
            return self._run(self._batch, x)


def recorded_litert(run: RunInfo) -> bool:
    """Whether run.json records a LiteRT copy made from the run's current model.keras."""
    meta = run.meta
    return bool(meta.get(LITERT_SHA_KEY)) and meta.get(LITERT_SOURCE_KEY) == meta.get("model_sha256") and (
        run.path / LITERT_FILE
    ).is_file()


def load_verified_litert(path: Path, expected_sha256: str, *, label: str) -> LiteRTModel:
    """Checksum first, then the runtime: a modified or half-written file is refused, never run."""
    content = Path(path).read_bytes()
    import hashlib

    if hashlib.sha256(content).hexdigest() != expected_sha256:
        raise ModelIntegrityError(
            f"{label}: the LiteRT file does not match the checksum recorded when it was exported "
            "(it was modified or only partly written); it will not be loaded"
        )
    try:
        return LiteRTModel(content)
    except (RuntimeError, ValueError) as exc:
        raise ModelIntegrityError(f"{label}: the LiteRT file cannot be read ({exc})") from exc


def load_run_litert(store: RunStore, run_id: str) -> LiteRTModel | None:
    """The run's verified LiteRT model, or None when it has no up-to-date copy or no runtime."""
    run = store.get(run_id)
    if not recorded_litert(run) or not runtime_available():
        return None
    return load_verified_litert(run.path / LITERT_FILE, run.meta[LITERT_SHA_KEY], label=f"run {run_id!r}")


def ensure_run_litert(store: RunStore, run_id: str) -> bool:
    """Export a finished run's LiteRT copy if it lacks an up-to-date one (imports TensorFlow once).

    Used for runs saved before exports existed. Returns whether a verified copy now exists; a run
    still training, a folder that cannot be written, or a model the converter refuses keeps Keras."""
    run = store.get(run_id)
    if recorded_litert(run):
        return True
    if not run.has_model or run.status == "running":
        return False
    if run.meta.get(LITERT_FAILED_SOURCE_KEY) == run.meta.get("model_sha256"):
        return False  # this very model was refused by the converter once: do not pay TensorFlow again
    from .export import export_run_litert  # imports TensorFlow

    model = store.load_model(run_id)
    try:
        entries = export_run_litert(model, run.path, run.meta.get("model_sha256"))
        fresh = store.get(run_id)  # re-read: keep anything written meanwhile
        if fresh.meta.get("model_sha256") != run.meta.get("model_sha256"):
            return False
        fresh.meta.update(entries)
        store.write_meta(fresh)
    except OSError:
        return False
    return LITERT_SHA_KEY in entries and sha256_file(run.path / LITERT_FILE) == entries[LITERT_SHA_KEY]
