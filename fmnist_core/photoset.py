"""A seeded, photo-like test set built from Fashion-MNIST test images, and its scoring.

Real uploads are not Fashion-MNIST: the garment is coloured, lies on a textured surface under
uneven light, casts a shadow, is a little rotated, sits off-centre, and phones store many
pictures sideways with an EXIF orientation tag.  This module renders each test image that way
so the upload pipeline can be measured on something closer to what users send, without
committing a single photo: the same seed always gives the same bytes.

How one picture is made (each step is a way real photos differ from the dataset):

1. The 28x28 image is inverted back to a product-photo lightness (Fashion-MNIST negated its
   photos), upscaled, and coloured with a random hue and saturation, keeping the shading: dark
   parts of the original stay dark, so folds, seams and prints survive as they would on cloth.
2. The surface is a random colour (mostly light, sometimes mid-tone), with multi-scale noise and
   sometimes a weave or grain, lit by a planar gradient and a vignette.
3. The garment is rotated by up to +-15 degrees, scaled to 40-80% of the short side, placed
   anywhere it fits, and casts a soft offset shadow (a darker version of the surface's colour).
4. Sensor noise, an aspect ratio from square to 16:9 in either orientation, JPEG quality 55-85,
   and about a quarter of the files stored sideways with an EXIF orientation tag.
"""

from __future__ import annotations

import colorsys
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageFilter

from .constants import CLASS_NAMES, NUM_CLASSES

__all__ = [
    "PhotoSample",
    "PhotoSetScore",
    "MANIFEST_NAME",
    "render_photo",
    "generate_photos",
    "write_photoset",
    "read_manifest",
    "score_photoset",
]

MANIFEST_NAME: Final[str] = "manifest.json"
MAX_ROTATION_DEG: Final[float] = 15.0
JPEG_QUALITY: Final[tuple[int, int]] = (55, 85)
SIDEWAYS_SHARE: Final[float] = 0.25
_ASPECTS: Final[tuple[float, ...]] = (1.0, 4 / 3, 3 / 2, 16 / 9)
# EXIF orientation -> the transpose that turns the upright picture into the stored one
# (the inverse of what ImageOps.exif_transpose applies when displaying it).
_STORE_SIDEWAYS: Final[dict[int, Image.Transpose]] = {
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
    3: Image.Transpose.ROTATE_180,
}


@dataclass(frozen=True)
class PhotoSample:
    """One rendered picture: its JPEG bytes, true label and how it was made."""

    name: str
    label: int
    test_index: int
    data: bytes
    params: dict[str, float | int | str]


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a small random grid upscaled bicubically."""
    grid = rng.uniform(-1.0, 1.0, (max(2, cells * height // max(height, width) + 2),
                                   max(2, cells * width // max(height, width) + 2)))
    up = Image.fromarray(grid.astype(np.float32)).resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(up, dtype=np.float32), -1.0, 1.0)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _surface(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """A textured, unevenly lit background (HxWx3 in 0..1) and its light field (HxW)."""
    value = float(rng.uniform(0.55, 0.95) if rng.random() < 0.8 else rng.uniform(0.3, 0.55))
    colour = _hsv(float(rng.random()), float(rng.uniform(0.03, 0.4)), value)
    texture = np.zeros((height, width), np.float32)
    amplitude = float(rng.uniform(0.02, 0.07))
    for cells, weight in ((4, 0.5), (24, 0.3), (96, 0.2)):
        texture += weight * _value_noise(rng, height, width, cells)
    base = colour[None, None, :] * (1.0 + amplitude * texture[..., None])
    pattern = "plain"
    if rng.random() < 0.4:  # a weave or a grain: fine stripes with a wandering phase
        pattern = "grain"
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = float(rng.uniform(0, math.pi))
        period = float(rng.uniform(4.0, 14.0))
        phase = 6.0 * _value_noise(rng, height, width, 6)
        stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period + phase)
        base = base * (1.0 + float(rng.uniform(0.02, 0.05)) * stripes[..., None])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / width - 0.5, yy / height - 0.5
    direction = float(rng.uniform(0, 2 * math.pi))
    gradient = float(rng.uniform(0.1, 0.45))
    light = 1.0 + gradient * (u * math.cos(direction) + v * math.sin(direction)) * 2
    light -= float(rng.uniform(0.0, 0.25)) * (u * u + v * v) * 2  # vignette
    params = {"surface_value": round(value, 3), "pattern": pattern, "light_gradient": round(gradient, 3)}
    return base, light.astype(np.float32), params


def render_photo(image: np.ndarray, rng: np.random.Generator) -> tuple[bytes, dict[str, float | int | str]]:
    """Render one 28x28 uint8 Fashion-MNIST image as a photo-like JPEG (see the module docstring)."""
    long_side = int(rng.integers(480, 961))
    aspect = float(rng.choice(_ASPECTS))
    if rng.random() < 0.5:
        width, height = long_side, int(round(long_side / aspect))
    else:
        width, height = int(round(long_side / aspect)), long_side
    surface, light, params = _surface(rng, height, width)

    # 1. the garment: product-photo lightness, coloured, shading kept
    garment_side = int(min(width, height) * rng.uniform(0.4, 0.8))
    # Edge pixels are dim in the dataset only because they are partly background: colour them like
    # the cloth next to them (a 3x3 grey dilation at 28x28), so the garment gets no light rim.
    small = np.asarray(image, dtype=np.float32) / 255.0
    nearby = np.asarray(Image.fromarray(small).filter(ImageFilter.MaxFilter(3)), np.float32)
    solid = np.clip(small / 0.3, 0.0, 1.0)
    tone = small * solid + nearby * (1.0 - solid)
    size = (garment_side, garment_side)
    ink = np.clip(np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC), np.float32), 0, 1)
    alpha = np.clip((ink - 0.02) / 0.1, 0.0, 1.0)
    ink = np.clip(np.asarray(Image.fromarray(tone).resize(size, Image.Resampling.BICUBIC), np.float32), 0, 1)
    lightness = 1.0 - ink  # the original product photo: garment dark where the dataset is bright
    grey = rng.random() < 0.15
    saturation = float(rng.uniform(0.0, 0.12) if grey else rng.uniform(0.3, 0.9))
    top = float(rng.uniform(0.55, 1.0))
    bottom = float(rng.uniform(0.03, 0.3))
    value = bottom + (top - bottom) * lightness ** float(rng.uniform(0.7, 1.4))
    hue = float(rng.random())
    rgb_top = _hsv(hue, saturation, 1.0)
    garment = value[..., None] * rgb_top[None, None, :]

    # 3. rotation, position, shadow
    angle = float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    layers = np.dstack([garment, alpha]).astype(np.float32)
    rotated = [
        np.asarray(Image.fromarray(layers[..., c]).rotate(angle, Image.Resampling.BILINEAR, expand=True))
        for c in range(4)
    ]
    garment, alpha = np.dstack(rotated[:3]), np.clip(rotated[3], 0.0, 1.0)
    gh, gw = alpha.shape
    gh, gw = min(gh, height), min(gw, width)
    garment, alpha = garment[:gh, :gw], alpha[:gh, :gw]
    top_y = int(rng.integers(0, height - gh + 1))
    left_x = int(rng.integers(0, width - gw + 1))
    full_alpha = np.zeros((height, width), np.float32)
    full_alpha[top_y : top_y + gh, left_x : left_x + gw] = alpha
    full_garment = np.zeros((height, width, 3), np.float32)
    full_garment[top_y : top_y + gh, left_x : left_x + gw] = garment

    blur = max(1.0, garment_side * float(rng.uniform(0.015, 0.05)))
    shadow = Image.fromarray((full_alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur))
    dx, dy = (int(garment_side * rng.uniform(-0.05, 0.05)) for _ in range(2))
    shadow_arr = np.roll(np.asarray(shadow, np.float32) / 255.0, (dy, dx), axis=(0, 1))
    strength = float(rng.uniform(0.15, 0.45))
    background = surface * (1.0 - strength * shadow_arr)[..., None]

    picture = background * (1.0 - full_alpha[..., None]) + full_garment * full_alpha[..., None]
    picture = picture * light[..., None]
    picture += rng.normal(0.0, float(rng.uniform(0.005, 0.02)), picture.shape).astype(np.float32)
    pixels = Image.fromarray(np.clip(np.round(picture * 255.0), 0, 255).astype(np.uint8), "RGB")

    # 4. storage: sometimes sideways with an EXIF tag, JPEG at a phone-like quality
    orientation = 1
    if rng.random() < SIDEWAYS_SHARE:
        orientation = int(rng.choice(list(_STORE_SIDEWAYS)))
        pixels = pixels.transpose(_STORE_SIDEWAYS[orientation])
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pixels.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    params.update(
        width=width, height=height, angle=round(angle, 2), hue=round(hue, 3), saturation=round(saturation, 3),
        garment_side=garment_side, shadow=round(strength, 3), quality=quality, orientation=orientation,
    )
    return buffer.getvalue(), params


def _pick_indices(labels: np.ndarray, count: int, rng: np.random.Generator) -> list[int]:
    """count test indices, as even across the ten classes as count allows, in shuffled order."""
    per_class = [count // NUM_CLASSES + (1 if c < count % NUM_CLASSES else 0) for c in range(NUM_CLASSES)]
    chosen: list[int] = []
    for cls, n in enumerate(per_class):
        pool = np.flatnonzero(labels == cls)
        chosen += [int(i) for i in rng.choice(pool, size=min(n, len(pool)), replace=False)]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def generate_photos(images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> Iterator[PhotoSample]:
    """Yield count photo-like samples from (test) images, reproducibly for a seed."""
    if count < 1:
        raise ValueError("count must be at least 1")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    for n, index in enumerate(_pick_indices(labels, count, rng)):
        photo_rng = np.random.default_rng([seed, index])
        data, params = render_photo(images[index], photo_rng)
        label = int(labels[index])
        yield PhotoSample(f"{n:04d}_{label}_{index}.jpg", label, index, data, params)


def write_photoset(out_dir: str | Path, images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> Path:
    """Write the JPEGs and a manifest (file, label, test index, parameters) to out_dir."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for sample in generate_photos(images, labels, count, seed):
        (folder / sample.name).write_bytes(sample.data)
        entries.append({"file": sample.name, "label": sample.label, "test_index": sample.test_index, **sample.params})
    manifest = folder / MANIFEST_NAME
    manifest.write_text(json.dumps({"seed": seed, "count": len(entries), "photos": entries}, indent=1))
    return manifest


def read_manifest(folder: str | Path) -> list[tuple[Path, int]]:
    """(path, label) of every photo a write_photoset folder lists."""
    folder = Path(folder)
    payload = json.loads((folder / MANIFEST_NAME).read_text())
    return [(folder / entry["file"], int(entry["label"])) for entry in payload["photos"]]


@dataclass
class PhotoSetScore:
    """Top-1 accuracy of the upload path on a photo set, per class, with refusals counted as misses."""

    total: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, int))
    correct: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, int))
    refused: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CLASSES, int))
    refusal_messages: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return int(self.total.sum())

    @property
    def accuracy(self) -> float:
        return float(self.correct.sum() / max(1, self.count))

    @property
    def refusals(self) -> int:
        return int(self.refused.sum())

    def per_class(self) -> dict[str, float]:
        return {CLASS_NAMES[c]: float(self.correct[c] / self.total[c]) for c in range(NUM_CLASSES) if self.total[c]}

    def describe(self) -> str:
        parts = ", ".join(f"{name} {acc:.0%}" for name, acc in self.per_class().items())
        return (f"top-1 {self.accuracy:.2%} of {self.count} photos, {self.refusals} refused; per class: {parts}")


def score_photoset(
    samples: Iterator[tuple[bytes, int]], classify: Callable[[bytes], np.ndarray]
) -> PhotoSetScore:
    """Score (bytes, label) pairs with classify(bytes) -> probabilities; ImageErrors count as refusals."""
    from .errors import ImageError

    score = PhotoSetScore()
    for data, label in samples:
        score.total[label] += 1
        try:
            probabilities = classify(data)
        except ImageError as exc:
            score.refused[label] += 1
            score.refusal_messages.append(str(exc))
            continue
        score.correct[label] += int(int(np.argmax(probabilities)) == label)
    return score
