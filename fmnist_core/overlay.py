"""Draw what the upload pipeline found on the user's photo: the garment's outline and the crop.

Pure functions (arrays in, an RGB array out) so the Classify page only shows the result and the
drawing is tested without Streamlit.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["OUTLINE_COLOUR", "CROP_COLOUR", "outline_overlay", "mask_outline"]

OUTLINE_COLOUR: Final[tuple[int, int, int]] = (255, 40, 140)
CROP_COLOUR: Final[tuple[int, int, int]] = (40, 200, 255)
FULL_FRAME: Final[tuple[float, float, float, float]] = (0.0, 0.0, 1.0, 1.0)


def mask_outline(mask: np.ndarray, size: tuple[int, int], width: int = 2) -> np.ndarray:
    """The boundary of a bool mask resized to size=(width, height), about `width` pixels thick."""
    image = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    inside = np.asarray(image) > 127
    grown = np.asarray(image.filter(ImageFilter.MaxFilter(2 * width + 1))) > 127
    return grown & ~inside  # a ring just outside the garment, so its own pixels stay visible


def outline_overlay(
    original: np.ndarray,
    mask: np.ndarray,
    crop: tuple[float, float, float, float] = FULL_FRAME,
    *,
    width: int = 2,
) -> np.ndarray:
    """uint8 RGB copy of the photo with the found garment outlined and the crop (when set) framed."""
    picture = np.asarray(original, dtype=np.uint8)
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    picture = picture[..., :3].copy()
    height, width_px = picture.shape[:2]
    line = max(1, int(round(width * max(height, width_px) / 300)))
    edge = mask_outline(mask, (width_px, height), line)
    picture[edge] = OUTLINE_COLOUR
    if tuple(crop) != FULL_FRAME:
        left, top, right, bottom = crop
        image = Image.fromarray(picture)
        box = (left * width_px, top * height, right * width_px - 1, bottom * height - 1)
        ImageDraw.Draw(image).rectangle(box, outline=CROP_COLOUR, width=line)
        picture = np.asarray(image)
    return picture
