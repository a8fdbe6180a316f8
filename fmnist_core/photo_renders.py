"""Training images rendered as photos, then sent through the upload pipeline: cached, seeded, stoppable.

Why: a model trained on Fashion-MNIST alone meets photos only through the upload pipeline's 28x28,
whose garments differ from the dataset's (outlines, tones, crops; docs/compute.md measured a gap of
about 5 points between photo-like and clean product photos). Adding training images that took the
same way as an upload, photoset.render_photo then preprocess.preprocess_upload, shows the model
what the pipeline makes of a photo. The renders are only ever of training images: the photo set
that measures the gap (photoset.generate_photos) is made of test images.

How the set is made, so that it is the same everywhere and cheap to reuse:

- The source images are a fixed, seeded ordering of the training split's 55,000 images (the
  hold-out 5,000 and the test set are never rendered). A run asking for N renders takes the first N
  of that order, so the 5,000 renders are the first half of the 10,000 and one cache serves every N.
- Each image is rendered with its own generator, seeded by (RENDER_SEED, its index): the same bytes
  whatever N, the thread that renders it, or the machine.
- A render the pipeline refuses (it finds no garment) is skipped, and the cache remembers it as
  tried, so N tries give slightly fewer than N images.
- The cache is one .npz file per dataset and per version of the rendering and pipeline code
  (RENDER_VERSION and a hash of the other modules' code as Python parses it, so a comment or a
  docstring edited there keeps the 7 minutes of renders), in the user's cache folder
  (constants.cache_dir), so every runs folder, the command line and the benchmarks share it. It is
  rewritten atomically every SAVE_EVERY_S seconds and when rendering ends: a stopped render keeps
  its work, and the next run goes on from there. A cache file that cannot be read is ignored and made again.
- Rendering takes about 70 ms per image on one core of a 2-core AMD EPYC (AVX2); threads share the
  work (Pillow and numpy release the GIL for most of it): 1.8x faster on its 2 cores, 26 renders a
  second, so the default recipe's 11,000 take about 7 minutes there, once.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import os
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .constants import SPLIT_SEED, VALIDATION_SIZE, cache_dir
from .data import stratified_split

__all__ = ["RENDER_SEED", "CHUNK", "SECONDS_PER_RENDER", "PhotoRenders", "RenderExample", "default_cache_dir",
           "render_example", "render_order", "render_cache_path", "rendered_count", "render_threads",
           "photo_renders", "with_photo_renders"]

#: Seeds the order of the source images and each image's own generator.
RENDER_SEED: Final[int] = 99
#: Renders between two progress reports and two looks at the stop request (a few seconds of work).
CHUNK: Final[int] = 64
#: Seconds between two saves of the cache while rendering (it is also saved when rendering ends).
SAVE_EVERY_S: Final[float] = 30.0
#: Raise it when this module's rendering (the order, the seeds, the stored form) changes: a new cache.
RENDER_VERSION: Final[int] = 1
#: The other modules whose code decides what a render looks like: a change to any starts a new cache.
_CODE_MODULES: Final[tuple[str, ...]] = ("photoset.py", "preprocess.py", "garment.py", "image_check.py")
_MAX_THREADS: Final[int] = 8
#: One render's seconds on one core, low and high: 0.07 measured on a 2-core AMD EPYC (AVX2, 2026-12-06),
#: widened for other CPUs. Only for the Training page's rough "renders first" note.
SECONDS_PER_RENDER: Final[tuple[float, float]] = (0.05, 0.1)

ProgressFn = Callable[[int, int, int, float], None]  # (done, total, done from the cache, elapsed seconds)


@dataclass(frozen=True)
class PhotoRenders:
    """Rendered 28x28 model inputs (uint8, as the dataset's images), their labels and source indices."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray  # into the training images (dataset.x_train)
    tried: int  # source images rendered; len(images) may be smaller (refused renders are skipped)
    from_cache: int  # how many of the tried ones came from the cache


def default_cache_dir() -> Path:
    """Where training and the app keep the renders: the user's cache folder (constants.cache_dir)."""
    return cache_dir() / "photo-renders"


def render_threads() -> int:
    """How many threads render at once: one per core, at most _MAX_THREADS."""
    return max(1, min(os.cpu_count() or 1, _MAX_THREADS))


def render_order(labels: np.ndarray) -> np.ndarray:
    """Indices of the training split's images (never the hold-out ones), in the fixed render order."""
    labels = np.asarray(labels)
    pool = np.arange(len(labels))
    if len(labels) > VALIDATION_SIZE:  # a dataset too small for a hold-out (tests) has none to keep out
        pool = stratified_split(pool, labels, seed=SPLIT_SEED).x_train
    return np.random.default_rng(RENDER_SEED).permutation(pool)


def code_fingerprint(sources: Sequence[str], version: int = RENDER_VERSION) -> str:
    """A hash of these modules' code, not of their text: each source's syntax tree without docstrings
    (ast.dump leaves out comments, layout and line numbers), so only a change a render could see counts."""
    digest = hashlib.blake2b(str(version).encode(), digest_size=8)
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                    and ast.get_docstring(node, clean=False) is not None):
                node.body = node.body[1:]
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    folder = Path(__file__).resolve().parent
    return code_fingerprint([(folder / name).read_text(encoding="utf-8") for name in _CODE_MODULES])


def render_cache_path(cache_dir: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """The cache file for this dataset's training images and this version of the rendering code."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).astype(np.int64).tobytes())
    return Path(cache_dir) / f"photo-renders-{digest.hexdigest()}-{_code_fingerprint()}.npz"


@dataclass(frozen=True)
class RenderExample:
    """One render: the photo-like JPEG and the 28x28 the upload pipeline makes of it (None: refused)."""

    photo: bytes
    model_input: np.ndarray | None


def render_example(image: np.ndarray, index: int) -> RenderExample:
    """Render one 28x28 uint8 training image as photo_renders does (seeded by its index), and preprocess it."""
    from .errors import ImageError
    from .photoset import render_photo
    from .preprocess import preprocess_upload

    data, _ = render_photo(image, np.random.default_rng([RENDER_SEED, int(index)]))
    try:
        model_input = preprocess_upload(data).model_input[..., 0]
    except ImageError:
        return RenderExample(data, None)
    return RenderExample(data, np.clip(np.rint(model_input * 255.0), 0, 255).astype(np.uint8))


def _read_cache(path: Path, order: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(tried, kept indices, their images) from a cache file; nothing when it is missing or unreadable."""
    empty = (0, np.zeros(0, np.int64), np.zeros((0, 28, 28), np.uint8))
    try:
        with np.load(path, allow_pickle=False) as stored:
            tried = int(stored["tried"])
            indices = np.asarray(stored["indices"], np.int64)
            images = np.asarray(stored["images"], np.uint8)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return empty
    tried_set = set(order[:tried].tolist())
    if (tried > len(order) or images.shape != (len(indices), 28, 28)
            or not tried_set.issuperset(indices.tolist())):
        return empty
    return tried, indices, images


def rendered_count(cache_file: Path, labels: np.ndarray) -> int:
    """How many source images a cache file (render_cache_path) has already rendered (0 without a readable one).

    It takes the file rather than the images: finding the file hashes the training images (0.13 s for
    60,000), which a caller asking again and again should do once."""
    return _read_cache(cache_file, render_order(labels))[0]


def _write_cache(path: Path, tried: int, indices: np.ndarray, images: np.ndarray) -> None:
    from .runs import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, tried=np.int64(tried), indices=indices.astype(np.int64), images=images)
    atomic_write_bytes(path, buffer.getvalue())


def photo_renders(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    cache_dir: Path,
    *,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    threads: int | None = None,
) -> PhotoRenders:
    """The first ``count`` renders of the training images (see the module docstring), from the cache
    where it has them; the rest are rendered CHUNK at a time, with the cache saved every SAVE_EVERY_S
    seconds. Stops early, with what is done so far, once ``should_stop()`` is true."""
    labels = np.asarray(labels)
    order = render_order(labels)
    count = max(0, min(int(count), len(order)))
    path = render_cache_path(cache_dir, images, labels)
    tried, indices, rendered = _read_cache(path, order)
    from_cache = min(tried, count)
    started = saved = time.perf_counter()
    workers = max(1, min(threads, _MAX_THREADS)) if threads else render_threads()
    if progress is not None:
        progress(from_cache, count, from_cache, 0.0)
    new_indices: list[int] = []
    new_images: list[np.ndarray] = []
    saved_tried = tried

    def save() -> None:
        nonlocal indices, rendered, saved, saved_tried
        if new_indices:
            indices = np.concatenate([indices, np.array(new_indices, np.int64)])
            rendered = np.concatenate([rendered, np.stack(new_images)])
            new_indices.clear()
            new_images.clear()
        if tried > saved_tried:
            _write_cache(path, tried, indices, rendered)
            saved_tried = tried
        saved = time.perf_counter()

    if tried < count:
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="photo-render") as pool:
                while tried < count and not should_stop():
                    chunk = order[tried : min(count, tried + CHUNK)]
                    # The whole chunk first: a render that raises leaves none of its chunk half-counted.
                    inputs = list(pool.map(lambda i: render_example(images[i], int(i)).model_input, chunk))
                    for index, result in zip(chunk, inputs):
                        if result is not None:
                            new_indices.append(int(index))
                            new_images.append(result)
                    tried += len(chunk)
                    if time.perf_counter() - saved >= SAVE_EVERY_S:
                        save()
                    if progress is not None:
                        progress(tried, count, from_cache, time.perf_counter() - started)
        finally:
            save()  # what was finished is kept, also when a render failed or the run was stopped
    wanted = set(order[: min(tried, count)].tolist())
    keep = np.array([int(i) in wanted for i in indices], dtype=bool)
    return PhotoRenders(rendered[keep], labels[indices[keep]], indices[keep], min(tried, count), from_cache)


def with_photo_renders(x_train: np.ndarray, y_train: np.ndarray,
                       renders: PhotoRenders) -> tuple[np.ndarray, np.ndarray]:
    """The training set with the renders appended (the pipeline shuffles them in)."""
    if not len(renders.images):
        return x_train, y_train
    return (np.concatenate([x_train, renders.images.astype(x_train.dtype)]),
            np.concatenate([y_train, renders.labels.astype(y_train.dtype)]))
