"""The "Inside the model" page and the overlay panels on Classify and Predictions, through AppTest.

Every control of the page is driven: run picker, image source (test, training, carried from Classify,
opened from the Predictions gallery or a ?test=N link), map count, class choice, opacity, top-image
layer and channel, convolution channel and window position.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from apptest_checks import figure, no_errors
from streamlit.testing.v1 import AppTest

from ui.navigation import VIEWS_DIR

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 180


@pytest.fixture(scope="module")
def page_runs(trained_run, tmp_path_factory):
    """A private runs folder with a copy of conftest's tiny trained run (seed_cnn)."""
    store, run_id = trained_run
    runs = tmp_path_factory.mktemp("explain-page-runs")
    shutil.copytree(store.root / run_id, runs / run_id)
    return runs, run_id


@pytest.fixture()
def at(page_runs, monkeypatch):
    runs, run_id = page_runs
    monkeypatch.setenv("FMNIST_RUNS_DIR", str(runs))
    monkeypatch.setenv("FMNIST_PRETRAINED_DIR", "none")
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["active_run_id"] = run_id
    app.run()
    assert not app.exception
    return app


def open_page(app: AppTest, page: str) -> AppTest:
    app.switch_page(f"{VIEWS_DIR}/{page}.py").run()
    no_errors(app)
    return app


def chart_keys(app: AppTest) -> list[str]:
    return [c.key or c.proto.id for c in app.get("plotly_chart")]


def open_tab(app: AppTest, label: str) -> None:
    """Select a tab of the page (only the open tab's content runs)."""
    app.session_state["im_tab"] = label
    app.run()
    no_errors(app)


def captions(app: AppTest) -> list[str]:
    return [c for img in app.image for c in img.captions]


def test_page_with_every_control(at, page_runs, real_dataset):
    runs, run_id = page_runs
    open_page(at, "inside_model")
    assert at.selectbox(key="im_run").value == run_id
    assert "test image #0" in captions(at)
    probs = figure(at, "im_probs")
    assert len(probs["data"][0]["y"]) == 10

    # layer stack: the diagram and the table agree with the registry's totals
    from fmnist_core.models import describe

    summary = describe("seed_cnn")
    stack = figure(at, "im_stack")
    assert f"{summary.parameters:,} parameters" in stack["layout"]["title"]["text"]
    table = at.dataframe[0].value
    assert int(table["Parameters"].sum()) == summary.parameters
    assert int(table["Multiply-adds"].sum()) == summary.multiply_adds
    assert "max pooling: halves width and height" in set(table["Role"])

    # feature maps: one grid per conv/pool stage, 16 maps by default, then 8
    assert not [k for k in chart_keys(at) if "im_maps_" in k], "closed tabs do not run"
    open_tab(at, "Feature maps")
    maps = [k for k in chart_keys(at) if "im_maps_" in k]
    assert len(maps) == 4  # seed_cnn: conv, pool, conv, pool
    first = figure(at, maps[0])
    assert "16 of 32 maps" in first["layout"]["title"]["text"]
    assert "channel %{customdata[0]}" in first["data"][0]["hovertemplate"]
    at.slider(key="im_map_count").set_value(8).run()
    no_errors(at)
    assert "8 of 32 maps" in figure(at, maps[0])["layout"]["title"]["text"]
    assert any("im_vec_" in k for k in chart_keys(at)), "the dense layer as bars"

    # where it looks: three overlays, then "why not Shirt?", then opacity
    open_tab(at, "Where it looks")
    overlays = [c for c in captions(at) if " for " in c and "%" in c]
    assert len(overlays) == 3
    assert any(c.startswith("Grad-CAM for ") for c in overlays)
    at.selectbox(key="im_class").set_value(6).run()
    no_errors(at)
    titles = ("Grad-CAM for Shirt", "Saliency (SmoothGrad) for Shirt", "Occlusion sensitivity for Shirt")
    assert sum(c.startswith(titles) for c in captions(at)) == 3
    assert any("Why not Shirt?" in c.value for c in at.caption)
    before = [img.proto.imgs[0].url for img in at.image]
    at.slider(key="im_opacity").set_value(0.2).run()
    no_errors(at)
    assert [img.proto.imgs[0].url for img in at.image] != before

    # one convolution: equation updates with the window position and the channel
    open_tab(at, "One convolution")
    at.number_input(key="im_conv_channel").set_value(3).run()
    at.slider(key="im_conv_position").set_value(0).run()
    no_errors(at)
    eq = [m.value for m in at.markdown if m.value.startswith("Output pixel (row 0, column 0) of channel 3")]
    assert eq and "sum of the 9 products" in eq[0] and "ReLU" in eq[0]
    at.button(key="im_conv_next").click().run()
    no_errors(at)
    assert at.slider(key="im_conv_position").value == 1
    assert any(m.value.startswith("Output pixel (row 0, column 1) of channel 3") for m in at.markdown)
    conv_fig = figure(at, "im_conv_fig")
    assert len(conv_fig["data"]) == 4

    # filters and the top nine images of a channel
    open_tab(at, "Filters")
    assert len(figure(at, "im_kernels")["data"]) == 1
    at.toggle(key="im_top_on").set_value(True).run()
    no_errors(at)
    at.selectbox(key="im_top_layer").set_value(at.selectbox(key="im_top_layer").options[-1]).run()
    at.number_input(key="im_top_channel").set_value(5).run()
    no_errors(at)
    grid = figure(at, "im_top_grid")
    assert len(grid["layout"]["meta"]["cells"]) == 9
    assert (runs / run_id / "explain_top_images.npz").is_file(), "cached with the run"

    # image sources: another test image, a training image
    at.number_input(key="im_test_index").set_value(42).run()
    no_errors(at)
    assert "test image #42" in captions(at)
    at.radio(key="im_source").set_value("Training image").run()
    at.number_input(key="im_train_index").set_value(7).run()
    no_errors(at)
    assert "train image #7" in captions(at)


def test_query_parameter_opens_a_test_image(at):
    at.query_params["test"] = "123"
    open_page(at, "inside_model")
    assert "test image #123" in captions(at)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_classify_shows_overlay_and_carries_the_image(at, real_dataset):
    open_page(at, "classify")
    boot = real_dataset.x_test[0]
    at.file_uploader(key="cl_upload").set_value(("boot.png", _png(np.kron(boot, np.ones((8, 8), np.uint8))),
                                                 "image/png"))
    at.run()
    no_errors(at)
    assert any(c.startswith("Grad-CAM for ") for c in captions(at)), "the overlay beside the prediction"
    at.radio(key="cl_upload_x_method").set_value(at.radio(key="cl_upload_x_method").options[2]).run()
    no_errors(at)
    assert any(c.startswith("Occlusion sensitivity for ") for c in captions(at))
    at.button(key="cl_upload_x_open").click().run()
    no_errors(at)
    assert at.radio(key="im_source").value == "Last drawn or uploaded (Classify)"
    assert "boot.png" in captions(at)


def test_predictions_look_closer_has_overlay_and_opens_the_page(at):
    open_page(at, "predictions")
    picker = at.selectbox(key="pr_selected")
    index = int(picker.value)
    assert any(c.startswith("Grad-CAM for ") for c in captions(at))
    at.slider(key="pr_explain_opacity").set_value(0.9).run()
    no_errors(at)
    at.button(key="pr_explain_open").click().run()
    no_errors(at)
    assert at.radio(key="im_source").value == "Test image"
    assert f"test image #{index}" in captions(at)
