"""Tests for fmnist_core.charts: the figures hold the data they were given, labelled right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from fmnist_core import charts
from fmnist_core.charts import (
    ACCENT_COLOR,
    CORRECT_COLOR,
    NEUTRAL_COLOR,
    WRONG_COLOR,
    augmentation_figure,
    class_counts,
    class_counts_figure,
    compare_runs_curves,
    confusion_matrix_figure,
    image_grid,
    mean_images,
    mean_images_figure,
    per_class_metrics_figure,
    prediction_grid,
    probability_bars,
    training_curves,
)
from fmnist_core.constants import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def images(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(8, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)


def _cells(fig: go.Figure) -> list[np.ndarray]:
    cells = charts.grid_cells(fig)
    assert cells, "not an image_grid figure"
    return [np.rint(c).astype(np.int64) for c in cells]


def _cell_boxes(fig: go.Figure) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each image in mosaic pixels."""
    height, width = fig.layout.meta["image_size"]
    return [(x, y, x + width, y + height) for x, y in fig.layout.meta["cells"]]


def _annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


# --------------------------------------------------------------------------- image_grid


def test_image_grid_is_one_gray_mosaic_holding_the_input_pixels(images: np.ndarray) -> None:
    fig = image_grid(images, [f"img {i}" for i in range(8)], cols=3)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax, trace.showscale, trace.hoverongaps) == (0, 255, False, False)
    assert [np.array_equal(c, images[i]) for i, c in enumerate(_cells(fig))] == [True] * 8
    # Everything outside the images is a gap: empty, so drawn transparent and without hover.
    z = np.asarray(trace.z, dtype=np.float64)
    assert np.isnan(z).sum() == z.size - 8 * IMAGE_SIZE * IMAGE_SIZE


def test_image_grid_hover_names_the_image_and_its_own_pixel(images: np.ndarray) -> None:
    fig = image_grid(images, ["t"] * 8, cols=4)
    custom = np.asarray(fig.data[0].customdata)
    x0, y0, _, _ = _cell_boxes(fig)[5]
    assert custom[y0 + 7, x0 + 3].tolist() == [5, 3, 7]  # image 5, x 3, y 7
    assert "customdata[0]" in fig.data[0].hovertemplate


def test_image_grid_accepts_channel_last_images(images: np.ndarray) -> None:
    fig = image_grid(images[..., np.newaxis], ["a"] * 8)
    assert [np.array_equal(c, images[i]) for i, c in enumerate(_cells(fig))] == [True] * 8


def test_image_grid_titles_and_colours_follow_the_items(images: np.ndarray) -> None:
    titles = [f"t{i}" for i in range(8)]
    colors = ["#111111", "#d62728"] * 4
    fig = image_grid(images, titles, title_colors=colors)
    assert _annotation_texts(fig) == titles
    assert [a.font.color for a in fig.layout.annotations] == colors


def test_image_grid_default_title_colour_is_the_text_colour(images: np.ndarray) -> None:
    fig = image_grid(images[:2], ["a", "b"])
    assert {a.font.color for a in fig.layout.annotations} == {charts.TEXT_COLOR}


def test_image_grid_axes_are_hidden_square_and_upright(images: np.ndarray) -> None:
    fig = image_grid(images, ["x"] * 8, cols=4)
    xa, ya = fig.layout.xaxis, fig.layout.yaxis
    assert xa.visible is False and ya.visible is False
    assert ya.scaleanchor == "x" and ya.scaleratio == 1
    assert ya.range[0] > ya.range[1]  # row 0 at the top
    # The figure's size gives every image pixel the same number of screen pixels across and down.
    height, width = np.asarray(fig.data[0].z).shape
    px_x = (fig.layout.width - 8) / width
    px_y = (fig.layout.height - 10) / height
    assert px_x == pytest.approx(110 / IMAGE_SIZE, rel=0.02) and px_y == pytest.approx(px_x, rel=0.02)


def test_image_grid_lays_out_rows_and_columns_in_reading_order(images: np.ndarray) -> None:
    fig = image_grid(images, ["x"] * 8, cols=3)  # 3 + 3 + 2
    boxes = _cell_boxes(fig)
    x_starts = [b[0] for b in boxes]
    y_tops = [b[1] for b in boxes]
    assert len(set(x_starts)) == 3 and len(set(y_tops)) == 3
    assert x_starts[0] < x_starts[1] < x_starts[2]
    assert x_starts[3] == x_starts[0]
    assert y_tops[0] < y_tops[3] < y_tops[6]  # mosaic rows grow downwards
    assert y_tops[0] == y_tops[2]
    # Each title sits just above its own image.
    for (left, top, right, _), note in zip(boxes, fig.layout.annotations):
        assert left <= note.x <= right and note.y == pytest.approx(top - 0.5)


def test_image_grid_cells_do_not_overlap_even_with_long_titles(images: np.ndarray) -> None:
    long_title = "Pred: T-shirt/top (100%)<br>True: Ankle boot"
    fig = image_grid(images[:6], [long_title] * 6, cols=6, size_px=60)
    boxes = _cell_boxes(fig)
    # Columns are spaced by at least the estimated title width, not just the image width.
    pitch_px = (boxes[1][0] - boxes[0][0]) * 60 / IMAGE_SIZE
    assert pitch_px >= len("Pred: T-shirt/top (100%)") * 11 * 0.6
    for (_, _, right_a, _), (left_b, _, _, _) in zip(boxes, boxes[1:]):
        assert right_a < left_b


def test_image_grid_empty_input_says_so() -> None:
    for empty in (np.zeros((0, 28, 28), np.uint8), np.zeros((0, 28, 28, 1), np.uint8)):
        fig = image_grid(empty, [])
        assert len(fig.data) == 0
        assert _annotation_texts(fig) == ["No images to show"]


def test_image_grid_rejects_mismatched_titles_and_colours(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="titles"):
        image_grid(images, ["only one"])
    with pytest.raises(ValueError, match="colours"):
        image_grid(images, ["x"] * 8, title_colors=["red"])
    with pytest.raises(ValueError, match="shape"):
        image_grid(np.zeros((2, 28), np.uint8), ["a", "b"])


def test_image_grid_float_images_are_shown_on_the_0_255_scale() -> None:
    unit = np.full((2, 28, 28), 0.5, dtype=np.float32)
    unit[1] = 1.0
    cells = _cells(image_grid(unit, ["a", "b"]))
    assert cells[0].max() == 128 and cells[1].min() == 255
    bytes_scale = np.full((1, 28, 28), 200.4)
    assert _cells(image_grid(bytes_scale, ["c"]))[0].max() == 200


def test_image_grid_uses_the_shared_look(images: np.ndarray) -> None:
    fig = image_grid(images[:3], ["a", "b", "c"], title="Samples")
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white
    assert fig.layout.title.text == "Samples"
    assert fig.layout.width > 0 and fig.layout.height > 0


# --------------------------------------------------------------------------- prediction_grid


def test_prediction_grid_titles_and_colours_mark_errors_red(images: np.ndarray) -> None:
    y_true = [6, 4, 0]
    y_pred = [4, 4, 0]
    conf = [0.87, 0.5, 0.999]
    fig = prediction_grid(images[:3], y_true, y_pred, conf)
    assert len(_cells(fig)) == 3
    assert _annotation_texts(fig) == [
        "Pred: Coat (87%)<br>True: Shirt",
        "Pred: Coat (50%)<br>True: Coat",
        "Pred: T-shirt/top (99.9%)<br>True: T-shirt/top",
    ]
    colors = [a.font.color for a in fig.layout.annotations]
    assert colors == [WRONG_COLOR, CORRECT_COLOR, CORRECT_COLOR]
    assert WRONG_COLOR == "#d62728"
    assert np.array_equal(_cells(fig)[0], images[0])


def test_prediction_grid_never_rounds_up_to_a_false_100_percent(images: np.ndarray) -> None:
    fig = prediction_grid(images[:3], [0, 0, 0], [0, 0, 0], [0.9999, 1.0, 0.001])
    texts = _annotation_texts(fig)
    assert texts[0].startswith("Pred: T-shirt/top (>99.9%)")
    assert texts[1].startswith("Pred: T-shirt/top (100%)")
    assert texts[2].startswith("Pred: T-shirt/top (<1%)")


def test_prediction_grid_validates_inputs(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="length"):
        prediction_grid(images[:3], [0, 1], [0, 1, 2], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="class indices"):
        prediction_grid(images[:1], [10], [0], [0.5])


def test_prediction_grid_empty_says_so() -> None:
    fig = prediction_grid(np.zeros((0, 28, 28), np.uint8), [], [], [])
    assert len(fig.data) == 0
    assert _annotation_texts(fig) == ["No images to show"]


# --------------------------------------------------------------------------- training curves


HISTORY = {
    "accuracy": [0.70, 0.80, 0.85],
    "val_accuracy": [0.75, 0.81, 0.84],
    "loss": [0.9, 0.6, 0.45],
    "val_loss": [0.8, 0.55, 0.5],
    "learning_rate": [0.001, 0.001, 0.001],
}


def test_training_curves_has_train_and_validation_in_each_panel() -> None:
    fig = training_curves(HISTORY)
    assert len(fig.data) == 4
    by_axis = {(t.xaxis, t.name): t for t in fig.data}
    acc_train, acc_val = by_axis[("x", "Train")], by_axis[("x", "Validation")]
    loss_train, loss_val = by_axis[("x2", "Train")], by_axis[("x2", "Validation")]
    assert list(acc_train.y) == HISTORY["accuracy"] and list(acc_val.y) == HISTORY["val_accuracy"]
    assert list(loss_train.y) == HISTORY["loss"] and list(loss_val.y) == HISTORY["val_loss"]
    for t in fig.data:
        assert list(t.x) == [1, 2, 3]
        assert t.mode == "lines+markers"
    assert [a.text for a in fig.layout.annotations] == ["Accuracy", "Loss"]
    assert fig.layout.xaxis.title.text == "Epoch" and fig.layout.xaxis2.title.text == "Epoch"
    # One legend entry per series kind, shared by both panels, same colour in both.
    assert sorted(t.name for t in fig.data if t.showlegend is not False) == ["Train", "Validation"]
    assert acc_train.line.color == loss_train.line.color != acc_val.line.color


def test_training_curves_one_epoch_gives_one_point_per_trace() -> None:
    fig = training_curves({k: v[:1] for k, v in HISTORY.items()})
    assert len(fig.data) == 4
    for t in fig.data:
        assert list(t.x) == [1]
        assert len(t.y) == 1
        assert "markers" in t.mode
    assert list(fig.layout.xaxis.range) == [0.5, 1.5]


def test_training_curves_empty_history_waits() -> None:
    for history in ({}, {"accuracy": [], "loss": []}):
        fig = training_curves(history)
        assert len(fig.data) == 0
        assert any("Waiting for the first epoch" in text for text in _annotation_texts(fig))


def test_training_curves_live_batch_curve_moves_before_the_first_epoch() -> None:
    curve = {"epoch": [0.1, 0.25, 0.4], "loss": [2.0, 1.5, 1.2], "accuracy": [0.3, 0.5, 0.6]}
    fig = training_curves({}, batch_curve=curve, total_epochs=3)
    assert [(t.name, t.xaxis) for t in fig.data] == [("Train (running)", "x"), ("Train (running)", "x2")]
    assert list(fig.data[0].y) == curve["accuracy"] and list(fig.data[1].y) == curve["loss"]
    assert list(fig.data[0].x) == curve["epoch"] and fig.data[0].mode == "lines"
    assert not any("Waiting" in text for text in _annotation_texts(fig))
    assert fig.layout.xaxis.range[0] == 0 and fig.layout.xaxis.range[1] >= 3  # the whole run's axis
    # Epoch points are drawn over the running line; before any batch, a waiting note.
    fig = training_curves({k: v[:1] for k, v in HISTORY.items()}, batch_curve=curve, total_epochs=3)
    assert [t.name for t in fig.data][:2] == ["Train (running)", "Train (running)"] and len(fig.data) == 6
    fig = training_curves({}, batch_curve={})
    assert any("Waiting for the first batches" in text for text in _annotation_texts(fig))


def test_training_curves_without_validation_has_only_train() -> None:
    fig = training_curves({"accuracy": [0.5, 0.6], "loss": [1.0, 0.8]})
    assert [t.name for t in fig.data] == ["Train", "Train"]
    assert [t.xaxis for t in fig.data] == ["x", "x2"]


def test_compare_runs_curves_one_line_per_run() -> None:
    histories = {
        "run-a": {"val_accuracy": [0.8, 0.85], "val_loss": [0.5, 0.4]},
        "run-b": {"val_accuracy": [0.7, 0.75, 0.8]},
    }
    fig = compare_runs_curves(histories)
    assert [t.name for t in fig.data] == ["run-a", "run-b"]
    assert list(fig.data[0].y) == [0.8, 0.85]
    assert list(fig.data[1].x) == [1, 2, 3]
    assert fig.layout.xaxis.title.text == "Epoch"
    assert fig.layout.yaxis.title.text == "Validation accuracy"


def test_compare_runs_curves_other_metric_skips_runs_without_it() -> None:
    histories = {
        "run-a": {"val_accuracy": [0.8, 0.85], "val_loss": [0.5, 0.4]},
        "run-b": {"val_accuracy": [0.7]},
    }
    fig = compare_runs_curves(histories, metric="val_loss")
    assert [t.name for t in fig.data] == ["run-a"]
    assert list(fig.data[0].y) == [0.5, 0.4]


def test_compare_runs_curves_nothing_to_compare_says_so() -> None:
    for histories in ({}, {"run-a": {"loss": [1.0]}}):
        fig = compare_runs_curves(histories)
        assert len(fig.data) == 0
        assert _annotation_texts(fig) == ["No run has recorded validation accuracy yet"]


# --------------------------------------------------------------------------- evaluation


def test_confusion_matrix_counts(rng: np.random.Generator) -> None:
    cm = rng.integers(0, 50, size=(NUM_CLASSES, NUM_CLASSES))
    fig = confusion_matrix_figure(cm)
    (trace,) = fig.data
    assert isinstance(trace, go.Heatmap)
    assert list(trace.x) == list(CLASS_NAMES) and list(trace.y) == list(CLASS_NAMES)
    assert np.array_equal(np.asarray(trace.z), cm)
    assert trace.text[2][5] == str(cm[2, 5])
    assert np.array_equal(np.asarray(trace.customdata)[..., 0], cm)
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.title.text == "Predicted class"
    assert fig.layout.yaxis.title.text == "True class"


def test_confusion_matrix_normalized_rows_and_empty_row() -> None:
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
    cm[0, 0], cm[0, 6] = 3, 1
    cm[1, 1] = 5  # row 2.. stay empty
    fig = confusion_matrix_figure(cm, normalize=True)
    z = np.asarray(fig.data[0].z)
    assert z[0, 0] == pytest.approx(0.75) and z[0, 6] == pytest.approx(0.25)
    assert z[1, 1] == pytest.approx(1.0)
    assert not np.isnan(z).any() and z[5].sum() == 0
    assert fig.data[0].text[0][0] == "75%" and fig.data[0].text[0][6] == "25%"
    assert np.array_equal(np.asarray(fig.data[0].customdata)[..., 0], cm)  # hover keeps counts


def test_confusion_matrix_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix_figure(np.zeros((3, 3)))


def test_per_class_metrics_grouped_bars(rng: np.random.Generator) -> None:
    p, r, f = rng.random(NUM_CLASSES), rng.random(NUM_CLASSES), rng.random(NUM_CLASSES)
    fig = per_class_metrics_figure(p, r, list(f))
    assert [t.name for t in fig.data] == ["Precision", "Recall", "F1"]
    assert all(isinstance(t, go.Bar) and list(t.x) == list(CLASS_NAMES) for t in fig.data)
    for trace, values in zip(fig.data, (p, r, f)):
        assert np.allclose(trace.y, values)
    assert fig.layout.barmode == "group"
    with pytest.raises(ValueError, match="recall"):
        per_class_metrics_figure(p, r[:5], f)


def test_probability_bars_class_order_and_highlighted_top(rng: np.random.Generator) -> None:
    probs = rng.dirichlet(np.ones(NUM_CLASSES))
    fig = probability_bars(probs)
    (trace,) = fig.data
    assert trace.orientation == "h"
    assert list(trace.y) == list(CLASS_NAMES)
    assert np.allclose(trace.x, probs)
    top = int(np.argmax(probs))
    assert trace.marker.color[top] == ACCENT_COLOR
    assert [c for i, c in enumerate(trace.marker.color) if i != top] == [NEUTRAL_COLOR] * (NUM_CLASSES - 1)
    assert trace.text[top] == f"{100 * probs[top]:.0f}%"
    assert fig.layout.yaxis.autorange == "reversed"  # first class on top


def test_probability_bars_explicit_highlight_and_batch_row() -> None:
    probs = np.zeros((1, NUM_CLASSES))
    probs[0, 3] = 0.9
    probs[0, 4] = 0.1
    fig = probability_bars(probs, highlight=4)
    assert fig.data[0].marker.color[4] == ACCENT_COLOR and fig.data[0].marker.color[3] == NEUTRAL_COLOR
    assert fig.data[0].text[3] == "90%" and fig.data[0].text[0] == "0%"
    with pytest.raises(ValueError, match="highlight"):
        probability_bars(probs, highlight=10)
    with pytest.raises(ValueError, match="probabilities"):
        probability_bars([0.5, 0.5])


# --------------------------------------------------------------------------- data overview


def test_class_counts_helper_counts_every_class() -> None:
    counts = class_counts([0, 0, 3, 9])
    assert counts.tolist() == [2, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert class_counts([]).tolist() == [0] * NUM_CLASSES
    with pytest.raises(ValueError):
        class_counts([10])


def test_class_counts_figure_train_and_test_bars() -> None:
    train = [6000] * NUM_CLASSES
    test = list(range(1000, 1000 + NUM_CLASSES))
    fig = class_counts_figure(train, test)
    assert [t.name for t in fig.data] == ["Train", "Test"]
    assert all(list(t.x) == list(CLASS_NAMES) for t in fig.data)
    assert list(fig.data[0].y) == train and list(fig.data[1].y) == test
    assert fig.data[0].text[0] == "6,000"
    assert fig.layout.barmode == "group"


def test_mean_images_helper_matches_a_direct_mean(rng: np.random.Generator) -> None:
    imgs = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES - 1, size=50)  # class 9 absent
    means = mean_images(imgs[..., np.newaxis], labels)
    assert means.shape == (NUM_CLASSES, 28, 28)
    for k in range(NUM_CLASSES - 1):
        if (labels == k).any():
            assert np.allclose(means[k], imgs[labels == k].astype(float).mean(axis=0))
    assert not means[9].any()
    with pytest.raises(ValueError, match="labels"):
        mean_images(imgs, labels[:3])


def test_mean_images_figure_ten_titled_cells_in_two_rows(rng: np.random.Generator) -> None:
    means = rng.random((NUM_CLASSES, 28, 28)) * 255
    means[0] = 0.6  # a faint class must not be mistaken for a 0..1 image
    fig = mean_images_figure(means)
    cells = _cells(fig)
    assert len(cells) == NUM_CLASSES
    assert _annotation_texts(fig) == list(CLASS_NAMES)
    boxes = _cell_boxes(fig)
    assert len({b[1] for b in boxes}) == 2
    assert len({b[0] for b in boxes}) == 5
    assert np.array_equal(cells[3], np.rint(means[3]).astype(np.uint8))
    assert cells[0].max() == 1


def test_augmentation_figure_original_first_then_numbered(rng: np.random.Generator) -> None:
    original = rng.integers(0, 256, size=(28, 28, 1), dtype=np.uint8)
    augmented = rng.random((5, 28, 28, 1)).astype(np.float32)  # Keras-style 0..1 output
    fig = augmentation_figure(original, augmented, cols=3)
    cells = _cells(fig)
    assert len(cells) == 6
    assert _annotation_texts(fig) == ["Original", "#1", "#2", "#3", "#4", "#5"]
    assert np.array_equal(cells[0], original[..., 0])
    expected = np.clip(np.rint(augmented[2, ..., 0].astype(float) * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(cells[3], expected)
    assert len({b[0] for b in _cell_boxes(fig)}) == 3


def test_augmentation_figure_without_augmented_images_shows_the_original(rng: np.random.Generator) -> None:
    original = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    fig = augmentation_figure(original, np.zeros((0, 28, 28), np.float32))
    assert len(fig.data) == 1
    assert _annotation_texts(fig) == ["Original"]
    with pytest.raises(ValueError, match="augmented"):
        augmentation_figure(original, np.zeros((2, 14, 14)))


# --------------------------------------------------------------------------- all figures


def _every_figure() -> dict[str, go.Figure]:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    return {
        "image_grid": image_grid(imgs, [str(i) for i in range(6)]),
        "prediction_grid": prediction_grid(imgs, [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 6], [0.9] * 6),
        "training_curves": training_curves(HISTORY),
        "compare_runs_curves": compare_runs_curves({"a": HISTORY}),
        "confusion_matrix_figure": confusion_matrix_figure(np.eye(NUM_CLASSES) * 10, normalize=True),
        "per_class_metrics_figure": per_class_metrics_figure(*(rng.random(NUM_CLASSES) for _ in range(3))),
        "probability_bars": probability_bars(rng.dirichlet(np.ones(NUM_CLASSES))),
        "class_counts_figure": class_counts_figure([6000] * NUM_CLASSES, [1000] * NUM_CLASSES),
        "mean_images_figure": mean_images_figure(rng.random((NUM_CLASSES, 28, 28)) * 255),
        "augmentation_figure": augmentation_figure(imgs[0], imgs[1:]),
    }


@pytest.mark.parametrize("name", list(_every_figure()))
def test_every_figure_serialises_with_the_shared_template(name: str) -> None:
    fig = _every_figure()[name]
    spec = json.loads(fig.to_json())
    assert spec["data"], f"{name} has no traces"
    assert fig.layout.template.layout.paper_bgcolor == "white"
    assert fig.layout.font.family == charts._FONT["family"]


def test_charts_import_neither_streamlit_nor_tensorflow() -> None:
    code = (
        "import sys, fmnist_core.charts\n"
        "bad = sorted(m for m in ('streamlit', 'tensorflow', 'keras') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
