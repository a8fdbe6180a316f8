"""Turn an uploaded photo or a canvas drawing into a Fashion-MNIST style model input.

Fashion-MNIST garments are light on a black background, their folds, seams and prints kept as
shading, tightly cropped, with the long side filling the 28x28 frame (the dataset trimmed each
product photo, resized its longest edge to 28 and negated it).  A phone photo of a coloured
shirt on a table looks nothing like that, so every input goes through the same steps, each
there for a reason:

1. **Decode safely and small.**  The format is judged by content, sizes by the header, and a
   JPEG is decoded at the smallest DCT scale whose long side is at least WORK_MIN_SIDE (a
   4000x3000 photo becomes 500x375 inside libjpeg: the cheapest thing to do with 12
   megapixels; a 600x600 one 150x150, with no resize after it).  A picture longer than
   WORK_MAX_SIDE is then area-averaged to a long side of exactly WORK_MAX_SIDE for the work
   below, so every garment gets about the same number of pixels whatever the photo's size.  The
   display copy (shown about 220 pixels wide) is made only when shown; a JPEG decoded smaller
   than DRAFT_MIN_SIDE for the work is decoded again for it.  A picture whose three channels are
   equal (grey) is worked as one plane: the same garment for a third of the work.
2. **Stand it the way the user sees it.**  Phones store pictures sideways with an EXIF
   orientation tag; it is applied (ImageOps.exif_transpose) before anything looks at pixels.
3. **Flatten transparency** onto the backdrop that contrasts with the content, so a drawing or a
   cut-out garment has a plain surface around it.
4. **Find the garment by colour and brightness** (fmnist_core.garment, steps 1-5 there): the
   background is fitted from the picture's border with its gradient of light, the garment is
   what differs from it in brightness or colour, shadows (the surface's own colour, darker)
   stay out, specks are dropped and holes filled (the components and holes on a copy of at most
   80 pixels, the edge at full work size: the same accuracy for a fraction of the time).  Only
   when nothing differs (a blank or almost uniform picture) is the upload refused, with advice.
   A user's crop limits the search.
5. **Stand the garment upright** (garment step 6): a tilt of up to 20 degrees is undone, as
   the dataset's garments are photographed straight.
6. **Give it the dataset's look** (garment step 7): the garment's lightness relative to the
   surface under the same light, negated when the garment is darker than its surface (kept
   when it is lighter, as a light stroke on a black canvas), with shading kept and a small floor
   so a garment as light as the surface still shows; everything outside the garment, and its
   holes and gaps, are black.
7. **Crop, pad square, centre and scale as the dataset does**: the bounding box is centred in
   a square whose side makes its long edge OBJECT_SIZE (28) pixels, resampled with LANCZOS,
   and stretched so the brightest pixel is 1, as every Fashion-MNIST image's is 255.

An image that already is a Fashion-MNIST image (28x28 grayscale, a black border, the garment's long
side filling at least DATASET_MIN_LONG_SIDE pixels: 99.9% of the test set) skips steps 4-7 and is
only stretched to a peak of 1: those steps would resample it and blur its details. On the first 2,000
test images the model scored 94.05% on them as they are and 92.75% after the full pipeline, and the
shortcut makes a 28x28 upload several times faster.

Uploads are untrusted.  The format is decided by the file's content, never by its name;
sizes are checked from the header before any pixel is decoded; and every failure leaves
this module as an :class:`~fmnist_core.errors.ImageError` subclass with a message a user
can act on.  No module-global state (PIL limits, warning filters) is changed, because the
Streamlit server runs sessions in threads.

Only PIL and numpy are used so the module imports fast and can be tested without a GPU.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from fmnist_core.constants import (
    IMAGE_SIZE,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_UPLOAD_BYTES,
)
from fmnist_core.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "CropBox",
    "FULL_FRAME",
    "MAX_ASPECT_RATIO",
    "MIN_CROP_FRACTION",
    "NO_GARMENT_MESSAGE",
    "OBJECT_SIZE",
    "PreprocessResult",
    "preprocess_canvas",
    "preprocess_upload",
    "to_model_input",
]

#: PIL format names we decode; everything else is refused before decoding.
ACCEPTED_FORMATS: Final[tuple[str, ...]] = ("PNG", "JPEG", "WEBP", "GIF")
ACCEPTED_FORMATS_TEXT: Final[str] = "PNG, JPEG, WebP or GIF"

#: Longer side / shorter side above which an image is refused: nothing that thin is a
#: garment picture, and the 1-pixel strips used as decompression bombs are caught early.
MAX_ASPECT_RATIO: Final[float] = 50.0

#: The ``original`` kept for display is shrunk to at most this side.
DISPLAY_MAX_SIDE: Final[int] = 512
#: The display copy of a JPEG is decoded at the smallest DCT scale whose long side is at least this
#: (the Classify page shows the picture 220 pixels wide; a 600x600 JPEG decodes at half scale).
DRAFT_MIN_SIDE: Final[int] = 256
#: The pipeline itself runs on this long side: plenty for a 28x28 result, and fast.
WORK_MAX_SIDE: Final[int] = 160
#: ...and a JPEG is decoded for it at the smallest DCT scale whose long side is at least this, then
#: used as it is when no longer than WORK_MAX_SIDE (a 600x600 JPEG decodes at 150x150 in 0.43 ms
#: against 0.62 at half scale, and needs no 0.44 ms resize; a 4000x3000 one decodes at 500x375, 1/8,
#: the smallest scale).  On photo sets 0-5 (3,000 photos) top-1 was 85.20% against 85.27% with the
#: display-scale decode (DRAFT_MIN_SIDE); set 0 alone moved from 85.4% to 84.2% (a few photos swing).
#: Halving the work size (72 and 80: a 600x600 JPEG decoded at 75x75) took its upload to top-3 from
#: 2.8-3.1 ms to 2.05-2.23 ms p50 but the shipped model's photo set (1,500, seed 0) from 90.93% to 86.93%.
WORK_MIN_SIDE: Final[int] = 144
#: The garment's long side fills this many pixels of the 28x28 frame, as in the dataset (its
#: median garment spans all 28; a 26-pixel margin cost 3 points on the photo set).
OBJECT_SIZE: Final[int] = IMAGE_SIZE
#: An image counts as already in the dataset's form when its border ring's median is at most
#: DATASET_BORDER_MAX (black) and its pixels above DATASET_INK form a box whose long side is at
#: least DATASET_MIN_LONG_SIDE (already scaled like the dataset's garments).
DATASET_BORDER_MAX: Final[int] = 10
DATASET_INK: Final[int] = 20
DATASET_MIN_LONG_SIDE: Final[int] = 24

#: Decoding needs memory that the pixel limit alone does not bound (PIL stores RGB as
#: 4 bytes a pixel and converts RGBA to premultiplied form while resizing).  The estimated
#: peak below must stay under this budget so one upload costs well under 200 MB.
MAX_DECODE_BYTES: Final[int] = 150 * 1024 * 1024

# Peak extra bytes per decoded pixel for decode + shrink, measured with Pillow 12 on
# 4000x4000 images (rounded up): e.g. RGBA 8.2, RGB 4.2, L 1.1, palette+alpha 8.2.
_PEAK_BYTES_PER_PIXEL: Final[dict[str, int]] = {
    "1": 3,
    "L": 2,
    "P": 6,
    "LA": 9,
    "La": 5,
    "PA": 9,
    "RGB": 5,
    "RGBA": 9,
    "RGBa": 5,
    "CMYK": 5,
    "YCbCr": 5,
    "LAB": 5,
    "HSV": 5,
    "I": 5,
    "F": 5,
    "I;16": 3,
    "I;16L": 3,
    "I;16B": 3,
    "I;16N": 3,
}
_DEFAULT_PEAK_BYTES_PER_PIXEL: Final[int] = 9
# Key-colour transparency forces a full-size RGBA conversion.
_TRANSPARENCY_PEAK_BYTES_PER_PIXEL: Final[int] = 9
# libwebp decodes into its own buffers before PIL copies the pixels (measured 16.3 B/px
# for RGB and RGBA); GIF frames are decoded through an extra palette/RGB copy (5.1).
_FORMAT_EXTRA_BYTES_PER_PIXEL: Final[dict[str, int]] = {"WEBP": 12, "GIF": 4}

_MB: Final[int] = 1024 * 1024
_LUMA: Final[np.ndarray] = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Exceptions PIL and its C decoders raise for bad data.  Anything else escaping a decode
# is caught too (see _decode), but these are the expected ones.
_DECODE_ERRORS: Final[tuple[type[BaseException], ...]] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ArithmeticError,
    RuntimeError,
    AttributeError,
    UnicodeError,
)


@dataclass(frozen=True, eq=False)
class PreprocessResult:
    """Every intermediate image, so the UI can show the user what the model sees.

    Arrays are made read-only so the frozen result cannot be altered behind a cache.  The display copy
    (``original``) is made on first use from ``display``, an array or a function: classifying never
    looks at it, and a small JPEG's display copy needs a second, larger decode (DRAFT_MIN_SIDE).
    """

    display: np.ndarray | Callable[[], np.ndarray]  # ``original``, or how to make it
    grayscale: np.ndarray  # uint8 HxW, light garment on black (after inversion)
    cropped: np.ndarray  # uint8 square crop around the object, padded like the output
    model_input: np.ndarray  # float32 (28, 28, 1) in [0, 1]
    inverted: bool  # True when the garment was darker than its surface, so its lightness got negated
    mask: np.ndarray  # bool, the garment where it was found, at the work size (same aspect as original)
    box: tuple[float, float, float, float]  # the garment's (left, top, right, bottom), fractions of original
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # the user's crop it was searched in

    def __post_init__(self) -> None:
        for name in ("grayscale", "cropped", "model_input", "mask"):
            getattr(self, name).setflags(write=False)

    @functools.cached_property
    def original(self) -> np.ndarray:
        """uint8 HxW (L) or HxWx3 (RGB), at most DISPLAY_MAX_SIDE: the picture as the user sees it."""
        picture = np.ascontiguousarray(_made(self.display))
        picture.setflags(write=False)
        return picture

    def as_uint8(self) -> np.ndarray:
        """The 28x28 model input as uint8 0..255, for display."""
        return np.round(self.model_input[..., 0] * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------- uploads


def preprocess_upload(
    data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, crop: CropBox | None = None
) -> PreprocessResult:
    """Decode an uploaded file (PNG, JPEG, WebP, GIF by content) into model input.

    crop, (left, top, right, bottom) as fractions of the upright picture, limits where the
    garment is looked for (the user's fix when the automatic outline is wrong).
    Raises an ImageError subclass, never anything else, for every bad input:
    EmptyImageError, ImageTooLargeError, UnsupportedImageError or CorruptImageError.
    """
    crop = _validate_crop(crop)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise UnsupportedImageError(
            f"Expected the uploaded file's bytes, got {type(data).__name__}."
        )
    if len(data) == 0:
        raise EmptyImageError("The file is empty (0 bytes). Please upload an image.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is {len(data) / _MB:.1f} MB, over the upload limit of "
            f"{max_bytes / _MB:g} MB. Please upload a smaller image."
        )
    fmt = _sniff_format(data)
    try:
        image, reduced = _decode(data, fmt, WORK_MIN_SIDE)
        display, work = _image_to_arrays(image)
        if reduced and max(image.size) < DRAFT_MIN_SIDE:  # decoded smaller than a display copy needs
            display = functools.partial(_display_copy, data, fallback=display)
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(
            "The image needs more memory to decode than this server allows."
        ) from exc
    except Exception as exc:  # any decoder failure must surface typed
        raise CorruptImageError(
            f"The {_format_label(fmt)} file is damaged or truncated and could not be decoded."
        ) from exc
    return _pipeline(work, display, crop)


def _sniff_format(data: bytes) -> str:
    """Decide the format from magic bytes, so a renamed file is judged by what it is."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        if not features.check("webp"):
            raise UnsupportedImageError(
                "WebP images cannot be read on this server. "
                "Please upload a PNG, JPEG or GIF image."
            )
        return "WEBP"
    what = _describe_unsupported(data)
    if what is None:
        raise UnsupportedImageError(
            "This file is not a recognised image. "
            f"Accepted formats are {ACCEPTED_FORMATS_TEXT}."
        )
    raise UnsupportedImageError(
        f"This file looks like {what}, which is not supported. "
        f"Accepted formats are {ACCEPTED_FORMATS_TEXT}."
    )


_UNSUPPORTED_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"8BPS", "a Photoshop (PSD) document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"\xc5\xd0\xd3\xc6", "a PostScript/EPS file"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"II+\x00", "a TIFF image"),
    (b"MM\x00+", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 image"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"qoif", "a QOI image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
)


def _describe_unsupported(data: bytes) -> str | None:
    """Name a known non-accepted format, so the refusal tells the user what they sent."""
    head = data[:1024]
    for magic, what in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"heis"):
            return "a HEIC/HEIF image"
        return "a video or ISO media file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text or (text.startswith(b"<?xml") and b"svg" in text):
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    return None


def _format_label(fmt: str) -> str:
    return {"WEBP": "WebP"}.get(fmt, fmt)


def _made(display: np.ndarray | Callable[[], np.ndarray]) -> np.ndarray:
    """A display copy: the array itself, or what its maker returns."""
    return display() if callable(display) else display


def _display_copy(data: bytes, *, fallback: np.ndarray | Callable[[], np.ndarray]) -> np.ndarray:
    """The display copy of a JPEG the pipeline decoded smaller: decoded again at DRAFT_MIN_SIDE.

    The bytes already passed every check, but this runs later (when the page shows the picture), so
    any failure falls back to the work-size copy rather than raising.
    """
    try:
        return _made(_image_to_arrays(_decode(data, "JPEG", DRAFT_MIN_SIDE)[0])[0])
    except Exception:  # noqa: BLE001 - a display copy must never fail a classification that succeeded
        return _made(fallback)


def _decode(data: bytes, fmt: str, draft_min_side: int = DRAFT_MIN_SIDE) -> tuple[Image.Image, bool]:
    """Open with only the sniffed plugin, check sizes from the header, then decode small.

    A JPEG is decoded at the smallest DCT scale whose long side is at least draft_min_side.
    Returns the image and whether that scale made it smaller than the file.
    """
    if fmt == "WEBP":
        # Pillow's WebP plugin decodes the first frame inside Image.open, so the size
        # has to come from the RIFF header before PIL sees the file.
        width, height = _webp_size(data)
        _check_dimensions(width, height)
        per_pixel = _DEFAULT_PEAK_BYTES_PER_PIXEL + _FORMAT_EXTRA_BYTES_PER_PIXEL["WEBP"]
        _check_budget((width, height), width * height * per_pixel)
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            "The image declares far more pixels than allowed "
            f"(limit {MAX_IMAGE_PIXELS / 1e6:g} megapixels); it looks like a "
            "decompression bomb and was not decoded."
        ) from exc
    except (UnidentifiedImageError, *_DECODE_ERRORS) as exc:
        raise CorruptImageError(
            f"The {_format_label(fmt)} file is damaged or truncated: its header "
            "could not be read."
        ) from exc
    width, height = image.size  # Image.open stands on the first frame of animations
    _check_dimensions(width, height)

    # JPEG can decode at 1/2, 1/4 or 1/8 scale: ask for just enough (a 4000x3000 photo decodes
    # at 500x375, the cheapest thing to do with 12 megapixels).
    coefficient_bytes = 0
    if fmt == "JPEG":
        scale = draft_min_side / max(width, height)
        image.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        room = MAX_DECODE_BYTES - _decode_bytes(image, fmt)
        coefficient_bytes = _jpeg_coefficient_bytes(image, data, (width, height), room)
    _check_decode_budget(image, fmt, (width, height), coefficient_bytes)

    image.load()
    reduced = image.size != (width, height)
    image = _normalise_mode(image)
    image = _shrink(image, DISPLAY_MAX_SIDE)  # reduced copies keep info["exif"]
    return _exif_transpose(image), reduced


def _check_dimensions(width: int, height: int) -> None:
    """Refuse bombs and absurd shapes from the declared size, before any decoding."""
    if width <= 0 or height <= 0:
        raise EmptyImageError(f"The image has no pixels ({width}x{height}).")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels; each side may be at most "
            f"{MAX_IMAGE_SIDE} pixels. Please upload a smaller image."
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {MAX_IMAGE_PIXELS / 1e6:g} megapixels. Please upload a smaller image."
        )
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise UnsupportedImageError(
            f"The image is {width}x{height} pixels: its aspect ratio ({ratio:.0f}:1) is too "
            f"extreme; at most {MAX_ASPECT_RATIO:g}:1 is accepted. Please crop it around "
            "the garment."
        )


def _jpeg_coefficient_bytes(image: Image.Image, data: bytes, size: tuple[int, int], room: int) -> int:
    """Memory libjpeg needs for a whole-image DCT coefficient buffer, else 0.

    Progressive and multi-scan JPEGs keep every coefficient of the FULL-size image
    (2 bytes a sample per component) however small the draft scale: a 5 MB progressive
    6300x6300 4:4:4 JPEG measured +234 MB.  Baseline single-scan files stream.  SOS
    markers cannot occur inside entropy-coded data, so counting them is exact, apart
    from EXIF thumbnails, which only make the estimate more cautious.  Counting them reads
    the whole file (0.8 ms for a 12-megapixel photo), so it is done only when the buffer
    would not fit in room, the budget the decoded pixels leave: otherwise the answer changes nothing.
    """
    layers = getattr(image, "layer", None) or []
    if not layers:
        return 0
    h_max = max(max(layer[1] for layer in layers), 1)
    v_max = max(max(layer[2] for layer in layers), 1)
    samples = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
    width, height = size  # the file's full size, whatever the draft scale
    needed = int(width * height * samples * 2 * 1.1)  # 10%: block padding, bookkeeping
    if needed <= room:
        return 0  # fits whether or not the file is multi-scan
    multi_scan = bool(image.info.get("progressive")) or data.count(b"\xff\xda") > 1
    return needed if multi_scan else 0


def _check_decode_budget(
    image: Image.Image, fmt: str, declared: tuple[int, int], fixed_bytes: int = 0
) -> None:
    """Refuse images whose decode would cost too much memory, even under the pixel limit."""
    _check_budget(declared, _decode_bytes(image, fmt) + fixed_bytes)


def _decode_bytes(image: Image.Image, fmt: str) -> int:
    """Peak bytes of decoding and shrinking this image at its (draft) size, by its mode and format."""
    width, height = image.size  # after JPEG draft, this is the reduced decode size
    per_pixel = _PEAK_BYTES_PER_PIXEL.get(image.mode, _DEFAULT_PEAK_BYTES_PER_PIXEL)
    if "transparency" in image.info:
        per_pixel = max(per_pixel, _TRANSPARENCY_PEAK_BYTES_PER_PIXEL)
    per_pixel += _FORMAT_EXTRA_BYTES_PER_PIXEL.get(fmt, 0)
    return width * height * per_pixel


def _check_budget(declared: tuple[int, int], needed_bytes: int) -> None:
    if needed_bytes > MAX_DECODE_BYTES:
        width, height = declared
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"decoding it would need about {needed_bytes / _MB:.0f} MB, over this server's "
            f"limit of {MAX_DECODE_BYTES / _MB:.0f} MB for one image. Please upload a "
            "smaller image."
        )


def _webp_size(data: bytes) -> tuple[int, int]:
    """Canvas size from a WebP RIFF header (VP8X, lossy VP8 or lossless VP8L chunk)."""
    chunk = data[12:16]
    payload = data[20:30]
    if chunk == b"VP8X" and len(payload) >= 10:
        width = 1 + int.from_bytes(payload[4:7], "little")
        height = 1 + int.from_bytes(payload[7:10], "little")
        return width, height
    if chunk == b"VP8 " and len(payload) >= 10 and payload[3:6] == b"\x9d\x01\x2a":
        width = int.from_bytes(payload[6:8], "little") & 0x3FFF
        height = int.from_bytes(payload[8:10], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        bits = int.from_bytes(payload[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    raise CorruptImageError("The WebP file is damaged or truncated: its header could not be read.")


def _exif_transpose(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (after shrinking, so the copy is small).

    Damaged EXIF must not block an otherwise good picture, so it is ignored.
    """
    try:
        if image.getexif().get(0x0112, 1) == 1:
            return image  # upright already; skip exif_transpose's full copy
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - damaged EXIF raises many different types inside PIL; all mean "ignore it"
        return image


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Convert modes PIL cannot resize well (palette, 1-bit, key-colour transparency)."""
    mode = image.mode
    has_key = "transparency" in image.info
    if mode == "P" or mode == "PA":
        return image.convert("RGBA" if has_key or mode == "PA" else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode in ("L", "RGB") and has_key:
        return image.convert("LA" if mode == "L" else "RGBA")
    return image


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink by an integer box (area) factor so the longer side is at most max_side.

    Box averaging is the right filter for a big shrink and several times faster than
    LANCZOS; the final 28x28 resize uses LANCZOS.  RGBA is averaged premultiplied.
    """
    width, height = image.size
    factor = math.ceil(max(width, height) / max_side)
    if factor <= 1:
        return image
    if image.mode in ("1", "P") or image.mode.startswith("I;16"):  # no reduce() for these
        size = (max(1, -(-width // factor)), max(1, -(-height // factor)))
        return image.resize(size, Image.Resampling.BOX)
    return image.reduce(factor)


def _work_copy(image: Image.Image) -> Image.Image:
    """The copy the pipeline works on: long side exactly WORK_MAX_SIDE (area-averaged), or as is when smaller.

    An exact size, not an integer shrink, so every photo gives the garment about the same number of
    pixels (an integer factor left a 700-pixel photo at 117 pixels and a 640-pixel one at 160).
    """
    width, height = image.size
    if max(width, height) <= WORK_MAX_SIDE:
        return image
    scale = WORK_MAX_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _work_array(image: Image.Image) -> np.ndarray:
    """The work copy as an array; a picture whose three channels are equal (a grey photo or scan) as one plane.

    Equal channels give the colour search nothing to find (every colour deviation is 0), so one plane
    gives the same garment for a third of the work.
    """
    work = np.asarray(_work_copy(image))
    if work.ndim != 3 or not np.array_equal(work[0, :, 0], work[0, :, 1]):  # a colour photo: its first row tells
        return work
    if np.array_equal(work[..., 0], work[..., 1]) and np.array_equal(work[..., 1], work[..., 2]):
        return work[..., 0]
    return work


def _image_to_arrays(image: Image.Image) -> tuple[np.ndarray | Callable[[], np.ndarray], np.ndarray]:
    """Return (display uint8 L/RGB or how to make it, work uint8 L/RGB at most WORK_MAX_SIDE), alpha flattened.

    Colour is kept: the garment is found by colour as well as brightness.
    """
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        lum = _to_uint8(_high_depth_to_float(np.asarray(image), mode))
        return lum, _to_uint8(_shrink_array(lum, WORK_MAX_SIDE))
    if mode in ("La", "RGBa"):
        image = image.convert(mode[:-1] + "A")
        mode = image.mode
    if mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...
        mode = "RGB"
    if mode in ("L", "RGB"):
        return functools.partial(np.asarray, image), _work_array(image)
    arr = np.asarray(image)
    color = arr[..., :-1].astype(np.float32)
    alpha = arr[..., -1].astype(np.float32) / 255.0
    flat = _flatten_alpha(color, alpha)
    display = _to_uint8(flat[..., 0] if flat.shape[-1] == 1 else flat)
    return display, _work_array(Image.fromarray(display))


def _high_depth_to_float(arr: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16/32-bit grayscale to 0..255 floats without clipping highlights.

    16-bit data is divided by 257 (65535 -> 255).  Mode 'I' may hold 8-bit values too,
    so it is only scaled when it exceeds 255.  Float images in 0..1 are scaled by 255.
    """
    values = np.asarray(arr, dtype=np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    if mode.startswith("I;16") or (mode == "I" and values.size and values.max() > 255.0):
        values = values / 257.0
    elif mode == "F" and values.size and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(values, 0.0, 255.0).astype(np.float32)


def _flatten_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over the backdrop that contrasts with the visible content.

    Transparent areas are background.  A white garment on transparency goes on black, a
    dark one on white; either way the later polarity check sees the garment.
    """
    weight = float(alpha.sum())
    if weight <= 1e-6:
        raise EmptyImageError("The image is fully transparent: no garment found.")
    lum = color @ _LUMA if color.shape[-1] == 3 else color[..., 0]
    content_brightness = float((lum * alpha).sum()) / weight
    backdrop = 0.0 if content_brightness >= 127.5 else 255.0
    a = alpha[..., None]
    return color * a + backdrop * (1.0 - a)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- canvas


def preprocess_canvas(rgba: np.ndarray) -> PreprocessResult:
    """Turn a drawing-canvas array (HxWx4 RGBA, uint8 or float) into model input.

    The canvas widget returns light strokes on a transparent/black background; strokes
    of any colour work because transparency is flattened onto a contrasting backdrop.
    Raises EmptyImageError("Draw something first") when nothing was drawn.
    """
    try:
        arr = np.asarray(rgba)
    except Exception as exc:
        raise UnsupportedImageError("The canvas data is not an image array.") from exc
    if arr.dtype.kind not in "biuf":
        raise UnsupportedImageError(
            f"The canvas data has an unsupported type ({arr.dtype}); expected numbers."
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))):
        raise UnsupportedImageError(
            f"The canvas data has shape {arr.shape}; expected HxWx4 RGBA."
        )
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise EmptyImageError("Draw something first: the canvas has no pixels.")
    _check_dimensions(width, height)

    pixels = _canvas_to_uint8(arr)
    if pixels.ndim == 3 and pixels.shape[-1] == 4 and not pixels[..., 3].any():
        raise EmptyImageError("Draw something first: the canvas is empty.")
    # PIL shrinks RGBA with premultiplied alpha, so strokes keep their edges.
    image = _shrink(Image.fromarray(np.ascontiguousarray(pixels)), DISPLAY_MAX_SIDE)
    try:
        display, work = _image_to_arrays(image)
        return _pipeline(work, display, photo=False)
    except EmptyImageError as exc:
        raise EmptyImageError("Draw something first: no strokes found on the canvas.") from exc


def _canvas_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map bool, integer or float canvas values to uint8 (floats in 0..1 are scaled)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.kind in "iu":
        return np.clip(arr, 0, 255).astype(np.uint8)
    values = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and float(values.max()) <= 1.0:
        values *= 255.0
    return _to_uint8(values)


# --------------------------------------------------------------------------- pipeline


def to_model_input(gray: np.ndarray) -> PreprocessResult:
    """Run the shared pipeline on a 2-D grayscale image.

    uint8 is taken as is, uint16 as 16-bit (65535 = white), bool as black/white, and
    floats on 0..255 (or 0..1 when no value exceeds 1).

    Useful for callers that already hold pixels, e.g. a Fashion-MNIST sample.
    """
    arr = np.asarray(gray)
    if arr.dtype.kind not in "biuf" or arr.ndim != 2:
        raise UnsupportedImageError(
            f"Expected a 2-D grayscale array, got shape {arr.shape} of {arr.dtype}."
        )
    if arr.size == 0:
        raise EmptyImageError("The image has no pixels.")
    height, width = arr.shape
    _check_dimensions(width, height)
    if arr.dtype == np.uint16:
        lum = _high_depth_to_float(arr, "I;16")
    elif arr.dtype.kind == "f":
        lum = _high_depth_to_float(arr, "F")
    elif arr.dtype.kind == "b":
        lum = arr.astype(np.float32) * 255.0
    else:
        lum = np.clip(arr.astype(np.float32), 0.0, 255.0)
    display = _to_uint8(lum)
    return _pipeline(_to_uint8(_shrink_array(lum, WORK_MAX_SIDE)), display, photo=False)


#: A user's crop: (left, top, right, bottom) as fractions of the upright picture.
CropBox = tuple[float, float, float, float]
FULL_FRAME: Final[CropBox] = (0.0, 0.0, 1.0, 1.0)
#: The smallest crop side, as a fraction of the picture (a few work pixels at least).
MIN_CROP_FRACTION: Final[float] = 0.05


def _crop_slices(shape: tuple[int, ...], crop: CropBox) -> tuple[slice, slice]:
    """Row and column slices of a (validated) fractional crop box on an array of this shape."""
    h, w = shape[:2]
    left, top, right, bottom = crop
    x0, x1 = int(math.floor(left * w)), int(math.ceil(right * w))
    y0, y1 = int(math.floor(top * h)), int(math.ceil(bottom * h))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    return slice(max(0, y0), min(h, y1)), slice(max(0, x0), min(w, x1))


def _validate_crop(crop: CropBox | None) -> CropBox:
    if crop is None:
        return FULL_FRAME
    try:
        left, top, right, bottom = (float(v) for v in crop)
    except (TypeError, ValueError) as exc:
        raise UnsupportedImageError("The crop must be four numbers: left, top, right, bottom.") from exc
    values = (left, top, right, bottom)
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise UnsupportedImageError("The crop's edges must be fractions of the picture between 0 and 1.")
    if right - left < MIN_CROP_FRACTION or bottom - top < MIN_CROP_FRACTION:
        raise UnsupportedImageError(
            f"The crop is too small: each side must be at least {MIN_CROP_FRACTION:.0%} of the picture."
        )
    return values


NO_GARMENT_MESSAGE: Final[str] = (
    "No garment found: the picture looks almost uniform. Try a photo where the garment fills "
    "more of the frame, on a plain surface that differs from it in colour or brightness, or "
    "narrow the crop around it."
)


def _pipeline(
    work: np.ndarray,
    display: np.ndarray | Callable[[], np.ndarray],
    crop: CropBox | None = None,
    *,
    photo: bool = True,
) -> PreprocessResult:
    """Find the garment, give it Fashion-MNIST's look, crop, pad square and resize (module docstring).

    photo=False (the canvas, arrays) keeps every stroke: no denoising, no tilt correction.
    """
    from .garment import NoGarmentFound, fashion_intensity, find_garment, upright_angle

    crop = _validate_crop(crop)
    if crop == FULL_FRAME and _is_dataset_image(work):
        return _dataset_image_result(work, display)
    rows, cols = _crop_slices(work.shape, crop)
    region = work[rows, cols]
    try:
        found = find_garment(region, photo=photo)
    except NoGarmentFound:
        raise EmptyImageError(NO_GARMENT_MESSAGE) from None
    look = fashion_intensity(found)
    full = np.zeros(work.shape[:2], np.float32)
    full[rows, cols] = look
    mask = np.zeros(work.shape[:2], bool)
    mask[rows, cols] = found.mask

    y0, y1, x0, x1 = _object_bbox(mask)
    box_found = (x0 / mask.shape[1], y0 / mask.shape[0], x1 / mask.shape[1], y1 / mask.shape[0])
    angle = upright_angle(found.mask) if photo else 0.0
    upright = full
    if angle:
        upright = np.asarray(
            Image.fromarray(full).rotate(angle, Image.Resampling.BILINEAR, expand=True), dtype=np.float32
        )
        y0, y1, x0, x1 = _object_bbox(upright > 0.05)
    crop_img = upright[y0:y1, x0:x1]
    ch, cw = crop_img.shape
    side = max(ch, cw)

    # Pad with zeros, then sample a square box centred on the object whose side makes the object's
    # long edge OBJECT_SIZE pixels out of IMAGE_SIZE.  Float box = exact centring.  The pad fills the
    # box and LANCZOS's reach beyond it (3 output pixels, side / 28 input pixels each), no more.
    half = side * IMAGE_SIZE / OBJECT_SIZE / 2.0
    reach = int(math.ceil(3.0 * 2.0 * half / IMAGE_SIZE)) + 2
    pad_y = int(math.ceil(half - ch / 2.0)) + reach
    pad_x = int(math.ceil(half - cw / 2.0)) + reach
    padded = np.zeros((ch + 2 * pad_y, cw + 2 * pad_x), dtype=np.float32)
    padded[pad_y : pad_y + ch, pad_x : pad_x + cw] = crop_img
    cy = pad_y + ch / 2.0
    cx = pad_x + cw / 2.0
    box = (cx - half, cy - half, cx + half, cy + half)
    small = Image.fromarray(padded).resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS, box=box
    )
    # LANCZOS rings at sharp edges; the overshoot is not content, so it may not set the peak.
    out = np.clip(np.asarray(small, dtype=np.float32), 0.0, float(crop_img.max()))
    out_peak = float(out.max())
    if not math.isfinite(out_peak) or out_peak <= 0.0:
        raise EmptyImageError(NO_GARMENT_MESSAGE)
    out = np.clip(out / out_peak, 0.0, 1.0).astype(np.float32)

    top, left = int(math.floor(cy - half)), int(math.floor(cx - half))
    size = max(1, int(math.ceil(2 * half)))
    square = padded[top : top + size, left : left + size]
    return PreprocessResult(
        display=display,
        grayscale=_to_uint8(full * 255.0),
        cropped=_to_uint8(square * 255.0),
        model_input=out[..., None],
        inverted=not found.lighter,
        mask=mask,
        box=box_found,
        crop=crop,
    )


def _is_dataset_image(work: np.ndarray) -> bool:
    """True for an image already in Fashion-MNIST's form (module docstring): used as it is."""
    if work.ndim != 2 or work.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return False
    ring = np.concatenate([work[0], work[-1], work[1:-1, 0], work[1:-1, -1]])
    if float(np.median(ring)) > DATASET_BORDER_MAX:
        return False
    ink = work > DATASET_INK
    if not ink.any():
        return False
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 >= DATASET_MIN_LONG_SIDE


def _dataset_image_result(work: np.ndarray, display: np.ndarray | Callable[[], np.ndarray]) -> PreprocessResult:
    """A Fashion-MNIST-form image as model input: only stretched so its brightest pixel is 1."""
    pixels = work.astype(np.float32)
    out = pixels / float(pixels.max())
    mask = work > DATASET_INK
    y0, y1, x0, x1 = _object_bbox(mask)
    return PreprocessResult(
        display=display,
        grayscale=np.ascontiguousarray(work),
        cropped=np.ascontiguousarray(work),
        model_input=out[..., None],
        inverted=False,
        mask=mask,
        box=(x0 / IMAGE_SIZE, y0 / IMAGE_SIZE, x1 / IMAGE_SIZE, y1 / IMAGE_SIZE),
        crop=FULL_FRAME,
    )


def _shrink_array(lum: np.ndarray, max_side: int) -> np.ndarray:
    """Box-average a float image so the longer side is at most max_side."""
    lum = np.ascontiguousarray(lum, dtype=np.float32)
    factor = math.ceil(max(lum.shape) / max_side)
    if factor <= 1:
        return lum
    return np.asarray(Image.fromarray(lum).reduce(factor), dtype=np.float32)


def _object_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1; end-exclusive) ignoring isolated specks of noise."""
    solid = _drop_isolated(mask)
    if solid.any():
        mask = solid
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _drop_isolated(mask: np.ndarray) -> np.ndarray:
    """Keep pixels with at least one set 8-neighbour: lone JPEG/noise dots are dropped.

    A set pixel has a set neighbour when its 3x3 sum (itself included) is at least 2; the sum is taken
    separably, in rows then columns (4 shifted adds instead of 8).
    """
    ones = mask.astype(np.uint8)
    rows = ones.copy()
    rows[:, 1:] += ones[:, :-1]
    rows[:, :-1] += ones[:, 1:]
    box = rows.copy()
    box[1:] += rows[:-1]
    box[:-1] += rows[1:]
    return mask & (box >= 2)
