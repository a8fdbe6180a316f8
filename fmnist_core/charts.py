"""Plotly figures for the dashboard and the seed report.

Every function here is pure: arrays, lists or dicts in, a ``plotly.graph_objects.Figure``
out. Nothing imports Streamlit or TensorFlow, so the charts can be built and tested
without a GPU, a browser or a running app, and the same figure serves a page and a report.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas  # noqa: F401 - fully imported before Plotly looks it up in sys.modules (thread safety)
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fmnist_core.constants import CLASS_NAMES, NUM_CLASSES

__all__ = [
    "CORRECT_COLOR",
    "WRONG_COLOR",
    "TRAIN_COLOR",
    "VALIDATION_COLOR",
    "ACCENT_COLOR",
    "NEUTRAL_COLOR",
    "TEXT_COLOR",
    "image_grid",
    "prediction_grid",
    "training_curves",
    "compare_runs_curves",
    "confusion_matrix_figure",
    "per_class_metrics_figure",
    "probability_bars",
    "class_counts_figure",
    "mean_images_figure",
    "augmentation_figure",
    "class_counts",
    "mean_images",
]

# One palette for every chart, so "green = right, red = wrong" means the same everywhere.
CORRECT_COLOR: str = "#2ca02c"
WRONG_COLOR: str = "#d62728"
TRAIN_COLOR: str = "#1f77b4"
VALIDATION_COLOR: str = "#ff7f0e"
ACCENT_COLOR: str = "#1f77b4"
NEUTRAL_COLOR: str = "#c7cdd4"
TEXT_COLOR: str = "#333333"
# Third series colour (F1) and a colour for the test split.
_THIRD_COLOR: str = "#2ca02c"
_TEST_COLOR: str = "#9467bd"

_TEMPLATE = "plotly_white"
_FONT = {"family": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif", "size": 13, "color": TEXT_COLOR}
_GRID_TITLE_FONT_SIZE = 11
_EMPTY_IMAGES_TEXT = "No images to show"

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


# --------------------------------------------------------------------------- helpers


def _base_layout(
    *,
    title: str | None = None,
    height: int | None = None,
    width: int | None = None,
    margin: Mapping[str, int] | None = None,
    legend_on_top: bool = False,
) -> dict[str, Any]:
    """The shared look (template, font, margins, title, legend) as one layout dict."""
    top = (margin or {}).get("t", 40)
    if title:
        top += 35
    if legend_on_top:
        top += 10
    layout: dict[str, Any] = {
        "template": _TEMPLATE,
        "font": _FONT,
        "margin": {"l": 50, "r": 20, "b": 50, **(margin or {}), "t": top},
        "hoverlabel": {"font": {"family": _FONT["family"]}},
    }
    if title:
        layout["title"] = {"text": title, "x": 0.0, "xanchor": "left", "y": 0.98, "yref": "container", "yanchor": "top"}
    if legend_on_top:
        layout["legend"] = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
    if height is not None:
        layout["height"] = height
    if width is not None:
        layout["width"] = width
    return layout


def _style(fig: go.Figure, **options: Any) -> go.Figure:
    """Apply the shared look in one update (each layout update re-validates, so batch it)."""
    fig.update_layout(**_base_layout(**options))
    return fig


def _show_message(fig: go.Figure, text: str, *, size: int = 15) -> go.Figure:
    """Hide the axes and say, in the middle, why there is nothing to plot yet."""
    fig.add_annotation(
        text=text,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": size, "color": "#777777"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _message_figure(text: str, *, title: str | None = None, height: int = 200) -> go.Figure:
    """A blank figure that says why it is blank, instead of empty axes that look broken."""
    fig = _show_message(go.Figure(), text)
    return _style(fig, title=title, height=height, margin={"l": 20, "r": 20, "b": 20, "t": 20})


def _as_vector(values: Any, name: str, length: int = NUM_CLASSES) -> np.ndarray:
    """A 1-D float vector of the expected length, or a ValueError naming the argument."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (length,):
        raise ValueError(f"{name} must hold {length} values, got shape {np.shape(values)}")
    return arr


def _as_image_stack(images: Any, name: str = "images") -> np.ndarray:
    """(N,H,W) or (N,H,W,1) to (N,H,W) uint8 for display.

    uint8 passes through untouched. Floats are clipped and rounded; a float stack whose
    maximum is at most 1.0 is taken as 0..1 (Keras augmentation output) and scaled by 255,
    otherwise as 0..255 (e.g. per-class means). The rule is decided for the whole stack,
    so images in one grid are shown on one scale.
    """
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, 1), got {np.shape(images)}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    floats = arr.astype(np.float64)
    if floats.size and np.isfinite(floats).any() and np.nanmax(floats) <= 1.0 and arr.dtype.kind == "f":
        floats = floats * 255.0
    floats = np.nan_to_num(floats, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(floats), 0, 255).astype(np.uint8)


def _text_lines(title: str) -> list[str]:
    """The visible lines of a title (``<br>`` splits lines, other tags are dropped)."""
    return [html.unescape(_TAG.sub("", part)) for part in _BR.split(title)]


def _percent(p: float) -> str:
    """Rounded percentage that never claims 100% or 0% when the value is not exactly that."""
    pct = 100.0 * float(p)
    if 99.5 <= pct < 100.0:
        return f"{pct:.1f}%" if pct < 99.95 else ">99.9%"
    if 0.0 < pct < 0.5:
        return "<1%"
    return f"{pct:.0f}%"


# --------------------------------------------------------------------------- image grids


def image_grid(
    images: np.ndarray,
    titles: Sequence[str],
    *,
    cols: int = 6,
    title_colors: Sequence[str] | None = None,
    size_px: int = 110,
    title: str | None = None,
) -> go.Figure:
    """Show grayscale images in a grid, each with its own (coloured) title.

    The images are tiled into one mosaic and drawn as a single gray ``go.Heatmap`` (0 = black,
    255 = white, no per-image contrast stretch, pixel-crisp) on one pair of hidden axes; the gaps
    between them are empty cells, which the browser leaves transparent and without hover. One
    trace on one pair of axes draws several times faster in the browser than one image per subplot
    (24 subplots cost about a second of Plotly layout on a laptop), and the figure's JSON is one
    typed array. Hovering a pixel shows the image number and its own x, y and value. Columns widen
    so long titles do not collide; titles may use ``<br>`` for a second line. Where each image sits
    in the mosaic is kept in ``layout.meta`` (see :func:`grid_cells`).
    """
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    if size_px < 8:
        raise ValueError(f"size_px must be at least 8, got {size_px}")
    stack = _as_image_stack(images)
    n = stack.shape[0]
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    colors = [TEXT_COLOR] * n if title_colors is None else list(title_colors)
    if len(colors) != n:
        raise ValueError(f"got {n} images but {len(colors)} title colours")
    if n == 0:
        return _message_figure(_EMPTY_IMAGES_TEXT, title=title)

    height, width = stack.shape[1:]
    ncols = min(cols, n)
    nrows = -(-n // ncols)
    scale = size_px / width  # screen pixels per image pixel
    lines = [_text_lines(t) for t in titles]
    max_lines = max(len(ls) for ls in lines) if any(t for t in titles) else 0
    longest = max((len(line) for ls in lines for line in ls), default=0)
    # About 0.6 em per character; keep a gap so neighbouring titles never touch. Gaps are whole
    # image pixels, since the mosaic is one grid of cells.
    title_w = int(longest * _GRID_TITLE_FONT_SIZE * 0.6) + 10
    gap_x = max(2, math.ceil((max(size_px + 8, title_w) - size_px) / scale))
    title_rows = math.ceil((max_lines * (_GRID_TITLE_FONT_SIZE + 4) + (6 if max_lines else 2)) / scale)
    row_gap = math.ceil(10 / scale)  # keeps a title clear of the image above it
    pitch_x, pitch_y = width + gap_x, title_rows + height + row_gap
    mosaic = np.full((nrows * pitch_y - row_gap, ncols * pitch_x), np.nan, dtype=np.float32)
    # Image number, x and y of each cell, for the hover text (gaps have none: hoverongaps=False).
    local = np.zeros(mosaic.shape + (3,), dtype=np.uint8 if max(n, height, width) <= 256 else np.int32)
    ys, xs = np.mgrid[0:height, 0:width]
    cells: list[list[int]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(n):
        row, col = divmod(i, ncols)
        x0, y0 = col * pitch_x + gap_x // 2, row * pitch_y + title_rows
        mosaic[y0 : y0 + height, x0 : x0 + width] = stack[i]
        local[y0 : y0 + height, x0 : x0 + width] = np.stack([np.full_like(xs, i), xs, ys], axis=-1)
        cells.append([x0, y0])
        if titles[i]:
            annotations.append(
                {
                    "text": titles[i],
                    "x": x0 + (width - 1) / 2.0,
                    "y": y0 - 0.5,
                    "xref": "x",
                    "yref": "y",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "yshift": 2,
                    "showarrow": False,
                    "font": {"size": _GRID_TITLE_FONT_SIZE, "color": colors[i]},
                }
            )
    names = [_TAG.sub(" ", t) for t in titles]
    trace = go.Heatmap(
        z=mosaic,
        customdata=local,
        colorscale=[[0.0, "black"], [1.0, "white"]],
        zmin=0,
        zmax=255,
        showscale=False,
        hoverongaps=False,
        xgap=0,
        ygap=0,
        hovertemplate="image %{customdata[0]}: x %{customdata[1]}, y %{customdata[2]}: %{z}<extra></extra>",
        name="images",
    )
    margin = {"l": 4, "r": 4, "t": 6, "b": 4}
    top = margin["t"] + (35 if title else 0)
    layout = _base_layout(
        title=title,
        margin=margin,
        width=int(mosaic.shape[1] * scale + margin["l"] + margin["r"]),
        height=int(mosaic.shape[0] * scale + top + margin["b"]),
    )
    axis = {"visible": False, "fixedrange": True, "showgrid": False, "zeroline": False}
    layout.update(
        xaxis={**axis, "range": [-0.5, mosaic.shape[1] - 0.5], "constrain": "domain"},
        yaxis={**axis, "range": [mosaic.shape[0] - 0.5, -0.5], "scaleanchor": "x", "scaleratio": 1,
               "constrain": "domain"},
        annotations=annotations,
        meta={"cells": cells, "image_size": [int(height), int(width)], "names": names},
    )
    return go.Figure(data=[trace], layout=layout)


def grid_cells(fig: go.Figure) -> list[np.ndarray]:
    """The images of an :func:`image_grid` figure, read back from its mosaic (what the browser draws)."""
    meta = fig.layout.meta or {}
    if "cells" not in meta:
        return []
    z = np.asarray(fig.data[0].z, dtype=np.float64)
    height, width = meta["image_size"]
    return [z[y0 : y0 + height, x0 : x0 + width] for x0, y0 in meta["cells"]]


def prediction_grid(
    images: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    confidences: Sequence[float] | np.ndarray,
    *,
    cols: int = 6,
    title: str | None = None,
) -> go.Figure:
    """Predictions on images, each titled "Pred: X (87%)<br>True: Y", red when wrong."""
    true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    n = len(np.asarray(images))
    if not (len(true) == len(pred) == len(conf) == n):
        raise ValueError(
            f"images, y_true, y_pred and confidences differ in length: {n}, {len(true)}, {len(pred)}, {len(conf)}"
        )
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
            raise ValueError(f"{name} must hold class indices 0..{NUM_CLASSES - 1}")
    titles = [
        f"Pred: {CLASS_NAMES[p]} ({_percent(c)})<br>True: {CLASS_NAMES[t]}" for t, p, c in zip(true, pred, conf)
    ]
    colors = [CORRECT_COLOR if t == p else WRONG_COLOR for t, p in zip(true, pred)]
    return image_grid(images, titles, cols=cols, title_colors=colors, title=title)


def mean_images_figure(mean_images: np.ndarray, *, title: str | None = None) -> go.Figure:
    """The average image of each class in a 2x5 grid: shows what the model can key on."""
    stack = np.asarray(mean_images, dtype=np.float64)
    if stack.ndim == 4 and stack.shape[-1] == 1:
        stack = stack[..., 0]
    if stack.ndim != 3 or stack.shape[0] != NUM_CLASSES:
        raise ValueError(f"mean_images must have shape ({NUM_CLASSES}, H, W), got {np.shape(mean_images)}")
    # Means are on the 0..255 scale even when a class is faint; never rescale them as 0..1.
    pixels = np.clip(np.rint(np.nan_to_num(stack)), 0, 255).astype(np.uint8)
    return image_grid(pixels, list(CLASS_NAMES), cols=5, title=title)


def augmentation_figure(
    original: np.ndarray,
    augmented: np.ndarray,
    *,
    cols: int = 4,
    title: str | None = None,
) -> go.Figure:
    """An image next to its augmented versions, so a user can judge the settings by eye."""
    orig = np.asarray(original)
    if orig.ndim == 3 and orig.shape[-1] == 1:
        orig = orig[..., 0]
    if orig.ndim != 2:
        raise ValueError(f"original must have shape (H, W) or (H, W, 1), got {np.shape(original)}")
    aug = np.asarray(augmented)
    if aug.ndim == 4 and aug.shape[-1] == 1:
        aug = aug[..., 0]
    if aug.ndim == 2:  # a single augmented image
        aug = aug[np.newaxis]
    if aug.ndim != 3 or (aug.shape[0] and aug.shape[1:] != orig.shape):
        raise ValueError(f"augmented must have shape (N, {orig.shape[0]}, {orig.shape[1]}), got {np.shape(augmented)}")
    if aug.shape[0] == 0:
        aug = aug.reshape(0, *orig.shape)
    # Put both on one display scale: convert each on its own (originals are usually uint8,
    # augmented images are often float 0..1).
    stack = np.concatenate([_as_image_stack(orig[np.newaxis], "original"), _as_image_stack(aug, "augmented")])
    titles = ["Original"] + [f"#{i}" for i in range(1, aug.shape[0] + 1)]
    colors = [ACCENT_COLOR] + [TEXT_COLOR] * aug.shape[0]
    return image_grid(stack, titles, cols=cols, title_colors=colors, title=title)


# --------------------------------------------------------------------------- training


def _epochs(values: Sequence[float]) -> list[int]:
    return list(range(1, len(values) + 1))


def _epoch_axis(fig: go.Figure, n_epochs: int, **where: int) -> None:
    """Integer epoch ticks starting at 1; a lone first epoch still gets a sensible range."""
    axis: dict[str, Any] = {"title_text": "Epoch", "tickformat": "d", "rangemode": "normal"}
    if n_epochs <= 1:
        axis["range"] = [0.5, 1.5]
        axis["dtick"] = 1
    elif n_epochs <= 20:
        axis["dtick"] = 1
    fig.update_xaxes(**axis, **where)


def training_curves(
    history: Mapping[str, Sequence[float]],
    *,
    title: str | None = None,
    batch_curve: Mapping[str, Sequence[float]] | None = None,
    total_epochs: int | None = None,
) -> go.Figure:
    """Accuracy and loss per epoch, train vs validation, side by side.

    Built to be redrawn while training runs, so it accepts an empty history (a "waiting" note) and a
    single epoch (one marker per series). `batch_curve` (the live view: fractional "epoch" with smoothed
    running "loss" and "accuracy") is drawn as a thin line under the epoch points, so the chart moves
    from the first batches on; `total_epochs` then fixes the x-axis to the whole run.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"), horizontal_spacing=0.12)
    running = _running_traces(fig, batch_curve or {})
    series = (
        (1, "accuracy", "Train", TRAIN_COLOR),
        (1, "val_accuracy", "Validation", VALIDATION_COLOR),
        (2, "loss", "Train", TRAIN_COLOR),
        (2, "val_loss", "Validation", VALIDATION_COLOR),
    )
    shown: set[str] = set()
    n_epochs = 0
    for col, key, label, color in series:
        values = [float(v) for v in history.get(key, ())]
        if not values:
            continue
        n_epochs = max(n_epochs, len(values))
        is_acc = col == 1
        fig.add_trace(
            go.Scatter(
                x=_epochs(values),
                y=values,
                mode="lines+markers",
                name=label,
                legendgroup=label,
                showlegend=label not in shown,
                line={"color": color, "width": 2},
                marker={"size": 7},
                hovertemplate=f"{label} {'accuracy' if is_acc else 'loss'}<br>epoch %{{x}}: "
                + ("%{y:.2%}" if is_acc else "%{y:.4f}")
                + "<extra></extra>",
            ),
            row=1,
            col=col,
        )
        shown.add(label)
    _epoch_axis(fig, n_epochs)
    if running:
        # Fractional epochs: the run so far on a fixed axis (epoch k's point sits at the end of epoch k).
        last = max([running, n_epochs, total_epochs or 0])
        fig.update_xaxes(range=[0, max(1.0, float(last)) * 1.02], rangemode="tozero")
    # "~" trims zeros: whole percents stay "85%", a narrow range still gets distinct "82.5%" ticks.
    fig.update_yaxes(tickformat=".1~%", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    if n_epochs == 0 and not running:
        message = "Waiting for the first batches…" if batch_curve is not None else "Waiting for the first epoch…"
        _show_message(fig, message, size=14)
    return _style(fig, title=title, height=360, legend_on_top=False)


def _running_traces(fig: go.Figure, batch_curve: Mapping[str, Sequence[float]]) -> float:
    """Thin training lines from the live batch curve; returns the last fractional epoch (0 if none)."""
    epochs = [float(v) for v in batch_curve.get("epoch", ())]
    if not epochs:
        return 0.0
    for col, key, is_acc in ((1, "accuracy", True), (2, "loss", False)):
        values = [float(v) for v in batch_curve.get(key, ())][: len(epochs)]
        fig.add_trace(
            go.Scatter(
                x=epochs[: len(values)],
                y=values,
                mode="lines",
                name="Train (running)",
                legendgroup="Train (running)",
                showlegend=is_acc,
                line={"color": TRAIN_COLOR, "width": 1.5, "dash": "dot"},
                opacity=0.6,
                hovertemplate=f"Train {'accuracy' if is_acc else 'loss'}, running<br>epoch %{{x:.2f}}: "
                + ("%{y:.2%}" if is_acc else "%{y:.4f}")
                + "<extra></extra>",
            ),
            row=1,
            col=col,
        )
    return epochs[-1]


def _metric_label(metric: str) -> str:
    label = metric.replace("val_", "validation ", 1) if metric.startswith("val_") else metric
    return label.replace("_", " ").capitalize()


def compare_runs_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    metric: str = "val_accuracy",
    *,
    title: str | None = None,
) -> go.Figure:
    """One metric per epoch for several runs on one chart, one line per run id.

    Runs that never recorded the metric are left out rather than drawn as empty lines.
    """
    label = _metric_label(metric)
    is_rate = "acc" in metric
    fig = go.Figure()
    n_epochs = 0
    for run_id, history in histories.items():
        values = [float(v) for v in history.get(metric, ())]
        if not values:
            continue
        n_epochs = max(n_epochs, len(values))
        fig.add_trace(
            go.Scatter(
                x=_epochs(values),
                y=values,
                mode="lines+markers",
                name=str(run_id),
                marker={"size": 6},
                hovertemplate=f"{html.escape(str(run_id))}<br>epoch %{{x}}: "
                + ("%{y:.2%}" if is_rate else "%{y:.4f}")
                + "<extra></extra>",
            )
        )
    if n_epochs == 0:
        return _message_figure(f"No run has recorded {label.lower()} yet", title=title, height=360)
    _epoch_axis(fig, n_epochs)
    fig.update_yaxes(title_text=label, tickformat=".1~%" if is_rate else None)
    if is_rate:  # accuracies: never an axis past 100%, whatever autorange pads
        fig.update_yaxes(rangemode="tozero", autorangeoptions={"maxallowed": 1.0})
    fig.update_layout(legend_title_text="Run")
    return _style(fig, title=title, height=380)


# --------------------------------------------------------------------------- evaluation


def confusion_matrix_figure(cm: np.ndarray, *, normalize: bool = False, title: str | None = None) -> go.Figure:
    """Confusion matrix heatmap: rows = true class (top to bottom), columns = predicted.

    ``normalize`` shows each row as percentages (recall per class), which makes classes of
    different sizes comparable; the hover always gives both the count and the row share.
    """
    counts = np.asarray(cm, dtype=np.float64)
    if counts.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"cm must have shape ({NUM_CLASSES}, {NUM_CLASSES}), got {np.shape(cm)}")
    row_sums = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(row_sums > 0, counts / np.where(row_sums == 0, 1, row_sums), 0.0)
    if normalize:
        z = shares
        text = [[f"{100 * v:.0f}%" if v else "0" for v in row] for row in shares]
        colorbar = {"title": {"text": "Share of true class", "side": "right"}, "tickformat": ".0%"}
    else:
        z = counts
        text = [[f"{v:.0f}" for v in row] for row in counts]
        colorbar = {"title": {"text": "Count", "side": "right"}}
    custom = np.stack([counts, shares * 100.0], axis=-1)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(CLASS_NAMES),
            y=list(CLASS_NAMES),
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            customdata=custom,
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            colorbar=colorbar,
            xgap=1,
            ygap=1,
            hovertemplate="True: %{y}<br>Predicted: %{x}<br>"
            "Count: %{customdata[0]:.0f} (%{customdata[1]:.1f}% of the true class)<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="Predicted class", tickangle=-40, showgrid=False, type="category")
    fig.update_yaxes(title_text="True class", autorange="reversed", showgrid=False, type="category")
    return _style(fig, title=title, height=560, margin={"l": 110, "b": 110})


def per_class_metrics_figure(
    precision: Sequence[float] | np.ndarray,
    recall: Sequence[float] | np.ndarray,
    f1: Sequence[float] | np.ndarray,
    *,
    title: str | None = None,
) -> go.Figure:
    """Precision, recall and F1 per class as grouped bars, so weak classes stand out."""
    fig = go.Figure()
    for name, values, color in (
        ("Precision", precision, TRAIN_COLOR),
        ("Recall", recall, VALIDATION_COLOR),
        ("F1", f1, _THIRD_COLOR),
    ):
        vec = _as_vector(values, name.lower())
        fig.add_trace(
            go.Bar(
                x=list(CLASS_NAMES),
                y=vec,
                name=name,
                marker_color=color,
                hovertemplate=f"%{{x}}<br>{name}: %{{y:.2%}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text="Score")
    fig.update_xaxes(tickangle=-30)
    return _style(fig, title=title, height=400, legend_on_top=True)


def probability_bars(
    probabilities: np.ndarray | Sequence[float],
    *,
    highlight: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """All class probabilities as horizontal bars in class order (easy to compare across images).

    ``highlight`` marks one class in the accent colour; None marks the top class.
    """
    probs = _as_vector(probabilities, "probabilities")
    top = int(np.argmax(probs)) if highlight is None else int(highlight)
    if not 0 <= top < NUM_CLASSES:
        raise ValueError(f"highlight must be a class index 0..{NUM_CLASSES - 1}, got {highlight}")
    colors = [ACCENT_COLOR if i == top else NEUTRAL_COLOR for i in range(NUM_CLASSES)]
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=list(CLASS_NAMES),
            orientation="h",
            marker_color=colors,
            text=[_percent(p) for p in probs],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", title_text="Probability", tickvals=[0, 0.25, 0.5, 0.75, 1])
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(showlegend=False)
    return _style(fig, title=title, height=340, margin={"l": 100})


# --------------------------------------------------------------------------- data overview


def class_counts(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Images per class (length NUM_CLASSES, zeros included) for the class-balance chart."""
    arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_CLASSES):
        raise ValueError(f"labels must be class indices 0..{NUM_CLASSES - 1}")
    return np.bincount(arr, minlength=NUM_CLASSES)


def mean_images(images: np.ndarray, labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Per-class mean image, float64 (NUM_CLASSES, H, W) on the input's scale; zeros for absent classes."""
    stack = np.asarray(images)
    if stack.ndim == 4 and stack.shape[-1] == 1:
        stack = stack[..., 0]
    if stack.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 1), got {np.shape(images)}")
    labs = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labs.shape[0] != stack.shape[0]:
        raise ValueError(f"got {stack.shape[0]} images but {labs.shape[0]} labels")
    counts = class_counts(labs)
    out = np.zeros((NUM_CLASSES, *stack.shape[1:]), dtype=np.float64)
    for k in range(NUM_CLASSES):
        if counts[k]:
            out[k] = stack[labs == k].mean(axis=0, dtype=np.float64)
    return out


def class_counts_figure(
    train_counts: Sequence[int] | np.ndarray,
    test_counts: Sequence[int] | np.ndarray,
    *,
    title: str | None = None,
) -> go.Figure:
    """Images per class in the train and test sets side by side, to show the balance."""
    fig = go.Figure()
    for name, values, color in (("Train", train_counts, TRAIN_COLOR), ("Test", test_counts, _TEST_COLOR)):
        vec = _as_vector(values, f"{name.lower()}_counts")
        fig.add_trace(
            go.Bar(
                x=list(CLASS_NAMES),
                y=vec,
                name=name,
                marker_color=color,
                text=[f"{int(v):,}" for v in vec],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{x}}<br>{name}: %{{y:,}} images<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    # Headroom so the count labels above the tallest bars clear the legend.
    peak = max((float(np.max(t.y)) for t in fig.data), default=0.0)
    fig.update_yaxes(title_text="Images", tickformat=",", range=[0, max(peak, 1.0) * 1.12])
    fig.update_xaxes(tickangle=-30)
    return _style(fig, title=title, height=400, legend_on_top=True)

