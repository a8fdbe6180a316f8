"""Plotly figures for the "Inside the model" page: pure functions, arrays in, figures out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas  # noqa: F401 - imported before Plotly looks it up in sys.modules (thread safety)
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..charts import ACCENT_COLOR, NEUTRAL_COLOR, TEXT_COLOR
from .convolution import ConvolutionStep, FirstConv
from .layers import LayerKind, LayerTable

_FONT = {"family": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif", "size": 13, "color": TEXT_COLOR}
KIND_COLORS: dict[LayerKind, str] = {
    LayerKind.CONV: "#1f77b4",
    LayerKind.POOL: "#ff7f0e",
    LayerKind.GLOBAL_POOL: "#ff7f0e",
    LayerKind.DENSE: "#2ca02c",
    LayerKind.NORM: "#9467bd",
    LayerKind.ACTIVATION: "#8c564b",
    LayerKind.DROPOUT: "#c7c7c7",
    LayerKind.RESHAPE: "#bcbd22",
    LayerKind.AUGMENT: "#c7c7c7",
    LayerKind.MERGE: "#17becf",
    LayerKind.OTHER: "#7f7f7f",
}


def _layout(fig: go.Figure, *, height: int, title: str | None = None, **extra) -> go.Figure:
    fig.update_layout(
        font=_FONT, height=height, title={"text": title, "x": 0, "font": {"size": 15}} if title else None,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)", **extra,
    )
    return fig


def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else " x ".join(str(d) for d in shape)


def layer_table_rows(table: LayerTable) -> list[dict]:
    """Rows for a dataframe: what the page's table shows."""
    return [{"#": row.index + 1, "Layer": row.name, "Type": row.type, "Output shape": _shape_text(row.output_shape),
             "Parameters": row.parameters, "Multiply-adds": row.multiply_adds, "Role": row.role}
            for row in table.rows]


def layer_stack_figure(table: LayerTable) -> go.Figure:
    """The layers in order as bars whose height shows the output size (values per image), coloured by kind."""
    rows = table.rows
    sizes = [int(np.prod(r.output_shape)) if r.output_shape else 1 for r in rows]
    labels = [f"{r.index + 1} {r.type}" for r in rows]
    fig = go.Figure()
    for kind in dict.fromkeys(r.kind for r in rows):  # one trace per kind: the legend explains the colours
        chosen = [i for i, r in enumerate(rows) if r.kind == kind]
        fig.add_trace(go.Bar(
            x=[labels[i] for i in chosen], y=[sizes[i] for i in chosen], name=kind.value,
            marker_color=KIND_COLORS[kind],
            customdata=[[rows[i].name, _shape_text(rows[i].output_shape), f"{rows[i].parameters:,}",
                         f"{rows[i].multiply_adds:,}", rows[i].role] for i in chosen],
            hovertemplate="<b>%{customdata[0]}</b><br>output %{customdata[1]}<br>"
                          "parameters %{customdata[2]}<br>multiply-adds %{customdata[3]}<br>%{customdata[4]}"
                          "<extra></extra>",
        ))
    fig.update_yaxes(type="log", title_text="values per image (log)")
    fig.update_xaxes(title_text="layer (input → output)", type="category", categoryorder="array",
                     categoryarray=labels, tickangle=-45)
    title = (f"{table.model_name}: {table.total_parameters:,} parameters, "
             f"{table.total_multiply_adds / 1e6:.2f} M multiply-adds per image")
    fig = _layout(fig, height=440, title=title, legend={"orientation": "h", "y": 1.0, "x": 0, "yanchor": "bottom"})
    fig.update_layout(margin={"t": 80})
    return fig


def activation_grid_figure(values: np.ndarray, channels: Sequence[int], *, cols: int = 8,
                           title: str | None = None) -> go.Figure:
    """Feature maps (H,W,C) of the given channels as one tiled heatmap; hover names channel and value."""
    maps = np.asarray(values, np.float32)
    channels = [int(c) for c in channels]
    if not channels:
        return _layout(go.Figure(), height=120, title=title)
    h, w = maps.shape[:2]
    cols = max(1, min(cols, len(channels)))
    rows = -(-len(channels) // cols)
    gap = 1
    mosaic = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    channel_of = np.full(mosaic.shape, -1, np.int32)
    row_of = np.zeros(mosaic.shape, np.int32)
    col_of = np.zeros(mosaic.shape, np.int32)
    rr, cc = np.mgrid[0:h, 0:w]
    for k, ch in enumerate(channels):
        r, c = divmod(k, cols)
        top, left = r * (h + gap), c * (w + gap)
        mosaic[top : top + h, left : left + w] = maps[..., ch]
        channel_of[top : top + h, left : left + w] = ch
        row_of[top : top + h, left : left + w] = rr
        col_of[top : top + h, left : left + w] = cc
    custom = np.stack([channel_of, row_of, col_of], axis=-1)
    fig = go.Figure(go.Heatmap(
        z=mosaic, customdata=custom, colorscale="Viridis", zmin=0.0, zmax=float(np.nanmax(mosaic)) or 1.0,
        hoverongaps=False, colorbar={"thickness": 10, "len": 0.8},
        hovertemplate="channel %{customdata[0]}<br>row %{customdata[1]}, column %{customdata[2]}<br>"
                      "value %{z:.3f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", scaleratio=1)
    fig.update_xaxes(visible=False)
    cell = max(44, min(110, 880 // cols))
    return _layout(fig, height=int(rows * cell * (h + gap) / (w + gap)) + (60 if title else 20), title=title)


def vector_bars_figure(values: np.ndarray, *, title: str | None = None, highlight_top: int = 5) -> go.Figure:
    """A dense (or pooled) layer's activations as bars, the strongest units highlighted."""
    v = np.asarray(values, np.float32).ravel()
    top = set(np.argsort(-v)[:highlight_top].tolist())
    fig = go.Figure(go.Bar(
        x=np.arange(len(v)), y=v, marker_color=[ACCENT_COLOR if i in top else NEUTRAL_COLOR for i in range(len(v))],
        hovertemplate="unit %{x}: %{y:.3f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="unit")
    fig.update_yaxes(title_text="activation")
    return _layout(fig, height=240, title=title)


def kernels_figure(kernels: np.ndarray, *, cols: int = 8, title: str | None = None) -> go.Figure:
    """First-layer kernels (C,k,k) as small images, blue negative, red positive, hover shows weights."""
    k = np.asarray(kernels, np.float32)
    limit = float(np.abs(k).max()) or 1.0
    fig = activation_grid_figure(np.transpose(k, (1, 2, 0)), range(k.shape[0]), cols=cols, title=title)
    fig.update_traces(colorscale="RdBu", reversescale=True, zmin=-limit, zmax=limit, zmid=0.0,
                      hovertemplate="kernel %{customdata[0]}<br>row %{customdata[1]}, column %{customdata[2]}<br>"
                                    "weight %{z:.3f}<extra></extra>")
    return fig


def _number_grid(values: np.ndarray, fmt: str) -> list[list[str]]:
    return [[format(float(v), fmt) for v in row] for row in values]


def convolution_step_figure(image: np.ndarray, conv: FirstConv, step: ConvolutionStep,
                            output_map: np.ndarray) -> go.Figure:
    """Input with the sliding window, the kernel, the products, and the output map filled up to here."""
    img = np.asarray(image, np.float32).reshape(28, 28)
    k = conv.kernel_size
    fig = make_subplots(rows=1, cols=4, column_widths=[0.32, 0.17, 0.17, 0.34], horizontal_spacing=0.04,
                        subplot_titles=("Input and window", "Kernel weights", "Window x kernel", "Output map"))
    fig.add_trace(go.Heatmap(z=img, colorscale="Gray", showscale=False, zmin=0, zmax=1,
                             hovertemplate="row %{y}, column %{x}: %{z:.2f}<extra></extra>"), 1, 1)
    offset = (k - 1) // 2 if conv.padding == "same" else 0
    r0, c0 = step.row * conv.stride - offset, step.col * conv.stride - offset
    fig.add_shape(type="rect", x0=c0 - 0.5, x1=c0 + k - 0.5, y0=r0 - 0.5, y1=r0 + k - 0.5,
                  line={"color": "#ff7f0e", "width": 3}, row=1, col=1)
    limit = float(np.abs(step.kernel).max()) or 1.0
    fig.add_trace(go.Heatmap(z=step.kernel, colorscale="RdBu", reversescale=True, zmin=-limit, zmax=limit,
                             showscale=False, text=_number_grid(step.kernel, ".2f"), texttemplate="%{text}",
                             hovertemplate="weight %{z:.3f}<extra></extra>"), 1, 2)
    plimit = float(np.abs(step.products).max()) or 1.0
    fig.add_trace(go.Heatmap(z=step.products, colorscale="RdBu", reversescale=True, zmin=-plimit, zmax=plimit,
                             showscale=False, text=_number_grid(step.products, ".3f"), texttemplate="%{text}",
                             hovertemplate="product %{z:.4f}<extra></extra>"), 1, 3)
    size = output_map.shape[0]
    shown = np.full(output_map.shape, np.nan, np.float32)
    flat_upto = step.row * size + step.col + 1
    shown.ravel()[:flat_upto] = output_map.ravel()[:flat_upto]
    cells = [[None if np.isnan(v) else float(v) for v in row] for row in shown]  # None: not computed yet
    fig.add_trace(go.Heatmap(z=cells, x=list(range(size)), y=list(range(size)), colorscale="Viridis",
                             showscale=False, zmin=0.0,
                             zmax=float(np.nanmax(output_map)) or 1.0, hoverongaps=False,
                             hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>"), 1, 4)
    fig.add_shape(type="rect", x0=step.col - 0.5, x1=step.col + 0.5, y0=step.row - 0.5, y1=step.row + 0.5,
                  line={"color": "#ff7f0e", "width": 2}, row=1, col=4)
    for col, side in zip(range(1, 5), (28, k, k, size)):  # fixed ranges: unfilled (NaN) rows keep their place
        fig.update_yaxes(range=[side - 0.5, -0.5], visible=False, scaleanchor=f"x{'' if col == 1 else col}",
                         constrain="domain", row=1, col=col)
        fig.update_xaxes(range=[-0.5, side - 0.5], visible=False, constrain="domain", row=1, col=col)
    fig = _layout(fig, height=340)
    fig.update_layout(margin={"t": 40}, plot_bgcolor="#e9ecf1")  # the output pixels not computed yet show grey
    return fig


def convolution_equation(step: ConvolutionStep, conv: FirstConv) -> str:
    """The arithmetic of one output pixel in one line (Markdown)."""
    parts = f"sum of the 9 products = {step.total:.4f}; + bias {step.bias:.4f}"
    scale, shift = float(conv.scale[step.channel]), float(conv.shift[step.channel])
    if scale != 1.0 or shift != 0.0:
        parts += f"; batch norm x {scale:.3f} + {shift:.3f}"
    parts += f" = **{step.pre_activation:.4f}**"
    if conv.relu:
        parts += f"; ReLU → **{step.output:.4f}**"
    return parts
