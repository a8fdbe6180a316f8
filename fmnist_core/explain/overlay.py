"""A heatmap laid over its grayscale image, as an RGB array or PNG bytes (pure numpy + Pillow)."""

from __future__ import annotations

import io

import numpy as np

# A perceptually ordered dark-to-bright map (blue -> red -> yellow), so heat reads as "more".
_STOPS = np.array([
    [0.00, 0, 0, 4],
    [0.25, 87, 16, 110],
    [0.50, 188, 55, 84],
    [0.75, 249, 142, 9],
    [1.00, 252, 255, 164],
], dtype=np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0,1] to uint8 RGB (inferno-like)."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    rgb = np.stack([np.interp(v, _STOPS[:, 0], _STOPS[:, k]) for k in (1, 2, 3)], axis=-1)
    return rgb.round().astype(np.uint8)


def _upscale(array: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def overlay_rgb(image: np.ndarray, heatmap: np.ndarray, *, opacity: float = 0.6, scale: int = 8) -> np.ndarray:
    """Blend the coloured heatmap over the gray image; hotter pixels are more opaque.

    image and heatmap are (28,28) floats in [0,1] (image may be uint8); opacity in [0,1] is the
    heat's weight at its hottest; scale enlarges by pixel repetition so the pixels stay crisp.
    """
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    img = np.clip(img.reshape(img.shape[0], img.shape[1]), 0.0, 1.0)
    heat = np.clip(np.asarray(heatmap, np.float32).reshape(img.shape), 0.0, 1.0)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    gray = np.repeat(img[..., np.newaxis] * 255.0, 3, axis=-1)
    alpha = (opacity * heat)[..., np.newaxis]
    blended = (1.0 - alpha) * gray + alpha * colormap(heat).astype(np.float32)
    return _upscale(blended.round().astype(np.uint8), max(1, int(scale)))


def overlay_png(image: np.ndarray, heatmap: np.ndarray, *, opacity: float = 0.6, scale: int = 8) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(overlay_rgb(image, heatmap, opacity=opacity, scale=scale), mode="RGB").save(buffer, "PNG")
    return buffer.getvalue()
