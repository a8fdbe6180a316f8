"""The explain engine: layer tables, activations, heatmaps, filters, one convolution and overlays.

Shapes and totals are checked for every registry architecture, plain and mirror-averaged; the
numbers shown to a learner (a convolution step, a feature map) are recomputed independently.
"""

from __future__ import annotations

import numpy as np
import pytest

from fmnist_core.constants import IMAGE_SIZE, NUM_CLASSES, PRETRAINED_DIR
from fmnist_core.explain.attribution import METHOD_SENTENCES, Method, attributor_for, explain, normalise
from fmnist_core.explain.overlay import colormap, overlay_png, overlay_rgb


def _arch_names():
    from fmnist_core.models import ARCHITECTURES

    return sorted(ARCHITECTURES)


@pytest.fixture(scope="module")
def default_model():
    from fmnist_core.runs import RunStore

    return RunStore("/nonexistent-runs", pretrained_dir=PRETRAINED_DIR).load_model("default")


@pytest.fixture(scope="module")
def test_images(real_dataset):
    from fmnist_core.data import normalize

    return normalize(real_dataset.x_test[:8])


# ---------------------------------------------------------------- layer table, every architecture
@pytest.mark.parametrize("name", _arch_names())
@pytest.mark.parametrize("mirror", [False, True], ids=["plain", "mirror"])
def test_layer_table_totals_match_registry(name, mirror):
    from fmnist_core.explain.layers import LayerKind, layer_table
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model, describe, get_architecture, multiply_adds

    model = build_model(name)
    if mirror:
        model = mirror_averaged(model)
    table = layer_table(model)
    summary = describe(name)
    assert table.total_parameters == model.count_params() == summary.parameters
    assert table.total_multiply_adds == multiply_adds(model) == summary.multiply_adds
    assert table.mirror_averaged is mirror and bool(table.notes) is mirror
    kinds = [row.kind for row in table.rows]
    assert LayerKind.CONV in kinds and LayerKind.DENSE in kinds
    assert all(row.role and row.output_shape for row in table.rows)
    convs = [row for row in table.rows if row.type == "Conv2D"]
    first_filters = get_architecture(name).spec.layers[0].filters  # every built-in network starts with a conv
    assert convs[0].role.startswith(f"3x3 convolution: {first_filters} feature maps")
    assert all(row.multiply_adds > 0 for row in convs)
    if mirror:
        assert all(row.path.startswith("mirror_average/") and row.depth >= 1 for row in table.rows)
    assert [row.index for row in table.rows] == list(range(len(table.rows)))


def test_roles_in_plain_words():
    from fmnist_core.explain.layers import layer_table
    from fmnist_core.models import build_model

    roles = {row.type: row.role for row in layer_table(build_model("seed_cnn")).rows}
    assert roles["MaxPooling2D"] == "max pooling: halves width and height"
    assert roles["Dropout"].startswith("dropout: active only in training")
    assert roles["Flatten"].startswith("flatten")
    assert "softmax" in [r for r in layer_table(build_model("seed_cnn")).rows][-1].role


def test_nested_model_is_walked():
    """A user model holding a nested model: its inner layers appear, totals still match."""
    import keras

    from fmnist_core.explain.activations import activations
    from fmnist_core.explain.layers import layer_table
    from fmnist_core.models import multiply_adds

    block = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.MaxPooling2D(2)], name="block")
    inputs = keras.Input((28, 28, 1))
    x = block(inputs)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="nested")
    table = layer_table(model)
    assert table.total_parameters == model.count_params()
    assert table.total_multiply_adds == multiply_adds(model)
    assert table.rows[0].path.startswith("block/") and table.rows[0].depth == 1
    acts = activations(model, np.zeros((28, 28), np.float32))
    assert acts.stages[0].values.shape == (14, 14, 4)  # the nested model, one stage by its output
    assert acts.probabilities.shape == (NUM_CLASSES,)


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", _arch_names())
def test_activation_shapes_every_architecture(name):
    from fmnist_core.explain.activations import activations
    from fmnist_core.explain.layers import LayerKind
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model

    rng = np.random.default_rng(0)
    image = rng.random((28, 28)).astype(np.float32)
    for model in (build_model(name), mirror_averaged(build_model(name))):
        acts = activations(model, image)
        maps = acts.maps()
        assert maps[0].values.shape[:2] == (28, 28) or maps[0].values.shape[:2] == (26, 26)
        assert min(m.values.shape[0] for m in maps) <= 7  # maps shrink towards 7x7 or smaller
        assert all(m.values.dtype == np.float32 for m in maps)
        assert acts.vectors(), "a dense or pooled vector stage"
        assert acts.stages[-1].spec.is_output and acts.stages[-1].spec.kind == LayerKind.DENSE
        assert acts.probabilities.shape == (NUM_CLASSES,)
        assert acts.probabilities.sum() == pytest.approx(1.0, abs=1e-3)
        np.testing.assert_allclose(acts.probabilities, np.asarray(model(image[None, ..., None]))[0], atol=1e-4)


def test_activations_match_keras_layers(default_model, test_images):
    """The first stage of the shipped model equals its first conv layer's output computed by Keras."""
    import keras

    from fmnist_core.explain.activations import activations, most_active_channels

    acts = activations(default_model, test_images[0])
    conv = default_model.get_layer(acts.stages[0].name)
    direct = keras.Model(default_model.inputs[0], conv.output)(test_images[:1])
    # The shipped model computes in bfloat16: a compiled and an eager call may round differently.
    np.testing.assert_allclose(acts.stages[0].values, np.asarray(direct, np.float32)[0], rtol=1e-2, atol=2e-3)
    order = most_active_channels(acts.stages[0].values, 5)
    means = acts.stages[0].values.mean(axis=(0, 1))
    assert len(order) == 5 and means[order[0]] == means.max()
    assert list(means[order]) == sorted(means[order], reverse=True)


def test_activation_probe_rejects_bad_shape(default_model):
    from fmnist_core.explain.activations import activations

    with pytest.raises(ValueError, match="28x28"):
        activations(default_model, np.zeros((32, 32)))


# ---------------------------------------------------------------- attributions
@pytest.mark.parametrize("method", list(Method))
def test_heatmap_shape_range_and_class(default_model, test_images, method):
    result = explain(default_model, test_images[0], method)
    assert result.heatmap.shape == (IMAGE_SIZE, IMAGE_SIZE)
    assert result.heatmap.dtype == np.float32
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() == pytest.approx(1.0)
    assert result.class_index == int(np.argmax(result.probabilities))
    assert result.probability == pytest.approx(float(result.probabilities.max()))
    assert result.image.shape == (28, 28) and np.allclose(result.image, test_images[0, ..., 0])
    other = (result.class_index + 3) % NUM_CLASSES
    chosen = explain(default_model, test_images[0], method, other)
    assert chosen.class_index == other and chosen.probability == pytest.approx(float(result.probabilities[other]))
    assert not np.allclose(chosen.heatmap, result.heatmap), "another class gives another map"
    assert METHOD_SENTENCES[method].endswith(".")


@pytest.mark.parametrize("name", _arch_names())
def test_attribution_works_for_every_architecture_and_mirror(name):
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model

    image = np.zeros((28, 28), np.float32)
    image[6:22, 8:20] = 0.8
    for model in (build_model(name), mirror_averaged(build_model(name))):
        for method in Method:
            result = explain(model, image, method, 3)
            assert result.heatmap.shape == (28, 28)
            assert np.isfinite(result.heatmap).all() and result.heatmap.min() >= 0 and result.heatmap.max() <= 1


def test_mirror_gradcam_is_symmetric_for_symmetric_model():
    """A mirror-averaging model's Grad-CAM of a symmetric image is mirror-symmetric (the heat of the
    mirror view is mapped back onto the image)."""
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model

    model = mirror_averaged(build_model("seed_cnn"))
    image = np.zeros((28, 28), np.float32)
    image[5:23, 9:19] = 1.0  # symmetric about the vertical axis
    raw, _ = attributor_for(model).gradcam_raw(image[None, ..., None], 0)
    np.testing.assert_allclose(raw[0], raw[0][:, ::-1], atol=1e-4 * max(1.0, float(raw.max())))


def test_occlusion_drop_is_exact_for_one_patch(default_model, test_images):
    att = attributor_for(default_model)
    image = test_images[1]
    probs = att.predict(image[None])[0]
    cls = int(np.argmax(probs))
    raw = att.occlusion_raw(image, cls, float(probs[cls]))
    # The top-left pixel is covered by exactly one patch: its value is that patch's drop.
    blanked = image.copy()
    blanked[: att.patch, : att.patch] = 0
    expected = probs[cls] - att.predict(blanked[None])[0, cls]
    assert raw[0, 0] == pytest.approx(float(expected), abs=1e-5)


def test_normalise():
    assert normalise(np.zeros((3, 3))).max() == 0.0
    out = normalise(np.array([[0.0, 2.0], [-1.0, 4.0]]))
    np.testing.assert_allclose(out, [[0, 0.5], [0, 1]])
    clipped = normalise(np.arange(100, dtype=np.float32), percentile=50)
    assert clipped.max() == 1.0 and clipped[10] == pytest.approx(10 / 49.5)


# ---------------------------------------------------------------- one convolution
@pytest.mark.parametrize("name", _arch_names())
def test_convolution_step_matches_the_layer(name):
    """The step-by-step numbers (window x kernel, + bias, batch norm, ReLU) equal the model's own map."""
    import keras

    from fmnist_core.explain.activations import activations
    from fmnist_core.explain.convolution import convolution_map, convolution_step, first_conv
    from fmnist_core.models import build_model

    keras.utils.set_random_seed(1)
    model = build_model(name)
    for layer in model.layers:  # non-trivial batch-norm statistics, so folding them is really checked
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.05, np.float32))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 2.0, np.float32))
    image = np.random.default_rng(2).random((28, 28)).astype(np.float32)
    conv = first_conv(model)
    stage = activations(model, image).stages[0].values
    assert conv.channels == stage.shape[-1] and conv.output_size() == stage.shape[0]
    for channel in (0, conv.channels - 1):
        full = convolution_map(image, conv, channel)
        np.testing.assert_allclose(full, stage[..., channel], atol=1e-4)
        for row, col in ((0, 0), (5, 7), (stage.shape[0] - 1, stage.shape[1] - 1)):
            step = convolution_step(image, conv, channel, row, col)
            assert step.window.shape == step.kernel.shape == step.products.shape == (3, 3)
            np.testing.assert_allclose(step.products, step.window * step.kernel)
            assert step.total == pytest.approx(float(step.products.sum()))
            assert step.output == pytest.approx(float(stage[row, col, channel]), abs=1e-4)
            assert step.output == pytest.approx(max(step.pre_activation, 0.0))
    with pytest.raises(ValueError, match="outside"):
        convolution_step(image, conv, 0, stage.shape[0], 0)


def test_same_padding_window_at_corner_is_zero_padded(default_model, test_images):
    from fmnist_core.explain.convolution import convolution_step, first_conv

    conv = first_conv(default_model)
    step = convolution_step(test_images[0], conv, 0, 0, 0)
    assert conv.padding == "same"
    assert (step.window[0] == 0).all() and (step.window[:, 0] == 0).all()
    np.testing.assert_allclose(step.window[1:, 1:], test_images[0, :2, :2, 0])


# ---------------------------------------------------------------- filters and top images
def test_first_layer_kernels(default_model):
    import keras

    from fmnist_core.explain.filters import first_layer_kernels

    kernels = first_layer_kernels(default_model)
    first_conv = next(layer for layer in default_model.layers if isinstance(layer, keras.layers.Conv2D))
    weights = np.asarray(first_conv.kernel)
    assert kernels.shape == (weights.shape[-1], 3, 3) and weights.shape[:3] == (3, 3, 1)
    np.testing.assert_allclose(kernels[5], weights[:, :, 0, 5])


def test_top_images_computed_cached_and_refreshed(trained_run_copy, real_dataset):
    from fmnist_core.data import normalize
    from fmnist_core.explain.activations import probe_for
    from fmnist_core.explain.filters import TOP_IMAGES_FILE, TOP_K, top_images_for_run

    store, run_id = trained_run_copy
    run = store.get(run_id)
    model = store.load_model(run_id)
    images = real_dataset.x_test[:300]
    top = top_images_for_run(run, model, images, data_key="t300")
    path = run.path / TOP_IMAGES_FILE
    assert path.is_file()
    probe = probe_for(model)
    assert list(top.indices) == probe.conv_stage_names
    maxima = probe.channel_maxima(normalize(images))
    for name, values in zip(probe.conv_stage_names, maxima):
        idx, scores = top.indices[name], top.scores[name]
        assert idx.shape == (values.shape[1], TOP_K)
        assert (np.diff(scores, axis=1) <= 0).all()
        for channel in (0, values.shape[1] - 1):
            assert scores[channel, 0] == pytest.approx(values[:, channel].max())
            assert values[idx[channel, 0], channel] == pytest.approx(values[:, channel].max())
    stamp = path.stat().st_mtime_ns
    again = top_images_for_run(run, model, images, data_key="t300")
    assert path.stat().st_mtime_ns == stamp  # read from the cache
    np.testing.assert_array_equal(again.indices[probe.conv_stage_names[0]], top.indices[probe.conv_stage_names[0]])
    fresh = top_images_for_run(run, model, images[:100], data_key="t100")
    assert path.stat().st_mtime_ns != stamp and fresh.indices[probe.conv_stage_names[0]].max() < 100


# ---------------------------------------------------------------- overlays
def test_overlay_rgb_and_png():
    image = np.zeros((28, 28), np.float32)
    image[10:18, 10:18] = 1.0
    heat = np.zeros((28, 28), np.float32)
    heat[0, 0] = 1.0
    rgb = overlay_rgb(image, heat, opacity=1.0, scale=4)
    assert rgb.shape == (112, 112, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], colormap(np.array(1.0)))  # full heat, full opacity: the colour
    np.testing.assert_array_equal(rgb[50, 50], [255, 255, 255])  # no heat: the image shows through
    none = overlay_rgb(image, heat, opacity=0.0, scale=1)
    np.testing.assert_array_equal(none[..., 0], (image * 255).astype(np.uint8))
    half = overlay_rgb(image, heat, opacity=0.5, scale=1)
    assert 0 < half[0, 0, 0] < 255
    png = overlay_png(image, heat)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        overlay_rgb(image, heat, opacity=1.5)


def test_colormap_is_monotonic_in_brightness():
    rgb = colormap(np.linspace(0, 1, 11)).astype(float)
    brightness = rgb @ [0.299, 0.587, 0.114]
    assert (np.diff(brightness) > 0).all()


@pytest.mark.parametrize("name", ["seed_cnn", "fast_cnn"])
def test_saved_and_reloaded_models_explain(name, tmp_path):
    """A loaded Sequential's layer.output is not part of its own output graph: the engine must rebuild it."""
    import keras

    from fmnist_core.explain.activations import activations
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model

    image = np.random.default_rng(4).random((28, 28)).astype(np.float32)
    for label, model in (("plain", build_model(name)), ("mirror", mirror_averaged(build_model(name)))):
        path = tmp_path / f"{label}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        expected = activations(model, image)
        got = activations(loaded, image)
        for a, b in zip(expected.stages, got.stages):
            np.testing.assert_allclose(a.values, b.values, atol=1e-5)
        for method in Method:
            np.testing.assert_allclose(explain(loaded, image, method, 2).heatmap,
                                       explain(model, image, method, 2).heatmap, atol=1e-3)


def test_work_is_sized_to_the_model():
    from fmnist_core.explain.attribution import Attributor, work_for
    from fmnist_core.mirror import mirror_averaged
    from fmnist_core.models import build_model

    assert work_for(15_000_000) == (24, 2) and work_for(107_000_000) == (8, 4)
    light = Attributor(build_model("fast_cnn"))
    heavy = Attributor(mirror_averaged(build_model("large_cnn")))
    assert (light.samples, light.stride, len(light._masks)) == (24, 2, 144)
    assert (heavy.samples, heavy.stride, len(heavy._masks)) == (8, 4, 49)
    assert heavy._masks.sum(axis=0).min() >= 1  # every pixel is covered by some patch


# ---------------------------------------------------------------- Grad-CAM's layer
@pytest.mark.parametrize("name", _arch_names())
def test_gradcam_uses_the_last_spatial_conv_stage(name):
    """Grad-CAM's layer is the last convolution stage with a map, even a 3x3 one (slim_cnn, lean_cnn):
    the deletion check measured it as the most faithful choice (attribution.last_conv_stage)."""
    from fmnist_core.explain.activations import stage_specs
    from fmnist_core.explain.attribution import last_conv_stage
    from fmnist_core.explain.layers import LayerKind
    from fmnist_core.models import build_model

    core = build_model(name)
    layer, tensor = last_conv_stage(core)
    specs, tensors = stage_specs(core)
    convs = [s.name for s, t in zip(specs, tensors) if s.kind == LayerKind.CONV and len(t.shape) == 4]
    assert layer == convs[-1] and len(tensor.shape) == 4
