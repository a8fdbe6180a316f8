"""Find the garment in a picture by colour and brightness against a fitted background.

The steps, and why each is there (the upload pipeline in fmnist_core.preprocess calls them):

1. **Work in linear light.**  Light adds and shadows scale in linear RGB, not in the gamma-coded
   values a JPEG stores, so the comparisons below are ratios in linear light (a look-up table).
2. **Fit the background from the border, on a small copy.**  The picture's outer band is mostly
   surface.  Each colour channel is fitted there, starting from the band's median colour, by a
   quadratic surface in x and y (a planar gradient of light and a vignette are background, not
   garment) when the agreeing band pixels cover all four sides, a plane when they cover three,
   else a constant.  The fit is repeated without the band pixels that disagree with it, so a
   garment touching the edge does not drag the background towards its own colour.  It runs on
   a copy area-averaged to at most MASK_MAX_SIDE pixels (a smooth surface needs no detail; its
   six coefficients are then evaluated at every full-size pixel).  A small flare is added to
   linear light first, so near-black surfaces do not turn noise into huge ratios.
3. **Compare every pixel with its own background.**  Each pixel p is split into its
   brightness relative to the background there, k = <p, bg> / <bg, bg>, and its colour
   deviation r = |p - k bg| / |bg|.  A pink bag on a beige table has k near 1 but a large r;
   a black boot has a small k; a white shirt on wood a k above 1.  Thresholds come from the
   border's own noise at full size (4 robust sigmas; the small copy's averaged noise would let
   slow texture of the surface count), with floors so JPEG blocking never counts.
4. **Keep shadows out.**  A shadow is the background's own colour, darker: 0.25 <= k < 1
   (0.25 in linear light is about 0.53 in gamma-coded values) with r below its threshold.
   Those pixels are not garment, unless they are more than 60% as many as the garment's (a
   shadow is a rim; that much "shadow" is a grey garment on a lighter surface, which looks
   exactly like one) or nothing else is found.
5. **Clean the mask** (photos only; a drawing keeps every stroke).  An opening removes specks
   of texture and noise (at full size), a closing bridges thin gaps (sandal straps), components
   much smaller than the largest or far from it (a blown highlight in a corner) are dropped, and
   holes are filled so a print the colour of the table stays part of the shirt.  The closing,
   components and holes are loops over runs of pixels, so they run on a copy pooled to at most
   MASK_MAX_SIDE (a block counts when any of its pixels does, so a one-pixel strap survives);
   the garment's edge is then taken from the full-size pixels again.  Measured on photo-set
   seeds 1-2, this small copy costs no accuracy (84.0% either way at the time).
6. **Stand the garment upright.**  Fashion-MNIST's garments are photographed straight; a
   phone photo is tilted.  The rotation (within +-20 degrees) whose bounding box of the mask is
   smallest is undone when it shrinks the box by at least 3% (a garment that is already
   straight, or round, is left alone).
7. **Fashion-MNIST's look inside the mask.**  Fashion-MNIST negated grayscale product photos
   on white: dark cloth is bright, folds and seams are shading.  So a garment darker than its
   surface gets the intensity 1 - (Y / Y_bg)^(1/2.2) (its lightness relative to the surface under
   the same light, then negated), and one lighter than its surface (a light stroke on a black
   canvas, a white shirt on a black table) Y^(1/2.2) - Y_bg^(1/2.2), keeping its polarity.  Which
   of the two is decided by the garment against its own surface (its median k), not by the
   surface alone: a rule "surface darker than mid-grey" sent dark garments on mid-tone surfaces
   down the light-on-dark path, dark with bright edges (3 points on the photo set).
   Values are stretched between the garment's own 2nd and 99.5th percentiles (its lightest part
   becomes the floor, as a product photo's lightest cloth is near white: 1.8 points better on
   the photo set than stretching from the surface's level), and the pixels that differ from
   the surface get at least a floor, so a garment as light as the surface is still a visible
   shape, as the dataset's white garments are (their median pixel is above 45 of 255).  Filled
   holes and bridged gaps are black: a trouser's gap, a sandal's gaps and a print the colour of
   the table are dark in the dataset (giving them their own tone let shadows grey them).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["GarmentMask", "NoGarmentFound", "find_garment", "fashion_intensity", "upright_angle"]

#: Photos are searched on a copy whose long side is at most this many pixels (a mask needs no
#: detail, and every step below costs in proportion to the pixels); the look is taken at full size.
MASK_MAX_SIDE: Final[int] = 80
#: Width of the border band that is fitted as background, as a fraction of the short side.
BORDER_FRACTION: Final[float] = 0.04
#: Brightness ratio below which a pixel of the background's colour is garment, not shadow.
SHADOW_MIN_RATIO: Final[float] = 0.25
#: Shadow-like pixels covering more than this share of the garment pixels are garment after all.
SHADOW_MAX_SHARE: Final[float] = 0.6
#: Threshold floors (fractions of the background): colour deviation, brighter, darker.
MIN_COLOUR_DEVIATION: Final[float] = 0.06
MIN_BRIGHTER: Final[float] = 0.10
MIN_DARKER: Final[float] = 0.10
#: Noise multiple for the thresholds (robust sigmas of the border's residuals).
NOISE_SIGMAS: Final[float] = 4.0
#: Components smaller than this share of the largest are dropped.
MIN_COMPONENT_SHARE: Final[float] = 0.15
#: ...and so are those further than this share of the picture's long side from the largest.
MAX_COMPONENT_GAP: Final[float] = 0.08
#: The garment must cover at least this share of the picture (else it is noise on a blank).
MIN_GARMENT_SHARE: Final[float] = 0.002
#: Added to linear light before taking ratios, so near-black surfaces do not turn sensor noise
#: into huge ratios (about sRGB 25 of 255: what a camera's flare and black level add anyway).
FLARE: Final[float] = 0.01
#: Rotations up to this many degrees are undone (photos are rarely straighter than that).
MAX_DESKEW_DEG: Final[float] = 20.0
#: ...when the upright box is at least this much smaller than the box as photographed.
MIN_DESKEW_GAIN: Final[float] = 0.03
#: Lowest intensity of a garment pixel, so a garment as light as the surface stays visible.
INTENSITY_FLOOR: Final[float] = 0.1

_LINEAR_LUT: Final[np.ndarray] = np.where(
    np.arange(256) / 255.0 <= 0.04045,
    np.arange(256) / 255.0 / 12.92,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
).astype(np.float32)
_LINEAR_LUT_FLARE: Final[np.ndarray] = _LINEAR_LUT + np.float32(FLARE)
_LUMA_LINEAR: Final[np.ndarray] = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


class NoGarmentFound(Exception):
    """Nothing in the picture differs from its background (a blank or almost uniform picture)."""


@dataclass(frozen=True)
class GarmentMask:
    """Where the garment is, and what the background under it looks like (linear light)."""

    mask: np.ndarray  # bool HxW, holes filled and gaps bridged
    core: np.ndarray  # bool HxW, the pixels that themselves differ from the background
    linear: np.ndarray  # float32 CxHxW (one plane per channel: fast whole-plane arithmetic), C = 1 or 3
    background: np.ndarray  # float32 CxHxW, the fitted surface
    lighter: bool  # True when the garment is lighter than its surface (its lightness is kept, not negated)


def _design(h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    u = xs / max(w - 1, 1) - 0.5
    v = ys / max(h - 1, 1) - 0.5
    return np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], axis=-1).astype(np.float32)


def _border_band(h: int, w: int) -> np.ndarray:
    band = max(1, int(round(BORDER_FRACTION * min(h, w))))
    edge = np.zeros((h, w), bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    return edge


@functools.lru_cache(maxsize=256)
def _band_index(h: int, w: int) -> np.ndarray:
    """Flat (row-major) indices of the border band: taking them beats a boolean mask several times over.

    Cached per size (read-only): photos come in a few sizes, and the band is rebuilt for nothing otherwise.
    """
    index = np.flatnonzero(_border_band(h, w))
    index.setflags(write=False)
    return index


@functools.lru_cache(maxsize=256)
def _band_geometry(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(flat band indices, their design matrix transposed (6 x N), the band's four sides as 0/1 rows
    (4 x N), the sides' pixel counts), cached per size.  Terms run along rows: the fit below works on
    C x N and 6 x N arrays, whose reductions over a short axis of 3 or 6 would be numpy's slowest kind."""
    index = _band_index(h, w)
    ys, xs = np.divmod(index, w)
    design = np.ascontiguousarray(_design(h, w, ys.astype(np.float32), xs.astype(np.float32)).T)
    band = max(1, int(round(BORDER_FRACTION * min(h, w))))
    sides = np.stack([ys < band, ys >= h - band, xs < band, xs >= w - band]).astype(np.float32)
    lengths = sides.sum(axis=1, dtype=np.float64)
    for array in (design, sides, lengths):
        array.setflags(write=False)
    return index, design, sides, lengths


def _fit_background(linear: np.ndarray) -> np.ndarray:
    """Polynomial coefficients (6 x C, see _design) of the surface fitted to the border band.

    The start is the band's median colour (a garment touching the edge is a minority of the band),
    and the model grows with the evidence: a quadratic (gradient and vignette) when the agreeing
    pixels cover all four sides, a plane when they cover some, else the constant median.  The
    coefficients are in coordinates of the picture's own frame (-0.5..0.5), so the surface can be
    evaluated at any resolution (_surface).
    """
    c, h, w = linear.shape
    index, design, sides, lengths = _band_geometry(h, w)
    values = linear.reshape(c, -1).take(index, axis=1)  # C x N
    median = _median(values, axis=1)
    deviation = np.abs(values - median[:, None]).max(axis=0)
    spread = 1.4826 * float(_median(deviation)) + 1e-4
    keep = deviation <= max(3.0 * spread, 0.05 * float(median.max()) + 0.005)
    coef = np.zeros((design.shape[0], c), np.float32)
    coef[0] = median
    for _ in range(3):
        # Share of each side's pixels that agree (exact: integer counts in float32, divided in float64).
        counts = (sides @ keep.astype(np.float32)).tolist()
        covered = [count / length if length else 0.0 for count, length in zip(counts, lengths.tolist())]
        terms = 6 if min(covered) >= 0.5 else 3 if sum(c >= 0.3 for c in covered) >= 3 else 1
        kept = np.flatnonzero(keep)
        if len(kept) < terms * 4:
            break
        chosen = design[:terms].take(kept, axis=1)  # normal equations: a tiny solve, no LAPACK least squares
        gram = chosen @ chosen.T + _RIDGE[terms]
        rhs = chosen @ values.take(kept, axis=1).T
        coef = np.zeros_like(coef)
        coef[:terms] = np.linalg.solve(gram.astype(np.float64), rhs.astype(np.float64))
        residual = np.abs(values - coef.T @ design).max(axis=0)
        spread = 1.4826 * float(_median(residual.take(kept))) + 1e-4
        keep = residual <= max(3.0 * spread, 0.01)
    return coef


_RIDGE: Final[dict[int, np.ndarray]] = {n: np.eye(n, dtype=np.float32) * np.float32(1e-6) for n in (1, 3, 6)}


def _surface(coef: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The fitted surface (C x H x W) at frame coordinates u (columns) and v (rows), -0.5..0.5."""
    # The six terms of _design as rows [1, v, v^2] x coefficients x columns [1, u, u^2]: two small
    # matrix products write each plane once (elementwise terms cost several full-size passes).
    coef = np.asarray(coef, np.float32)
    terms = np.zeros((coef.shape[1], 3, 3), np.float32)
    terms[:, 0, 0], terms[:, 0, 1], terms[:, 0, 2] = coef[0], coef[1], coef[3]
    terms[:, 1, 0], terms[:, 1, 1], terms[:, 2, 0] = coef[2], coef[5], coef[4]
    v = np.asarray(v, np.float32)
    u = np.asarray(u, np.float32)
    rows = np.stack([np.ones_like(v), v, v * v], axis=1)  # H x 3
    cols = np.stack([np.ones_like(u), u, u * u])  # 3 x W
    surface = (rows @ terms) @ cols  # C x H x W
    return np.maximum(surface, np.float32(1e-3), out=surface)


def _median(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """np.median by one np.partition (np.median's own checks cost more than the partition at these sizes)."""
    values = np.asarray(values)
    if axis is None:
        values, axis = values.reshape(-1), 0
    n = values.shape[axis]
    if n == 0:
        return np.median(values, axis=axis)  # numpy's own answer (nan) for an empty array
    upper = n // 2
    if n % 2:
        return np.partition(values, upper, axis=axis).take(upper, axis=axis)
    both = np.partition(values, (upper - 1, upper), axis=axis)
    return (both.take(upper - 1, axis=axis) + both.take(upper, axis=axis)) / 2


def _robust_sigma(values: np.ndarray, centre: np.ndarray | float | None = None) -> float:
    """1.4826 x the median absolute deviation from centre (the values' median unless given)."""
    if not values.size:
        return 0.0
    return 1.4826 * float(_median(np.abs(values - (_median(values) if centre is None else centre))))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True: (row, start, end) arrays, end exclusive, in row-major order.

    The changes along each padded row alternate start, end, start, end, so one flat search finds both.
    """
    h, w = mask.shape
    padded = np.zeros((h, w + 2), bool)
    padded[:, 1:-1] = mask
    rows, cols = np.divmod(np.flatnonzero(padded[:, 1:] != padded[:, :-1]), w + 1)
    return rows[0::2], cols[0::2], cols[1::2]


def label_components(mask: np.ndarray, diagonal: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of runs (no SciPy: it costs seconds to import), in whole-array steps.

    Returns (rows, starts, ends, component) per run, component ids 0..n-1 numbered in the order of
    each component's first run.  The runs of each row that touch a run of the row above form one
    contiguous range (runs are sorted and disjoint), found for every run at once by two binary
    searches; the components then follow from hooking every touching pair onto the smaller label
    and pointer jumping, a few rounds of array steps instead of a Python loop over runs.
    """
    rows, starts, ends = _runs(mask)
    n = len(rows)
    if n == 0:
        return rows, starts, ends, np.zeros(0, np.int64)
    reach = 1 if diagonal else 0
    stride = mask.shape[1] + 3  # row * stride + column orders runs and keeps rows apart
    start_key = rows * stride + starts
    end_key = rows * stride + ends
    below = (rows + 1) * stride
    low = np.searchsorted(end_key, below + starts - reach, side="right")  # first run below ending past our start
    high = np.searchsorted(start_key, below + ends + reach, side="left")  # first run below starting past our end
    count = np.maximum(high - low, 0)
    upper = np.repeat(np.arange(n), count)
    lower = np.repeat(low - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    label = np.arange(n)
    while len(upper):
        a, b = label[upper], label[lower]
        if not (a != b).any():
            break
        smaller = np.minimum(a, b)
        np.minimum.at(label, a, smaller)  # hook each root onto the smaller label it touches
        np.minimum.at(label, b, smaller)
        while True:  # pointer jumping: every run points at its root
            jumped = label[label]
            if not (jumped != label).any():
                break
            label = jumped
    # Every label is now its component's first run (labels only fall, to runs of the same component):
    # number the components in that order without sorting.
    first = label == np.arange(n)
    return rows, starts, ends, (np.cumsum(first) - 1)[label]


def _paint(shape: tuple[int, int], rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A mask with these runs set: +1 where each run starts, -1 where it ends, summed along the row.

    The runs are maximal runs of one mask, so no two share a start or an end.
    """
    steps = np.zeros((shape[0], shape[1] + 1), np.int8)
    steps[rows, starts] = 1
    steps[rows, ends] -= 1
    return np.cumsum(steps[:, :-1], axis=1, dtype=np.int8) > 0


def _filter(mask: np.ndarray, kind: str, size: int) -> np.ndarray:
    """Binary erosion ("min") or dilation ("max") with a size x size square (outside counts as unset).

    Separable: per axis, each shift up to size // 2 combines the mask with itself shifted both
    ways, in place on views (transposed views for columns): a few microseconds at work size.
    """
    combine = np.logical_and if kind == "min" else np.logical_or
    out = np.asarray(mask, dtype=bool)
    for axis in (0, 1):
        acc = out.copy()
        src, dst = (out, acc) if axis == 0 else (out.T, acc.T)
        n = src.shape[0]
        for shift in range(1, size // 2 + 1):
            if shift < n:
                combine(dst[:-shift], src[shift:], out=dst[:-shift])
                combine(dst[shift:], src[:-shift], out=dst[shift:])
            if kind == "min":  # beyond the edge is unset
                dst[: min(shift, n)] = False
                dst[max(n - shift, 0) :] = False
        out = acc
    return out


def _open(mask: np.ndarray) -> np.ndarray:
    """Opening with a 3x3 square: specks of texture and noise go, shapes stay (step 5)."""
    if min(mask.shape) < 12:
        return mask
    return _filter(_filter(mask, "min", 3), "max", 3)


def _clean(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closing, keep the big components, fill holes (step 5): (filled mask, the kept pixels of mask)."""
    opened = mask
    if min(mask.shape) >= 12:
        size = 2 * max(1, int(round(min(mask.shape) / 100))) + 1
        pad = size
        padded = np.zeros((mask.shape[0] + 2 * pad, mask.shape[1] + 2 * pad), bool)
        padded[pad:-pad, pad:-pad] = mask
        padded = _filter(_filter(padded, "max", size), "min", size)
        mask = padded[pad:-pad, pad:-pad]
    rows, starts, ends, component = label_components(mask)
    if len(rows) == 0:
        return mask, mask & opened
    count = int(component.max()) + 1
    if count > 1:  # one component (the usual garment) keeps itself
        mask = _keep_main_components(mask, rows, starts, ends, component, count)
    # Holes: components of the complement (4-connected) that do not touch the border.
    h, w = mask.shape
    rows, starts, ends, component = label_components(~mask, diagonal=False)
    touches = (rows == 0) | (rows == h - 1) | (starts == 0) | (ends == w)
    outside = np.zeros(component.max() + 1 if len(component) else 0, bool)
    outside[component[touches]] = True
    hole = ~outside[component]
    if not hole.any():
        return mask, mask & opened
    return mask | _paint(mask.shape, rows[hole], starts[hole], ends[hole]), mask & opened


def _keep_main_components(
    mask: np.ndarray, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, component: np.ndarray, count: int
) -> np.ndarray:
    """The mask without components much smaller than the largest or far from it (step 5)."""
    sizes = np.bincount(component, weights=ends - starts, minlength=count)
    main = int(np.argmax(sizes))
    # Bounding boxes per component: a piece far from the largest one is a highlight or a corner of
    # the surface the fit missed, not a garment's strap.
    top = np.full(count, mask.shape[0]), np.full(count, mask.shape[1])
    bottom = np.zeros(count, int), np.zeros(count, int)
    np.minimum.at(top[0], component, rows)
    np.minimum.at(top[1], component, starts)
    np.maximum.at(bottom[0], component, rows + 1)
    np.maximum.at(bottom[1], component, ends)
    gap_y = np.maximum(0, np.maximum(top[0] - bottom[0][main], top[0][main] - bottom[0]))
    gap_x = np.maximum(0, np.maximum(top[1] - bottom[1][main], top[1][main] - bottom[1]))
    near = np.maximum(gap_y, gap_x) <= MAX_COMPONENT_GAP * max(mask.shape)
    keep_component = (sizes >= MIN_COMPONENT_SHARE * sizes[main]) & near
    if keep_component.all():
        return mask
    keep = keep_component[component]
    return _paint(mask.shape, rows[keep], starts[keep], ends[keep])


def _box_shrink(linear: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks (a last partial row or column of blocks is dropped): the search copy."""
    c, h, w = linear.shape
    hs, ws = max(1, h // factor), max(1, w // factor)
    total = np.zeros((c, hs, ws), np.float32)
    for dy in range(min(factor, h)):
        for dx in range(min(factor, w)):
            total += linear[:, dy : dy + hs * factor : factor, dx : dx + ws * factor : factor]
    return total / float(min(factor, h) * min(factor, w))


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of two C x H x W planes."""
    out = a[0] * b[0]
    for i in range(1, a.shape[0]):
        out += a[i] * b[i]
    return out


def _compare(linear: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's brightness k relative to its background and its colour deviation r (step 3)."""
    norm2 = _dot(background, background)
    ratio = _dot(linear, background) / norm2
    deviation = np.sqrt(np.maximum(_dot(linear, linear) / norm2 - ratio * ratio, 0.0))
    return ratio, deviation


@dataclass(frozen=True)
class _Thresholds:
    colour: float
    brighter: float
    darker: float

    def classify(self, ratio: np.ndarray, deviation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(candidate garment pixels without shadows, shadow-like pixels): steps 3 and 4."""
        coloured = deviation > self.colour
        darker = ratio < 1.0 - self.darker
        shadow = darker & ~coloured & (ratio >= SHADOW_MIN_RATIO)
        return coloured | (ratio > 1.0 + self.brighter) | (darker & ~shadow), shadow


def _thresholds(ratio: np.ndarray, deviation: np.ndarray, edge: np.ndarray) -> _Thresholds:
    """Thresholds from the border band's own noise (NOISE_SIGMAS robust sigmas), with floors.

    edge: the band's flat indices (_band_index).
    """
    band_ratio = ratio.reshape(-1).take(edge)
    band_deviation = deviation.reshape(-1).take(edge)
    sigma_k = _robust_sigma(band_ratio)
    typical = _median(band_deviation)  # computed once: both the centre and the offset
    sigma_r = _robust_sigma(band_deviation, typical) + float(typical)
    return _Thresholds(
        colour=max(MIN_COLOUR_DEVIATION, NOISE_SIGMAS * sigma_r),
        brighter=max(MIN_BRIGHTER, NOISE_SIGMAS * sigma_k),
        darker=max(MIN_DARKER, NOISE_SIGMAS * sigma_k),
    )


def find_garment(pixels: np.ndarray, *, photo: bool = True) -> GarmentMask:
    """The garment mask of a uint8 HxW (gray) or HxWx3 (RGB) picture; raises NoGarmentFound.

    photo=False is for drawings and arrays that are already clean (the canvas, a dataset
    sample): every differing pixel counts, a thin stroke included, and nothing is filled.
    A photo is searched on a copy box-shrunk to at most MASK_MAX_SIDE (step 2), and the mask
    is then refined at the picture's own size, where the garment's look is taken (step 7).
    """
    pixels = np.asarray(pixels, dtype=np.uint8)
    planes = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    linear = np.take(_LINEAR_LUT_FLARE, planes)
    _, h, w = linear.shape
    factor = max(1, math.ceil(max(h, w) / MASK_MAX_SIDE)) if photo else 1
    small = _box_shrink(linear, factor) if factor > 1 else linear
    _, hs, ws = small.shape
    coef = _fit_background(small)
    # The surface at each full-size pixel's place in the small copy's frame.
    cols = ((np.arange(w, dtype=np.float32) - (factor - 1) / 2.0) / factor) / max(ws - 1, 1) - 0.5
    rows = ((np.arange(h, dtype=np.float32) - (factor - 1) / 2.0) / factor) / max(hs - 1, 1) - 0.5
    background = _surface(coef, cols, rows)
    ratio, deviation = _compare(linear, background)
    # Thresholds from the noise of single pixels, as the full-size picture has it: the small copy's
    # averaged noise would set them so low that slow texture of the surface counts as garment.
    limits = _thresholds(ratio, deviation, _band_index(h, w))
    candidate, shadow = limits.classify(ratio, deviation)
    # A shadow is a rim beside the garment; a "shadow" as large as what was found is a grey
    # garment on a lighter surface (a grey T-shirt on white looks exactly like a shadow).
    if np.count_nonzero(shadow) > SHADOW_MAX_SHARE * max(np.count_nonzero(candidate), 1):
        candidate = candidate | shadow
    if not photo:
        mask = candidate | shadow
        if not mask.any():
            raise NoGarmentFound
        return GarmentMask(mask, mask, linear, background, _is_lighter(ratio, mask))
    mask, core = _mask_from(_open(candidate), factor)
    if np.count_nonzero(mask) < MIN_GARMENT_SHARE * h * w:  # count_nonzero: a bool sum costs 6x more
        mask, core = _mask_from(_open(candidate | shadow), factor)
    if np.count_nonzero(mask) < max(4, MIN_GARMENT_SHARE * h * w):
        raise NoGarmentFound
    return GarmentMask(mask, core, linear, background, _is_lighter(ratio, core if core.any() else mask))


def _mask_from(opened: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask, core) at full size from the opened candidate pixels (step 5).

    The closing, the components and the holes (loops over runs of pixels, the costly part) are
    worked out on a copy pooled by factor (a block is set when any of its pixels is, so a
    one-pixel strap survives); the garment's edge comes from the full-size pixels.
    """
    if factor == 1:
        filled, kept = _clean(opened)
        return filled, kept & opened
    h, w = opened.shape
    hs, ws = max(1, h // factor), max(1, w // factor)
    pooled = np.zeros((hs, ws), bool)
    for dy in range(min(factor, h)):
        for dx in range(min(factor, w)):
            pooled |= opened[dy : dy + hs * factor : factor, dx : dx + ws * factor : factor]
    filled, _ = _clean(pooled)
    core = opened & _upsample(filled, factor, h, w)
    inside = _upsample(_filter(filled, "min", 3), factor, h, w)  # holes and bridged gaps, not the edge
    return core | inside, core


def _upsample(mask: np.ndarray, factor: int, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour copy of a small mask at the full h x w size (a dropped partial block repeats the last)."""
    big = mask.repeat(factor, axis=0).repeat(factor, axis=1)
    if big.shape != (h, w):
        big = np.pad(big, ((0, max(0, h - big.shape[0])), (0, max(0, w - big.shape[1]))), mode="edge")[:h, :w]
    return big


def _is_lighter(ratio: np.ndarray, garment: np.ndarray) -> bool:
    """Is the garment lighter than the surface under it (its median brightness ratio above 1)?

    Decided by the garment against its own surface, not by the surface alone: a navy shirt on a
    mid-grey table must be negated like one on white (a surface-only rule sent every photo on a
    surface darker than mid-grey down the light-on-dark path, where the dark shirt came out dark,
    its edge bright), and a white shirt on a black table or a light stroke on a black canvas kept.
    """
    return float(_median(ratio.reshape(-1).take(np.flatnonzero(garment)))) > 1.0


def fashion_intensity(found: GarmentMask) -> np.ndarray:
    """Fashion-MNIST's look (step 7): float32 HxW in [0, 1], light garment on black, shading kept.

    Worked out on the garment's own pixels only (everything else is black anyway).
    """
    pixels = found.core if found.core.any() else found.mask
    index = np.flatnonzero(pixels)  # flat indices + take: a boolean mask over C planes costs ten times more
    luma = np.maximum(_luma(found.linear, index) - FLARE, 0.0)
    luma_bg = np.maximum(_luma(found.background, index) - FLARE, 1e-3)
    # Lighter than its surface: polarity kept; darker: negated, as the dataset negated its photos.
    value = _gamma(luma) - _gamma(luma_bg) if found.lighter else 1.0 - _gamma(luma / luma_bg)
    low, peak = _percentiles(value, (2.0, 99.5))
    if peak - low < 1e-3:
        scaled = np.ones_like(value)
    else:
        scaled = np.clip((value - np.float32(low)) * np.float32(1.0 / (peak - low)), 0.0, 1.0)
    # Filled holes and bridged gaps are black, as the gap between a trouser's legs and a sandal's
    # gaps are in the dataset (giving them their own tone let shadows there grey them: 1.8 points).
    out = np.zeros(found.mask.shape, np.float32)
    out.reshape(-1)[index] = INTENSITY_FLOOR + (1.0 - INTENSITY_FLOOR) * scaled
    return out


def _luma(planes: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Linear luminance of C x H x W planes at these flat pixel indices (one plane is its own luminance)."""
    values = planes.reshape(planes.shape[0], -1).take(index, axis=1)
    return values[0] if planes.shape[0] == 1 else _LUMA_LINEAR @ values


_GAMMA: Final[np.float32] = np.float32(1 / 2.2)
_TINY: Final[np.float32] = np.float32(1e-30)


def _gamma(values: np.ndarray) -> np.ndarray:
    """values ** (1 / 2.2) for values >= 0, as exp(log(x) / 2.2).

    numpy's float32 exp and log are vectorised, its power is not: half the time, within 2 float32 ulps.
    """
    return np.exp(np.log(np.maximum(values, _TINY)) * _GAMMA)


def _percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.percentile(values, qs), its default linear method, by one partition.

    np.percentile's own checks and copies cost more than the partition at these sizes.
    """
    n = len(values)
    positions = [q / 100.0 * (n - 1) for q in qs]
    lows = [int(math.floor(p)) for p in positions]
    needed = sorted({i for low in lows for i in (low, min(low + 1, n - 1))})
    part = np.partition(values, needed)
    out = []
    for position, low in zip(positions, lows):
        a, b = float(part[low]), float(part[min(low + 1, n - 1)])
        out.append(a + (b - a) * (position - low))
    return out


def upright_angle(mask: np.ndarray) -> float:
    """Degrees to turn the garment by (PIL's rotate sign: counter-clockwise) to stand it upright (step 6)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) < 3 or np.count_nonzero(mask) < 10:
        return 0.0
    # A rotated box depends only on the convex hull, whose corners are all row extremes: use
    # each row's leftmost and rightmost pixel (a few hundred points, not thousands).
    left = np.argmax(mask[rows], axis=1)
    right = mask.shape[1] - 1 - np.argmax(mask[rows, ::-1], axis=1)
    xs = np.concatenate([left, right]).astype(np.float32)
    ys = np.concatenate([rows, rows]).astype(np.float32)
    points = np.stack([xs - float(xs.mean()), ys - float(ys.mean())])
    turned = _TURNS @ points  # every candidate rotation's x (first half) and y (second half) at once
    extent = turned.max(axis=1) - turned.min(axis=1) + 1.0
    count = len(_DESKEW_DEGREES)
    area = extent[:count] * extent[count:]
    best = int(np.argmin(area))
    straight = int(np.argmin(np.abs(_DESKEW_DEGREES)))
    if area[best] > (1.0 - MIN_DESKEW_GAIN) * area[straight]:
        return 0.0
    return -float(_DESKEW_DEGREES[best])  # points turned clockwise on screen (y down) = PIL's negative angle


_DESKEW_DEGREES: Final[np.ndarray] = np.arange(-MAX_DESKEW_DEG, MAX_DESKEW_DEG + 0.5, 1.0, dtype=np.float32)
# Rows (cos, -sin) then (sin, cos) for each candidate angle: turned x and y of points (2 x N) in one product.
_TURNS: Final[np.ndarray] = np.concatenate([
    np.stack([np.cos(np.deg2rad(_DESKEW_DEGREES)), -np.sin(np.deg2rad(_DESKEW_DEGREES))], axis=1),
    np.stack([np.sin(np.deg2rad(_DESKEW_DEGREES)), np.cos(np.deg2rad(_DESKEW_DEGREES))], axis=1),
]).astype(np.float32)
