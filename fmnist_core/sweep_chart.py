"""The sweep's parallel-coordinates chart: one line per trial, from its hyperparameters to its accuracy.

Pure (rows in, figure out; no Streamlit, no TensorFlow). A categorical hyperparameter (the architecture)
gets one tick per value; a learning rate is drawn on a log10 axis, as it was drawn. Only trials with a
validation accuracy have a line, so the chart grows as trials finish epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas  # noqa: F401 - fully imported before Plotly looks it up in sys.modules (thread safety)
import plotly.graph_objects as go

ACCURACY_AXES = (("best_val_accuracy", "Validation accuracy"), ("test_accuracy", "Test accuracy"))
LOG_AXES = frozenset({"learning_rate"})
_EMPTY = "No trial has finished an epoch yet: lines appear as trials report their validation accuracy."


def _dimension(label: str, values: Sequence[Any], log: bool = False) -> dict[str, Any]:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if log and all(v > 0 for v in values):
            logs = [math.log10(v) for v in values]
            low, high = math.floor(min(logs)), math.ceil(max(logs))
            ticks = list(range(low, high + 1))
            return {"label": f"{label} (log)", "values": logs, "range": [low, high] if high > low else None,
                    "tickvals": ticks, "ticktext": [f"1e{t}" for t in ticks]}
        dim: dict[str, Any] = {"label": label, "values": [float(v) for v in values]}
        if min(values) == max(values):
            dim["range"] = [float(min(values)) - 1, float(max(values)) + 1]
        return dim
    categories = sorted({str(v) for v in values})
    index = {name: i for i, name in enumerate(categories)}
    return {"label": label, "values": [index[str(v)] for v in values], "tickvals": list(range(len(categories))),
            "ticktext": categories, "range": [-0.5, len(categories) - 0.5]}


def sweep_parallel_coordinates(rows: Sequence[Mapping[str, Any]], hyperparameters: Sequence[str],
                               labels: Mapping[str, str] | None = None, *, title: str | None = None) -> go.Figure:
    """One line per trial that has a validation accuracy, coloured by it.

    rows: one mapping per trial with each hyperparameter's value and `best_val_accuracy` /
    `test_accuracy` (None while unknown; a missing test accuracy is drawn at the axis' bottom).
    """
    labels = labels or {}
    scored = [row for row in rows if row.get("best_val_accuracy") is not None]
    fig = go.Figure()
    # The axes' labels sit above the plot area: a tall top margin keeps them clear of the title.
    fig.update_layout(template="plotly_white", title={"text": title, "y": 0.97, "yanchor": "top"} if title else None,
                      height=460, margin={"l": 60, "r": 40, "t": 110, "b": 30})
    if not scored:
        fig.add_annotation(text=_EMPTY, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    dims = [_dimension(labels.get(name, name), [row.get(name) for row in scored], log=name in LOG_AXES)
            for name in hyperparameters]
    accuracies = [float(row["best_val_accuracy"]) for row in scored]
    for key, label in ACCURACY_AXES:
        known = [float(row[key]) for row in scored if row.get(key) is not None]
        floor = min([*known, *accuracies])
        values = [float(row[key]) if row.get(key) is not None else floor for row in scored]
        dims.append({"label": label, "values": values, "range": [min(values), max(max(values), min(values) + 1e-3)]})
    for dim in dims:
        if dim.get("range") is None:
            dim.pop("range", None)
    fig.add_trace(go.Parcoords(
        dimensions=dims,
        line={"color": accuracies, "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": "val acc"}}},
    ))
    return fig


__all__ = ["sweep_parallel_coordinates"]
