"""Cached loaders: the dataset, derived views of it, models, evaluations and histories.

* ``st.cache_resource`` holds objects that are shared read-only by every session and would
  be wasteful to copy: the decoded dataset (~55 MB of uint8 arrays, read once per process)
  and loaded models wrapped in ``fmnist_core.inference.Predictor``.
* ``st.cache_data`` holds the arrays and results the pages draw: class counts, mean
  images, shuffled/filtered index lists, augmentation previews, test-set evaluations and
  training histories. Every key includes what the value depends on (a model's SHA-256,
  the data files' MD5, a history file's modification time), so nothing stale is served.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from fmnist_core.charts import class_counts, mean_images
from fmnist_core.data import Dataset, DataSource, load_dataset, read_source, resolve_data_dir
from fmnist_core.errors import DataError
from fmnist_core.evaluation import EvaluationResult
from fmnist_core.runs import HISTORY_FILE, RunInfo

from .layout import data_missing_notice
from .state import pretrained_dir, run_store


# ---------------------------------------------------------------- dataset
@st.cache_resource(show_spinner="Reading Fashion-MNIST…", max_entries=2)
def _dataset(folder: str, from_env: bool) -> Dataset:
    return load_dataset(folder) if from_env else load_dataset()


def dataset() -> Dataset:
    """The training and test sets (shared by all sessions; never modify the arrays)."""
    folder, from_env = resolve_data_dir()
    return _dataset(str(folder), from_env)


def data_source() -> DataSource | DataError:
    """Which copy of the dataset is read (without decoding it), or why it cannot be read."""
    try:
        return read_source()
    except DataError as exc:
        return exc


def dataset_problem() -> DataError | None:
    """Why the dataset cannot be read (None when it can); a failed download is retried at most once a minute."""
    try:
        dataset()
    except DataError as exc:
        return exc
    return None


def require_dataset() -> Dataset:
    """The dataset, or one clear message (folder, variable, download command) and the end of the page's run."""
    problem = dataset_problem()
    if problem is not None:
        data_missing_notice(problem)
        st.stop()
    return dataset()


def training_data_notice() -> bool:
    """Before the Start button: say that training needs the data when it is missing; True when it is there."""
    problem = dataset_problem()
    if problem is None:
        return True
    st.warning("Training needs the Fashion-MNIST data, which this server cannot read yet.",
               icon=":material/warning:")
    data_missing_notice(problem)
    return False


def split_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    data = dataset()
    if split == "train":
        return data.x_train, data.y_train
    if split == "test":
        return data.x_test, data.y_test
    raise ValueError(f"unknown split {split!r}")


def data_fingerprint() -> str:
    """The MD5s of the files read, for cache keys that must change with the data."""
    md5 = dataset().source.md5
    return ",".join(f"{name}={md5[name]}" for name in sorted(md5))


@st.cache_data(show_spinner=False, max_entries=4)
def _class_counts(fingerprint: str) -> tuple[np.ndarray, np.ndarray]:
    data = dataset()
    return class_counts(data.y_train), class_counts(data.y_test)


def class_counts_both() -> tuple[np.ndarray, np.ndarray]:
    """Images per class in (train, test)."""
    return _class_counts(data_fingerprint())


@st.cache_data(show_spinner="Averaging the images of each class…", max_entries=4)
def _mean_images(fingerprint: str, split: str) -> np.ndarray:
    return mean_images(*split_arrays(split))


def class_mean_images(split: str) -> np.ndarray:
    return _mean_images(data_fingerprint(), split)


@st.cache_data(show_spinner=False, max_entries=64)
def _shuffled_indices(fingerprint: str, split: str, classes: tuple[int, ...], seed: int) -> np.ndarray:
    _, labels = split_arrays(split)
    indices = np.flatnonzero(np.isin(labels, classes)) if classes else np.arange(len(labels))
    return np.random.default_rng(seed).permutation(indices)


def shuffled_indices(split: str, classes: tuple[int, ...], seed: int) -> np.ndarray:
    """Indices of the split's images of the given classes (all when empty), shuffled by seed."""
    return _shuffled_indices(data_fingerprint(), split, tuple(sorted(set(classes))), int(seed))


@st.cache_data(show_spinner=False, max_entries=32)
def _class_indices(fingerprint: str, split: str, label: int) -> np.ndarray:
    _, labels = split_arrays(split)
    return np.flatnonzero(labels == label)


def class_indices(split: str, label: int) -> np.ndarray:
    return _class_indices(data_fingerprint(), split, int(label))


# ---------------------------------------------------------------- augmentation preview
@st.cache_data(show_spinner="Augmenting…", max_entries=64)
def _augmented(fingerprint: str, split: str, index: int, settings: tuple, count: int, seed: int) -> np.ndarray:
    from fmnist_core.augmentation import AugmentationConfig, augment_preview

    images, _ = split_arrays(split)
    return augment_preview(images[index], AugmentationConfig.from_dict(dict(settings)), count=count, seed=seed)


def augmented_previews(split: str, index: int, settings: dict, count: int, seed: int) -> np.ndarray:
    """count augmented copies of one dataset image through the training augmentation stack."""
    return _augmented(data_fingerprint(), split, int(index), tuple(sorted(settings.items())), int(count), int(seed))


@st.cache_data(show_spinner="Rendering as a photo…", max_entries=32)
def _photo_render(fingerprint: str, split: str, index: int):
    from fmnist_core.photo_renders import render_example

    images, _ = split_arrays(split)
    return render_example(images[index], index)


def photo_render(split: str, index: int):
    """One dataset image rendered as a photo, and the 28x28 the upload pipeline makes of it (RenderExample)."""
    return _photo_render(data_fingerprint(), split, int(index))


@st.cache_data(show_spinner=False, max_entries=2)
def _photo_render_cache_file(fingerprint: str) -> Path:
    """The data's photo-render cache file: hashing the training images once, not at every re-read."""
    from fmnist_core.photo_renders import default_cache_dir, render_cache_path

    data = dataset()
    return render_cache_path(default_cache_dir(), data.x_train, data.y_train)


@st.cache_data(ttl=30, show_spinner=False, max_entries=2)
def _photo_renders_made(cache_file: Path) -> int:
    from fmnist_core.photo_renders import rendered_count

    return rendered_count(cache_file, dataset().y_train)


def photo_renders_made() -> int:
    """How many training images this machine's cache has already rendered as photos (re-read every 30 s)."""
    return _photo_renders_made(_photo_render_cache_file(data_fingerprint()))


# ---------------------------------------------------------------- models and runs
def _store_key() -> tuple[str, str]:
    store = run_store()
    return str(store.root), str(pretrained_dir())


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _predictor(root: str, pretrained: str, run_id: str, model_sha256: str):
    from fmnist_core.inference import load_predictor  # LiteRT, or Keras (TensorFlow)

    predictor = load_predictor(run_store(), run_id)
    predictor.warm_up()
    return predictor


def predictor(run: RunInfo):
    """The run's verified model in a thread-safe Predictor, loaded once per run id + checksum."""
    return _predictor(*_store_key(), run.run_id, str(run.meta.get("model_sha256", "")))


@st.cache_data(show_spinner="Evaluating the model on the 10,000 test images…", max_entries=8)
def _evaluation(root: str, pretrained: str, run_id: str, model_sha256: str, fingerprint: str) -> EvaluationResult:
    from fmnist_core.evaluation import cached_predictions

    # The same cache, key and float32 evaluation as `python -m fmnist_core evaluate` and the training
    # run's recorded score: one accuracy per model everywhere.
    store = run_store()
    return cached_predictions(store.get(run_id), store, dataset())


def evaluation(run: RunInfo) -> EvaluationResult:
    """Test-set predictions of a run (cached on disk beside the model and in memory)."""
    return _evaluation(*_store_key(), run.run_id, str(run.meta.get("model_sha256", "")), data_fingerprint())


@st.cache_data(show_spinner=False, max_entries=64)
def _history(path: str, mtime_ns: int) -> dict[str, list[float]]:
    import json

    return json.loads(Path(path).read_text())


def history(run: RunInfo) -> dict[str, list[float]]:
    """A run's per-epoch history ({} before its first epoch)."""
    path = run.path / HISTORY_FILE
    try:
        stat = path.stat()
    except OSError:
        return {}
    try:
        return _history(str(path), stat.st_mtime_ns)
    except ValueError:
        return {}
