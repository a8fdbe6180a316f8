"""fmnist_core.image_check: the cheap, TensorFlow-free check `predict` runs on each file first."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fmnist_core.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from fmnist_core.image_check import check_image_bytes, read_checked_image
from fmnist_core.preprocess import preprocess_upload


def _png() -> bytes:
    """A bright block on a black background, as a garment image looks."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 8:20] = 220
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_good_file_comes_back_unchanged_and_is_model_ready(tmp_path):
    path = tmp_path / "shirt.png"
    path.write_bytes(_png())
    data = read_checked_image(path)
    assert data == path.read_bytes()
    assert preprocess_upload(data).model_input.shape[-3:] == (28, 28, 1)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", EmptyImageError),
        (b"just some text", UnsupportedImageError),
        (b"%PDF-1.7 a document", UnsupportedImageError),
        (b"\x89PNG\r\n\x1a\n but then nothing sensible", CorruptImageError),
    ],
)
def test_bad_files_raise_typed_image_errors(tmp_path, content, error):
    path = tmp_path / "file.png"
    path.write_bytes(content)
    with pytest.raises(error):
        read_checked_image(path)
    with pytest.raises(error):
        check_image_bytes(content)


def test_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.truncate(6 * 1024 * 1024)  # sparse: over the 5 MB limit
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        read_checked_image(path)
    small = tmp_path / "small.png"
    small.write_bytes(_png())
    with pytest.raises(ImageTooLargeError):
        read_checked_image(small, max_bytes=10)


@pytest.mark.parametrize("name", ["missing.png", "."])
def test_missing_files_and_folders_cannot_be_read(tmp_path, name):
    with pytest.raises(ImageError, match="cannot read"):
        read_checked_image(tmp_path / name)
