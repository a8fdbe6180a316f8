"""Facts about the dataset and the project's folders, defined once for every caller."""

from __future__ import annotations

import os
from pathlib import Path

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES: int = len(CLASS_NAMES)
IMAGE_SIZE: int = 28
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)

TRAIN_SIZE: int = 60_000
TEST_SIZE: int = 10_000
VALIDATION_SIZE: int = 5_000
SPLIT_SEED: int = 1234

DATA_DIR_ENV: str = "FMNIST_DATA_DIR"
RUNS_DIR_ENV: str = "FMNIST_RUNS_DIR"
CACHE_DIR_ENV: str = "FMNIST_CACHE_DIR"
# A folder holding the shipped default run instead of the package's, or "none" to ignore it (tests).
PRETRAINED_DIR_ENV: str = "FMNIST_PRETRAINED_DIR"

PACKAGE_DIR: Path = Path(__file__).resolve().parent
PROJECT_DIR: Path = PACKAGE_DIR.parent
PRETRAINED_DIR: Path = PACKAGE_DIR / "pretrained"
DEFAULT_RUN_ID: str = "default"

DATA_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# Published by Zalando Research for the official files.
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

# Uploads larger than this are refused before decoding.
MAX_UPLOAD_BYTES: int = 5 * 1024 * 1024
# Decoded images with more pixels than this are refused (decompression bombs).
MAX_IMAGE_PIXELS: int = 40_000_000
MAX_IMAGE_SIDE: int = 12_000


def default_runs_dir() -> Path:
    """The user's runs folder: $FMNIST_RUNS_DIR, else runs/ in the project."""
    configured = os.environ.get(RUNS_DIR_ENV)
    return Path(configured).expanduser() if configured else PROJECT_DIR / "runs"


def cache_dir() -> Path:
    """Where derived data is kept between runs (photo renders): $FMNIST_CACHE_DIR, else the user's cache
    folder ($XDG_CACHE_HOME or ~/.cache) / fmnist-studio. Outside the project, so one cache serves every
    runs folder, the command line and the benchmarks."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "fmnist-studio"


def pretrained_dir() -> Path | None:
    """Where the shipped default run lives: $FMNIST_PRETRAINED_DIR, none when it says so, else the package's."""
    configured = os.environ.get(PRETRAINED_DIR_ENV)
    if configured is None:
        return PRETRAINED_DIR
    if configured.strip().lower() in {"", "none", "off"}:
        return None
    return Path(configured).expanduser()


def keras_cache_data_dir() -> Path:
    """The folder keras.datasets.fashion_mnist.load_data() caches its files in."""
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home) if keras_home else Path.home() / ".keras"
    return base / "datasets" / "fashion-mnist"
