"""Figures of the "Inside the model" page: pure functions, checked on their data, not their looks."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist_core.explain.convolution import FirstConv, convolution_map, convolution_step
from fmnist_core.explain.figures import (
    activation_grid_figure,
    convolution_equation,
    convolution_step_figure,
    kernels_figure,
    layer_stack_figure,
    layer_table_rows,
    vector_bars_figure,
)


def _conv(bn: bool = False) -> FirstConv:
    kernels = np.arange(2 * 9, dtype=np.float32).reshape(2, 3, 3) / 10 - 0.8
    scale = np.array([2.0, 0.5], np.float32) if bn else np.ones(2, np.float32)
    shift = np.array([0.1, -0.2], np.float32) if bn else np.zeros(2, np.float32)
    return FirstConv("conv", kernels, np.array([0.05, -0.1], np.float32), "same", 1, scale, shift, True)


def test_activation_grid_tiles_the_chosen_channels_with_hover_ids():
    maps = np.random.default_rng(0).random((7, 7, 10)).astype(np.float32)
    fig = activation_grid_figure(maps, [9, 2, 4], cols=2, title="t")
    trace = fig.data[0]
    z, custom = np.asarray(trace.z, dtype=float), np.asarray(trace.customdata)
    assert z.shape == (2 * 7 + 1, 2 * 7 + 1)  # 2 rows x 2 columns with a 1-pixel gap
    np.testing.assert_allclose(z[:7, :7], maps[..., 9])
    np.testing.assert_allclose(z[:7, 8:], maps[..., 2])
    np.testing.assert_allclose(z[8:, :7], maps[..., 4])
    assert np.isnan(z[8:, 8:]).all() and np.isnan(z[7]).all()  # the empty cell and the gap
    assert custom[3, 10].tolist() == [2, 3, 2]  # channel, row, column
    assert "channel %{customdata[0]}" in trace.hovertemplate
    assert activation_grid_figure(maps, []).data == ()


def test_kernels_figure_is_symmetric_around_zero():
    kernels = np.array([[[1.0, -2.0, 0.0]] * 3, [[0.5, 0.5, 0.5]] * 3], np.float32)
    trace = kernels_figure(kernels).data[0]
    assert trace.zmin == -2.0 and trace.zmax == 2.0 and trace.zmid == 0.0
    assert "weight" in trace.hovertemplate


def test_vector_bars_highlight_the_strongest():
    fig = vector_bars_figure(np.array([0.1, 0.9, 0.3, 0.0]), highlight_top=1)
    colors = list(fig.data[0].marker.color)
    assert colors[1] != colors[0] and colors.count(colors[0]) == 3


def test_layer_stack_and_rows_agree_with_the_table():
    from fmnist_core.explain.layers import layer_table
    from fmnist_core.models import build_model, describe

    table = layer_table(build_model("seed_cnn"))
    summary = describe("seed_cnn")
    fig = layer_stack_figure(table)
    assert f"{summary.parameters:,} parameters" in fig.layout.title.text
    assert sum(len(t.x) for t in fig.data) == len(table.rows)
    rows = layer_table_rows(table)
    assert sum(r["Parameters"] for r in rows) == summary.parameters
    assert rows[0]["Output shape"] == "26 x 26 x 32"


@pytest.mark.parametrize("bn", [False, True])
def test_convolution_step_figure_fills_the_output_up_to_the_window(bn):
    conv = _conv(bn)
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    full = convolution_map(image, conv, 1)
    step = convolution_step(image, conv, 1, 2, 5)
    fig = convolution_step_figure(image, conv, step, full)
    assert len(fig.data) == 4
    out = np.array([[np.nan if v is None else v for v in row] for row in fig.data[3].z], dtype=float)
    assert not np.isnan(out[:2]).any() and not np.isnan(out[2, :6]).any()
    assert np.isnan(out[2, 6:]).all() and np.isnan(out[3:]).all()
    assert out[2, 5] == pytest.approx(step.output, abs=1e-6)
    assert list(fig.data[1].text[0]) == [f"{v:.2f}" for v in conv.kernels[1][0]]
    text = convolution_equation(step, conv)
    assert f"{step.total:.4f}" in text and "ReLU" in text
    assert ("batch norm" in text) is bn
