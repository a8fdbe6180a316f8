"""Check an image file before anything heavy loads: the command line refuses a bad file in milliseconds.

TensorFlow takes seconds to import, so `predict` reads and checks every file first and loads the
model only when at least one passed. The rules (empty, size limit, format by content, dimensions,
a decodable file) are the upload path's own (fmnist_core.preprocess, PIL and numpy only), so a file
this accepts is one the model path accepts. No Streamlit, no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from .constants import MAX_UPLOAD_BYTES
from .errors import EmptyImageError, ImageError, ImageTooLargeError
from .preprocess import preprocess_upload

_MB = 1024 * 1024


def check_image_bytes(data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """Raise an ImageError subclass when these bytes are not an image the model path accepts."""
    preprocess_upload(data, max_bytes=max_bytes)


def read_checked_image(path: str | Path, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The file's bytes once they pass check_image_bytes; an ImageError with a one-line reason otherwise.

    The size is checked from the file system before reading, so a huge file is refused unread.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ImageError("cannot read file (it is a folder)")
        if size == 0:
            raise EmptyImageError("The file is empty (0 bytes).")
        if size > max_bytes:
            raise ImageTooLargeError(f"The file is {size / _MB:.1f} MB, over the limit of {max_bytes / _MB:g} MB.")
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read file ({exc.strerror or exc})") from None
    check_image_bytes(data, max_bytes=max_bytes)
    return data


__all__ = ["check_image_bytes", "read_checked_image"]
