"""Fashion-MNIST loading: the official files through Keras' cache, or a folder named by FMNIST_DATA_DIR."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .constants import (
    DATA_DIR_ENV,
    DATA_FILES,
    IMAGE_SIZE,
    NUM_CLASSES,
    OFFICIAL_MD5,
    SPLIT_SEED,
    VALIDATION_SIZE,
    keras_cache_data_dir,
)
from .errors import CorruptDataError, DataNotFoundError

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
LOGGER = logging.getLogger(__name__)

#: Set to 1 to never download (CI, tests, machines without internet): a missing dataset fails at once.
OFFLINE_ENV = "FMNIST_OFFLINE"
#: A failed download is not tried again for this long (every page rerun would otherwise retry it).
DOWNLOAD_RETRY_SECONDS = 60.0
#: The one command that fetches the official files into Keras' cache folder (needs internet).
DOWNLOAD_COMMAND = 'python -c "import keras; keras.datasets.fashion_mnist.load_data()"'


@dataclass(frozen=True)
class DataSource:
    """Which copy of the dataset was read, so the app can say so."""

    folder: str
    official: bool
    md5: dict[str, str]

    @property
    def official_files(self) -> list[str]:
        return [name for name, digest in self.md5.items() if OFFICIAL_MD5.get(name) == digest]

    @property
    def description(self) -> str:
        if self.official:
            return f"the official Fashion-MNIST files (MD5 verified) from {self.folder}"
        matching = len(self.official_files)
        return (
            f"a non-official copy from {self.folder} "
            f"({matching} of {len(self.md5)} files match the official MD5s)"
        )


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # uint8 (N, 28, 28)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    source: DataSource


@dataclass(frozen=True)
class Split:
    """Training data with the validation images held out (test set untouched)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def resolve_data_dir() -> tuple[Path, bool]:
    """The folder to read and whether it came from the environment variable."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser(), True
    return keras_cache_data_dir(), False


def _md5(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def _read_idx(path: Path, magic: int, expected_dims: int) -> tuple[np.ndarray, str]:
    """The array in a gzip IDX file and the file's MD5 (from the same bytes: each file is read once)."""
    try:
        packed = path.read_bytes()
        raw = gzip.decompress(packed)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptDataError(f"{path} is not a readable gzip IDX file: {exc}") from exc
    digest = hashlib.md5(packed).hexdigest()
    header_len = 4 + 4 * expected_dims
    if len(raw) < header_len:
        raise CorruptDataError(f"{path} is truncated (only {len(raw)} bytes)")
    found_magic = struct.unpack(">I", raw[:4])[0]
    if found_magic != magic:
        raise CorruptDataError(f"{path} has IDX magic {found_magic}, expected {magic}")
    dims = struct.unpack(f">{expected_dims}I", raw[4:header_len])
    count = int(np.prod(dims))
    if len(raw) - header_len != count:
        raise CorruptDataError(
            f"{path} declares {count} values but holds {len(raw) - header_len}: the file is damaged"
        )
    return np.frombuffer(raw, np.uint8, offset=header_len).reshape(dims), digest


def download_with_keras() -> None:
    """Let Keras fetch the official files into its cache (needs internet)."""
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        raise DataNotFoundError(f"downloads are switched off ({OFFLINE_ENV}=1)")
    import keras

    keras.datasets.fashion_mnist.load_data()


#: What fetches the files when the Keras cache lacks them; tests replace it with one that fails fast.
downloader: Callable[[], None] = download_with_keras

_failed_downloads: dict[str, tuple[float, str]] = {}  # folder -> (time.monotonic() of the failure, message)
_failed_lock = threading.Lock()


def forget_failed_download() -> None:
    """Allow the next load to try the download again at once (the app's "Try again" button)."""
    with _failed_lock:
        _failed_downloads.clear()


def _missing_message(folder: Path, missing: list[str], *, from_env: bool) -> str:
    where = f"{folder} (the folder {DATA_DIR_ENV} names)" if from_env else f"{folder} (Keras' cache folder)"
    files = "all four files" if len(missing) == len(DATA_FILES) else ", ".join(missing)
    return (
        f"Looked in {where}: {files} missing. Set {DATA_DIR_ENV} to a folder holding the four Fashion-MNIST "
        f".gz files, or download them into Keras' cache folder ({keras_cache_data_dir()}, where the app looks "
        f"when {DATA_DIR_ENV} is unset) with `{DOWNLOAD_COMMAND}` (needs internet)."
    )


def _missing_files(folder: Path) -> list[str]:
    return [name for name in DATA_FILES.values() if not (folder / name).is_file()]


def _read_folder(folder: Path, *, from_env: bool = True) -> Dataset:
    missing = _missing_files(folder)
    if missing:
        raise DataNotFoundError(_missing_message(folder, missing, from_env=from_env))
    paths = {key: folder / name for key, name in DATA_FILES.items()}
    x_train, md5_x_train = _read_idx(paths["train_images"], _IDX_IMAGES_MAGIC, 3)
    y_train, md5_y_train = _read_idx(paths["train_labels"], _IDX_LABELS_MAGIC, 1)
    x_test, md5_x_test = _read_idx(paths["test_images"], _IDX_IMAGES_MAGIC, 3)
    y_test, md5_y_test = _read_idx(paths["test_labels"], _IDX_LABELS_MAGIC, 1)
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    for name, images, labels in (("training", x_train, y_train), ("test", x_test, y_test)):
        if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) != len(labels):
            raise CorruptDataError(f"{name} images {images.shape} do not match labels {labels.shape}")
        if labels.size and labels.max() >= NUM_CLASSES:
            raise CorruptDataError(f"{name} labels hold a class >= {NUM_CLASSES}")
    digests = {"train_images": md5_x_train, "train_labels": md5_y_train, "test_images": md5_x_test,
               "test_labels": md5_y_test}
    return Dataset(x_train, y_train, x_test, y_test, _source(folder, {DATA_FILES[k]: v for k, v in digests.items()}))


def _source(folder: Path, md5: dict[str, str]) -> DataSource:
    official = all(md5[name] == OFFICIAL_MD5[name] for name in md5)
    return DataSource(folder=str(folder), official=official, md5=md5)


@lru_cache(maxsize=8)
def _source_of_files(folder: str, stamps: tuple[tuple[int, int], ...]) -> DataSource:
    return _source(Path(folder), {name: _md5(Path(folder) / name) for name in DATA_FILES.values()})


def read_source() -> DataSource:
    """Which copy load_dataset() reads (the files' MD5s) without decoding 70,000 images: Home needs only this.

    With files missing it is load_dataset()'s answer: a download (at most once a minute) or DataNotFoundError.
    """
    folder, from_env = resolve_data_dir()
    if _missing_files(folder):
        return load_dataset().source
    paths = [folder / name for name in DATA_FILES.values()]
    stamps = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _source_of_files(str(folder), stamps)


def _download_once(folder: Path) -> None:
    """Download into Keras' cache, but at most once a minute: a failure is remembered and re-raised."""
    key = str(folder)
    with _failed_lock:
        failed = _failed_downloads.get(key)
        if failed is not None and time.monotonic() - failed[0] < DOWNLOAD_RETRY_SECONDS:
            raise DataNotFoundError(failed[1])
    try:
        downloader()
    except Exception as exc:  # noqa: BLE001 - any download failure means "not available"
        LOGGER.warning("Fashion-MNIST download failed: %s: %s", type(exc).__name__, exc)
        reason = str(exc) if isinstance(exc, DataNotFoundError) else f"{type(exc).__name__}, no connection?"
        message = f"The download failed ({reason}). " + _missing_message(folder, _missing_files(folder), from_env=False)
        with _failed_lock:
            _failed_downloads[key] = (time.monotonic(), message)
        raise DataNotFoundError(message) from None
    forget_failed_download()


@lru_cache(maxsize=4)
def _load_cached(folder: str, from_env: bool) -> Dataset:
    path = Path(folder)
    if not from_env and _missing_files(path):
        _download_once(path)
    return _read_folder(path, from_env=from_env)


def load_dataset(data_dir: str | Path | None = None) -> Dataset:
    """Training and test sets as uint8 images and int labels; read once per process."""
    if data_dir is not None:
        return _load_cached(str(Path(data_dir).expanduser()), True)
    folder, from_env = resolve_data_dir()
    return _load_cached(str(folder), from_env)


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N,28,28) -> float32 (N,28,28,1) in [0,1], the layout every model takes."""
    images = np.asarray(images)
    scaled = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    return scaled[..., np.newaxis] if scaled.ndim == 3 else scaled


def stratified_split(
    images: np.ndarray, labels: np.ndarray, val_size: int = VALIDATION_SIZE, seed: int = SPLIT_SEED
) -> Split:
    """Hold out val_size images with the class balance of the whole set, the same for a given seed."""
    labels = np.asarray(labels)
    if not 0 < val_size < len(labels):
        raise ValueError(f"val_size must be between 1 and {len(labels) - 1}, got {val_size}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quotas = np.floor(counts / len(labels) * val_size).astype(int)
    # Hand the remainder to the classes with the largest fractional share.
    remainder = val_size - quotas.sum()
    fractions = counts / len(labels) * val_size - quotas
    for idx in np.argsort(-fractions)[:remainder]:
        quotas[idx] += 1
    val_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == cls))[:quota] for cls, quota in zip(classes, quotas)]
    )
    val_mask = np.zeros(len(labels), dtype=bool)
    val_mask[val_idx] = True
    return Split(images[~val_mask], labels[~val_mask], images[val_mask], labels[val_mask])
