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


def _fit_background(linear: np.ndarray) -> np.ndarray:
    """Polynomial coefficients (6 x C, see _design) of the surface fitted to the border band.

    The start is the band's median colour (a garment touching the edge is a minority of the band),
    and the model grows with the evidence: a quadratic (gradient and vignette) when the agreeing
    pixels cover all four sides, a plane when they cover some, else the constant median.  The
    coefficients are in coordinates of the picture's own frame (-0.5..0.5), so the surface can be
    evaluated at any resolution (_surface).
    """
    _, h, w = linear.shape
    edge = _border_band(h, w)
    ys, xs = np.nonzero(edge)
    values = linear[:, ys, xs].T
    median = _median(values, axis=0)
    deviation = np.abs(values - median).max(axis=1)
    spread = 1.4826 * float(_median(deviation)) + 1e-4
    keep = deviation <= max(3.0 * spread, 0.05 * float(median.max()) + 0.005)
    design = _design(h, w, ys.astype(np.float32), xs.astype(np.float32))
    band = max(1, int(round(BORDER_FRACTION * min(h, w))))
    sides = (ys < band, ys >= h - band, xs < band, xs >= w - band)
    coef = np.zeros((design.shape[1], linear.shape[0]), np.float32)
    coef[0] = median
    for _ in range(3):
        covered = [float(keep[side].mean()) if side.any() else 0.0 for side in sides]
        terms = 6 if min(covered) >= 0.5 else 3 if sum(c >= 0.3 for c in covered) >= 3 else 1
        if keep.sum() < terms * 4:
            break
        chosen = design[keep][:, :terms]  # normal equations: a tiny solve, no LAPACK least squares
        gram = chosen.T @ chosen + np.eye(terms, dtype=np.float32) * 1e-6
        solved = np.linalg.solve(gram.astype(np.float64), (chosen.T @ values[keep]).astype(np.float64))
        coef = np.zeros_like(coef)
        coef[:terms] = solved
        residual = np.abs(values - design @ coef).max(axis=1)
        spread = 1.4826 * float(_median(residual[keep])) + 1e-4
        keep = residual <= max(3.0 * spread, 0.01)
    return coef.astype(np.float32)


def _surface(coef: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The fitted surface (C x H x W) at frame coordinates u (columns) and v (rows), -0.5..0.5."""
    c = coef[:, :, None, None]  # the same six terms as _design, grouped by powers of u
    v = v[None, :, None]
    constant = c[0] + c[2] * v + c[4] * (v * v)
    slope = c[1] + c[5] * v
    u = u[None, None, :]
    surface = constant + slope * u + c[3] * (u * u)
    return np.maximum(surface, 1e-3, out=surface).astype(np.float32, copy=False)


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


def _robust_sigma(values: np.ndarray) -> float:
    return 1.4826 * float(_median(np.abs(values - _median(values)))) if values.size else 0.0


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True: (row, start, end) arrays, end exclusive, in row-major order."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    starts = np.argwhere(step == 1)
    ends = np.argwhere(step == -1)
    return starts[:, 0], starts[:, 1], ends[:, 1]


def label_components(mask: np.ndarray, diagonal: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Connected components by run-length union-find (no SciPy: it costs seconds to import).

    Returns (rows, starts, ends, component) per run, component ids 0..n-1.  A mask has a few
    hundred runs, so the Python loop over runs is well under a millisecond.
    """
    rows, starts, ends = _runs(mask)
    n = len(rows)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    reach = 1 if diagonal else 0
    row_begin = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    starts_l, ends_l = starts.tolist(), ends.tolist()
    for r in range(mask.shape[0] - 1):
        a, a_end = int(row_begin[r]), int(row_begin[r + 1])
        b, b_end = a_end, int(row_begin[r + 2])
        while a < a_end and b < b_end:
            if starts_l[a] < ends_l[b] + reach and starts_l[b] < ends_l[a] + reach:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[rb] = ra
            if ends_l[a] < ends_l[b]:
                a += 1
            else:
                b += 1
    roots = np.array(parent, dtype=np.int64)
    while True:  # pointer jumping in numpy instead of a find() per run: every run points at its root
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            break
        roots = jumped
    _, component = np.unique(roots, return_inverse=True)
    return rows, starts, ends, component.reshape(-1)


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
        padded = np.pad(mask, pad)
        padded = _filter(_filter(padded, "max", size), "min", size)
        mask = padded[pad:-pad, pad:-pad]
    rows, starts, ends, component = label_components(mask)
    if len(rows) == 0:
        return mask, mask & opened
    sizes = np.bincount(component, weights=ends - starts)
    main = int(np.argmax(sizes))
    # Bounding boxes per component: a piece far from the largest one is a highlight or a corner of
    # the surface the fit missed, not a garment's strap.
    count = len(sizes)
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
    keep = keep_component[component]
    mask = _paint(mask.shape, rows[keep], starts[keep], ends[keep])
    # Holes: components of the complement (4-connected) that do not touch the border.
    h, w = mask.shape
    rows, starts, ends, component = label_components(~mask, diagonal=False)
    touches = (rows == 0) | (rows == h - 1) | (starts == 0) | (ends == w)
    outside = np.zeros(component.max() + 1 if len(component) else 0, bool)
    outside[component[touches]] = True
    hole = ~outside[component]
    return mask | _paint(mask.shape, rows[hole], starts[hole], ends[hole]), mask & opened


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
    """Thresholds from the border band's own noise (NOISE_SIGMAS robust sigmas), with floors."""
    sigma_k = _robust_sigma(ratio[edge])
    sigma_r = _robust_sigma(deviation[edge]) + float(_median(deviation[edge]))
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
    limits = _thresholds(ratio, deviation, _border_band(h, w))
    candidate, shadow = limits.classify(ratio, deviation)
    # A shadow is a rim beside the garment; a "shadow" as large as what was found is a grey
    # garment on a lighter surface (a grey T-shirt on white looks exactly like a shadow).
    if shadow.sum() > SHADOW_MAX_SHARE * max(int(candidate.sum()), 1):
        candidate = candidate | shadow
    if not photo:
        mask = candidate | shadow
        if not mask.any():
            raise NoGarmentFound
        return GarmentMask(mask, mask, linear, background, _is_lighter(ratio, mask))
    mask, core = _mask_from(_open(candidate), factor)
    if mask.sum() < MIN_GARMENT_SHARE * h * w:
        mask, core = _mask_from(_open(candidate | shadow), factor)
    if mask.sum() < max(4, MIN_GARMENT_SHARE * h * w):
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
    return float(_median(ratio[garment])) > 1.0


def fashion_intensity(found: GarmentMask) -> np.ndarray:
    """Fashion-MNIST's look (step 7): float32 HxW in [0, 1], light garment on black, shading kept.

    Worked out on the garment's own pixels only (everything else is black anyway).
    """
    pixels = found.core if found.core.any() else found.mask
    weights = _LUMA_LINEAR if found.linear.shape[0] == 3 else np.ones(1, np.float32)
    luma = np.maximum(weights @ found.linear[:, pixels] - FLARE, 0.0)
    luma_bg = np.maximum(weights @ found.background[:, pixels] - FLARE, 1e-3)
    # Lighter than its surface: polarity kept; darker: negated, as the dataset negated its photos.
    value = (luma ** (1 / 2.2) - luma_bg ** (1 / 2.2)) if found.lighter else (1.0 - (luma / luma_bg) ** (1 / 2.2))
    low, peak = (float(v) for v in np.percentile(value, (2, 99.5)))
    scaled = np.ones_like(value) if peak - low < 1e-3 else np.clip((value - low) / (peak - low), 0.0, 1.0)
    # Filled holes and bridged gaps are black, as the gap between a trouser's legs and a sandal's
    # gaps are in the dataset (giving them their own tone let shadows there grey them: 1.8 points).
    out = np.zeros(found.mask.shape, np.float32)
    out[pixels] = INTENSITY_FLOOR + (1.0 - INTENSITY_FLOOR) * scaled
    return out


def upright_angle(mask: np.ndarray) -> float:
    """Degrees to turn the garment by (PIL's rotate sign: counter-clockwise) to stand it upright (step 6)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) < 3 or mask.sum() < 10:
        return 0.0
    # A rotated box depends only on the convex hull, whose corners are all row extremes: use
    # each row's leftmost and rightmost pixel (a few hundred points, not thousands).
    left = np.argmax(mask[rows], axis=1)
    right = mask.shape[1] - 1 - np.argmax(mask[rows, ::-1], axis=1)
    xs = np.concatenate([left, right]).astype(np.float32)
    ys = np.concatenate([rows, rows]).astype(np.float32)
    x, y = xs - float(xs.mean()), ys - float(ys.mean())
    degrees = np.arange(-MAX_DESKEW_DEG, MAX_DESKEW_DEG + 0.5, 1.0, dtype=np.float32)
    radians = np.deg2rad(degrees)[:, None]
    turned_x = np.cos(radians) * x[None, :] - np.sin(radians) * y[None, :]
    turned_y = np.sin(radians) * x[None, :] + np.cos(radians) * y[None, :]
    area = (np.ptp(turned_x, axis=1) + 1.0) * (np.ptp(turned_y, axis=1) + 1.0)
    best = int(np.argmin(area))
    straight = int(np.argmin(np.abs(degrees)))
    if area[best] > (1.0 - MIN_DESKEW_GAIN) * area[straight]:
        return 0.0
    return -float(degrees[best])  # points turned clockwise on screen (y down) = PIL's negative angle
