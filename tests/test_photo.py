"""Issue #14: garments found by colour on real-looking surfaces, the outline overlay, the user's crop,
the photo-like test set, and the photometric augmentation."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fmnist_core.constants import IMAGE_SIZE
from fmnist_core.errors import EmptyImageError, UnsupportedImageError
from fmnist_core.garment import label_components
from fmnist_core.overlay import CROP_COLOUR, OUTLINE_COLOUR, outline_overlay
from fmnist_core.photoset import generate_photos, read_manifest, render_photo, write_photoset
from fmnist_core.preprocess import _work_array, preprocess_upload


def jpeg(image: Image.Image, quality: int = 85, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **params)
    return buffer.getvalue()


def surface(size: tuple[int, int], colour: tuple[int, int, int], gradient: float = 0.0, seed: int = 0) -> np.ndarray:
    """A textured, unevenly lit surface (float RGB 0..255)."""
    w, h = size
    rng = np.random.default_rng(seed)
    xx = np.linspace(-0.5, 0.5, w)[None, :]
    yy = np.linspace(-0.5, 0.5, h)[:, None]
    light = 1.0 + gradient * (xx + 0.5 * yy)
    texture = rng.normal(0.0, 3.0, (h, w))
    return np.clip(np.array(colour, float)[None, None, :] * light[..., None] + texture[..., None], 0, 255)


def with_garment(base: np.ndarray, polygon: list[tuple[float, float]], colour: tuple[int, int, int],
                 shade: bool = True) -> Image.Image:
    """Paint a garment polygon in colour, with a darker fold band (shading), on the surface."""
    h, w = base.shape[:2]
    mask_img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask_img).polygon(polygon, fill=255)
    mask = np.asarray(mask_img, float)[..., None] / 255.0
    garment = np.array(colour, float)[None, None, :] * np.ones((h, w, 1))
    if shade:
        garment[:, w // 2 - w // 20 : w // 2 + w // 20] *= 0.7  # a fold down the middle
    return Image.fromarray(np.clip(base * (1 - mask) + garment * mask, 0, 255).astype(np.uint8))


def rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def rotated_rect(cx: float, cy: float, w: float, h: float, degrees: float) -> list[tuple[float, float]]:
    a = math.radians(degrees)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [(cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)) for x, y in corners]


def box_fraction_error(found: tuple[float, float, float, float], expected: tuple[float, float, float, float]) -> float:
    return max(abs(a - b) for a, b in zip(found, expected))


# --------------------------------------------------------------------------- found by colour


def test_same_brightness_different_colour_is_found() -> None:
    # The example: a pink bag on a beige surface, about equally bright.
    base = surface((400, 300), (215, 200, 175), gradient=0.2)
    picture = with_garment(base, rect(120, 60, 280, 240), (235, 160, 190))
    result = preprocess_upload(jpeg(picture))
    assert box_fraction_error(result.box, (120 / 400, 60 / 300, 280 / 400, 240 / 300)) < 0.03
    assert result.inverted  # light surface: lightness negated, as Fashion-MNIST negated its photos


@pytest.mark.parametrize(
    ("surface_colour", "garment_colour"),
    [((235, 225, 215), (40, 40, 60)), ((120, 80, 50), (245, 245, 240)), ((200, 220, 245), (170, 230, 60))],
    ids=["dark_on_light", "white_on_wood", "lime_on_pale_blue"],
)
def test_darker_lighter_and_coloured_garments_are_found(surface_colour, garment_colour) -> None:
    base = surface((360, 480), surface_colour, gradient=0.3, seed=1)
    picture = with_garment(base, rect(90, 100, 260, 420), garment_colour)
    result = preprocess_upload(jpeg(picture, quality=60))
    assert box_fraction_error(result.box, (90 / 360, 100 / 480, 260 / 360, 420 / 480)) < 0.03
    x = result.model_input[..., 0]
    assert x.max() == pytest.approx(1.0)
    assert x[0, 0] == 0.0  # background black
    # Shading kept: the fold down the middle differs from the rest of the garment (not a flat silhouette).
    fold = float(x[6:22, 13:15].mean())
    flanks = float(np.concatenate([x[6:22, 9:11], x[6:22, 17:19]]).mean())
    assert abs(fold - flanks) > 0.02


def test_shadow_is_not_part_of_the_garment() -> None:
    base = surface((400, 400), (220, 210, 190))
    shadow = np.ones((400, 400, 1))
    shadow[130:330, 150:290] = 0.6  # a darker version of the surface, offset down-right
    picture = with_garment(base * shadow, rect(120, 100, 260, 300), (60, 90, 170))
    result = preprocess_upload(jpeg(picture))
    assert box_fraction_error(result.box, (120 / 400, 100 / 400, 260 / 400, 300 / 400)) < 0.02


@pytest.mark.parametrize("degrees", [-15, 15])
def test_rotated_off_centre_garment_in_wide_frame(degrees: float) -> None:
    base = surface((640, 360), (190, 200, 210), gradient=0.4, seed=2)
    polygon = rotated_rect(480, 170, 120, 220, degrees)
    picture = with_garment(base, polygon, (150, 30, 40))
    result = preprocess_upload(jpeg(picture))
    xs, ys = zip(*polygon)
    expected = (min(xs) / 640, min(ys) / 360, max(xs) / 640, max(ys) / 360)
    assert box_fraction_error(result.box, expected) < 0.03
    x = result.model_input[..., 0]
    ys_, xs_ = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    cy, cx = (x * (ys_ + 0.5)).sum() / x.sum(), (x * (xs_ + 0.5)).sum() / x.sum()
    assert abs(cy - 14) < 2 and abs(cx - 14) < 2  # centred


def test_hole_inside_the_garment_is_filled() -> None:
    base = surface((300, 300), (230, 230, 225))
    picture = with_garment(base, rect(80, 50, 220, 250), (30, 30, 30), shade=False)
    pixels = np.array(picture)
    pixels[130:170, 130:170] = (230, 230, 225)  # a print the colour of the table
    result = preprocess_upload(jpeg(Image.fromarray(pixels)))
    h, w = result.mask.shape
    assert result.mask[int(0.5 * h), int(0.5 * w)]


@pytest.mark.parametrize("gradient", [0.0, 0.45])
def test_blank_unevenly_lit_surface_is_refused_with_advice(gradient: float) -> None:
    base = surface((500, 400), (200, 190, 170), gradient=gradient, seed=3)
    with pytest.raises(EmptyImageError) as info:
        preprocess_upload(jpeg(Image.fromarray(base.astype(np.uint8))))
    message = str(info.value).lower()
    assert "no garment found" in message and "try" in message


def test_sideways_photo_with_exif_is_upright() -> None:
    base = surface((300, 400), (220, 215, 200))
    upright = with_garment(base, rect(100, 60, 200, 360), (20, 60, 140))  # tall garment
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    result = preprocess_upload(jpeg(stored, exif=exif.tobytes()))
    assert result.original.shape[0] > result.original.shape[1]
    left, top, right, bottom = result.box
    assert bottom - top > 2 * (right - left)


def test_small_jpeg_is_worked_small_and_shown_at_display_size() -> None:
    # A 600x600 JPEG is decoded at 150x150 for the work (quarter scale, no resize) and again at half
    # scale, only when shown, for the display copy.
    base = surface((600, 600), (225, 220, 210))
    result = preprocess_upload(jpeg(with_garment(base, rect(150, 100, 450, 500), (40, 60, 130))))
    assert result.mask.shape == (150, 150)
    assert result.original.shape == (300, 300, 3) and not result.original.flags.writeable
    assert box_fraction_error(result.box, (150 / 600, 100 / 600, 450 / 600, 500 / 600)) < 0.03


def test_grey_rgb_picture_is_classified_like_its_grayscale_copy() -> None:
    # Equal channels are worked as one plane: the same input to the model as the grayscale file's.
    base = surface((300, 240), (200, 200, 200))
    grey = with_garment(base, rect(60, 40, 180, 260), (50, 50, 50)).convert("L")
    as_rgb = preprocess_upload(jpeg(grey.convert("RGB"), quality=95))
    as_l = preprocess_upload(jpeg(grey, quality=95))
    assert as_rgb.original.ndim == 3 and as_l.original.ndim == 2
    assert np.abs(as_rgb.model_input - as_l.model_input).max() < 0.05
    assert _work_array(grey.convert("RGB")).ndim == 2  # one plane...
    tinted = surface((300, 240), (200, 190, 170))
    assert _work_array(Image.fromarray(tinted.astype(np.uint8))).ndim == 3  # ...only when the channels are equal


# --------------------------------------------------------------------------- crop and overlay


def test_crop_limits_where_the_garment_is_searched() -> None:
    base = surface((600, 300), (225, 220, 210))
    picture = with_garment(base, rect(40, 60, 160, 240), (40, 40, 120))
    pixels = np.array(with_garment(np.array(picture, float), rect(400, 40, 560, 260), (150, 40, 30)))
    data = jpeg(Image.fromarray(pixels))
    whole = preprocess_upload(data)  # the larger garment; the far smaller one is not part of it
    assert box_fraction_error(whole.box, (400 / 600, 40 / 300, 560 / 600, 260 / 300)) < 0.03
    left = preprocess_upload(data, crop=(0.0, 0.0, 0.5, 1.0))
    assert left.crop == (0.0, 0.0, 0.5, 1.0)
    assert box_fraction_error(left.box, (40 / 600, 60 / 300, 160 / 600, 240 / 300)) < 0.03
    assert not left.mask[:, left.mask.shape[1] // 2 :].any()


@pytest.mark.parametrize("crop", [(0.5, 0.0, 0.52, 1.0), (0.0, 0.0, 1.2, 1.0), (float("nan"), 0, 1, 1), ("a",)])
def test_bad_crops_are_refused_typed(crop) -> None:
    data = jpeg(with_garment(surface((200, 200), (220, 220, 220)), rect(50, 50, 150, 150), (20, 20, 20)))
    with pytest.raises(UnsupportedImageError, match="crop"):
        preprocess_upload(data, crop=crop)


def test_overlay_draws_outline_and_crop_frame() -> None:
    original = np.full((200, 300, 3), 200, np.uint8)
    mask = np.zeros((100, 150), bool)
    mask[25:75, 50:100] = True
    out = outline_overlay(original, mask, (0.1, 0.1, 0.9, 0.9))
    assert out.shape == (200, 300, 3) and out.dtype == np.uint8
    outline = np.all(out == OUTLINE_COLOUR, axis=-1)
    assert outline[48:52, 100:200].any() and outline[100, 95:101].any()  # ring just outside the garment
    assert not outline[70:130, 120:180].any()  # the garment itself is left visible
    assert np.all(out[20, 30:270] == CROP_COLOUR)  # the crop's top edge
    plain = outline_overlay(original[..., 0], mask)  # grayscale photo, no crop: no frame
    assert plain.shape == (200, 300, 3) and not np.all(plain == CROP_COLOUR, axis=-1).any()


def test_label_components_counts_diagonal_and_straight_connectivity() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours
    mask[4, 2:5] = True
    _, _, _, eight = label_components(mask)
    _, _, _, four = label_components(mask, diagonal=False)
    assert len(set(eight.tolist())) == 2 and len(set(four.tolist())) == 3


# --------------------------------------------------------------------------- photo set


def test_photoset_is_seeded_and_covers_every_class(real_dataset) -> None:
    first = list(generate_photos(real_dataset.x_test, real_dataset.y_test, 20, seed=5))
    again = list(generate_photos(real_dataset.x_test, real_dataset.y_test, 20, seed=5))
    other = list(generate_photos(real_dataset.x_test, real_dataset.y_test, 20, seed=6))
    assert [s.data for s in first] == [s.data for s in again]
    assert [s.data for s in first] != [s.data for s in other]
    assert sorted({s.label for s in first}) == list(range(10))
    for sample in first:
        assert sample.label == int(real_dataset.y_test[sample.test_index])
        with Image.open(io.BytesIO(sample.data)) as image:
            assert image.format == "JPEG"
            assert image.getexif().get(0x0112) == sample.params["orientation"]
        assert 55 <= sample.params["quality"] <= 85 and abs(sample.params["angle"]) <= 15


def test_render_photo_is_coloured_and_write_photoset_round_trips(real_dataset, tmp_path) -> None:
    data, params = render_photo(real_dataset.x_test[0], np.random.default_rng(0))
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"), float)
    assert float(np.abs(rgb[..., 0] - rgb[..., 2]).mean()) > 1.0  # colour, not gray
    write_photoset(tmp_path, real_dataset.x_test, real_dataset.y_test, 10, seed=1)
    listed = read_manifest(tmp_path)
    assert len(listed) == 10 and all(path.exists() for path, _ in listed)


# --------------------------------------------------------------------------- photometric augmentation


def test_photometric_layer_changes_only_the_garment() -> None:
    from fmnist_core.augmentation import AugmentationConfig, augment_preview
    from fmnist_core.errors import ConfigError

    image = np.zeros((28, 28), np.uint8)
    image[4:24, 8:20] = np.linspace(60, 255, 12, dtype=np.uint8)[None, :]
    out = augment_preview(image, AugmentationConfig(photometric=1.0), count=8, seed=3)
    assert (out[:, image == 0] == 0).all()  # background stays black
    assert (out.reshape(8, -1).max(axis=1) >= 254).all()  # stretched back to a maximum of 1
    assert len({out[i].tobytes() for i in range(8)}) > 4  # random per image
    assert (augment_preview(image, AugmentationConfig(photometric=0.0), count=2) == image).all()
    with pytest.raises(ConfigError, match="photometric"):
        AugmentationConfig(photometric=1.5)


# --------------------------------------------------------------------------- benchmark helpers


def test_large_photo_jpeg_and_report_lines(real_dataset) -> None:
    from benchmarks.inference_bench import (
        LARGE_PHOTO_SIZE,
        InferenceResult,
        LatencySample,
        make_large_photo_jpeg,
        photo_lines,
    )
    from fmnist_core.photoset import PhotoSetScore

    data = make_large_photo_jpeg(real_dataset.x_test[0])
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == LARGE_PHOTO_SIZE
    result = preprocess_upload(data)
    assert result.original.shape[1] <= 512 and result.model_input.shape == (IMAGE_SIZE, IMAGE_SIZE, 1)

    score = PhotoSetScore()
    score.total[:] = 5
    score.correct[:] = 4
    score.refused[1] = 1
    sample = LatencySample("x", [0.010, 0.012, 0.030])
    inf = InferenceResult("m", 1, (600, 600), sample, sample, sample, sample, [1.0], 10, 0.9, 0, [],
                          large_upload=sample, large_upload_bytes=len(data), photo_set=score, clean_set=score)
    text = "\n".join(photo_lines(inf))
    assert "4000x3000" in text and "p50 12.0 ms" in text
    assert "top-1 80.00% of 50 photos, 1 refused" in text and "Trouser 80%" in text
