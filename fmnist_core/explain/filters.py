"""What each channel looks for: the first layer's kernels, and the test images that excite a channel most.

The top images are found once over the whole test set (every conv stage's strongest response per
channel, in batches) and cached in the run's folder, keyed by the model's checksum and the data.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .activations import probe_for

TOP_IMAGES_FILE = "explain_top_images.npz"
TOP_K = 9


@dataclass(frozen=True)
class TopImages:
    """Per conv stage: (C, k) test-image indices, strongest first, and their responses."""

    key: str
    indices: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]

    def for_channel(self, stage: str, channel: int) -> tuple[np.ndarray, np.ndarray]:
        return self.indices[stage][channel], self.scores[stage][channel]


def compute_top_images(model, images: np.ndarray, *, k: int = TOP_K, batch_size: int = 500,
                       key: str = "") -> TopImages:
    """Scan images (uint8 (N,28,28) or floats) and keep each conv channel's k strongest."""
    from ..data import normalize

    probe = probe_for(model)
    maxima: list[list[np.ndarray]] = [[] for _ in probe.conv_stage_names]
    for start in range(0, len(images), batch_size):
        batch = normalize(images[start : start + batch_size])
        for slot, values in zip(maxima, probe.channel_maxima(batch)):
            slot.append(values)
    indices, scores = {}, {}
    for name, parts in zip(probe.conv_stage_names, maxima):
        values = np.concatenate(parts).T  # (C, N)
        top = np.argsort(-values, axis=1, kind="stable")[:, :k]
        indices[name] = top.astype(np.int32)
        scores[name] = np.take_along_axis(values, top, axis=1).astype(np.float32)
    return TopImages(key, indices, scores)


def _save(path: Path, top: TopImages) -> None:
    from ..runs import atomic_write_bytes

    arrays = {"key": np.array(top.key), "stages": np.array(list(top.indices))}
    for i, name in enumerate(top.indices):
        arrays[f"indices_{i}"] = top.indices[name]
        arrays[f"scores_{i}"] = top.scores[name]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path, key: str) -> TopImages | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) != key:
                return None
            names = [str(n) for n in stored["stages"]]
            return TopImages(key, {n: stored[f"indices_{i}"] for i, n in enumerate(names)},
                             {n: stored[f"scores_{i}"] for i, n in enumerate(names)})
    except (OSError, ValueError, KeyError):
        return None


def top_images_for_run(run, model, images: np.ndarray, data_key: str = "") -> TopImages:
    """The run's cached top images, computed (and saved beside its model) when missing or stale."""
    key = f"{run.meta.get('model_sha256', '')}:{data_key}:{len(images)}:{TOP_K}"
    path = Path(run.path) / TOP_IMAGES_FILE
    cached = _load(path, key) if path.is_file() else None
    if cached is not None:
        return cached
    top = compute_top_images(model, images, key=key)
    with contextlib.suppress(OSError):  # a read-only run folder still works, just uncached
        _save(path, top)
    return top


def first_layer_kernels(model) -> np.ndarray:
    """The first convolution's kernels as (C, kh, kw) images."""
    from .convolution import first_conv

    return first_conv(model).kernels
